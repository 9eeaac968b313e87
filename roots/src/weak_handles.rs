//! Weak handles: references from outside the heap that do not keep their object alive.
//!
//! A [`WeakHandle`] owns one slot of its heap's [`WeakTable`] until it is dropped. The
//! slot holds the object's address, or 0 once a collection found the object dead.
//! Like the persistent handles' table, the table is guarded by a mutex that
//! collections hold while they settle the slots.
//!
//! So that a minor collection costs nothing for weak handles to old objects, the
//! table keeps the indices of the slots that may hold a young object (set when a
//! handle is created or set to one, kept while its object stays young): a minor
//! collection settles only those ([`WeakTable::settle_young`]); a major collection
//! settles every slot ([`WeakTable::settle_all`]).

use contgc_heap::ObjectRef;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Default)]
struct Slots {
    /// Addresses (0: empty or cleared).
    slots: Vec<usize>,
    /// Per slot: its index is in `young`.
    in_young: Vec<bool>,
    /// Slots that may hold a young object.
    young: Vec<u32>,
    /// Slots of dropped handles.
    free: Vec<u32>,
    live: usize,
}

impl Slots {
    fn note_young(&mut self, index: u32) {
        let i = index as usize;
        if !self.in_young[i] {
            self.in_young[i] = true;
            self.young.push(index);
        }
    }
}

/// The weak handles of one heap.
#[derive(Debug)]
pub struct WeakTable {
    heap: u32,
    inner: Mutex<Slots>,
}

impl WeakTable {
    /// An empty table for heap `heap`.
    pub fn new(heap: u32) -> Arc<WeakTable> {
        Arc::new(WeakTable {
            heap,
            inner: Mutex::new(Slots::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates a weak handle to `obj`; `young` says whether `obj` is in the nursery.
    ///
    /// # Safety
    /// `obj` must be a live object of the heap this table belongs to, no collection may
    /// run between the caller obtaining `obj` and this call, and `young` must be true
    /// if `obj` is young (`Scope::weak_handle` is the safe way in).
    pub unsafe fn create(self: &Arc<Self>, obj: ObjectRef, young: bool) -> WeakHandle {
        let mut s = self.lock();
        let index = match s.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(s.slots.len()).expect("contgc: too many weak handles");
                s.slots.push(0);
                s.in_young.push(false);
                i
            }
        };
        s.slots[index as usize] = obj.addr();
        if young {
            s.note_young(index);
        }
        s.live += 1;
        WeakHandle {
            table: Arc::clone(self),
            index,
        }
    }

    /// Number of live handles (cleared ones included).
    pub fn len(&self) -> usize {
        self.lock().live
    }

    /// True if no handle is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Settles the slots that may hold a young object (a minor collection, once every
    /// survivor is copied): `f` maps a non-null address to the object's address now,
    /// or 0 if it died, and says whether that address is young. Slots no longer young
    /// leave the young list. Returns how many slots were cleared.
    pub fn settle_young(&self, mut f: impl FnMut(usize) -> (usize, bool)) -> usize {
        let mut s = self.lock();
        let Slots {
            slots,
            in_young,
            young,
            ..
        } = &mut *s;
        let mut cleared = 0;
        young.retain(|&i| {
            let slot = &mut slots[i as usize];
            let keep = if *slot == 0 {
                false
            } else {
                let (new, still_young) = f(*slot);
                if new == 0 {
                    cleared += 1;
                }
                *slot = new;
                new != 0 && still_young
            };
            in_young[i as usize] = keep;
            keep
        });
        cleared
    }

    /// Settles every slot (a major collection, after marking): `f` maps a non-null
    /// address to itself if the object lives, else 0. Returns how many were cleared.
    pub fn settle_all(&self, mut f: impl FnMut(usize) -> usize) -> usize {
        let mut s = self.lock();
        let mut cleared = 0;
        for slot in s.slots.iter_mut().filter(|s| **s != 0) {
            let new = f(*slot);
            if new == 0 {
                cleared += 1;
            }
            *slot = new;
        }
        cleared
    }
}

/// A weak reference from outside the heap: reads its object while it lives (through
/// `Scope::get_weak_handle` in `contgc-collector`), and `None` once a collection found
/// the object dead; never keeps it alive. Owns its slot until dropped.
#[derive(Debug)]
pub struct WeakHandle {
    table: Arc<WeakTable>,
    index: u32,
}

impl WeakHandle {
    /// The object's current address, or `None` if it died. Only meaningful while no
    /// collection can run, which the mutator API guarantees for the code that uses it.
    pub fn get(&self) -> Option<ObjectRef> {
        ObjectRef::from_addr(self.table.lock().slots[self.index as usize])
    }

    /// Makes the handle refer to `obj` instead (`young`: `obj` is in the nursery).
    ///
    /// # Safety
    /// As for [`WeakTable::create`].
    pub unsafe fn set(&self, obj: ObjectRef, young: bool) {
        let mut s = self.table.lock();
        s.slots[self.index as usize] = obj.addr();
        if young {
            s.note_young(self.index);
        }
    }

    /// The id of the heap whose table holds this handle.
    pub fn heap_id(&self) -> u32 {
        self.table.heap
    }
}

impl Drop for WeakHandle {
    fn drop(&mut self) {
        let mut s = self.table.lock();
        s.slots[self.index as usize] = 0;
        s.free.push(self.index);
        s.live -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(a: usize) -> ObjectRef {
        ObjectRef::from_addr(a).unwrap()
    }

    #[test]
    fn minor_settling_visits_only_young_slots_and_drops_the_promoted() {
        let t = WeakTable::new(1);
        // SAFETY: no heap is involved; the slots only hold test addresses.
        let (old, young, dies) = unsafe {
            (
                t.create(fr(8), false),
                t.create(fr(16), true),
                t.create(fr(24), true),
            )
        };
        let mut seen = Vec::new();
        // 16 is promoted to 1016 (old), 24 dies.
        let cleared = t.settle_young(|v| {
            seen.push(v);
            match v {
                16 => (1016, false),
                _ => (0, false),
            }
        });
        assert_eq!((seen.len(), cleared), (2, 1));
        assert_eq!(
            (old.get(), young.get(), dies.get()),
            (Some(fr(8)), Some(fr(1016)), None)
        );
        // Nothing young is left: the next minor settling visits nothing.
        let mut n = 0;
        t.settle_young(|v| {
            n += 1;
            (v, true)
        });
        assert_eq!(n, 0);
        // A major settling visits every non-empty slot.
        assert_eq!(t.settle_all(|v| if v == 8 { 0 } else { v }), 1);
        assert_eq!(old.get(), None);
        drop((old, young, dies));
        assert!(t.is_empty());
    }
}
