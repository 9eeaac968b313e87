//! The old space's side mark map: one mark byte per 16-byte granule of the space.
//!
//! A major collection marks old objects here rather than in their header words, so
//! marking only reads the old generation (no cache line of it is dirtied and written
//! back), an object already marked is recognised without touching it, and the sweep
//! writes only the cells it frees. The map is reserved beside the space and
//! committed by the kernel as blocks come into use: 2 KiB per 32 KiB block.
//!
//! Cells start at multiples of their size from a block's start, and every size is at
//! least 16 bytes, so no two cells share a granule: a cell's mark byte is the byte of
//! its first granule.
//!
//! Invariant (checked by the heap verifier): outside a major collection's mark and
//! sweep every byte of the map is zero; the sweep clears the bytes of each block it
//! sweeps.

use super::BLOCK_SIZE;
use crate::region::Region;
use crate::size_classes::CLASS_SIZES;
use std::io;
use std::sync::atomic::{AtomicU8, Ordering};

/// log2 of the bytes one mark byte covers.
const GRANULE_SHIFT: u32 = 4;

/// Mark bytes per block.
pub(super) const BLOCK_MARK_BYTES: usize = BLOCK_SIZE >> GRANULE_SHIFT;

// No two cells share a granule (see the module documentation).
const _: () = assert!(CLASS_SIZES[0] >= 1 << GRANULE_SHIFT);

/// The mark bytes of an old space (see the module documentation).
#[derive(Debug)]
pub(super) struct MarkMap {
    region: Region,
    /// Bytes in the map.
    len: usize,
    /// The space's first address: byte `i` marks `[base + 16 i, base + 16 (i + 1))`.
    base: usize,
}

impl MarkMap {
    /// A map, all clear, for `blocks` blocks starting at `base`.
    pub(super) fn new(base: usize, blocks: usize) -> io::Result<MarkMap> {
        let len = blocks * BLOCK_MARK_BYTES;
        Ok(MarkMap {
            region: Region::reserve(len, 4096)?,
            len,
            base,
        })
    }

    /// The mark byte of `addr`; panics if `addr` is not inside the space.
    #[inline(always)]
    fn byte(&self, addr: usize) -> &AtomicU8 {
        let i = addr.wrapping_sub(self.base) >> GRANULE_SHIFT;
        assert!(i < self.len, "contgc: {addr:#x} is not in the old space");
        // The map's memory lives as long as `self`, and is only accessed through atomics
        // but by a sweeper clearing a block it owns (`clear_block`), alone.
        // SAFETY: `i` is inside the map (just checked), see above.
        unsafe { &*((self.region.start() + i) as *const AtomicU8) }
    }

    /// True if the object at `addr` is marked.
    #[inline(always)]
    pub(super) fn is_marked(&self, addr: usize) -> bool {
        self.byte(addr).load(Ordering::Relaxed) != 0
    }

    /// Starts fetching the mark byte of `addr` into the cache, if `addr` is in the
    /// space (a marker does so for the objects it will visit soon).
    #[inline(always)]
    pub(super) fn prefetch(&self, addr: usize) {
        let i = addr.wrapping_sub(self.base) >> GRANULE_SHIFT;
        if i < self.len {
            super::prefetch(self.region.start() + i);
        }
    }

    /// Marks the object at `addr` (its byte holds 1 from then on, which
    /// [`count_block`](Self::count_block) relies on). A plain store, not a
    /// read-modify-write: marking twice is harmless.
    #[inline(always)]
    pub(super) fn mark(&self, addr: usize) {
        self.byte(addr).store(1, Ordering::Relaxed);
    }

    /// Clears the mark bytes of block `b`.
    ///
    /// # Safety
    /// No other thread may access block `b`'s mark bytes meanwhile.
    pub(super) unsafe fn clear_block(&self, b: usize) {
        // SAFETY: the block's bytes are inside the map; the caller owns them.
        unsafe {
            std::ptr::write_bytes(
                (self.region.start() + b * BLOCK_MARK_BYTES) as *mut u8,
                0,
                BLOCK_MARK_BYTES,
            )
        };
    }

    /// How many objects of block `b` are marked: the number of its mark bytes that
    /// are set, counted a word at a time. Every set byte is an object's (marks are
    /// only set on objects, whose cells start on distinct granules), and a set byte
    /// holds 1, so a word's set bits are its marked bytes.
    ///
    /// # Safety
    /// No other thread may write block `b`'s mark bytes meanwhile.
    pub(super) unsafe fn count_block(&self, b: usize) -> usize {
        const WORDS: usize = BLOCK_MARK_BYTES / 8;
        let at = (self.region.start() + b * BLOCK_MARK_BYTES) as *const u64;
        // SAFETY: the block's `BLOCK_MARK_BYTES` bytes are inside the map, 8-aligned
        // (the map is page-aligned and a block's bytes a multiple of 8), and nothing
        // writes them meanwhile (the caller's promise).
        let words = unsafe { std::slice::from_raw_parts(at, WORDS) };
        words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// True if no mark byte of block `b` is set. (Byte by byte: the map's bytes are
    /// only ever accessed as bytes, so a concurrent marker races with nothing.)
    pub(super) fn block_is_clear(&self, b: usize) -> bool {
        let start = self.base + b * BLOCK_SIZE;
        (0..BLOCK_MARK_BYTES).all(|g| !self.is_marked(start + (g << GRANULE_SHIFT)))
    }
}
