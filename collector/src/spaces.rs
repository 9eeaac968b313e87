//! `Spaces`: the heap's spaces and the collector's bookkeeping about them, and the
//! small facts about them that collections, allocation and the verifier share.
//!
//! A leaf module: it depends on no other module of this crate but `stats` and `scan`.

use crate::scan::TypeSummaries;
use crate::stats::Stats;
use contgc_heap::internal::{LargeObjectSpace, Nursery, OldSpace, PromotionBuffers, BLOCK_SIZE};
use contgc_heap::size_classes::NUM_CLASSES;
use contgc_heap::MIN_OBJECT_BYTES;

/// The spaces and the collector's bookkeeping; locked by mutators for slow-path
/// allocation and by the collector for the whole of a collection.
pub(crate) struct Spaces {
    pub nursery: Nursery,
    pub old: OldSpace,
    pub los: LargeObjectSpace,
    /// Old objects that may refer to young ones (their `UNLOGGED` bit is clear).
    pub remset: Vec<usize>,
    pub stats: Stats,
    /// Old and large bytes after the last major collection.
    pub last_major_bytes: usize,
    /// Set when the old generation has grown enough to warrant a major collection.
    pub major_due: bool,
    /// The types' summaries for the minor collection's hot loops, brought up to date
    /// at each minor collection.
    pub summaries: TypeSummaries,
    /// The minor collection's promotion buffers: empty between collections (each one
    /// retires them), kept here so that a collection does not build them anew.
    pub promo: PromotionBuffers,
}

impl Spaces {
    /// Bytes of old and large objects (what the heap limit applies to).
    pub fn old_and_large(&self) -> usize {
        self.old.committed_bytes() + self.los.bytes()
    }

    /// Bytes in use in all spaces.
    pub fn in_use(&self) -> usize {
        self.nursery.used_bytes() + self.old.cell_bytes() + self.los.bytes()
    }

    /// True if the old space has room to promote every byte now in the nursery.
    pub fn minor_is_safe(&self) -> bool {
        self.old.available_bytes() >= promotion_need(self.nursery.used_bytes(), NUM_CLASSES)
    }

    /// True if `addr` lies in memory the heap manages.
    pub fn contains(&self, addr: usize) -> bool {
        owns(&self.nursery, &self.old, &self.los, addr)
    }
}

/// True if `addr` lies in the nursery region, the old space's region, or a large
/// object.
pub(crate) fn owns(nursery: &Nursery, old: &OldSpace, los: &LargeObjectSpace, addr: usize) -> bool {
    nursery.contains(addr) || old.contains(addr) || los.object_start(addr).is_some()
}

/// Old-space bytes that promoting `young` nursery bytes, of at most `classes` size
/// classes, can take: size-class padding and block-tail waste (at most 1.33x, the worst
/// case over all object sizes, e.g. 2056-byte objects in 2560-byte cells) plus one
/// partly filled block per class (and at most one class per object).
pub(crate) fn promotion_need(young: usize, classes: usize) -> usize {
    let classes = classes.min(young.div_ceil(MIN_OBJECT_BYTES));
    young + young.div_ceil(3) + classes * BLOCK_SIZE
}
