//! The nursery: eden and two survivor semispaces in one reserved region.
//!
//! Mutators allocate in eden through thread-local allocation buffers (TLABs): inside a
//! buffer, allocation is a pointer bump done by the mutator itself, with no atomic
//! operation and no lock. A buffer is carved off eden's shared bump pointer by
//! [`Nursery::grant`], a compare-and-swap loop that needs no lock of its own; but the
//! collector refills a mutator's buffer under the heap's lock, which it holds to retire
//! the old buffer (a filler over its unused tail, see [`Nursery::fill`]) together with
//! the grant, so that a collection never sees a buffer half retired. A refill
//! therefore costs one lock acquisition plus the compare-and-swap, once per buffer
//! (32 KiB by default). A minor collection copies eden's and the from-space's survivors
//! into the to-space (or the old generation), then [`Nursery::flip`] resets eden and
//! swaps the semispaces.
//!
//! Invariant (walkability): outside a collection, `[eden start, eden top)` and
//! `[from-space start, from top)` are sequences of objects, once every mutator's buffer
//! has been retired with [`Nursery::fill`]; the collector relies on it to walk the
//! nursery linearly.

use crate::header::Header;
use crate::object::{ObjectRef, HEADER_SIZE};
use crate::region::Region;
use crate::types::FILLER_TYPE_INDEX;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Eden plus two survivor spaces.
#[derive(Debug)]
pub struct Nursery {
    region: Region,
    eden_start: usize,
    eden_end: usize,
    eden_top: AtomicUsize,
    survivor: [usize; 2],
    survivor_len: usize,
    from: usize,
    from_top: usize,
    to_top: usize,
    /// Bytes of fillers among the survivors in the from-space (and in the to-space,
    /// during an evacuation): the unused tails of parallel GC workers' buffers.
    from_fillers: usize,
    to_fillers: usize,
}

impl Nursery {
    /// Reserves a nursery with `eden_bytes` of eden and two survivor spaces of
    /// `survivor_bytes` each (both rounded up to 4 KiB). Fails if the address space
    /// cannot hold them.
    pub fn new(eden_bytes: usize, survivor_bytes: usize) -> io::Result<Nursery> {
        let round = |n: usize| n.max(4096).checked_next_multiple_of(4096);
        let total = round(eden_bytes)
            .zip(round(survivor_bytes))
            .and_then(|(e, s)| Some((e, s, s.checked_mul(2)?.checked_add(e)?)))
            .filter(|&(_, _, t)| t <= isize::MAX as usize);
        let Some((eden, surv, total)) = total else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "nursery too large",
            ));
        };
        let region = Region::reserve(total, 4096)?;
        let s = region.start();
        Ok(Nursery {
            eden_start: s,
            eden_end: s + eden,
            eden_top: AtomicUsize::new(s),
            survivor: [s + eden, s + eden + surv],
            survivor_len: surv,
            from: 0,
            from_top: s + eden,
            to_top: s + eden + surv,
            from_fillers: 0,
            to_fillers: 0,
            region,
        })
    }

    /// True if `addr` lies anywhere in the nursery (eden or either survivor space).
    #[inline(always)]
    pub fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.region.start()) < self.region.end() - self.region.start()
    }

    /// `(start, length)` of the whole nursery, for inlined young-address checks.
    #[inline(always)]
    pub fn bounds(&self) -> (usize, usize) {
        (self.region.start(), self.region.end() - self.region.start())
    }

    /// Carves a buffer of at least `min` and at most `preferred` bytes off eden, zeroed.
    /// Returns `None` when eden cannot supply `min` bytes (a minor GC is due).
    pub fn grant(&self, min: usize, preferred: usize) -> Option<(usize, usize)> {
        let mut top = self.eden_top.load(Ordering::Relaxed);
        loop {
            let avail = self.eden_end - top;
            if avail < min {
                return None;
            }
            let take = preferred.max(min).min(avail);
            match self.eden_top.compare_exchange_weak(
                top,
                top + take,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // SAFETY: [top, top + take) was just handed to us alone by the CAS
                    // and lies inside eden, which is mapped for the nursery's lifetime.
                    unsafe { std::ptr::write_bytes(top as *mut u8, 0, take) };
                    return Some((top, top + take));
                }
                Err(now) => top = now,
            }
        }
    }

    /// Bytes of eden handed out since the last collection.
    pub fn eden_used(&self) -> usize {
        self.eden_top.load(Ordering::Relaxed) - self.eden_start
    }

    /// Eden's capacity in bytes.
    pub fn eden_capacity(&self) -> usize {
        self.eden_end - self.eden_start
    }

    /// Capacity of one survivor space in bytes.
    pub fn survivor_capacity(&self) -> usize {
        self.survivor_len
    }

    /// `[start, top)` of eden's allocated part.
    pub fn eden_range(&self) -> (usize, usize) {
        (self.eden_start, self.eden_top.load(Ordering::Relaxed))
    }

    /// `[start, top)` of the survivors of the previous collections (the from-space).
    pub fn from_range(&self) -> (usize, usize) {
        (self.survivor[self.from], self.from_top)
    }

    /// Bytes held by objects in the nursery: eden's allocated part, and the survivors
    /// less the fillers among them (which no collection copies).
    pub fn used_bytes(&self) -> usize {
        self.eden_used() + (self.from_top - self.survivor[self.from]) - self.from_fillers
    }

    /// Starts an evacuation: the to-space is emptied.
    pub fn begin_evacuation(&mut self) {
        self.to_top = self.survivor[1 - self.from];
        self.to_fillers = 0;
    }

    /// Reserves `size` bytes in the to-space during an evacuation.
    #[inline]
    pub fn survivor_alloc(&mut self, size: usize) -> Option<usize> {
        let to = self.survivor[1 - self.from];
        if size <= to + self.survivor_len - self.to_top {
            let a = self.to_top;
            self.to_top += size;
            Some(a)
        } else {
            None
        }
    }

    /// `[start, top)` of the to-space during an evacuation.
    pub fn to_range(&self) -> (usize, usize) {
        (self.survivor[1 - self.from], self.to_top)
    }

    /// `[start, end)` of the whole to-space during an evacuation, for an evacuator
    /// that bumps through it itself and reports its top with
    /// [`set_to_top`](Self::set_to_top).
    pub fn to_space(&self) -> (usize, usize) {
        let to = self.survivor[1 - self.from];
        (to, to + self.survivor_len)
    }

    /// Sets the to-space's top during an evacuation: `[to-space start, top)` holds the
    /// objects copied so far, `fillers` bytes of it fillers. Panics if `top` is outside
    /// the to-space or the fillers do not fit below it.
    pub fn set_to_top(&mut self, top: usize, fillers: usize) {
        let (start, end) = self.to_space();
        assert!((start..=end).contains(&top), "to-space top out of range");
        assert!(fillers <= top - start, "more fillers than to-space");
        self.to_top = top;
        self.to_fillers = fillers;
    }

    /// Ends an evacuation: eden is empty, the to-space becomes the from-space.
    pub fn flip(&mut self) {
        self.from = 1 - self.from;
        self.from_top = self.to_top;
        self.from_fillers = self.to_fillers;
        self.eden_top.store(self.eden_start, Ordering::Relaxed);
    }

    /// Writes a filler object over `[start, end)` (a multiple of 8 bytes, possibly
    /// empty) so that a walk of the nursery can step over it.
    ///
    /// # Safety
    /// `[start, end)` must be unused memory inside this nursery.
    pub unsafe fn fill(&self, start: usize, end: usize) {
        debug_assert!(start <= end && (end - start).is_multiple_of(8));
        debug_assert!(start == end || (self.contains(start) && self.contains(end - 1)));
        if end - start >= HEADER_SIZE {
            let len = (end - start - HEADER_SIZE) as u32;
            // SAFETY: the caller guarantees the range is unused nursery memory.
            unsafe { (start as *mut u64).write(Header::new(FILLER_TYPE_INDEX, len).bits()) };
        }
    }

    /// Calls `f` with every object in `[start, top)`, fillers included; `size_of` gives
    /// the size of an object from its header.
    ///
    /// # Safety
    /// The range must be walkable (see the module invariant) and not change during the
    /// walk.
    pub unsafe fn walk(
        start: usize,
        top: usize,
        size_of: impl Fn(Header) -> usize,
        mut f: impl FnMut(ObjectRef, Header),
    ) {
        let mut at = start;
        while at < top {
            let obj = ObjectRef::from_addr(at).expect("non-null");
            // SAFETY: `at` is the start of an object by the walkability invariant.
            let h = unsafe { obj.header() };
            let size = size_of(h);
            debug_assert!(
                size >= 8 && size.is_multiple_of(8),
                "bad size {size} at {at:#x}"
            );
            f(obj, h);
            at += size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_disjoint_zeroed_and_bounded() {
        let n = Nursery::new(64 * 1024, 16 * 1024).unwrap();
        let (a, b) = n.grant(16, 32 * 1024).unwrap();
        let (c, d) = n.grant(16, 32 * 1024).unwrap();
        assert_eq!((b - a, c, d - c), (32 * 1024, b, 32 * 1024));
        assert!(n.grant(16, 1024).is_none());
        assert!(n.contains(a) && n.contains(d - 1) && !n.contains(a - 1));
        assert_eq!(n.eden_used(), 64 * 1024);
    }

    #[test]
    fn fillers_cover_gaps_exactly_even_of_one_word() {
        let n = Nursery::new(8192, 8192).unwrap();
        let (a, _) = n.grant(64, 64).unwrap();
        let t = crate::type_table::TypeTable::new();
        let types = t.read();
        // SAFETY: [a, a + 64) was just granted to us.
        unsafe {
            n.fill(a, a + 8);
            n.fill(a + 8, a + 64);
            let mut seen = vec![];
            Nursery::walk(
                a,
                a + 64,
                |h| types[h.type_index() as usize].object_size(h.len()).unwrap(),
                |o, _| seen.push(o.addr() - a),
            );
            assert_eq!(seen, vec![0, 8]);
        }
    }

    /// Sizes whose sum does not fit in the address space are refused, in every build
    /// (a wrapped sum would reserve a small region and grant memory past its end).
    #[test]
    fn refuses_sizes_that_overflow() {
        assert!(Nursery::new(usize::MAX, 4096).is_err());
        assert!(Nursery::new(1 << 63 | 4096, 1 << 62).is_err());
        assert!(Nursery::new(4096, usize::MAX / 2).is_err());
        let mut n = Nursery::new(8192, 8192).unwrap();
        n.begin_evacuation();
        assert_eq!(n.survivor_alloc(usize::MAX), None);
        assert!(n.survivor_alloc(8192).is_some());
    }

    #[test]
    fn survivors_flip() {
        let mut n = Nursery::new(8192, 8192).unwrap();
        n.begin_evacuation();
        let a = n.survivor_alloc(4096).unwrap();
        assert!(n.survivor_alloc(8192).is_none());
        n.flip();
        assert_eq!(n.from_range(), (a, a + 4096));
        assert_eq!(n.eden_used(), 0);
        n.begin_evacuation();
        let b = n.survivor_alloc(16).unwrap();
        assert_ne!(b, a);
    }
}
