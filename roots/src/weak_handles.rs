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
//!
//! The same slots carry **finalizers** ([`WeakTable::register_cleanup`]): a slot with a
//! cleanup belongs to its registration, not to a handle. When a collection clears it
//! (its object died), the cleanup moves to the table's pending queue and the slot is
//! freed; the mutator takes the queue ([`WeakTable::take_pending`]) and runs the
//! cleanups outside any collection. A slot's generation counts its reuses, so a
//! [`Finalizer`] never cancels a later registration that got the same slot.

use contgc_heap::ObjectRef;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A finalizer's cleanup: run once, by a mutator, after its object died.
pub type Cleanup = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Slots {
    /// Addresses (0: empty or cleared).
    slots: Vec<usize>,
    /// Per slot: its index is in `young`.
    in_young: Vec<bool>,
    /// Per slot: the cleanup of the finalizer that owns it, if one does.
    cleanup: Vec<Option<Cleanup>>,
    /// Per slot: how many times it has been freed.
    generation: Vec<u32>,
    /// Slots that may hold a young object.
    young: Vec<u32>,
    /// Slots of dropped handles and of finalizers that ran or were cancelled.
    free: Vec<u32>,
    /// Cleanups whose object died, in the order the collections found them.
    pending: Vec<Cleanup>,
    live: usize,
}

impl std::fmt::Debug for Slots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slots")
            .field("live", &self.live)
            .field("young", &self.young.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Slots {
    fn note_young(&mut self, index: u32) {
        let i = index as usize;
        if !self.in_young[i] {
            self.in_young[i] = true;
            self.young.push(index);
        }
    }

    /// A free slot holding `addr`.
    fn take_slot(&mut self, addr: usize, young: bool) -> u32 {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                let i = u32::try_from(self.slots.len()).expect("contgc: too many weak handles");
                self.slots.push(0);
                self.in_young.push(false);
                self.cleanup.push(None);
                self.generation.push(0);
                i
            }
        };
        self.slots[index as usize] = addr;
        if young {
            self.note_young(index);
        }
        self.live += 1;
        index
    }

    /// Frees slot `i` (its handle was dropped, or its finalizer ran or was cancelled).
    /// A slot still in the young list is dropped from it when the list is next settled.
    /// The slot's cleanup must have been taken: dropping one may run any code (drop a
    /// weak handle of this table, say), which must not happen under the table's lock.
    fn free_slot(&mut self, i: usize) {
        debug_assert!(
            self.cleanup[i].is_none(),
            "a cleanup dropped under the lock"
        );
        self.slots[i] = 0;
        self.generation[i] = self.generation[i].wrapping_add(1);
        self.free.push(i as u32);
        self.live -= 1;
    }

    /// A collection found slot `i`'s object dead: its cleanup, if it has one, becomes
    /// pending and the slot is freed.
    fn cleared(&mut self, i: usize) {
        if let Some(c) = self.cleanup[i].take() {
            self.pending.push(c);
            self.free_slot(i);
        }
    }
}

/// The weak handles of one heap.
pub struct WeakTable {
    heap: u32,
    inner: Mutex<Slots>,
    /// `inner.pending.len()`, written under the lock, read without it by
    /// [`has_pending`](Self::has_pending).
    pending_hint: AtomicUsize,
}

/// Names the heap only (as `HandleTable`'s): a weak handle's or finalizer's `Debug`
/// shows its table.
impl std::fmt::Debug for WeakTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeakTable")
            .field("heap", &self.heap)
            .finish_non_exhaustive()
    }
}

impl WeakTable {
    /// An empty table for heap `heap`.
    pub fn new(heap: u32) -> Arc<WeakTable> {
        Arc::new(WeakTable {
            heap,
            inner: Mutex::new(Slots::default()),
            pending_hint: AtomicUsize::new(0),
        })
    }

    /// True if cleanups may be pending: one relaxed load, for a dispatcher loop to
    /// check between jobs. A hint: [`take_pending`](Self::take_pending) is the truth.
    #[inline]
    pub fn has_pending(&self) -> bool {
        self.pending_hint.load(Ordering::Relaxed) != 0
    }

    fn note_pending(&self, s: &Slots) {
        self.pending_hint.store(s.pending.len(), Ordering::Relaxed);
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
        let index = self.lock().take_slot(obj.addr(), young);
        WeakHandle {
            table: Arc::clone(self),
            index,
        }
    }

    /// Registers `cleanup` to run once `obj` has died (`young`: `obj` is in the
    /// nursery): the collection that finds it dead queues the cleanup, and
    /// [`take_pending`](Self::take_pending) hands it out.
    ///
    /// # Safety
    /// As for [`create`](Self::create).
    pub unsafe fn register_cleanup(
        self: &Arc<Self>,
        obj: ObjectRef,
        young: bool,
        cleanup: Cleanup,
    ) -> Finalizer {
        let mut s = self.lock();
        let index = s.take_slot(obj.addr(), young);
        s.cleanup[index as usize] = Some(cleanup);
        Finalizer {
            table: Arc::clone(self),
            index,
            generation: s.generation[index as usize],
        }
    }

    /// The cleanups whose object died since the last call, oldest first; the caller
    /// runs them (outside any collection).
    pub fn take_pending(&self) -> Vec<Cleanup> {
        let mut s = self.lock();
        let p = std::mem::take(&mut s.pending);
        self.note_pending(&s);
        p
    }

    /// Puts `cleanups` (taken, not run) back at the head of the pending queue, in
    /// their order.
    pub fn requeue(&self, cleanups: Vec<Cleanup>) {
        let mut s = self.lock();
        let later = std::mem::replace(&mut s.pending, cleanups);
        s.pending.extend(later);
        self.note_pending(&s);
    }

    /// How many cleanups wait to be taken.
    pub fn pending_len(&self) -> usize {
        self.lock().pending.len()
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
        let mut dead = Vec::new();
        let Slots {
            slots,
            in_young,
            young,
            ..
        } = &mut *s;
        young.retain(|&i| {
            let slot = &mut slots[i as usize];
            let keep = if *slot == 0 {
                false
            } else {
                let (new, still_young) = f(*slot);
                if new == 0 {
                    dead.push(i as usize);
                }
                *slot = new;
                new != 0 && still_young
            };
            in_young[i as usize] = keep;
            keep
        });
        for &i in &dead {
            s.cleared(i);
        }
        self.note_pending(&s);
        dead.len()
    }

    /// Settles every slot (a major collection, after marking): `f` maps a non-null
    /// address to itself if the object lives, else 0. Returns how many were cleared.
    pub fn settle_all(&self, mut f: impl FnMut(usize) -> usize) -> usize {
        let mut s = self.lock();
        let mut dead = Vec::new();
        for (i, slot) in s.slots.iter_mut().enumerate().filter(|(_, s)| **s != 0) {
            let new = f(*slot);
            if new == 0 {
                dead.push(i);
            }
            *slot = new;
        }
        for &i in &dead {
            s.cleared(i);
        }
        self.note_pending(&s);
        dead.len()
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
    /// `obj` must be a live object of the heap this handle belongs to, no collection
    /// may run between the caller obtaining `obj` and this call, and `young` must be
    /// true if `obj` is young (`Scope::set_weak_handle` is the safe way in).
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
        self.table.lock().free_slot(self.index as usize);
    }
}

/// A finalizer's registration (made by `Scope::register_finalizer` in
/// `contgc-collector`). Dropping it does not cancel the finalizer: the cleanup still
/// runs once the object dies.
#[derive(Debug)]
pub struct Finalizer {
    table: Arc<WeakTable>,
    index: u32,
    generation: u32,
}

impl Finalizer {
    /// Cancels the finalizer if its cleanup has not been queued yet: returns true if
    /// it was cancelled (the cleanup is dropped without running), false if the object
    /// was already found dead (the cleanup is pending or has run) or it was cancelled
    /// before.
    ///
    /// The cleanup is dropped after the table's lock is released, so dropping what it
    /// captured may use the heap (drop a [`WeakHandle`], say).
    pub fn cancel(&self) -> bool {
        let cleanup = {
            let mut s = self.table.lock();
            let i = self.index as usize;
            if s.generation[i] == self.generation && s.cleanup[i].is_some() {
                let c = s.cleanup[i].take();
                s.free_slot(i);
                c
            } else {
                None
            }
        };
        cleanup.is_some()
    }

    /// The id of the heap whose table holds the registration.
    pub fn heap_id(&self) -> u32 {
        self.table.heap
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

    /// Cancelling drops the cleanup after releasing the table's lock: a cleanup that
    /// owns a weak handle of the same table (whose drop takes the lock) used to
    /// deadlock `cancel`.
    #[test]
    fn cancelling_a_cleanup_that_owns_a_handle_of_its_table_returns() {
        let t = WeakTable::new(1);
        // SAFETY: no heap is involved; the slots only hold test addresses.
        let (handle, f) = unsafe {
            let h = t.create(fr(8), false);
            let f = t.register_cleanup(fr(16), false, Box::new(move || drop(h)));
            (t.create(fr(24), false), f)
        };
        assert!(f.cancel(), "the first cancel cancels");
        assert!(!f.cancel(), "the second finds nothing");
        // The cleanup's handle was dropped with it: only `handle` is left.
        drop(handle);
        assert!(t.is_empty());
    }
}
