//! Field tokens: a field of a type checked once, so that each access through the safe
//! API checks only that the object is of that type.
//!
//! The safe accessors (`Scope::read_u64`, `Scope::set_ref`, ...) look up the object's
//! type and check the offset against its layout on every call. A [`DataField`] or
//! [`RefField`] is that check done once, by [`Heap::data_field`] / [`Heap::ref_field`]:
//! an access through it ([`Scope::get`](crate::Scope::get),
//! [`Scope::set_field`](crate::Scope::set_field), ...) compares the object's type index and the
//! token's heap with the token's, which is as strong, since a type's layout never
//! changes once registered.

use crate::heap::Heap;
use contgc_heap::descriptor::FieldCheck;
use contgc_heap::TypeId;
use std::fmt;

/// A data word (8 bytes, 8-aligned) of a type's fixed part, checked once (see the
/// module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataField {
    pub(crate) heap: u32,
    pub(crate) type_index: u32,
    pub(crate) offset: usize,
}

/// A reference slot of a type's fixed part, checked once (see the module
/// documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefField {
    pub(crate) heap: u32,
    pub(crate) type_index: u32,
    pub(crate) offset: usize,
}

/// Why a field token was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldError {
    /// The type belongs to another heap, or is not registered.
    UnknownType,
    /// The offset is not what the token's kind needs: an 8-aligned data word, or a
    /// reference slot, inside the type's fixed part.
    WrongSlot {
        /// The type's name.
        type_name: String,
        /// The offset given.
        offset: usize,
    },
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::UnknownType => write!(f, "the type is not registered with this heap"),
            FieldError::WrongSlot { type_name, offset } => write!(
                f,
                "offset {offset} of a {type_name} is not a field of the kind asked for in its fixed part"
            ),
        }
    }
}

impl std::error::Error for FieldError {}

impl Heap {
    /// A token for the 8-byte data word at payload byte `offset` of type `ty`'s fixed
    /// part (for a variable-size type, its base), checked now; accesses through it
    /// ([`Scope::get`](crate::Scope::get), [`Scope::put`](crate::Scope::put)) only
    /// check the object's type.
    ///
    /// ```
    /// use contgc_collector::{Config, Heap, TypeDescriptor};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let point = heap.register_type(&TypeDescriptor::fixed("Point", 16)).unwrap();
    /// let (x, y) = (heap.data_field(point, 0).unwrap(), heap.data_field(point, 8).unwrap());
    /// let mut m = heap.mutator();
    /// m.scope(|s| {
    ///     let p = s.alloc(point).unwrap();
    ///     s.put(p, x, 3);
    ///     s.put(p, y, 4);
    ///     assert_eq!(s.get(p, x) + s.get(p, y), 7);
    /// });
    /// ```
    pub fn data_field(&self, ty: TypeId, offset: usize) -> Result<DataField, FieldError> {
        let info = self.checked_type(ty)?;
        let ok = offset.is_multiple_of(8) && info.check_data(offset, 8, 0) == FieldCheck::Ok;
        if !ok {
            return Err(FieldError::WrongSlot {
                type_name: info.name().to_owned(),
                offset,
            });
        }
        Ok(DataField {
            heap: self.inner.id,
            type_index: ty.index(),
            offset,
        })
    }

    /// A token for the reference slot at payload byte `offset` of type `ty`'s fixed
    /// part, checked now; accesses through it ([`Scope::get_field`](crate::Scope::get_field),
    /// [`Scope::set_field`](crate::Scope::set_field)) only check the object's type.
    pub fn ref_field(&self, ty: TypeId, offset: usize) -> Result<RefField, FieldError> {
        let info = self.checked_type(ty)?;
        if !info.is_ref_slot(offset, 0) {
            return Err(FieldError::WrongSlot {
                type_name: info.name().to_owned(),
                offset,
            });
        }
        Ok(RefField {
            heap: self.inner.id,
            type_index: ty.index(),
            offset,
        })
    }

    fn checked_type(
        &self,
        ty: TypeId,
    ) -> Result<std::sync::Arc<contgc_heap::TypeInfo>, FieldError> {
        if ty.heap_id() != self.inner.id {
            return Err(FieldError::UnknownType);
        }
        self.inner
            .types
            .get(ty.index())
            .ok_or(FieldError::UnknownType)
    }
}
