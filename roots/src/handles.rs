//! Persistent handles: strong roots stored in blocks of slots.
//!
//! A [`Persistent`] owns one slot of its heap's [`HandleTable`] until it is dropped.
//! The table is guarded by a mutex: creating, reading and dropping a handle take it,
//! and a collection holds it while it visits and updates the slots, so a handle
//! dropped on another thread during a collection simply waits.

use contgc_heap::ObjectRef;
use std::sync::{Arc, Mutex, MutexGuard};

/// Slots per block.
pub const HANDLES_PER_BLOCK: usize = 256;

#[derive(Debug, Default)]
struct Blocks {
    blocks: Vec<[usize; HANDLES_PER_BLOCK]>,
    free: Vec<u32>,
    live: usize,
}

impl Blocks {
    fn slot(&mut self, index: u32) -> &mut usize {
        let i = index as usize;
        &mut self.blocks[i / HANDLES_PER_BLOCK][i % HANDLES_PER_BLOCK]
    }
}

/// The persistent handles of one heap.
pub struct HandleTable {
    heap: u32,
    inner: Mutex<Blocks>,
}

/// Names the heap only: the handles' slots are the heap's business, and a handle's
/// `Debug` (which shows its table) would otherwise print every one of them.
impl std::fmt::Debug for HandleTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandleTable")
            .field("heap", &self.heap)
            .finish_non_exhaustive()
    }
}

impl HandleTable {
    /// An empty table for heap `heap`.
    pub fn new(heap: u32) -> Arc<HandleTable> {
        Arc::new(HandleTable {
            heap,
            inner: Mutex::new(Blocks::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Blocks> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a handle holding `obj`.
    ///
    /// # Safety
    /// `obj` must be a live object of the heap this table belongs to, and no collection
    /// may run between the caller obtaining `obj` and this call (the mutator API
    /// guarantees both; `Scope::persist` is the safe way in).
    pub unsafe fn create(self: &Arc<Self>, obj: ObjectRef) -> Persistent {
        let mut b = self.lock();
        Self::create_locked(self, &mut b, obj)
    }

    fn create_locked(this: &Arc<Self>, b: &mut Blocks, obj: ObjectRef) -> Persistent {
        let index = match b.free.pop() {
            Some(i) => i,
            None => {
                // Indices are u32: refuse to wrap (two handles would share a slot).
                let i = u32::try_from(b.blocks.len() * HANDLES_PER_BLOCK)
                    .ok()
                    .filter(|i| i.checked_add(HANDLES_PER_BLOCK as u32).is_some())
                    .expect("contgc: too many persistent handles");
                b.blocks.push([0; HANDLES_PER_BLOCK]);
                b.free.extend((i + 1..i + HANDLES_PER_BLOCK as u32).rev());
                i
            }
        };
        *b.slot(index) = obj.addr();
        b.live += 1;
        Persistent {
            table: Arc::clone(this),
            index,
        }
    }

    /// Number of live handles.
    pub fn len(&self) -> usize {
        self.lock().live
    }

    /// True if no handle is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` with every non-empty slot, under the table's lock; `f` may rewrite the
    /// slot (to a moved object's new address, never to 0).
    pub fn for_each_slot(&self, mut f: impl FnMut(&mut usize)) {
        let mut b = self.lock();
        for block in b.blocks.iter_mut() {
            for slot in block.iter_mut() {
                if *slot != 0 {
                    f(slot);
                }
            }
        }
    }
}

/// A strong root: keeps its object alive, and follows it when the collector moves it,
/// until dropped.
///
/// Reading the object a handle holds goes through a mutator (`Scope::get_persistent`
/// in `contgc-collector`), which checks that the handle belongs to its heap.
#[derive(Debug)]
pub struct Persistent {
    table: Arc<HandleTable>,
    index: u32,
}

impl Persistent {
    /// The object's current address. It is only meaningful while no collection can
    /// run, which the mutator API guarantees for the code that uses it.
    pub fn get(&self) -> ObjectRef {
        let v = *self.table.lock().slot(self.index);
        ObjectRef::from_addr(v).expect("a live persistent handle is never empty")
    }

    /// Makes the handle hold `obj` instead.
    ///
    /// # Safety
    /// `obj` must be a live object of the heap this handle belongs to, and no
    /// collection may run between the caller obtaining `obj` and this call
    /// (`Scope::set_persistent` is the safe way in).
    pub unsafe fn set(&self, obj: ObjectRef) {
        *self.table.lock().slot(self.index) = obj.addr();
    }

    /// The id of the heap whose table holds this handle.
    pub fn heap_id(&self) -> u32 {
        self.table.heap
    }

    /// A second handle to the same object (read and created under one lock, so a
    /// collection cannot move the object in between).
    pub fn duplicate(&self) -> Persistent {
        let mut b = self.table.lock();
        let obj = ObjectRef::from_addr(*b.slot(self.index)).expect("live handles are non-empty");
        HandleTable::create_locked(&self.table, &mut b, obj)
    }
}

impl Drop for Persistent {
    fn drop(&mut self) {
        let mut b = self.table.lock();
        *b.slot(self.index) = 0;
        b.free.push(self.index);
        b.live -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(a: usize) -> ObjectRef {
        ObjectRef::from_addr(a).unwrap()
    }

    #[test]
    fn handles_are_visited_updated_and_freed() {
        let t = HandleTable::new(1);
        // SAFETY: no heap is involved; the slots only hold test addresses.
        let hs: Vec<_> = (1..=300).map(|i| unsafe { t.create(fr(i * 8)) }).collect();
        assert_eq!(t.len(), 300);
        let mut seen = 0;
        t.for_each_slot(|s| {
            seen += 1;
            *s += 8000;
        });
        assert_eq!(seen, 300);
        assert_eq!(hs[0].get(), fr(8008));
        drop(hs);
        assert!(t.is_empty());
        let mut seen = 0;
        t.for_each_slot(|_| seen += 1);
        assert_eq!(seen, 0);
        // SAFETY: as above.
        let h = unsafe { t.create(fr(16)) };
        let d = h.duplicate();
        // SAFETY: as above.
        unsafe { h.set(fr(24)) };
        assert_eq!((h.get(), d.get()), (fr(24), fr(16)));
    }

    /// A handle's `Debug` is short whatever the table holds.
    #[test]
    fn a_handle_debug_does_not_print_its_table() {
        let t = HandleTable::new(7);
        // SAFETY: as above.
        let hs: Vec<_> = (1..=300).map(|i| unsafe { t.create(fr(i * 8)) }).collect();
        let s = format!("{:?}", hs[5]);
        assert!(s.contains("heap: 7") && s.len() < 100, "{s}");
    }
}
