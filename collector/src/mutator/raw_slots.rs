//! The raw layer's slot accessors, each with the barrier its slot kind needs:
//! references, tagged values, weak references and byrefs.

use super::*;

impl Mutator {
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
}
