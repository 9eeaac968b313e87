//! The nursery's object-start map, built by one linear walk when a collection first
//! needs it (to resolve a byref that points into the nursery) and dropped when the
//! collection ends. The old space needs no such walk: its block table is its map.
//!
//! One bit per 8-byte word of the nursery region marks where an object starts; a
//! lookup finds the closest set bit at or below the address, looking back at most the
//! size of the largest nursery object.

use crate::nursery::Nursery;
use crate::object::ObjectRef;
use crate::size_classes::MAX_SMALL_OBJECT;

/// Object starts of the nursery, as of the walk that built it.
#[derive(Debug)]
pub struct NurseryIndex {
    start: usize,
    len: usize,
    bits: Vec<u64>,
}

impl NurseryIndex {
    /// Walks eden's allocated part and the from-space. `describe` gives, for the object
    /// at an address, its size and whether it is a real object (fillers are not); it
    /// must cope with objects already forwarded (their size is their copy's).
    ///
    /// # Safety
    /// Both ranges must be walkable: every allocation buffer retired (see
    /// [`Nursery`]'s invariant), and no object in them modified during the walk other
    /// than by forwarding.
    pub unsafe fn build(nursery: &Nursery, describe: impl Fn(ObjectRef) -> (usize, bool)) -> Self {
        let (start, len) = nursery.bounds();
        let mut bits = vec![0u64; (len / 8).div_ceil(64)];
        for (from, top) in [nursery.eden_range(), nursery.from_range()] {
            let mut at = from;
            while at < top {
                let (size, real) = describe(ObjectRef::from_addr(at).expect("non-null"));
                debug_assert!(size >= 8 && size % 8 == 0);
                if real {
                    let w = (at - start) / 8;
                    bits[w / 64] |= 1 << (w % 64);
                }
                at += size;
            }
        }
        NurseryIndex { start, len, bits }
    }

    /// The start of the last object starting at or below `addr` (within reach of the
    /// largest nursery object), or `None`. The caller checks that `addr` lies inside
    /// that object.
    pub fn object_start(&self, addr: usize) -> Option<usize> {
        let off = addr.checked_sub(self.start)?;
        if off >= self.len {
            return None;
        }
        let w = off / 8;
        let mut i = w / 64;
        let mut word = self.bits[i] & (u64::MAX >> (63 - (w % 64)));
        let lowest = i.saturating_sub(MAX_SMALL_OBJECT / 512 + 1);
        loop {
            if word != 0 {
                let bit = 63 - word.leading_zeros() as usize;
                return Some(self.start + (i * 64 + bit) * 8);
            }
            if i == lowest {
                return None;
            }
            i -= 1;
            word = self.bits[i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Header;

    #[test]
    fn finds_the_object_containing_an_address() {
        let n = Nursery::new(64 << 10, 4096).unwrap();
        let (a, _) = n.grant(4096, 4096).unwrap();
        // SAFETY: writes inside the buffer just granted: objects of 24, 4000 and 40
        // bytes, then a filler to the end.
        unsafe {
            (a as *mut u64).write(Header::new(2, 16).bits());
            ((a + 24) as *mut u64).write(Header::new(2, 3992).bits());
            ((a + 4024) as *mut u64).write(Header::new(2, 32).bits());
            n.fill(a + 4064, a + 4096);
        }
        // SAFETY: the buffer is walkable (objects back to back, filler at the end).
        let idx = unsafe {
            NurseryIndex::build(&n, |o| {
                let h = o.header();
                if h.type_index() == crate::types::FILLER_TYPE_INDEX {
                    (8 + h.len() as usize, false)
                } else {
                    (8 + h.len() as usize, true)
                }
            })
        };
        assert_eq!(idx.object_start(a + 23), Some(a));
        assert_eq!(idx.object_start(a + 24), Some(a + 24));
        assert_eq!(idx.object_start(a + 4000), Some(a + 24));
        assert_eq!(idx.object_start(a + 4030), Some(a + 4024));
        // inside the filler: the caller's bounds check rejects it
        assert_eq!(idx.object_start(a + 4070), Some(a + 4024));
        assert_eq!(idx.object_start(a - 8), None);
    }
}
