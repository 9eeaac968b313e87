//! The old generation's small-object space: non-moving, size-segregated blocks.
//!
//! The space is one reserved region cut into [`BLOCK_SIZE`]-byte blocks. A block in use
//! holds cells of a single size class; the block table (`meta`) records each block's
//! cell size, which makes it the object-start map: an interior address is mapped to its
//! object in O(1) by finding its block, then its cell, then checking that the cell is
//! allocated. Nothing has to be repaired or searched (contrast .NET's bricks, which
//! need a walk because objects there are not size-segregated).
//!
//! Invariants, kept here and checked by the heap verifier:
//! - every cell of a block in use either holds an object (non-zero header) or is free
//!   (header word 0); never-used and released memory reads as zero;
//! - free cells of a class are linked through their second word;
//! - objects never move; they are freed only by [`OldSpace::sweep`].

use crate::header::{Header, MARK};
use crate::object::ObjectRef;
use crate::region::Region;
use crate::size_classes::{class_of, CLASS_SIZES, NUM_CLASSES};
use std::io;

/// Bytes per block: 32 KiB (32,768).
pub const BLOCK_SIZE: usize = 32 * 1024;

#[derive(Clone, Copy, Debug, Default)]
struct BlockMeta {
    /// Cell size in bytes; 0 when the block is not in use.
    cell: u32,
    class: u8,
}

impl BlockMeta {
    /// Packed into a word, so that the table is a zeroed allocation whose pages the
    /// kernel commits only as blocks come into use (the table covers the whole
    /// reservation, heap limit included).
    fn pack(self) -> u64 {
        self.cell as u64 | (self.class as u64) << 32
    }

    fn unpack(w: u64) -> BlockMeta {
        BlockMeta {
            cell: w as u32,
            class: (w >> 32) as u8,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct ClassState {
    free: usize,
    bump: usize,
    bump_end: usize,
}

/// What a sweep found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    /// Objects that survived.
    pub live_objects: usize,
    /// Bytes of the objects that survived.
    pub live_bytes: usize,
    /// Objects freed.
    pub freed_objects: usize,
    /// Blocks returned to the free pool.
    pub blocks_released: usize,
}

/// Size-segregated, non-moving blocks.
#[derive(Debug)]
pub struct OldSpace {
    region: Region,
    nblocks: usize,
    meta: Vec<u64>,
    free_blocks: Vec<u32>,
    fresh: usize,
    classes: [ClassState; NUM_CLASSES],
    blocks_in_use: usize,
    object_bytes: usize,
}

impl OldSpace {
    /// Reserves room for `capacity` bytes of blocks (rounded up to whole blocks).
    /// Fails if the address space cannot hold them.
    pub fn new(capacity: usize) -> io::Result<OldSpace> {
        let nblocks = capacity.div_ceil(BLOCK_SIZE).max(1);
        let bytes = nblocks
            .checked_mul(BLOCK_SIZE)
            .filter(|&b| b <= isize::MAX as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "old space too large"))?;
        let region = Region::reserve(bytes, BLOCK_SIZE)?;
        Ok(OldSpace {
            region,
            nblocks,
            meta: vec![0u64; nblocks],
            free_blocks: Vec::new(),
            fresh: 0,
            classes: [ClassState::default(); NUM_CLASSES],
            blocks_in_use: 0,
            object_bytes: 0,
        })
    }

    /// True if `addr` lies in this space's region.
    #[inline(always)]
    pub fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.region.start()) < self.nblocks * BLOCK_SIZE
    }

    /// Bytes of blocks in use.
    pub fn committed_bytes(&self) -> usize {
        self.blocks_in_use * BLOCK_SIZE
    }

    /// Bytes of blocks still available (free or never used).
    pub fn available_bytes(&self) -> usize {
        (self.nblocks - self.blocks_in_use) * BLOCK_SIZE
    }

    /// Bytes of objects allocated (object sizes, not cell sizes) since the last sweep
    /// plus those that survived it.
    pub fn object_bytes(&self) -> usize {
        self.object_bytes
    }

    /// Allocates a cell for an object of `size` bytes, in the smallest class that holds
    /// it (object sizes are multiples of 8; other sizes round up). The cell's header
    /// word is 0 and the rest holds stale bytes; the caller writes the object. `None`
    /// when no block is left.
    ///
    /// Panics if `size` exceeds [`MAX_SMALL_OBJECT`](crate::MAX_SMALL_OBJECT) (such
    /// objects are large).
    #[inline]
    pub fn alloc(&mut self, size: usize) -> Option<usize> {
        // Panics above MAX_SMALL_OBJECT, in every build: a cell smaller than `size`
        // would let the caller write into the next one.
        let c = class_of(size);
        let cs = &mut self.classes[c];
        let cell = if cs.free != 0 {
            let cell = cs.free;
            // SAFETY: free cells are linked through their second word (module
            // invariant); the cell lies in a block in use.
            cs.free = unsafe { ((cell + 8) as *const usize).read() };
            cell
        } else if cs.bump + CLASS_SIZES[c] <= cs.bump_end {
            let cell = cs.bump;
            cs.bump += CLASS_SIZES[c];
            cell
        } else {
            self.refill(c)?
        };
        self.object_bytes += size;
        Some(cell)
    }

    /// Like [`alloc`](Self::alloc), with the object's `size` bytes zeroed.
    pub fn alloc_zeroed(&mut self, size: usize) -> Option<usize> {
        let cell = self.alloc(size)?;
        // SAFETY: the cell is ours and at least `size` bytes long.
        unsafe { std::ptr::write_bytes(cell as *mut u8, 0, size) };
        Some(cell)
    }

    #[cold]
    fn refill(&mut self, c: usize) -> Option<usize> {
        let b = match self.free_blocks.pop() {
            Some(b) => b as usize,
            None if self.fresh < self.nblocks => {
                self.fresh += 1;
                self.fresh - 1
            }
            None => return None,
        };
        let cell = CLASS_SIZES[c];
        self.meta[b] = BlockMeta {
            cell: cell as u32,
            class: c as u8,
        }
        .pack();
        self.blocks_in_use += 1;
        let start = self.region.start() + b * BLOCK_SIZE;
        let cs = &mut self.classes[c];
        cs.bump = start + cell;
        cs.bump_end = start + (BLOCK_SIZE / cell) * cell;
        Some(start)
    }

    /// Maps any address to the allocated cell containing it, or `None` if the address
    /// is outside this space, in a block not in use, in a block's unused tail, or in a
    /// free cell. The caller checks that the address is inside the object itself
    /// (cells can be larger than their object).
    #[inline]
    pub fn object_start(&self, addr: usize) -> Option<ObjectRef> {
        let off = addr.wrapping_sub(self.region.start());
        if off >= self.nblocks * BLOCK_SIZE {
            return None;
        }
        let m = BlockMeta::unpack(self.meta[off / BLOCK_SIZE]);
        if m.cell == 0 {
            return None;
        }
        let cell = m.cell as usize;
        let within = off % BLOCK_SIZE;
        let idx = within / cell;
        if (idx + 1) * cell > BLOCK_SIZE {
            return None;
        }
        let start = self.region.start() + (off - within) + idx * cell;
        let obj = ObjectRef::from_addr(start)?;
        // SAFETY: `start` is a cell boundary in a block in use, so it is a header word
        // or a free cell's zero word.
        let h = unsafe { obj.header() };
        (!h.is_free()).then_some(obj)
    }

    /// Calls `f` with every allocated object.
    pub fn for_each_object(&self, mut f: impl FnMut(ObjectRef, Header)) {
        for b in 0..self.fresh {
            let m = BlockMeta::unpack(self.meta[b]);
            if m.cell == 0 {
                continue;
            }
            let start = self.region.start() + b * BLOCK_SIZE;
            let cell = m.cell as usize;
            for i in 0..BLOCK_SIZE / cell {
                let obj = ObjectRef::from_addr(start + i * cell).expect("non-null");
                // SAFETY: a cell boundary in a block in use (see object_start).
                let h = unsafe { obj.header() };
                if !h.is_free() {
                    f(obj, h);
                }
            }
        }
    }

    /// Frees every unmarked object and clears the mark of every marked one; rebuilds
    /// the free lists and returns empty blocks to the OS. `size_of` gives an object's
    /// size from its header.
    ///
    /// Must run with the world stopped, after marking.
    pub fn sweep(&mut self, size_of: impl Fn(Header) -> usize) -> SweepOutcome {
        let mut out = SweepOutcome::default();
        self.classes = [ClassState::default(); NUM_CLASSES];
        self.object_bytes = 0;
        for b in 0..self.fresh {
            let m = BlockMeta::unpack(self.meta[b]);
            if m.cell == 0 {
                continue;
            }
            let start = self.region.start() + b * BLOCK_SIZE;
            let cell = m.cell as usize;
            let ncells = BLOCK_SIZE / cell;
            let mut live = 0;
            for i in 0..ncells {
                let p = (start + i * cell) as *mut u64;
                // SAFETY: a cell boundary in a block in use; the world is stopped.
                let h = Header(unsafe { p.read() });
                if h.is_free() {
                    continue;
                }
                if h.is_marked() {
                    // SAFETY: as above.
                    unsafe { p.write(h.without(MARK).bits()) };
                    live += 1;
                    self.object_bytes += size_of(h);
                } else {
                    // SAFETY: as above; the object is unreachable.
                    unsafe { p.write(0) };
                    out.freed_objects += 1;
                }
            }
            if live == 0 {
                self.meta[b] = 0;
                self.blocks_in_use -= 1;
                self.region.decommit(start, BLOCK_SIZE);
                self.free_blocks.push(b as u32);
                out.blocks_released += 1;
                continue;
            }
            out.live_objects += live;
            let cs = &mut self.classes[m.class as usize];
            for i in (0..ncells).rev() {
                let p = start + i * cell;
                // SAFETY: as above.
                if unsafe { (p as *const u64).read() } == 0 {
                    // SAFETY: the cell is free; its second word becomes the link.
                    unsafe { ((p + 8) as *mut usize).write(cs.free) };
                    cs.free = p;
                }
            }
        }
        out.live_bytes = self.object_bytes;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::Header;
    use crate::MAX_SMALL_OBJECT;

    fn put(space: &mut OldSpace, size: usize) -> ObjectRef {
        let a = space.alloc(size).unwrap();
        let o = ObjectRef::from_addr(a).unwrap();
        // SAFETY: a fresh cell of at least `size` bytes.
        unsafe { o.set_header(Header::new(2, size as u32)) };
        o
    }

    #[test]
    fn interior_addresses_map_to_their_cell() {
        let mut s = OldSpace::new(1 << 20).unwrap();
        let a = put(&mut s, 48);
        let b = put(&mut s, 48);
        let big = put(&mut s, 1000);
        assert_eq!(b.addr() - a.addr(), 48);
        assert_eq!(s.object_start(a.addr() + 47), Some(a));
        assert_eq!(s.object_start(b.addr()), Some(b));
        assert_eq!(s.object_start(big.addr() + 999), Some(big));
        // the next cell is free
        assert_eq!(s.object_start(b.addr() + 48), None);
        assert_eq!(s.object_start(0x10), None);
    }

    #[test]
    fn sweep_frees_unmarked_reuses_cells_and_releases_empty_blocks() {
        let mut s = OldSpace::new(1 << 20).unwrap();
        let objs: Vec<_> = (0..100).map(|_| put(&mut s, 32)).collect();
        let lone = put(&mut s, 512);
        for o in objs.iter().step_by(2) {
            // SAFETY: live objects we own.
            unsafe { o.set_header(o.header().with(MARK)) };
        }
        let out = s.sweep(|h| h.len() as usize);
        assert_eq!(out.live_objects, 50);
        assert_eq!(out.freed_objects, 51);
        assert_eq!(out.blocks_released, 1, "the 512-byte block is empty");
        assert_eq!(s.object_bytes(), 50 * 32);
        assert_eq!(s.object_start(objs[1].addr()), None);
        assert_eq!(s.object_start(lone.addr()), None);
        // SAFETY: a survivor.
        assert!(!unsafe { objs[0].header() }.is_marked());
        // freed cells are reused before new blocks are taken
        let before = s.committed_bytes();
        let again = put(&mut s, 32);
        assert!(objs.iter().skip(1).step_by(2).any(|o| *o == again));
        assert_eq!(s.committed_bytes(), before);
    }

    /// A size that is not a multiple of 8 gets a cell that holds it: zeroing it (or
    /// writing the object) stays inside the cell, in every build.
    #[test]
    fn every_size_gets_a_cell_that_holds_it() {
        let mut s = OldSpace::new(64 << 20).unwrap();
        for size in 0..=MAX_SMALL_OBJECT {
            let a = s.alloc_zeroed(size).unwrap();
            let b = s.alloc_zeroed(size).unwrap();
            assert!(
                b - a >= size,
                "size {size}: cells {a:#x} and {b:#x} overlap"
            );
        }
        // A neighbour's header survives zeroing an odd-sized object next to it.
        let a = s.alloc(17).unwrap();
        let b = put(&mut s, 24);
        assert_eq!(b.addr() - a, 24);
        let c = s.alloc_zeroed(17).unwrap();
        assert_eq!(c - b.addr(), 24);
        // SAFETY: `b` is an object we wrote.
        assert_eq!(unsafe { b.header() }, Header::new(2, 24));
    }

    #[test]
    #[should_panic(expected = "not a small object")]
    fn refuses_a_large_size() {
        let mut s = OldSpace::new(1 << 20).unwrap();
        s.alloc_zeroed(MAX_SMALL_OBJECT + 1);
    }

    #[test]
    fn refuses_a_capacity_it_cannot_address() {
        assert!(OldSpace::new(usize::MAX).is_err());
        assert!(OldSpace::new(usize::MAX - BLOCK_SIZE).is_err());
    }

    #[test]
    fn runs_out_of_blocks_cleanly() {
        let mut s = OldSpace::new(BLOCK_SIZE).unwrap();
        let mut n = 0;
        while s.alloc(4096).is_some() {
            n += 1;
        }
        assert_eq!(n, BLOCK_SIZE / 4096);
        assert!(s.alloc(16).is_none());
    }
}
