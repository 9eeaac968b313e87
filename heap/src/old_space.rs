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
//! - every free cell of a block in use that lies outside its class's bump range (and
//!   outside any promotion run) is on one of its class's two free stacks, once: the
//!   cells of blocks a sweep left at least a quarter free, or the **scattered** cells
//!   of blocks it left fuller. The stacks are arrays of addresses beside the space,
//!   not lists threaded through the cells, so that taking cells never chases pointers
//!   through cold memory and promotion can prefetch the cells it will fill next;
//! - promotion takes scattered cells only when no block is left: each would be a
//!   cache miss and, over a large heap, a TLB miss of its own, and a pause must not
//!   grow with the heap. The old space's own allocations (pretenured objects) take
//!   them first;
//! - objects never move; they are freed only by [`OldSpace::sweep`].

use crate::header::Header;
use crate::object::ObjectRef;
use crate::region::Region;
use crate::size_classes::{class_of, CLASS_SIZES, NUM_CLASSES};
use std::io;

mod marks;
mod ready_blocks;
mod sweep;
use marks::MarkMap;
pub use ready_blocks::BlockReservation;
pub use sweep::SweepOutcome;

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

#[derive(Clone, Debug, Default)]
struct ClassState {
    /// Free cells of blocks at least a quarter free, taken from the end (see the
    /// module invariants).
    free: Vec<usize>,
    /// Free cells of fuller blocks, taken from the end by [`OldSpace::alloc`] first
    /// and by promotion only when no block is left.
    scattered: Vec<usize>,
    bump: usize,
    bump_end: usize,
}

/// A collection's promotion buffers: one run of unused cells per size class, bumped
/// through by [`OldSpace::promote_alloc`] so that promoting an object costs a bounds
/// check and a pointer bump, and refilled from the space (the class's current block,
/// then its free cells, then a new block) when a run is used up.
///
/// Made empty by [`PromotionBuffers::new`], and empty again once retired: they can be
/// kept and reused by every collection. Must be retired with
/// [`OldSpace::retire_promotion_buffers`] before the space is used otherwise (allocated
/// or swept), or the cells left in them are lost to the space until their block is
/// swept empty, and the bytes promoted through them are not counted.
#[derive(Debug)]
pub struct PromotionBuffers {
    /// `[next, end)` of each class's run (whole cells; empty when `next == end`).
    runs: [(usize, usize); NUM_CLASSES],
    /// Object bytes allocated through the buffers since they were made.
    bytes: usize,
    /// The bytes of the cells they took (what the space counts).
    cell_bytes: usize,
    /// Bit `c` set: class `c` has had a run (so retiring visits only those).
    used: u32,
}

// `PromotionBuffers::used` has a bit per class.
const _: () = assert!(NUM_CLASSES <= 32);

impl PromotionBuffers {
    /// Empty buffers.
    pub fn new() -> PromotionBuffers {
        PromotionBuffers {
            runs: [(0, 0); NUM_CLASSES],
            bytes: 0,
            cell_bytes: 0,
            used: 0,
        }
    }

    /// Object bytes allocated through the buffers since they were last retired.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// A cell of class `class` for a `size`-byte object from the class's run, if the
    /// run has one left (the fast path of [`OldSpace::promote_alloc`], which refills
    /// the run otherwise).
    #[inline(always)]
    pub fn take(&mut self, class: usize, size: usize) -> Option<usize> {
        debug_assert_eq!(class, class_of(size));
        let run = &mut self.runs[class];
        let cell = CLASS_SIZES[class];
        if run.0 + cell <= run.1 {
            let at = run.0;
            run.0 += cell;
            self.bytes += size;
            self.cell_bytes += cell;
            return Some(at);
        }
        None
    }

    /// Gives back the cell at `at`, the last one taken (by [`take`](Self::take) or
    /// [`OldSpace::promote_alloc`]) for a `size`-byte object of class `class`, unused:
    /// a parallel collection that lost the race to copy an object. The cell's first
    /// word is cleared, so that it reads as free again.
    ///
    /// # Panics
    /// If `at` is not the last cell taken from the class's run.
    pub fn give_back(&mut self, class: usize, at: usize, size: usize) {
        let cell = CLASS_SIZES[class];
        let run = &mut self.runs[class];
        assert!(
            at != 0 && run.0 == at + cell,
            "only the last cell taken is given back"
        );
        run.0 = at;
        self.bytes -= size;
        self.cell_bytes -= cell;
        // Atomic: a parallel collection's byref resolution may read the word.
        // SAFETY: `[at, at + cell)` is the cell just taken from this run (checked
        // above), which these buffers own until it is taken again.
        let word = unsafe { ObjectRef::from_addr(at).expect("non-null").header_atomic() };
        word.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// True if the buffers hold no cell and count no byte (new, or just retired).
    pub fn is_empty(&self) -> bool {
        self.bytes == 0 && self.cell_bytes == 0 && self.used == 0
    }
}

impl Default for PromotionBuffers {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for PromotionBuffers {
    fn drop(&mut self) {
        debug_assert!(
            self.is_empty() || std::thread::panicking(),
            "contgc: promotion buffers dropped without being retired"
        );
    }
}

/// How many free cells ahead promotion prefetches.
const PREFETCH_AHEAD: usize = 8;

/// Asks the processor to bring the cache line at `addr` into its caches: a hint that
/// never faults, whatever the address. Does nothing off x86-64.
#[inline(always)]
fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch has no precondition: it reads nothing architecturally and
    // never faults; SSE is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
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
    cell_bytes: usize,
    /// Mark bytes of a major collection (see `marks`).
    marks: MarkMap,
    /// Blocks not in use whose pages are committed, taken before any other (see
    /// `ready_blocks`).
    ready: Vec<u32>,
    /// Blocks out on a [`BlockReservation`]: neither in use nor available.
    reserved_out: usize,
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
        let marks = MarkMap::new(region.start(), nblocks)?;
        Ok(OldSpace {
            region,
            nblocks,
            meta: vec![0u64; nblocks],
            free_blocks: Vec::new(),
            fresh: 0,
            classes: std::array::from_fn(|_| ClassState::default()),
            blocks_in_use: 0,
            cell_bytes: 0,
            marks,
            ready: Vec::new(),
            reserved_out: 0,
        })
    }

    /// True if the object at `addr` has been marked since the last sweep. Old
    /// objects are marked in a side map, never in their header (see
    /// [`mark`](Self::mark)). Panics if `addr` is not inside the space.
    #[inline(always)]
    pub fn is_marked(&self, addr: usize) -> bool {
        self.marks.is_marked(addr)
    }

    /// Marks the object at `addr` for the next [`sweep`](Self::sweep), which keeps
    /// marked objects, frees the others and clears every mark. Takes `&self`:
    /// several marking threads may mark at once (a relaxed byte store; marking twice
    /// is harmless). Marking a free cell would make the sweep count it live: mark only
    /// objects. Panics if `addr` is not inside the space.
    #[inline(always)]
    pub fn mark(&self, addr: usize) {
        self.marks.mark(addr)
    }

    /// Starts fetching `addr`'s mark into the cache if `addr` is in the space (does
    /// nothing otherwise): a marker calls it for the objects it will visit next.
    #[inline(always)]
    pub fn prefetch_mark(&self, addr: usize) {
        self.marks.prefetch(addr)
    }

    /// True if no mark is set in any block ever used (the state outside a major
    /// collection, which the heap verifier checks).
    pub fn marks_are_clear(&self) -> bool {
        (0..self.fresh).all(|b| self.marks.block_is_clear(b))
    }

    /// True if `addr` lies in this space's region.
    #[inline(always)]
    pub fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.region.start()) < self.nblocks * BLOCK_SIZE
    }

    /// The space's region as `(start, len)`: [`contains`](Self::contains) is true
    /// exactly for the addresses in `[start, start + len)`. Fixed for the space's life.
    pub fn bounds(&self) -> (usize, usize) {
        (self.region.start(), self.nblocks * BLOCK_SIZE)
    }

    /// Bytes of blocks in use.
    pub fn committed_bytes(&self) -> usize {
        self.blocks_in_use * BLOCK_SIZE
    }

    /// Bytes of blocks still available (free, ready or never used; not those out on
    /// a [`BlockReservation`]).
    pub fn available_bytes(&self) -> usize {
        (self.nblocks - self.blocks_in_use - self.reserved_out) * BLOCK_SIZE
    }

    /// Bytes of the cells holding objects: those allocated since the last sweep plus
    /// those whose objects survived it. A cell is its size class's size, at most about
    /// a quarter more than its object; counting cells lets a sweep find the live bytes
    /// from the mark map alone, without reading the live objects.
    pub fn cell_bytes(&self) -> usize {
        self.cell_bytes
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
        let cell = if let Some(cell) = cs.scattered.pop().or_else(|| cs.free.pop()) {
            cell
        } else if cs.bump + CLASS_SIZES[c] <= cs.bump_end {
            let cell = cs.bump;
            cs.bump += CLASS_SIZES[c];
            cell
        } else {
            self.refill(c)?
        };
        self.cell_bytes += CLASS_SIZES[c];
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
        let start = self.take_block(c)?;
        let cs = &mut self.classes[c];
        cs.bump = start + CLASS_SIZES[c];
        cs.bump_end = start + (BLOCK_SIZE / CLASS_SIZES[c]) * CLASS_SIZES[c];
        Some(start)
    }

    /// Takes a free or never-used block for class `c` and returns its start.
    fn take_block(&mut self, c: usize) -> Option<usize> {
        let b = match self.ready.pop().or_else(|| self.free_blocks.pop()) {
            Some(b) => b as usize,
            None if self.fresh < self.nblocks => {
                self.fresh += 1;
                self.fresh - 1
            }
            None => return None,
        };
        self.meta[b] = BlockMeta {
            cell: CLASS_SIZES[c] as u32,
            class: c as u8,
        }
        .pack();
        self.blocks_in_use += 1;
        Some(self.region.start() + b * BLOCK_SIZE)
    }

    /// Allocates a cell of class `class` for an object of `size` bytes through the
    /// per-collection buffers `bufs` (see [`PromotionBuffers`]): a pointer bump in the
    /// class's run, refilled from the space when it runs out. `None` when no block is
    /// left. The cell's header word is 0 (the caller writes the object); its bytes are
    /// counted when the buffers are [retired](Self::retire_promotion_buffers).
    ///
    /// `class` must be [`class_of`]`(size)` (checked in debug builds).
    #[inline(always)]
    pub fn promote_alloc(
        &mut self,
        bufs: &mut PromotionBuffers,
        class: usize,
        size: usize,
    ) -> Option<usize> {
        if let Some(at) = bufs.take(class, size) {
            return Some(at);
        }
        self.refill_promotion_buffer(bufs, class, size)
    }

    #[cold]
    #[inline(never)]
    fn refill_promotion_buffer(
        &mut self,
        bufs: &mut PromotionBuffers,
        class: usize,
        size: usize,
    ) -> Option<usize> {
        // The run left in the buffer is too short for one cell: it is empty (runs are
        // whole cells).
        debug_assert_eq!(bufs.runs[class].0, bufs.runs[class].1);
        let cell = CLASS_SIZES[class];
        let cs = &mut self.classes[class];
        let run = if cs.bump < cs.bump_end {
            // The class's current block first: contiguous cells.
            let run = (cs.bump, cs.bump_end);
            (cs.bump, cs.bump_end) = (0, 0);
            run
        } else if let Some(at) = cs.free.pop() {
            // Then the free cells a sweep left, one at a time. They are scattered
            // over the space, each a cache miss to write: fetch the one this class
            // will take a few promotions from now.
            if let Some(&ahead) = cs
                .free
                .len()
                .checked_sub(PREFETCH_AHEAD)
                .map(|i| &cs.free[i])
            {
                prefetch(ahead);
            }
            (at, at + cell)
        } else if let Some(start) = self.take_block(class) {
            (start, start + (BLOCK_SIZE / cell) * cell)
        } else {
            // No block left: the scattered cells rather than a full heap.
            let at = self.classes[class].scattered.pop()?;
            (at, at + cell)
        };
        bufs.runs[class] = (run.0 + cell, run.1);
        bufs.bytes += size;
        bufs.cell_bytes += cell;
        bufs.used |= 1 << class;
        Some(run.0)
    }

    /// Ends a collection's promotion: the cells left in `bufs` go back to their
    /// classes (as the class's bump range if it has none, which is the case when
    /// nothing else allocated in the space while the buffers were in use, else to the
    /// free list), and the promoted cells' bytes are counted in
    /// [`cell_bytes`](Self::cell_bytes).
    pub fn retire_promotion_buffers(&mut self, bufs: &mut PromotionBuffers) {
        let mut used = std::mem::take(&mut bufs.used);
        while used != 0 {
            let c = used.trailing_zeros() as usize;
            used &= used - 1;
            let (start, end) = std::mem::take(&mut bufs.runs[c]);
            if start == end {
                continue;
            }
            let cell = CLASS_SIZES[c];
            let cs = &mut self.classes[c];
            if cs.bump >= cs.bump_end {
                (cs.bump, cs.bump_end) = (start, end);
                continue;
            }
            // Descending, so that the lowest address is taken first.
            cs.free.extend((start..end).step_by(cell).rev());
        }
        bufs.bytes = 0;
        self.cell_bytes += std::mem::take(&mut bufs.cell_bytes);
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
            s.mark(o.addr());
        }
        assert!(s.is_marked(objs[0].addr()) && !s.is_marked(objs[1].addr()));
        assert!(!s.marks_are_clear());
        let out = s.sweep();
        assert_eq!(out.live_objects, 50);
        assert_eq!(out.freed_objects, 51);
        assert_eq!(out.blocks_released, 1, "the 512-byte block is empty");
        assert_eq!(s.cell_bytes(), 50 * 32);
        assert_eq!(s.object_start(objs[1].addr()), None);
        assert_eq!(s.object_start(lone.addr()), None);
        assert!(s.marks_are_clear(), "the sweep clears every mark");
        assert!(!s.is_marked(objs[0].addr()));
        // SAFETY: a survivor, untouched by the sweep.
        assert_eq!(unsafe { objs[0].header() }, Header::new(2, 32));
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

    /// Objects promoted through the buffers are bump-allocated in their class's
    /// blocks; retiring hands the rest of each run back (the next allocation continues
    /// where promotion stopped) and counts the promoted bytes.
    #[test]
    fn promotion_buffers_bump_and_retire_their_runs() {
        let mut s = OldSpace::new(1 << 20).unwrap();
        let first = put(&mut s, 48);
        let mut bufs = PromotionBuffers::new();
        let c48 = class_of(48);
        let a = s.promote_alloc(&mut bufs, c48, 48).unwrap();
        let b = s.promote_alloc(&mut bufs, c48, 48).unwrap();
        // The class's current block is taken first: after `first`.
        assert_eq!((a - first.addr(), b - a), (48, 48));
        let c16 = class_of(16);
        let small: Vec<_> = (0..3000)
            .map(|_| s.promote_alloc(&mut bufs, c16, 16).unwrap())
            .collect();
        assert!(small.windows(2).all(|w| w[1] != w[0]));
        // 3000 16-byte cells take two blocks: the run was refilled with a new block.
        assert_eq!(s.committed_bytes(), 3 * BLOCK_SIZE);
        assert_eq!(bufs.bytes(), 2 * 48 + 3000 * 16);
        for &c in small.iter().chain([a, b].iter()) {
            let o = ObjectRef::from_addr(c).unwrap();
            // SAFETY: cells handed out above, ours alone.
            unsafe { o.set_header(Header::new(2, 0)) };
        }
        let before = s.cell_bytes();
        s.retire_promotion_buffers(&mut bufs);
        assert!(bufs.is_empty());
        assert_eq!(s.cell_bytes(), before + 2 * 48 + 3000 * 16);
        // The runs went back as the classes' bump ranges.
        assert_eq!(s.alloc(48), Some(b + 48));
        assert_eq!(s.alloc(16), Some(small[2999] + 16));
        // Every promoted cell is an object the space knows.
        let mut n = 0;
        s.for_each_object(|_, _| n += 1);
        // (The two cells just allocated have no header yet.)
        assert_eq!(n, 1 + 2 + 3000);
        assert_eq!(
            s.object_start(small[17] + 8).map(|o| o.addr()),
            Some(small[17])
        );
    }

    /// A run retired while its class has a bump range of its own (something allocated
    /// in the class meanwhile) goes to the free list, and its cells are reused.
    #[test]
    fn a_run_retired_beside_a_bump_range_goes_to_the_free_list() {
        let mut s = OldSpace::new(1 << 20).unwrap();
        let c = class_of(32);
        let mut bufs = PromotionBuffers::new();
        let p = s.promote_alloc(&mut bufs, c, 32).unwrap();
        // The buffer holds the class's block; allocating now takes a second block.
        let q = put(&mut s, 32);
        assert_eq!(q.addr() % BLOCK_SIZE, 0);
        assert_ne!(q.addr() / BLOCK_SIZE, p / BLOCK_SIZE);
        s.retire_promotion_buffers(&mut bufs);
        // `alloc` takes free cells before its bump range: the run's cells come next.
        assert_eq!(s.alloc(32), Some(p + 32));
        assert_eq!(s.alloc(32), Some(p + 64));
    }

    /// Free cells a sweep left are taken into runs one at a time; a major collection's
    /// sweep after promotion frees and keeps the right cells.
    #[test]
    fn promotion_reuses_free_cells_and_sweeps_like_any_allocation() {
        let mut s = OldSpace::new(1 << 20).unwrap();
        let objs: Vec<_> = (0..64).map(|_| put(&mut s, 24)).collect();
        for o in objs.iter().step_by(2) {
            s.mark(o.addr());
        }
        s.sweep();
        let c = class_of(24);
        let mut bufs = PromotionBuffers::new();
        // The sweep reset the bump range: free cells come first, in address order.
        let got: Vec<_> = (0..32)
            .map(|_| s.promote_alloc(&mut bufs, c, 24).unwrap())
            .collect();
        let freed: Vec<_> = objs.iter().skip(1).step_by(2).map(|o| o.addr()).collect();
        assert_eq!(got, freed);
        let next = s.promote_alloc(&mut bufs, c, 24).unwrap();
        assert!(
            !objs.iter().any(|o| o.addr() == next),
            "a new block after the free cells"
        );
        for &a in got.iter().chain([next].iter()) {
            // SAFETY: cells handed out above.
            unsafe {
                ObjectRef::from_addr(a)
                    .unwrap()
                    .set_header(Header::new(2, 0))
            };
            s.mark(a); // so that they survive the sweep
        }
        s.retire_promotion_buffers(&mut bufs);
        assert_eq!(s.cell_bytes(), 32 * 24 + 33 * 24);
        let out = s.sweep();
        assert_eq!(out.live_objects, 33);
        assert_eq!(out.freed_objects, 32);
        assert_eq!(s.cell_bytes(), 33 * 24);
    }

    #[test]
    #[should_panic(expected = "is not in the old space")]
    fn refuses_to_mark_outside_the_space() {
        let s = OldSpace::new(1 << 20).unwrap();
        let outside = [0u64; 2];
        s.mark(outside.as_ptr() as usize);
    }

    #[test]
    fn marks_of_neighbouring_smallest_cells_are_distinct() {
        let mut s = OldSpace::new(1 << 20).unwrap();
        let (a, b) = (put(&mut s, 16), put(&mut s, 16));
        assert_eq!(b.addr() - a.addr(), 16);
        s.mark(b.addr());
        assert!(!s.is_marked(a.addr()) && s.is_marked(b.addr()));
        let out = s.sweep();
        assert_eq!((out.live_objects, out.freed_objects), (1, 1));
        assert!(s.marks_are_clear());
    }

    /// A block a sweep leaves mostly full: its few free cells are scattered, so
    /// promotion goes to a new block while the space's own allocation takes them;
    /// with no block left, promotion takes them too rather than fail.
    #[test]
    fn promotion_skips_the_scattered_cells_of_full_blocks_unless_no_block_is_left() {
        for capacity in [1 << 20, BLOCK_SIZE] {
            let mut s = OldSpace::new(capacity).unwrap();
            let per_block = BLOCK_SIZE / 32;
            let objs: Vec<_> = (0..per_block).map(|_| put(&mut s, 32)).collect();
            for (i, o) in objs.iter().enumerate() {
                if i % 100 != 7 {
                    s.mark(o.addr());
                }
            }
            s.sweep();
            let freed: Vec<usize> = objs.iter().skip(7).step_by(100).map(|o| o.addr()).collect();
            let mut bufs = PromotionBuffers::new();
            let p = s.promote_alloc(&mut bufs, class_of(32), 32).unwrap();
            if capacity == BLOCK_SIZE {
                assert!(freed.contains(&p), "no block left: a scattered cell");
            } else {
                assert!(!freed.contains(&p), "a new block, not a scattered cell");
            }
            s.retire_promotion_buffers(&mut bufs);
            let a = s.alloc(32).unwrap();
            assert!(
                freed.contains(&a),
                "the space's own allocation takes scattered cells"
            );
        }
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
