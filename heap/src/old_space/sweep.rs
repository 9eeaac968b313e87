//! Sweeping the old space after marking, by one thread or by several at once.
//!
//! The blocks are handed out in chunks of [`CHUNK_BLOCKS`] through one atomic cursor,
//! so each block is swept by exactly one sweeper, which alone writes its cells (frees
//! the unmarked) and clears its mark bytes. A live object is neither read nor written:
//! the live bytes are the marked cells' bytes, counted from the mark map, a word of
//! mark bytes at a time; a block whose every cell is marked (most blocks of a heap
//! whose objects live on) is not visited cell by cell at all. A sweeper gathers what it found in a
//! chunk in a [`Share`]: per class, the free cells it found (apart: those of blocks it
//! left less than a quarter free, the scattered cells promotion avoids), the bytes and objects that
//! survived, and the blocks it found empty. Merging the shares (`&mut self`, one
//! thread) in chunk order then releases the empty blocks and appends the free cells
//! to the classes' free stacks, so the result, free-cell order included, is the same
//! whichever sweeper swept which chunk, and however many there were. Blocks that no sweeper claimed (a runner that never
//! called the work function) are swept by the merging thread, so a sweep is always
//! complete.

use super::{BlockMeta, ClassState, MarkMap, OldSpace, BLOCK_SIZE};
use crate::header::Header;
use crate::size_classes::NUM_CLASSES;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Blocks a sweeper claims at a time: 16 (512 KiB), so the cursor is touched once per
/// tens of thousands of cells.
const CHUNK_BLOCKS: usize = 16;

/// What a sweep found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepOutcome {
    /// Objects that survived.
    pub live_objects: usize,
    /// Bytes of the cells whose objects survived.
    pub live_bytes: usize,
    /// Objects freed.
    pub freed_objects: usize,
    /// Blocks returned to the free pool.
    pub blocks_released: usize,
}

/// One sweeper's findings (see the module documentation).
#[derive(Debug)]
struct Share {
    /// Per class: the free cells this sweeper found, each block's in descending order
    /// (the stack is taken from its end, so a block's cells are reused lowest first).
    free: [Vec<usize>; NUM_CLASSES],
    /// The same for the blocks less than a quarter free (the classes' scattered
    /// cells, see the module invariants of `old_space`).
    scattered: [Vec<usize>; NUM_CLASSES],
    live_bytes: usize,
    live_objects: usize,
    freed_objects: usize,
    /// Blocks found with no live object.
    emptied: Vec<u32>,
}

impl Default for Share {
    fn default() -> Self {
        Share {
            free: std::array::from_fn(|_| Vec::new()),
            scattered: std::array::from_fn(|_| Vec::new()),
            live_bytes: 0,
            live_objects: 0,
            freed_objects: 0,
            emptied: Vec::new(),
        }
    }
}

/// A sweep in progress: what the sweepers share.
struct Sweep<'a> {
    start: usize,
    meta: &'a [u64],
    marks: &'a MarkMap,
    cursor: AtomicUsize,
    /// Each chunk's share, with the chunk's first block.
    shares: Mutex<Vec<(usize, Share)>>,
}

impl Sweep<'_> {
    /// Claims chunks until none is left, sweeping each; files what it found.
    fn run(&self) {
        let mut found = Vec::new();
        loop {
            let first = self.cursor.fetch_add(CHUNK_BLOCKS, Ordering::Relaxed);
            if first >= self.meta.len() {
                break;
            }
            let mut share = Share::default();
            for b in first..(first + CHUNK_BLOCKS).min(self.meta.len()) {
                // SAFETY: block `b` was claimed by this call alone (the cursor hands
                // each chunk out once), and the sweep's caller guarantees the world
                // is stopped with marking over.
                unsafe { self.sweep_block(b, &mut share) };
            }
            found.push((first, share));
        }
        self.shares
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(found);
    }

    /// Sweeps block `b` into `share`.
    ///
    /// # Safety
    /// The caller must have exclusive access to block `b`'s memory and mark bytes.
    unsafe fn sweep_block(&self, b: usize, share: &mut Share) {
        let m = BlockMeta::unpack(self.meta[b]);
        if m.cell == 0 {
            return;
        }
        let start = self.start + b * BLOCK_SIZE;
        let cell = m.cell as usize;
        let ncells = BLOCK_SIZE / cell;
        // SAFETY: the block's mark bytes are this sweeper's (the caller's promise).
        let marked = unsafe { self.marks.count_block(b) };
        if marked == ncells {
            // Every cell holds a marked object: nothing to free, and the cells need
            // not be visited (most blocks of a heap whose objects live on).
            debug_assert!((0..ncells).all(|i| self.marks.is_marked(start + i * cell)));
            share.live_bytes += ncells * cell;
            share.live_objects += ncells;
            // SAFETY: block `b` is this sweeper's, its mark bytes too.
            unsafe { self.marks.clear_block(b) };
            return;
        }
        let (mut live, mut free) = (0, 0);
        for i in 0..ncells {
            let p = (start + i * cell) as *mut u64;
            if self.marks.is_marked(p as usize) {
                live += 1;
                continue;
            }
            free += 1;
            // SAFETY: a cell boundary in a block in use, which the caller owns.
            let h = Header(unsafe { p.read() });
            if !h.is_free() {
                // SAFETY: as above; the object is unreachable.
                unsafe { p.write(0) };
                share.freed_objects += 1;
            }
        }
        debug_assert_eq!(live, marked, "a mark byte outside a cell's first granule");
        share.live_bytes += live * cell;
        if live == 0 {
            // No cell is marked; a mark anywhere else in the block would be a stray
            // one, cleared all the same so that it cannot outlive the block's class.
            // SAFETY: block `b` is this sweeper's (as above), its mark bytes too.
            unsafe { self.marks.clear_block(b) };
            share.emptied.push(b as u32);
            return;
        }
        share.live_objects += live;
        if free > 0 {
            let free_cells = if free * 4 >= ncells {
                &mut share.free[m.class as usize]
            } else {
                &mut share.scattered[m.class as usize]
            };
            // Every unmarked cell is free now.
            for i in (0..ncells).rev() {
                let p = start + i * cell;
                if !self.marks.is_marked(p) {
                    free_cells.push(p);
                }
            }
        }
        // SAFETY: block `b` is this sweeper's (as above), its mark bytes too.
        unsafe { self.marks.clear_block(b) };
    }
}

impl OldSpace {
    /// Frees every unmarked object (see [`mark`](Self::mark)) and clears every mark; rebuilds
    /// the free lists and returns empty blocks to the OS.
    ///
    /// Must run with the world stopped, after marking.
    pub fn sweep(&mut self) -> SweepOutcome {
        self.sweep_shared(|work| work())
    }

    /// [`sweep`](Self::sweep) shared between threads: `run` is handed the work and
    /// must call it on each thread that is to help (from as many threads at once as
    /// it likes, each call returning once no work is left), and return once every
    /// call has returned. What no call swept is swept here afterwards, so the sweep is
    /// complete whatever `run` does. The outcome does not depend on the number of
    /// threads (the order of the free lists does).
    pub fn sweep_shared(&mut self, run: impl FnOnce(&(dyn Fn() + Sync))) -> SweepOutcome {
        let sweep = Sweep {
            start: self.region.start(),
            meta: &self.meta[..self.fresh],
            marks: &self.marks,
            cursor: AtomicUsize::new(0),
            shares: Mutex::new(Vec::new()),
        };
        run(&|| sweep.run());
        // Whatever `run` left (nothing, when it called the work at least once).
        sweep.run();
        let mut shares = sweep.shares.into_inner().unwrap_or_else(|e| e.into_inner());
        shares.sort_unstable_by_key(|&(first, _)| first);
        self.merge(shares.into_iter().map(|(_, s)| s))
    }

    /// Releases the blocks the sweepers found empty and stacks their free cells.
    fn merge(&mut self, shares: impl Iterator<Item = Share>) -> SweepOutcome {
        let mut out = SweepOutcome::default();
        for cs in &mut self.classes {
            *cs = ClassState {
                free: std::mem::take(&mut cs.free),
                scattered: std::mem::take(&mut cs.scattered),
                ..ClassState::default()
            };
            cs.free.clear();
            cs.scattered.clear();
        }
        for share in shares {
            out.live_objects += share.live_objects;
            out.live_bytes += share.live_bytes;
            out.freed_objects += share.freed_objects;
            for b in share.emptied {
                let b = b as usize;
                self.meta[b] = 0;
                self.blocks_in_use -= 1;
                self.region
                    .decommit(self.region.start() + b * BLOCK_SIZE, BLOCK_SIZE);
                self.free_blocks.push(b as u32);
                out.blocks_released += 1;
            }
            for ((cs, cells), scattered) in
                self.classes.iter_mut().zip(share.free).zip(share.scattered)
            {
                append(&mut cs.free, cells);
                append(&mut cs.scattered, scattered);
            }
        }
        self.cell_bytes = out.live_bytes;
        out
    }
}

/// Appends `cells` to `stack`, taking the vector itself when the stack is empty.
fn append(stack: &mut Vec<usize>, cells: Vec<usize>) {
    if stack.is_empty() {
        *stack = cells;
    } else {
        stack.extend_from_slice(&cells);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ObjectRef;

    /// Fills one block of `cell`-byte objects and returns their addresses.
    fn fill_block(s: &mut OldSpace, cell: usize) -> Vec<usize> {
        (0..BLOCK_SIZE / cell)
            .map(|_| {
                let a = s.alloc(cell).unwrap();
                // SAFETY: a fresh cell of `cell` bytes, ours alone.
                unsafe {
                    ObjectRef::from_addr(a)
                        .unwrap()
                        .set_header(Header::new(2, 0))
                };
                a
            })
            .collect()
    }

    /// A block whose every cell is marked is counted live without being visited cell
    /// by cell; one unmarked cell among them sends it through the cell-by-cell path,
    /// which frees exactly that cell. Either way every mark is cleared.
    #[test]
    fn fully_marked_blocks_survive_whole_and_one_dead_cell_is_freed() {
        for cell in [16, 24, 48, 4096] {
            let mut s = OldSpace::new(4 * BLOCK_SIZE).unwrap();
            let full = fill_block(&mut s, cell);
            let one_dead = fill_block(&mut s, cell);
            let n = full.len();
            for &a in full.iter().chain(&one_dead[1..]) {
                s.mark(a);
            }
            let out = s.sweep();
            assert_eq!(out.live_objects, 2 * n - 1, "cell {cell}");
            assert_eq!(out.freed_objects, 1, "cell {cell}");
            assert_eq!(out.live_bytes, (2 * n - 1) * cell, "cell {cell}");
            assert_eq!(s.cell_bytes(), (2 * n - 1) * cell);
            assert!(s.marks_are_clear());
            assert_eq!(s.object_start(one_dead[0]), None);
            assert!(full.iter().all(|&a| s.object_start(a).is_some()));
            // The freed cell is the next one handed out.
            assert_eq!(s.alloc(cell), Some(one_dead[0]));
        }
    }
}
