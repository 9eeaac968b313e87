//! Allocation through the raw layer: the inlined bump in the thread-local buffer,
//! and the slow path (a new buffer, the old space, large objects, a collection).

use super::*;

impl Mutator {
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
}
