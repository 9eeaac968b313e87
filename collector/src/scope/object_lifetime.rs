//! What decides when an object dies, or keeps it where it is, through a scope: weak
//! handles, finalizers and pins.

use super::*;

impl<'s> Scope<'s> {
    /// A weak handle to the object: refers to it from outside the heap without keeping
    /// it alive (see [`get_weak_handle`](Self::get_weak_handle)). `WeakHandle` is
    /// `Send + Sync`; dropping it frees its slot. A minor collection settles only the
    /// handles whose object is young, so weak handles to old objects cost minor
    /// collections nothing.
    ///
    /// ```
    /// use contgc_collector::{CollectionKind, Config, Heap, TypeDescriptor};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let obj = heap.register_type(&TypeDescriptor::fixed("Obj", 8)).unwrap();
    /// let mut m = heap.mutator();
    /// let weak = m.scope(|s| {
    ///     let o = s.alloc(obj).unwrap();
    ///     let w = s.weak_handle(o);
    ///     s.collect(CollectionKind::Minor);
    ///     assert!(s.get_weak_handle(&w).is_some_and(|back| s.same(back, o)));
    ///     w
    /// });
    /// // The scope that held the object is gone: the next collection finds it dead.
    /// m.collect(CollectionKind::Minor);
    /// m.scope(|s| assert!(s.get_weak_handle(&weak).is_none()));
    /// ```
    pub fn weak_handle(&mut self, obj: Local<'s>) -> WeakHandle {
        let o = self.raw(obj);
        let young = self.m.is_young(o);
        // SAFETY: `o` is a live object of this heap (a local), read just now, and
        // `young` says whether it is in the nursery.
        unsafe { self.m.heap.weak_handles.create(o, young) }
    }

    /// Registers `cleanup` to run after `obj` has died: the collection that finds it
    /// dead (a minor collection for a young object, a major one for an old object)
    /// queues the cleanup, and it runs when a mutator calls
    /// [`Mutator::run_pending_finalizers`], on that thread, outside any collection.
    ///
    /// Guarantees: the cleanup runs at most once, and exactly once if the object dies,
    /// the registration is not [cancelled](Finalizer::cancel) first and pending
    /// finalizers are run afterwards (cleanups still queued when the heap is dropped
    /// are dropped without running). Several finalizers on one object each run. The
    /// cleanup never sees the object, so it cannot resurrect it: give it what it must
    /// clean up (a native resource, an id) by value. A cleanup that holds a
    /// [`Persistent`] to its own object keeps that object alive, and so never runs.
    /// Dropping the returned [`Finalizer`] does not cancel it.
    ///
    /// The heap owns the cleanup until it runs or is dropped, so a cleanup that
    /// captures anything that owns the heap (a [`Heap`](crate::Heap), a [`Mutator`], a
    /// [`Pinned`] object, an executor or its `Spawner`) keeps its own
    /// heap alive:
    /// the heap, its memory and its GC threads are then never freed. A cleanup that
    /// needs the heap captures [`Heap::downgrade`](crate::Heap::downgrade) and upgrades
    /// it when it runs; cleanups run with their caller's mutator in native state (see
    /// [`Mutator::run_pending_finalizers`]), so the cleanup may attach a mutator of its
    /// own, allocate and collect.
    ///
    /// ```
    /// use contgc_collector::{CollectionKind, Config, Heap, TypeDescriptor};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let file = heap.register_type(&TypeDescriptor::fixed("File", 8)).unwrap();
    /// let closed = Arc::new(AtomicUsize::new(0));
    /// let mut m = heap.mutator();
    /// m.scope(|s| {
    ///     let f = s.alloc(file).unwrap();
    ///     let c = closed.clone();
    ///     s.register_finalizer(f, move || {
    ///         c.fetch_add(1, Ordering::Relaxed); // close the native file here
    ///     });
    /// });
    /// m.collect(CollectionKind::Minor); // finds the File dead and queues its cleanup
    /// assert_eq!(closed.load(Ordering::Relaxed), 0, "cleanups never run inside a collection");
    /// assert_eq!(m.run_pending_finalizers(), 1);
    /// assert_eq!(closed.load(Ordering::Relaxed), 1);
    /// assert_eq!(m.run_pending_finalizers(), 0, "exactly once");
    /// ```
    pub fn register_finalizer(
        &mut self,
        obj: Local<'s>,
        cleanup: impl FnOnce() + Send + 'static,
    ) -> Finalizer {
        let o = self.raw(obj);
        let young = self.m.is_young(o);
        // SAFETY: `o` is a live object of this heap (a local), read just now, and
        // `young` says whether it is in the nursery.
        unsafe {
            self.m
                .heap
                .weak_handles
                .register_cleanup(o, young, Box::new(cleanup))
        }
    }

    /// See [`Mutator::run_pending_finalizers`]: runs the cleanups of the finalizers
    /// whose objects have been found dead; returns how many ran.
    pub fn run_pending_finalizers(&mut self) -> usize {
        self.m.run_pending_finalizers()
    }

    /// See [`Mutator::pending_finalizers`].
    pub fn pending_finalizers(&self) -> usize {
        self.m.pending_finalizers()
    }

    /// A local for the object a weak handle refers to (which keeps it alive from now
    /// on, like any local), or `None` if a collection found it dead. Panics if the
    /// handle belongs to another heap.
    pub fn get_weak_handle(&mut self, w: &WeakHandle) -> Option<Local<'s>> {
        self.m.check_heap_of("weak handle", w.heap_id());
        w.get().map(|o| self.push(o))
    }

    /// Makes a weak handle refer to `obj`. Panics if the handle belongs to another
    /// heap.
    pub fn set_weak_handle(&mut self, w: &WeakHandle, obj: Local<'s>) {
        self.m.check_heap_of("weak handle", w.heap_id());
        let o = self.raw(obj);
        let young = self.m.is_young(o);
        // SAFETY: the handle belongs to this heap (checked); `o` is a live local,
        // read just now, and `young` says whether it is in the nursery.
        unsafe { w.set(o, young) };
    }

    /// Pins `obj` for native code: until the returned [`Pinned`] is dropped, the object
    /// neither moves nor dies, and [`Pinned::payload`] is its payload's address. A
    /// young object is promoted first, by a minor collection this call runs (every
    /// reference to it, `obj` included, is updated as in any collection), so pinning
    /// a young object costs a collection; old and large objects never move and cost
    /// nothing. Pins nest (each `Pinned` is one pin, see [`pin_count`](Self::pin_count)).
    /// Refused with [`PinError::HeapFull`] if the object cannot be promoted.
    ///
    /// ```
    /// use contgc_collector::{CollectionKind, Config, Heap, TypeDescriptor};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let buf = heap.register_type(&TypeDescriptor::fixed("Buffer", 64)).unwrap();
    /// let mut m = heap.mutator();
    /// m.scope(|s| {
    ///     let b = s.alloc(buf).unwrap();
    ///     let pin = s.pin(b).unwrap();
    ///     let at = pin.payload();
    ///     // ... native code writes through `at` ...
    ///     s.collect(CollectionKind::Minor);
    ///     s.collect(CollectionKind::Major);
    ///     assert_eq!(s.raw(b).payload(), at, "a pinned object never moves");
    ///     assert_eq!(s.pin_count(b), 1);
    ///     drop(pin);
    ///     assert_eq!(s.pin_count(b), 0);
    /// });
    /// ```
    pub fn pin(&mut self, obj: Local<'s>) -> Result<Pinned, PinError> {
        let o = self.raw(obj);
        // SAFETY: `o` is a live object of this heap (a local).
        let o = unsafe { self.m.pin_raw(o) }?;
        Ok(Pinned {
            heap: self.m.heap.clone(),
            addr: o.addr(),
        })
    }

    /// How many pins `obj` has ([`pin`](Self::pin), `Mutator::pin_raw`).
    pub fn pin_count(&self, obj: Local<'s>) -> u32 {
        self.m.pin_count(self.raw(obj))
    }
}

/// One pin on an object (see [`Scope::pin`]): while it lives the object neither moves
/// nor dies. Dropping it removes the pin. It is `Send` and `Sync`, so native code on
/// other threads may hold it; reading or writing the payload through its address is
/// the embedder's responsibility (no other mutator may race with it).
pub struct Pinned {
    heap: Arc<HeapInner>,
    addr: usize,
}

impl Pinned {
    /// The object's address (its header's), fixed while pinned.
    pub fn object(&self) -> ObjectRef {
        ObjectRef::from_addr(self.addr).expect("pinned objects are non-null")
    }

    /// The address of the object's payload, fixed while pinned.
    pub fn payload(&self) -> *mut u8 {
        self.object().payload()
    }
}

impl std::fmt::Debug for Pinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pinned({:#x})", self.addr)
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // This guard made one pin, which only it removes.
        let removed = self.heap.pins.remove(self.addr);
        debug_assert!(removed.is_ok(), "a Pinned lost its pin");
    }
}
