//! Embedder-reported roots.
//!
//! An embedder whose own structures hold objects (an interpreter's operand stack, a
//! JIT's spill area) implements [`RootProvider`] and registers it with the heap. At
//! every collection the collector calls it with a [`RootVisitor`]; the provider hands
//! over each slot, and the visitor rewrites the slot if its object moved. Such roots
//! are scanned at every collection, minor or major.

use contgc_heap::ObjectRef;
use std::sync::Mutex;

/// Reports an embedder's roots to the collector.
///
/// ```
/// use contgc_heap::ObjectRef;
/// use contgc_roots::{RootProvider, RootVisitor};
/// use std::sync::{Arc, Mutex};
///
/// /// An interpreter's operand stack, shared with the interpreter loop.
/// struct OperandStack(Arc<Mutex<Vec<Option<ObjectRef>>>>);
///
/// // SAFETY: the stack only ever holds live objects of the heap this provider is
/// // registered with (the interpreter pushes locals' objects and pops them).
/// unsafe impl RootProvider for OperandStack {
///     fn visit_roots(&mut self, visitor: &mut RootVisitor<'_>) {
///         for slot in self.0.lock().unwrap().iter_mut() {
///             visitor.visit(slot);
///         }
///     }
/// }
/// ```
///
/// # Safety
/// Every non-null slot reported must hold the address of a live object of the heap the
/// provider is registered with, as last updated by the collector (a slot the collector
/// rewrote must not be replaced by an older copy of the address). Reporting anything
/// else makes the collector read and write arbitrary memory.
pub unsafe trait RootProvider: Send {
    /// Hands every slot holding an object reference to `visitor`.
    ///
    /// The world is stopped while this runs: it must not allocate, block on a mutator
    /// thread, or keep the slots' old values. Nor may it call into its own heap: the
    /// collection running it holds the heap's locks, so `Heap::stats`, `pauses`,
    /// `register_type`, `add_root_provider`, `remove_root_provider`, `mutator` and a
    /// collection or safepoint of any of the heap's mutators would wait for
    /// themselves; they panic instead, saying so (methods that take no lock, such as
    /// `Heap::config` and `type_name`, work). A panic here aborts the process (the heap
    /// would be left half-collected).
    fn visit_roots(&mut self, visitor: &mut RootVisitor<'_>);
}

/// Given to a [`RootProvider`]: takes each root slot and updates it in place.
pub struct RootVisitor<'a> {
    f: &'a mut dyn FnMut(&mut usize),
}

impl<'a> RootVisitor<'a> {
    /// A visitor that applies `f` to every non-null slot.
    pub fn new(f: &'a mut dyn FnMut(&mut usize)) -> Self {
        RootVisitor { f }
    }

    /// Visits one slot: null is skipped; otherwise the slot must hold the address of a
    /// live object of this heap, and afterwards holds its current address.
    #[inline]
    pub fn visit(&mut self, slot: &mut Option<ObjectRef>) {
        if let Some(obj) = *slot {
            let mut addr = obj.addr();
            (self.f)(&mut addr);
            *slot = ObjectRef::from_addr(addr);
        }
    }

    /// Visits a slot holding a raw address (0 for null).
    #[inline]
    pub fn visit_addr(&mut self, slot: &mut usize) {
        if *slot != 0 {
            (self.f)(slot);
        }
    }
}

/// Identifies a registered provider, to remove it again; it names its heap, so that
/// another heap cannot remove a provider of its own by mistake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RootProviderId {
    heap: u32,
    id: u64,
}

impl RootProviderId {
    /// The id of the heap the provider is registered with.
    pub fn heap_id(&self) -> u32 {
        self.heap
    }
}

/// Registered providers with their ids, and the last id handed out.
type Registry = (u64, Vec<(u64, Box<dyn RootProvider>)>);

/// The providers registered with one heap.
pub struct RootProviders {
    heap: u32,
    inner: Mutex<Registry>,
}

impl std::fmt::Debug for RootProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RootProviders({})", self.len())
    }
}

impl RootProviders {
    /// No providers, for heap `heap`.
    pub fn new(heap: u32) -> Self {
        RootProviders {
            heap,
            inner: Mutex::default(),
        }
    }

    /// Registers a provider.
    pub fn add(&self, p: Box<dyn RootProvider>) -> RootProviderId {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.0 += 1;
        let id = g.0;
        g.1.push((id, p));
        RootProviderId {
            heap: self.heap,
            id,
        }
    }

    /// Unregisters a provider and gives it back; `None` if it was removed already.
    /// Panics if `id` names a provider of another heap.
    pub fn remove(&self, id: RootProviderId) -> Option<Box<dyn RootProvider>> {
        if id.heap != self.heap {
            panic!(
                "contgc: a root provider of heap {} cannot be removed from heap {}",
                id.heap, self.heap
            );
        }
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let i = g.1.iter().position(|(k, _)| *k == id.id)?;
        Some(g.1.remove(i).1)
    }

    /// Number of providers.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).1.len()
    }

    /// True if none is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lets every provider report its roots to `f`.
    pub fn visit_all(&self, f: &mut dyn FnMut(&mut usize)) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut v = RootVisitor::new(f);
        for (_, p) in g.1.iter_mut() {
            p.visit_roots(&mut v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Two([Option<ObjectRef>; 2]);
    // SAFETY: the test never lets a collector near these addresses.
    unsafe impl RootProvider for Two {
        fn visit_roots(&mut self, v: &mut RootVisitor<'_>) {
            for s in self.0.iter_mut() {
                v.visit(s);
            }
        }
    }

    #[test]
    fn providers_report_and_get_updated() {
        let ps = RootProviders::new(1);
        let id = ps.add(Box::new(Two([ObjectRef::from_addr(8), None])));
        let mut n = 0;
        ps.visit_all(&mut |s| {
            n += 1;
            *s = 64;
        });
        assert_eq!(n, 1);
        assert!(ps.remove(id).is_some());
        assert!(ps.remove(id).is_none());
        assert!(ps.is_empty());
    }

    /// A provider whose roots are raw words (0 for null), shared with its owner.
    struct Words(std::sync::Arc<Mutex<Vec<usize>>>);
    // SAFETY: the test never lets a collector near these addresses.
    unsafe impl RootProvider for Words {
        fn visit_roots(&mut self, v: &mut RootVisitor<'_>) {
            for s in self.0.lock().unwrap().iter_mut() {
                v.visit_addr(s);
            }
        }
    }

    #[test]
    fn raw_word_roots_skip_null_and_are_updated_in_place() {
        let words = std::sync::Arc::new(Mutex::new(vec![8, 0, 24]));
        let ps = RootProviders::new(1);
        ps.add(Box::new(Words(words.clone())));
        assert_eq!(ps.len(), 1);
        let mut seen = vec![];
        ps.visit_all(&mut |s| {
            seen.push(*s);
            *s += 1000;
        });
        assert_eq!(seen, vec![8, 24]);
        assert_eq!(*words.lock().unwrap(), vec![1008, 0, 1024]);
    }
}
