//! `Mutator`: one thread's access to a heap, and the raw (unsafe) layer for code
//! generators.
//!
//! A mutator owns a thread-local allocation buffer, its scoped roots (a shadow stack)
//! and its share of the remembered set (a log of old objects its write barrier saw
//! written). The collector reaches this state through the heap's mutator list while
//! the world is stopped; the mutator itself never keeps a reference to it across a
//! call that can collect (allocation slow paths, safepoints, `collect`).

use crate::collection::{self, Request};
use crate::error::{AllocError, PinError};
use crate::heap::{Heap, HeapInner};
use crate::safepoint::AbortOnUnwind;
use crate::spaces::{promotion_need, Spaces};
use crate::stats::{Census, CollectionKind, HeapStats, PauseRecord};
use crate::sync::lock;
use contgc_heap::header::UNLOGGED;
use contgc_heap::internal::{Nursery, BLOCK_SIZE};
use contgc_heap::size_classes::{MAX_SMALL_OBJECT, NUM_CLASSES};
use contgc_heap::{Header, ObjectRef, TypeId, TypeInfo, MAX_OBJECT_BYTES};
use contgc_roots::internal::{
    Cleanup, GroupFull, LocatorCache, ShadowStack, TaskRegistry, WeakTable,
};
use contgc_roots::{TaskRoot, Tasklet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

mod allocation;
mod raw_roots;
mod raw_slots;

/// A mutator's state that the collector reads and updates while the world is stopped.
pub(crate) struct MutatorLocal {
    /// Next free byte of the allocation buffer.
    pub cursor: usize,
    /// End of the allocation buffer.
    pub limit: usize,
    /// Scoped roots.
    pub shadow: ShadowStack,
    /// Old objects this mutator's write barrier logged since the last collection.
    pub remset: Vec<usize>,
    /// Allocations counted in GC-stress mode.
    pub stress_count: u64,
    /// Cache of the heap's type table.
    pub types: Vec<Arc<TypeInfo>>,
    /// The suspended-task group this mutator fills.
    pub task_group: Option<u32>,
    /// Spare task-root locators (registrations and resumptions allocate none).
    pub locators: LocatorCache,
    /// Objects parked on this mutator (`Scope::park`): roots like locals, taken back
    /// in any order.
    pub parked: ParkedSlots,
    /// This mutator's serial number (parked objects name it).
    pub serial: u64,
}

/// The slots behind parked objects: a slab of root words (0 = free) with a free list.
#[derive(Default)]
pub(crate) struct ParkedSlots {
    pub slots: Vec<usize>,
    free: Vec<u32>,
}

impl ParkedSlots {
    fn put(&mut self, addr: usize) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = addr;
                i
            }
            None => {
                self.slots.push(addr);
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn take(&mut self, i: u32) -> usize {
        let a = std::mem::take(&mut self.slots[i as usize]);
        self.free.push(i);
        a
    }
}

static NEXT_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl MutatorLocal {
    /// Gives back the unused tail of the allocation buffer as a filler, keeping eden
    /// walkable; the next allocation takes a new buffer.
    pub(crate) fn retire_buffer(&mut self, nursery: &Nursery) {
        // SAFETY: [cursor, limit) is the unused tail of this mutator's own buffer in
        // eden (or empty).
        unsafe { nursery.fill(self.cursor, self.limit) };
        self.cursor = 0;
        self.limit = 0;
    }
}

/// A registered mutator's local state, as the collector sees it.
pub(crate) struct LocalPtr(pub *mut MutatorLocal);

/// Puts the cleanups not yet run back at the head of the pending queue if a cleanup
/// panics (see `Mutator::run_pending_finalizers`); forgotten when it does not.
struct Requeue<'a, I: Iterator<Item = Cleanup>> {
    table: &'a WeakTable,
    rest: &'a mut I,
}

impl<I: Iterator<Item = Cleanup>> Drop for Requeue<'_, I> {
    fn drop(&mut self) {
        self.table.requeue(self.rest.collect());
    }
}

// SAFETY: the pointer is only dereferenced by the collector while the world is
// stopped (its owner is parked or in native state), or by its owner.
unsafe impl Send for LocalPtr {}

/// One thread's handle on a heap: allocates, reads and writes objects, and takes part
/// in collections at safepoints.
///
/// A mutator is `Send` (it may move to another thread between uses) but not `Sync`.
/// Code that blocks for a long time, or waits for another mutator thread, must do so
/// inside [`blocking`](Mutator::blocking) so that collections can proceed without it.
/// A mutator handed to another thread (through a channel, a queue, a thread pool)
/// should travel [parked](Mutator::park): a running mutator in transit is at no
/// safepoint, so every other thread's collection would wait until it arrives and
/// runs again.
pub struct Mutator {
    pub(crate) heap: Arc<HeapInner>,
    local: *mut MutatorLocal,
    /// The heap's id, kept here so that the checks every access makes (a type's or a
    /// field token's heap) read no shared memory.
    heap_id: u32,
}

// SAFETY: the local state is owned by this mutator and handed to the collector only
// through the stop-the-world protocol; nothing in it is tied to a thread.
unsafe impl Send for Mutator {}

impl Drop for Mutator {
    fn drop(&mut self) {
        {
            let heap = Arc::clone(&self.heap);
            let mut sp = lock(&heap.spaces);
            let l = self.local();
            l.retire_buffer(&sp.nursery);
            sp.remset.append(&mut l.remset);
        }
        if let Some(g) = self.local().task_group.take() {
            self.heap.tasks.release_group(g);
        }
        lock(&self.heap.mutators).retain(|p| p.0 != self.local);
        self.heap.rendezvous.detach();
        // SAFETY: created by Box::into_raw in `attach`, no longer registered, so
        // nothing else can reach it.
        drop(unsafe { Box::from_raw(self.local) });
    }
}

impl Mutator {
    pub(crate) fn attach(heap: Arc<HeapInner>) -> Mutator {
        heap.rendezvous.attach();
        let local = Box::into_raw(Box::new(MutatorLocal {
            cursor: 0,
            limit: 0,
            shadow: ShadowStack::new(),
            remset: Vec::new(),
            stress_count: 0,
            task_group: None,
            locators: LocatorCache::default(),
            parked: ParkedSlots::default(),
            serial: NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            types: Vec::new(),
        }));
        lock(&heap.mutators).push(LocalPtr(local));
        let heap_id = heap.id;
        Mutator {
            heap,
            local,
            heap_id,
        }
    }

    /// The local state. Never hold the result across a call that can collect.
    #[inline(always)]
    pub(crate) fn local(&mut self) -> &mut MutatorLocal {
        // SAFETY: the state is owned by this mutator; the collector only touches it
        // while this mutator is inside a collecting call, where no reference obtained
        // here is live (see the module doc).
        unsafe { &mut *self.local }
    }

    #[inline(always)]
    pub(crate) fn local_ref(&self) -> &MutatorLocal {
        // SAFETY: as for `local`.
        unsafe { &*self.local }
    }

    /// The heap this mutator belongs to.
    pub fn heap(&self) -> Heap {
        Heap {
            inner: Arc::clone(&self.heap),
        }
    }

    /// The heap's statistics.
    pub fn stats(&self) -> HeapStats {
        self.heap().stats()
    }

    /// Counts the objects in each space, stopping the world to do so (a diagnostic:
    /// O(heap); the mutators' allocation buffers are retired as by a collection).
    /// Objects not yet reclaimed are counted too, so the difference between two
    /// censuses with no collection in between is what was allocated.
    pub fn census(&mut self) -> Census {
        loop {
            let Some(world) = self.heap.rendezvous.begin_collection() else {
                continue;
            };
            let guard = AbortOnUnwind("a collection");
            let c = collection::census(&self.heap, &world);
            std::mem::forget(guard);
            self.heap.rendezvous.end_collection(world);
            return c;
        }
    }

    /// Lets a pending collection run. Call it regularly (at loop back-edges, calls)
    /// when running for long without allocating; allocation slow paths call it too.
    #[inline(always)]
    pub fn safepoint(&mut self) {
        if self.heap.rendezvous.poll() {
            crate::collection::refuse_inside_root_provider(self.heap.id, "Mutator::safepoint");
            self.heap.rendezvous.park();
        }
    }

    /// Collects now, and returns the record of the collection this call ran (if another
    /// thread was collecting, this waits for that collection to end and then runs its
    /// own).
    ///
    /// The request is honoured: [`Major`](CollectionKind::Major) runs a major
    /// collection; [`Minor`](CollectionKind::Minor) runs a minor one, even when policy
    /// would like a major one (the old generation has grown past its threshold, or the
    /// heap limit): that waits for the next collection the collector starts itself, when
    /// eden is exhausted. The one exception: a minor collection must be able to promote
    /// every nursery byte, so when the old generation lacks that room a major collection
    /// runs instead. The record's [`kind`](PauseRecord::kind) says which ran.
    pub fn collect(&mut self, kind: CollectionKind) -> PauseRecord {
        loop {
            if let Some((o, _)) = self.run_collection_then_grant(Request::Explicit(kind), None) {
                return o.record;
            }
        }
    }

    /// Runs `f` in native state: collections may run while `f` does, so `f` must not
    /// touch the heap (it cannot reach this mutator, which is borrowed).
    pub fn blocking<R>(&mut self, f: impl FnOnce() -> R) -> R {
        struct Reattach<'a>(&'a HeapInner);
        impl Drop for Reattach<'_> {
            fn drop(&mut self) {
                self.0.rendezvous.attach();
            }
        }
        self.heap.rendezvous.detach();
        let _guard = Reattach(&self.heap);
        f()
    }

    /// Parks this mutator for a hand-off to another thread: from now until
    /// [`ParkedMutator::resume`] it counts as stopped (as inside
    /// [`blocking`](Self::blocking)), so collections on other threads proceed without
    /// it. Its state is kept: scoped roots (raw [`push_root`](Self::push_root) roots)
    /// keep their objects alive and are updated when those move, its remembered-set
    /// log and task group stay its own. Raw [`ObjectRef`]s read before parking go
    /// stale, as across any collection.
    ///
    /// `park` takes the mutator by value, so no scope can be open on it.
    ///
    /// ```
    /// use contgc_collector::{CollectionKind, Config, Heap};
    /// use std::sync::mpsc;
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// tx.send(heap.mutator().park()).unwrap();
    /// // Other threads may collect while it waits in the channel.
    /// heap.mutator().collect(CollectionKind::Minor);
    /// let worker = std::thread::spawn(move || {
    ///     let mut m = rx.recv().unwrap().resume();
    ///     m.collect(CollectionKind::Minor);
    /// });
    /// worker.join().unwrap();
    /// ```
    pub fn park(self) -> ParkedMutator {
        self.heap.rendezvous.detach();
        ParkedMutator(Some(self))
    }

    fn run_collection(&mut self, request: Request) {
        self.run_collection_then_grant(request, None);
    }

    /// Collects if no other thread is collecting; then, with the world still stopped,
    /// carves a buffer of at least `grant.0` and up to `grant.1` bytes off eden for
    /// this mutator, so that other threads cannot take the room first. Returns `None`
    /// if another thread's collection ran instead, else what the collection did and
    /// the buffer (if asked and eden had room).
    fn run_collection_then_grant(
        &mut self,
        request: Request,
        grant: Option<(usize, usize)>,
    ) -> Option<(collection::Outcome, Option<(usize, usize)>)> {
        crate::collection::refuse_inside_root_provider(
            self.heap.id,
            "a collection (or an allocation that needs one)",
        );
        let started = Instant::now();
        let world = self.heap.rendezvous.begin_collection()?;
        // A panic with the world stopped would leave objects half-forwarded and every
        // other mutator parked: abort instead of unwinding.
        let guard = AbortOnUnwind("a collection");
        let (mut outcome, mut sp) = collection::collect(&self.heap, request, started, &world);
        let mut buffer = grant.and_then(|(min, preferred)| sp.nursery.grant(min, preferred));
        if outcome.verify_error.is_some() {
            if let Some((start, end)) = buffer.take() {
                // SAFETY: the buffer was just carved off eden for us; we give it back
                // as a filler so that eden stays walkable.
                unsafe { sp.nursery.fill(start, end) };
            }
        }
        std::mem::forget(guard);
        // The pause ends when the world has restarted (see `stats`). The spaces stay
        // locked across the restart so that pauses are recorded in collection order;
        // nothing that restarting waits for takes that lock.
        self.heap.rendezvous.end_collection(world);
        outcome.record.duration = started.elapsed();
        outcome.record.parts.other = outcome.record.duration.saturating_sub(outcome.timed);
        sp.stats.record(outcome.record.clone());
        self.fault_in_ready_blocks(sp, outcome.record.promoted_bytes);
        if let Some(e) = outcome.verify_error.take() {
            panic!("contgc: {e}");
        }
        Some((outcome, buffer))
    }

    /// After a collection that promoted `promoted` bytes, with the world restarted:
    /// faults in the old-space blocks the next collection will likely promote into
    /// (see `contgc_heap`'s `ready_blocks`), taking them out under the lock `sp`
    /// holds, committing their pages with it released, in this thread's own time.
    fn fault_in_ready_blocks(&self, mut sp: std::sync::MutexGuard<'_, Spaces>, promoted: usize) {
        let keep = promotion_need(
            self.heap.config.nursery_size + 2 * self.heap.config.survivor_size,
            NUM_CLASSES,
        );
        let mut reservation = sp.old.reserve_blocks(ready_target(promoted), keep);
        drop(sp);
        if reservation.is_empty() {
            return;
        }
        // This thread still counts as running: stop as soon as a collection waits.
        let rendezvous = &self.heap.rendezvous;
        // SAFETY: the spaces live as long as the heap, which this mutator holds.
        unsafe { reservation.prefault(|| rendezvous.poll()) };
        lock(&self.heap.spaces).old.add_ready_blocks(reservation);
    }

    #[cold]
    #[inline(never)]
    fn wrong_heap(&self, what: &str, other: u32) -> ! {
        panic!(
            "contgc: {what} belongs to heap #{other}, but this mutator's heap is #{}",
            self.heap.id
        )
    }

    /// Panics if `ty` was registered with another heap.
    #[inline(always)]
    pub fn check_type(&self, ty: TypeId) {
        if ty.heap_id() != self.heap_id {
            self.wrong_heap("type", ty.heap_id());
        }
    }

    /// Runs, on this thread, the cleanups of the finalizers whose objects collections
    /// have found dead since they last ran (see
    /// [`Scope::register_finalizer`](crate::Scope::register_finalizer)), oldest first;
    /// returns how many ran. Never called by the collector itself: an embedder calls
    /// it where cleanups may run (its event loop, after a collection, at shutdown).
    ///
    /// Cleanups run with no lock of the heap held and with this mutator in native
    /// state, as inside [`blocking`](Self::blocking): collections may run meanwhile
    /// (raw [`ObjectRef`]s read before the call go stale, as across an allocation),
    /// and a cleanup may use the heap through a mutator of its own, made from a
    /// [`WeakHeap`](crate::WeakHeap) it captured (capturing a [`Heap`]
    /// would keep the heap alive forever, see `register_finalizer`). If a cleanup
    /// panics, the panic propagates and the cleanups after it stay queued for the next
    /// call.
    pub fn run_pending_finalizers(&mut self) -> usize {
        if self.heap.weak_handles.pending_len() == 0 {
            // Not worth leaving and rejoining the world for.
            return 0;
        }
        let heap = Arc::clone(&self.heap);
        self.blocking(|| {
            let table = &heap.weak_handles;
            let mut ran = 0;
            loop {
                let pending = table.take_pending();
                if pending.is_empty() {
                    return ran;
                }
                let mut rest = pending.into_iter();
                while let Some(cleanup) = rest.next() {
                    // Requeue what is left if this one panics.
                    let guard = Requeue {
                        table,
                        rest: &mut rest,
                    };
                    cleanup();
                    std::mem::forget(guard);
                    ran += 1;
                }
            }
        })
    }

    /// Cleanups waiting for [`run_pending_finalizers`](Self::run_pending_finalizers).
    pub fn pending_finalizers(&self) -> usize {
        self.heap.weak_handles.pending_len()
    }

    /// True if cleanups may be waiting: one relaxed load, cheap enough to check
    /// between every two jobs of a dispatcher loop (the executor's `Runtime` does).
    #[inline]
    pub fn has_pending_finalizers(&self) -> bool {
        self.heap.weak_handles.has_pending()
    }

    /// Pins `obj`: it will neither move nor die until as many
    /// [`unpin_raw`](Self::unpin_raw) calls have removed its pins. Returns the object's
    /// address from now on: an old or large object's own; for a young object, the
    /// address of its promoted copy, made by a minor collection this call runs (the
    /// collection updates every reference to it, roots included, like any other).
    /// Pinning a young object therefore costs a collection: allocate objects that
    /// native code will hold with a pretenured type
    /// ([`TypeDescriptor::pretenured`](crate::TypeDescriptor::pretenured)).
    ///
    /// # Safety
    /// `obj` must be a live object of this heap.
    pub unsafe fn pin_raw(&mut self, obj: ObjectRef) -> Result<ObjectRef, PinError> {
        let obj = if self.is_young(obj) {
            // Old enough to be promoted by the next evacuation, whatever its type's
            // promotion age (at most 15).
            // SAFETY: a live object (the caller's guarantee); an atomic store, since
            // other threads' barriers may read its header meanwhile.
            unsafe {
                let h = obj.header();
                obj.header_atomic()
                    .store(h.with_age(15).bits(), Ordering::Relaxed);
            }
            let base = self.roots_len();
            // SAFETY: a live object of this heap (the caller's guarantee).
            let at = unsafe { self.push_root(Some(obj)) };
            self.collect(CollectionKind::Minor);
            let moved = self.root(at).expect("a rooted object");
            // SAFETY: only the root pushed above is released.
            unsafe { self.truncate_roots(base) };
            if self.is_young(moved) {
                return Err(PinError::HeapFull);
            }
            moved
        } else {
            obj
        };
        self.heap.pins.add(obj.addr());
        Ok(obj)
    }

    /// Removes one pin of `obj` (see [`pin_raw`](Self::pin_raw)); refused with
    /// [`PinError::NotPinned`] if it has none. Once its last pin is gone, the object
    /// lives and dies like any other (old objects still never move).
    ///
    /// # Safety
    /// The pin removed must be one this code made with [`pin_raw`](Self::pin_raw), not
    /// a [`Pinned`](crate::Pinned)'s, whose holder relies on it.
    pub unsafe fn unpin_raw(&mut self, obj: ObjectRef) -> Result<(), PinError> {
        self.heap.pins.remove(obj.addr()).map(|_| ())
    }

    /// How many pins `obj` has.
    pub fn pin_count(&self, obj: ObjectRef) -> u32 {
        self.heap.pins.count(obj.addr())
    }

    /// True if `obj` is in this heap's nursery.
    #[inline]
    pub(crate) fn is_young(&self, obj: ObjectRef) -> bool {
        let (start, len) = self.heap.young;
        obj.addr().wrapping_sub(start) < len
    }

    pub(crate) fn check_heap_of(&self, what: &str, heap: u32) {
        if heap != self.heap_id {
            self.wrong_heap(what, heap);
        }
    }

    /// The descriptor of type `index` (cached per mutator).
    #[inline]
    pub(crate) fn type_info(&mut self, index: u32) -> &TypeInfo {
        if (index as usize) >= self.local_ref().types.len() {
            self.refresh_types(index);
        }
        &self.local_ref().types[index as usize]
    }

    #[cold]
    #[inline(never)]
    fn refresh_types(&mut self, index: u32) {
        let fresh: Vec<_> = self.heap.types.read().clone();
        if index as usize >= fresh.len() {
            panic!("contgc: type index {index} is not registered with this heap");
        }
        self.local().types = fresh;
    }

    /// This mutator's heap's id.
    #[inline]
    pub fn heap_id(&self) -> u32 {
        self.heap_id
    }

    /// True if type `index` of this heap is a continuation layout. Panics if no such
    /// type is registered.
    #[inline]
    pub fn is_continuation_type(&mut self, index: u32) -> bool {
        self.type_info(index).is_continuation()
    }

    /// The registered type `index` of this heap (cached per mutator), or `None` if no
    /// such type is registered.
    #[inline]
    fn try_type_info(&mut self, index: u32) -> Option<&TypeInfo> {
        if (index as usize) >= self.local_ref().types.len() {
            let fresh: Vec<_> = self.heap.types.read().clone();
            if index as usize >= fresh.len() {
                return None;
            }
            self.local().types = fresh;
        }
        Some(&self.local_ref().types[index as usize])
    }

    /// The name of type `index` of this heap, or `None` if no such type is registered
    /// (a diagnostic: type indices are what object headers hold).
    pub fn type_name(&mut self, index: u32) -> Option<&str> {
        self.try_type_info(index).map(TypeInfo::name)
    }

    /// The data attached to type `index` of this heap at registration
    /// ([`TypeDescriptor::with_attachment`](contgc_heap::TypeDescriptor::with_attachment)),
    /// or `None` if it has none or no such type is registered. Lock-free after the first
    /// look-up of a type on this mutator.
    #[inline]
    pub fn type_attachment(&mut self, index: u32) -> Option<&(dyn std::any::Any + Send + Sync)> {
        self.try_type_info(index).and_then(TypeInfo::attachment)
    }

    // The raw layer: allocation (`allocation`), slot access with the barriers
    // (`raw_slots`), suspended tasks and scoped roots (`raw_roots`).
}

/// A [`Mutator`] parked for a hand-off between threads (see [`Mutator::park`]): it
/// counts as stopped, so collections never wait for it. It is `Send`; give it to the
/// thread that will use it and [`resume`](Self::resume) it there. Dropping it drops
/// the mutator (after waiting for a collection in progress to end).
pub struct ParkedMutator(Option<Mutator>);

impl std::fmt::Debug for ParkedMutator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParkedMutator")
            .field("heap", &self.0.as_ref().map(|m| m.heap.id))
            .finish()
    }
}

impl ParkedMutator {
    /// Makes the mutator run again on the calling thread, waiting first for a
    /// collection in progress to end.
    pub fn resume(mut self) -> Mutator {
        let m = self.0.take().expect("a parked mutator holds its mutator");
        m.heap.rendezvous.attach();
        m
    }

    /// The id of the parked mutator's heap.
    pub fn heap_id(&self) -> u32 {
        self.0.as_ref().map_or(0, |m| m.heap.id)
    }
}

impl Drop for ParkedMutator {
    fn drop(&mut self) {
        if let Some(m) = self.0.take() {
            // Dropping a mutator detaches a running one: run again first (which waits
            // for a collection in progress, so its state is not touched meanwhile).
            m.heap.rendezvous.attach();
            drop(m);
        }
    }
}

/// Old-space blocks to keep faulted in after a collection that promoted `promoted`
/// bytes: room for half as much again as it promoted plus a partly used block per
/// size class it may touch, at most 2 MiB (64 blocks).
fn ready_target(promoted: usize) -> usize {
    const MAX_READY_BLOCKS: usize = 64;
    if promoted == 0 {
        return 0;
    }
    (promoted + promoted / 2)
        .div_ceil(BLOCK_SIZE)
        .saturating_add(4)
        .min(MAX_READY_BLOCKS)
}
