//! The per-heap table of registered types (collector-internal, exported through
//! `contgc_heap::internal`).

use crate::descriptor::{DescriptorError, TypeDescriptor, TypeInfo};
use crate::header::MAX_TYPE_INDEX;
use crate::size_classes::MAX_SMALL_OBJECT;
use crate::types::TypeId;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// Hands out process-unique heap ids (used only to catch objects, handles and types
/// used with the wrong heap; no heap state is global). Panics rather than reuse an id
/// after 2^32 - 1 tables.
fn fresh_heap_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
        .expect("contgc: heap ids exhausted")
}

impl Default for TypeTable {
    fn default() -> Self {
        Self::new()
    }
}

/// The types registered with one heap. Registration may happen at any time from any
/// thread; the collector reads the table while the world is stopped.
#[derive(Debug)]
pub struct TypeTable {
    heap: u32,
    types: RwLock<Vec<Arc<TypeInfo>>>,
}

impl TypeTable {
    /// A table holding only the built-in entries (free and filler), with a fresh,
    /// process-unique heap id (so ids, and the type ids carrying them, cannot be
    /// forged by creating a second table).
    pub fn new() -> TypeTable {
        let heap = fresh_heap_id();
        let free = TypeDescriptor::fixed("<free>", 8)
            .validate()
            .expect("builtin");
        let filler = TypeInfo::filler();
        TypeTable {
            heap,
            types: RwLock::new(vec![Arc::new(free), Arc::new(filler)]),
        }
    }

    /// Validates and registers a descriptor.
    pub fn register(&self, desc: &TypeDescriptor) -> Result<TypeId, DescriptorError> {
        let info = desc.validate()?;
        let fast_size = match info.size_kind() {
            _ if info.is_pretenured() => u32::MAX,
            crate::SizeKind::Fixed { .. } => info
                .object_size(0)
                .filter(|&s| s <= MAX_SMALL_OBJECT)
                .map_or(u32::MAX, |s| s as u32),
            crate::SizeKind::Variable { .. } => u32::MAX,
        };
        let mut types = self.types.write().unwrap_or_else(|e| e.into_inner());
        let index = types.len() as u32;
        if index > MAX_TYPE_INDEX {
            return Err(DescriptorError::TooManyTypes);
        }
        types.push(Arc::new(info));
        Ok(TypeId::new(self.heap, index, fast_size))
    }

    /// The heap id types of this table carry.
    pub fn heap_id(&self) -> u32 {
        self.heap
    }

    /// The info of type `index`, or `None` if no such type is registered.
    pub fn get(&self, index: u32) -> Option<Arc<TypeInfo>> {
        let types = self.types.read().unwrap_or_else(|e| e.into_inner());
        types.get(index as usize).cloned()
    }

    /// Read access to the whole table, for a collection.
    pub fn read(&self) -> RwLockReadGuard<'_, Vec<Arc<TypeInfo>>> {
        self.types.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_assigns_indices_and_fast_sizes() {
        let t = TypeTable::new();
        assert_ne!(t.heap_id(), TypeTable::new().heap_id());
        let a = t.register(&TypeDescriptor::fixed("A", 16)).unwrap();
        let b = t.register(&TypeDescriptor::array("B", 0, 8)).unwrap();
        let big = t.register(&TypeDescriptor::fixed("Big", 1 << 20)).unwrap();
        assert_eq!((a.index(), b.index()), (2, 3));
        assert_eq!(a.heap_id(), t.heap_id());
        assert_eq!(a.fast_size(), 24);
        assert_eq!(b.fast_size(), u32::MAX);
        assert_eq!(big.fast_size(), u32::MAX);
        assert_eq!(t.get(2).unwrap().name(), "A");
        assert!(t.get(99).is_none());
        assert!(t.register(&TypeDescriptor::fixed("Z", 0)).is_err());
    }
}
