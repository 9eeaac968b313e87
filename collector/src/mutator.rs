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
use crate::spaces::promotion_need;
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

/// Aborts the process if dropped while unwinding (see `run_collection`).
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("contgc: panic during a collection; the heap cannot be recovered, aborting");
            std::process::abort();
        }
    }
}

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
            let guard = AbortOnUnwind;
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
        let started = Instant::now();
        let world = self.heap.rendezvous.begin_collection()?;
        // A panic with the world stopped would leave objects half-forwarded and every
        // other mutator parked: abort instead of unwinding.
        let guard = AbortOnUnwind;
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
        // Fault in, after the pause, the blocks the next collection will likely
        // promote into (see `contgc_heap`'s `ready_blocks`): the pages are committed
        // with the heap's lock released, by this thread, in its own time.
        let keep = promotion_need(
            self.heap.config.nursery_size + 2 * self.heap.config.survivor_size,
            NUM_CLASSES,
        );
        let reservation = sp
            .old
            .reserve_blocks(ready_target(outcome.record.promoted_bytes), keep);
        drop(sp);
        if !reservation.is_empty() {
            // SAFETY: the spaces live as long as the heap, which this mutator holds.
            unsafe { reservation.prefault() };
            lock(&self.heap.spaces).old.add_ready_blocks(reservation);
        }
        if let Some(e) = outcome.verify_error.take() {
            panic!("contgc: {e}");
        }
        Some((outcome, buffer))
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
    /// Cleanups run with no lock of the heap held, so they may use the heap (through
    /// this thread's mutator only once this returns). If one panics, the panic
    /// propagates and the cleanups after it stay queued for the next call.
    pub fn run_pending_finalizers(&mut self) -> usize {
        let mut ran = 0;
        loop {
            let pending = self.heap.weak_handles.take_pending();
            if pending.is_empty() {
                return ran;
            }
            let mut rest = pending.into_iter();
            while let Some(cleanup) = rest.next() {
                // Requeue what is left if this one panics.
                let guard = Requeue {
                    table: &self.heap.weak_handles,
                    rest: &mut rest,
                };
                cleanup();
                std::mem::forget(guard);
                ran += 1;
            }
        }
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

    // ----------------------------------------------------------------------------
    // The raw layer.
    // ----------------------------------------------------------------------------

    /// Allocates an object of a fixed-size type, zero-filled, and returns its address.
    ///
    /// The object is not rooted: the next collection (any allocation can trigger one,
    /// as can a safepoint) frees or moves it unless it has been stored in a root (see
    /// [`push_root`](Self::push_root)) or in a reachable object. The returned address
    /// may be used with the `unsafe` accessors until then.
    ///
    /// Panics if `ty` is a variable-size type or belongs to another heap.
    #[inline(always)]
    pub fn alloc_raw(&mut self, ty: TypeId) -> Result<ObjectRef, AllocError> {
        self.check_type(ty);
        let size = ty.fast_size() as usize;
        let l = self.local();
        let end = l.cursor + size;
        if end <= l.limit {
            let at = l.cursor;
            l.cursor = end;
            // SAFETY: [at, end) was just bumped off this mutator's zeroed buffer, which
            // no one else uses; `at` is 8-aligned and non-null.
            unsafe { (at as *mut u64).write(Header::new(ty.index(), 0).bits()) };
            return Ok(ObjectRef::from_addr(at).expect("buffers are non-null"));
        }
        self.alloc_slow(ty.index(), None)
    }

    /// Allocates a variable-size object with `len` elements; see
    /// [`alloc_raw`](Self::alloc_raw). Panics if `ty` is a fixed-size type.
    pub fn alloc_array_raw(&mut self, ty: TypeId, len: u32) -> Result<ObjectRef, AllocError> {
        self.check_type(ty);
        self.alloc_slow(ty.index(), Some(len))
    }

    #[inline(never)]
    fn alloc_slow(&mut self, index: u32, len: Option<u32>) -> Result<ObjectRef, AllocError> {
        let info = self.type_info(index);
        let variable = matches!(info.size_kind(), contgc_heap::SizeKind::Variable { .. });
        match (variable, len) {
            (true, None) => panic!(
                "contgc: type {} has a variable size: allocate it with a length",
                info.name()
            ),
            (false, Some(_)) => panic!(
                "contgc: type {} has a fixed size: allocate it without a length",
                info.name()
            ),
            _ => {}
        }
        let len = len.unwrap_or(0);
        let size = info.object_size(len).ok_or(AllocError::TooLarge {
            requested: info
                .payload_size(len)
                .map_or(usize::MAX, |p| p.saturating_add(8)),
            max: MAX_OBJECT_BYTES,
        })?;
        let pretenured = info.is_pretenured();
        let header = Header::new(index, len);
        self.safepoint();
        // GC stress counts every allocation that reaches here, large and pretenured
        // ones included.
        let stress = self.heap.config.gc_stress;
        if let Some(n) = stress {
            let l = self.local();
            l.stress_count += 1;
            let count = l.stress_count;
            if count.is_multiple_of(n as u64) {
                let kind = if (count / n as u64).is_multiple_of(4) {
                    CollectionKind::Major
                } else {
                    CollectionKind::Minor
                };
                self.run_collection(Request::Explicit(kind));
            }
        }
        if size > MAX_SMALL_OBJECT {
            return self.alloc_large(header, size);
        }
        if pretenured {
            return self.alloc_old(header, size);
        }
        if stress.is_none() {
            // Objects the fast path cannot size (arrays) still fit the current buffer.
            let l = self.local();
            if l.cursor + size <= l.limit {
                let at = l.cursor;
                l.cursor += size;
                // SAFETY: [at, at + size) is the zeroed, unused part of our own buffer.
                unsafe { (at as *mut u64).write(header.bits()) };
                return Ok(ObjectRef::from_addr(at).expect("non-null"));
            }
        }
        let tlab = if stress.is_some() {
            size
        } else {
            self.heap.config.tlab_size
        };
        // Collections this thread ran itself (a collection another thread won the race
        // to run does not count: someone else may refill eden before we get to it).
        let mut own = 0;
        loop {
            let granted = {
                let heap = Arc::clone(&self.heap);
                let sp = lock(&heap.spaces);
                self.local().retire_buffer(&sp.nursery);
                sp.nursery.grant(size, tlab)
            };
            let buffer = match granted {
                Some(b) => Some(b),
                None => {
                    let request = if own == 0 {
                        Request::NurseryFull
                    } else {
                        Request::Explicit(CollectionKind::Major)
                    };
                    match self.run_collection_then_grant(request, Some((size, tlab))) {
                        // Another thread collected; try again.
                        None => continue,
                        Some((o, b)) => {
                            own += 1;
                            // A major collection that could not empty the nursery
                            // leaves nothing for a second one to find: the heap is full.
                            if b.is_none() && o.kind == CollectionKind::Major && !o.minor_ran {
                                own = 2;
                            }
                            b
                        }
                    }
                }
            };
            if let Some((start, end)) = buffer {
                let l = self.local();
                l.cursor = start + size;
                l.limit = end;
                // SAFETY: fresh zeroed buffer memory owned by this mutator.
                unsafe { (start as *mut u64).write(header.bits()) };
                return Ok(ObjectRef::from_addr(start).expect("non-null"));
            }
            // Our own collection, with the world still stopped, left no room: after a
            // major one, the heap is full.
            if own >= 2 {
                let sp = lock(&self.heap.spaces);
                return Err(AllocError::HeapLimit {
                    requested: size,
                    in_use: sp.old_and_large(),
                    limit: self.heap.config.heap_limit,
                });
            }
        }
    }

    /// Allocates a small object directly in the old generation (pretenured types).
    fn alloc_old(&mut self, header: Header, size: usize) -> Result<ObjectRef, AllocError> {
        self.alloc_outside_nursery(header, size, false, |sp| {
            sp.old
                .alloc_zeroed(size)
                .map(|c| ObjectRef::from_addr(c).expect("non-null"))
        })
    }

    fn alloc_large(&mut self, header: Header, size: usize) -> Result<ObjectRef, AllocError> {
        self.alloc_outside_nursery(header, size, true, |sp| sp.los.alloc(size))
    }

    /// Allocates with `take` (which returns zeroed memory of `size` bytes in an old
    /// space) under the heap limit, collecting once if needed. Such objects are old
    /// from birth, hence UNLOGGED: their first reference store logs them.
    fn alloc_outside_nursery(
        &mut self,
        header: Header,
        size: usize,
        system_backed: bool,
        take: impl Fn(&mut crate::spaces::Spaces) -> Option<ObjectRef>,
    ) -> Result<ObjectRef, AllocError> {
        for attempt in 0..2 {
            {
                let mut sp = lock(&self.heap.spaces);
                if sp.old_and_large() + size <= self.heap.config.heap_limit {
                    match take(&mut sp) {
                        Some(obj) => {
                            // SAFETY: fresh zeroed memory of `size` bytes, ours alone.
                            unsafe { obj.set_header(header.with(UNLOGGED)) };
                            return Ok(obj);
                        }
                        // Under the limit, only the system allocator can refuse.
                        None if system_backed => {
                            return Err(AllocError::System { requested: size })
                        }
                        None => {}
                    }
                }
            }
            if attempt == 0 {
                self.collect(CollectionKind::Major);
            }
        }
        let sp = lock(&self.heap.spaces);
        Err(AllocError::HeapLimit {
            requested: size,
            in_use: sp.old_and_large(),
            limit: self.heap.config.heap_limit,
        })
    }

    /// The write barrier: call after storing a reference into `obj` by other means than
    /// [`store_ref`](Self::store_ref). Logs `obj` if it is an old object not yet in the
    /// remembered set.
    ///
    /// # Safety
    /// `obj` must be a live object of this heap.
    #[inline(always)]
    pub unsafe fn write_barrier(&mut self, obj: ObjectRef) {
        // SAFETY: the caller guarantees a live object.
        let h = unsafe { obj.header_atomic() }.load(Ordering::Relaxed);
        if h & UNLOGGED != 0 {
            self.log_object(obj);
        }
    }

    #[cold]
    #[inline(never)]
    fn log_object(&mut self, obj: ObjectRef) {
        // SAFETY: called from the barrier on a live object. The fetch_and makes sure
        // exactly one of several threads writing the same object logs it.
        let prev = unsafe { obj.header_atomic() }.fetch_and(!UNLOGGED, Ordering::Relaxed);
        if prev & UNLOGGED != 0 {
            self.local().remset.push(obj.addr());
        }
    }

    /// Stores `value` into reference slot `offset` of `obj`, with the write barrier.
    ///
    /// # Safety
    /// `obj` must be a live object of this heap, `offset` one of its reference slots,
    /// and `value` null or a live object of this heap.
    #[inline(always)]
    pub unsafe fn store_ref(&mut self, obj: ObjectRef, offset: usize, value: Option<ObjectRef>) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            obj.store_slot(offset, value.map_or(0, |v| v.addr()));
            self.write_barrier(obj);
        }
    }

    /// Stores `word` into tagged value slot `offset` of `obj`, with the write barrier
    /// (see [`Scope::set_tagged`](crate::Scope::set_tagged)).
    ///
    /// # Safety
    /// `obj` must be a live object of this heap and `offset` one of its tagged slots;
    /// if the type's tag scheme decodes `word` to a reference, it must be a live
    /// object of this heap.
    #[inline(always)]
    pub unsafe fn store_tagged(&mut self, obj: ObjectRef, offset: usize, word: u64) {
        // SAFETY: guaranteed by the caller.
        unsafe {
            obj.store_slot(offset, word as usize);
            self.write_barrier(obj);
        }
    }

    /// Stores `value` into weak reference slot `offset` of `obj`, with the write
    /// barrier (see [`Scope::set_weak`](crate::Scope::set_weak) for what a weak slot
    /// guarantees).
    ///
    /// # Safety
    /// `obj` must be a live object of this heap, `offset` one of its weak reference
    /// slots, and `value` null or a live object of this heap.
    #[inline(always)]
    pub unsafe fn store_weak(&mut self, obj: ObjectRef, offset: usize, value: Option<ObjectRef>) {
        // SAFETY: guaranteed by the caller. The barrier logs an old `obj`, so that a
        // minor collection finds a young referent and settles the slot.
        unsafe {
            obj.store_slot(offset, value.map_or(0, |v| v.addr()));
            self.write_barrier(obj);
        }
    }

    /// Loads weak reference slot `offset` of `obj`: null once a collection found the
    /// referent dead. The object returned is live, but nothing keeps it alive past the
    /// next safepoint unless the caller roots it.
    ///
    /// # Safety
    /// `obj` must be a live object of this heap and `offset` one of its weak
    /// reference slots.
    #[inline(always)]
    pub unsafe fn load_weak(&self, obj: ObjectRef, offset: usize) -> Option<ObjectRef> {
        // SAFETY: guaranteed by the caller.
        ObjectRef::from_addr(unsafe { obj.load_slot(offset) })
    }

    /// Loads reference slot `offset` of `obj`.
    ///
    /// # Safety
    /// `obj` must be a live object of this heap and `offset` one of its reference slots.
    #[inline(always)]
    pub unsafe fn load_ref(&self, obj: ObjectRef, offset: usize) -> Option<ObjectRef> {
        // SAFETY: guaranteed by the caller.
        ObjectRef::from_addr(unsafe { obj.load_slot(offset) })
    }

    /// Captures a byref: stores the raw interior address `addr` into byref slot
    /// `offset` of `obj` (base word 0: unresolved), with the write barrier. The next
    /// collection resolves it to `<base object, offset>`, keeps the base alive and
    /// moves the address with it. An address outside the heap is kept as it is; what
    /// it points to is the embedder's responsibility.
    ///
    /// An address in this heap's memory but in no object (a header word, a free cell,
    /// unused nursery memory) breaks the precondition below. The collector does not
    /// guess: the next collection aborts the process with a message naming the address,
    /// in debug and release builds alike (see [`is_heap_address`](Self::is_heap_address)
    /// to tell heap memory apart).
    ///
    /// # Safety
    /// `obj` must be a live object of this heap and `offset` one of its byref slots;
    /// `addr` must be 0, inside a live object of this heap (header excluded), or
    /// outside every space of this heap.
    #[inline(always)]
    pub unsafe fn store_byref(&mut self, obj: ObjectRef, offset: usize, addr: usize) {
        let slot = obj.payload().wrapping_add(offset) as *mut usize;
        // SAFETY: guaranteed by the caller.
        unsafe {
            contgc_heap::byref::store(slot, addr, contgc_heap::byref::UNRESOLVED);
            self.write_barrier(obj);
        }
    }

    /// Stores an already resolved byref (`addr` inside `base`) with the write barrier.
    ///
    /// # Safety
    /// As for [`store_byref`](Self::store_byref), and `base` must be the live object
    /// containing `addr`.
    #[inline(always)]
    pub unsafe fn store_resolved_byref(
        &mut self,
        obj: ObjectRef,
        offset: usize,
        addr: usize,
        base: ObjectRef,
    ) {
        let slot = obj.payload().wrapping_add(offset) as *mut usize;
        // SAFETY: guaranteed by the caller.
        unsafe {
            contgc_heap::byref::store(slot, addr, base.addr());
            self.write_barrier(obj);
        }
    }

    /// The current address held by byref slot `offset` of `obj` (0 for null).
    ///
    /// # Safety
    /// `obj` must be a live object of this heap and `offset` one of its byref slots.
    #[inline(always)]
    pub unsafe fn load_byref(&self, obj: ObjectRef, offset: usize) -> usize {
        // SAFETY: guaranteed by the caller.
        unsafe { obj.load_slot(offset) }
    }

    /// True if `addr` lies in memory this heap manages (the nursery region, the old
    /// space's region, or a large object).
    pub fn is_heap_address(&self, addr: usize) -> bool {
        lock(&self.heap.spaces).contains(addr)
    }

    /// Adds a member to this mutator's task group, moving to a fresh group when it is
    /// full.
    fn register_task<T>(
        &mut self,
        mut item: T,
        mut add: impl FnMut(&Arc<TaskRegistry>, u32, T) -> Result<TaskRoot, GroupFull<T>>,
    ) -> TaskRoot {
        let tasks = Arc::clone(&self.heap.tasks);
        loop {
            let g = match self.local().task_group {
                Some(g) => g,
                None => {
                    let g = tasks.acquire_group();
                    self.local().task_group = Some(g);
                    g
                }
            };
            match add(&tasks, g, item) {
                Ok(root) => return root,
                Err(GroupFull(back)) => {
                    if !tasks.reuse_if_empty(g) {
                        tasks.release_group(g);
                        self.local().task_group = None;
                    }
                    item = back;
                }
            }
        }
    }

    /// Registers a suspended task whose continuation chain starts at `head`: the task
    /// stays alive, and `head` follows its object, until the root is taken
    /// (`Scope::resume_task`) or dropped.
    ///
    /// # Safety
    /// `head` must be a live object of this heap, obtained since the last allocation,
    /// safepoint or collection.
    pub unsafe fn suspend_task_raw(&mut self, head: ObjectRef) -> TaskRoot {
        let mut cache = std::mem::take(&mut self.local().locators);
        let root = self.register_task(head.addr(), |t, g, h| {
            // SAFETY: forwarded from the caller; `g` is this mutator's own group.
            unsafe { t.add_heap_cached(g, h, &mut cache) }
        });
        self.local().locators = cache;
        root
    }

    /// Parks `obj` in a slot of this mutator's own (see `Scope::park`).
    pub(crate) fn park_slot(&mut self, obj: ObjectRef) -> (u64, u32) {
        let l = self.local();
        (l.serial, l.parked.put(obj.addr()))
    }

    /// Takes parked slot `index` back; `None` if `serial` is not this mutator's.
    pub(crate) fn unpark_slot(&mut self, serial: u64, index: u32) -> Option<ObjectRef> {
        let l = self.local();
        if l.serial != serial {
            return None;
        }
        ObjectRef::from_addr(l.parked.take(index))
    }

    /// Takes a registered task out (see `Scope::resume_task`), reusing its locator.
    pub(crate) fn take_task(&mut self, t: TaskRoot) -> contgc_roots::Member {
        // SAFETY: this mutator is running (it is borrowed mutably, so it is neither
        // blocking nor parked) and nothing here reaches a safepoint.
        unsafe { t.take_running(&mut self.local().locators) }
    }

    /// Registers a suspended task whose frames were captured into `tasklet`.
    ///
    /// # Safety
    /// Every reference in the tasklet must be a live object of this heap, read since
    /// the last allocation, safepoint or collection.
    pub unsafe fn suspend_tasklet_raw(&mut self, tasklet: Box<Tasklet>) -> TaskRoot {
        self.register_task(tasklet, |t, g, b| {
            // SAFETY: forwarded from the caller; `g` is this mutator's own group.
            unsafe { t.add_tasklet(g, b) }
        })
    }

    /// Pushes a scoped root and returns its index. The collector keeps the object alive
    /// and updates the slot when it moves. Raw-layer roots are released with
    /// [`truncate_roots`](Self::truncate_roots); do not mix them with an open
    /// [`scope`](Self::scope)'s locals.
    ///
    /// # Safety
    /// `obj` must be null or a live object of this heap, obtained since the last
    /// allocation, safepoint or collection.
    #[inline(always)]
    pub unsafe fn push_root(&mut self, obj: Option<ObjectRef>) -> u32 {
        self.local().shadow.push(obj.map_or(0, |o| o.addr()))
    }

    /// The current address of the object in scoped root `index`.
    #[inline(always)]
    pub fn root(&self, index: u32) -> Option<ObjectRef> {
        ObjectRef::from_addr(self.local_ref().shadow.get(index))
    }

    /// Overwrites scoped root `index`.
    ///
    /// # Safety
    /// As for [`push_root`](Self::push_root).
    #[inline(always)]
    pub unsafe fn set_root(&mut self, index: u32, obj: Option<ObjectRef>) {
        self.local().shadow.set(index, obj.map_or(0, |o| o.addr()));
    }

    /// Number of scoped roots.
    #[inline(always)]
    pub fn roots_len(&self) -> usize {
        self.local_ref().shadow.len()
    }

    /// Releases every scoped root at or above `len`.
    ///
    /// # Safety
    /// No local of an open [`scope`](Self::scope) may be at or above `len` (a scope's
    /// locals, and those code it calls relies on, such as a dispatcher's cursor, would
    /// then name other objects): only roots pushed with [`push_root`](Self::push_root)
    /// since may be released.
    #[inline(always)]
    pub unsafe fn truncate_roots(&mut self, len: usize) {
        self.local().shadow.truncate(len);
    }
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
