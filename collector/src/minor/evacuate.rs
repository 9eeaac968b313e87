//! The evacuator: copying a young object (once), scanning a copy or an old object,
//! and draining the work that makes, for one worker.
//!
//! Everything here is generic over `PAR`: `false` when the collecting thread works
//! alone, `true` while several workers drain at once (see `parallel`). The
//! differences are few and confined to where a copy is placed: a parallel worker
//! copies into its own allocation buffer in the to-space and its own promotion
//! buffers, and installs the forwarding header with one compare-and-swap, undoing its
//! copy if another worker's won ([`install_shared`]); alone, the forwarding header is
//! a plain store.

use super::parallel::{self, Par, SharedOld};
use super::visit::{settled_young, Visit};
use crate::byrefs::{OldLookup, Resolver};
use crate::scan::{self, ByrefSlot, ScanHow, TypeSummary};
use contgc_heap::byref::EXTERNAL;
use contgc_heap::header::{Header, MARK, UNLOGGED};
use contgc_heap::internal::{LargeObjectSpace, Nursery, OldSpace, PromotionBuffers};
use contgc_heap::size_classes::class_of;
use contgc_heap::{ObjectRef, TypeInfo};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// What evacuating and scanning an object reads and writes on every object (see the
/// `minor` module documentation).
#[derive(Clone, Copy)]
pub(super) struct Hot<'a> {
    pub sums: &'a [TypeSummary],
    pub young_start: usize,
    pub young_len: usize,
    /// The to-space is `[to_start, to_end)`.
    pub to_start: usize,
    pub to_end: usize,
    /// This worker's allocation buffer in the to-space: `[to_top, limit)` is unused.
    /// Working alone, the buffer is the rest of the to-space; in parallel, a chunk
    /// claimed from it (see `parallel`).
    pub to_top: usize,
    pub limit: usize,
    /// The next copy to scan (Cheney's queue): copies are scanned in the order they
    /// were made, up to [`scan_end`](Self::scan_end). The drain loop moves `scan` past
    /// an object before scanning it.
    pub scan: usize,
    /// In parallel: `scan` is in an earlier allocation buffer, whose copies end at
    /// `seg_end` (then the queue goes on in later buffers, see `parallel`). Working
    /// alone, always false: the queue ends at `to_top`.
    pub in_segment: bool,
    pub seg_end: usize,
    /// Set by a tracking slot visitor when a slot it updated still refers to a young
    /// object (its base, for a byref); cleared before each old object or task member.
    pub young: bool,
    /// Set while an old object (remembered, or just promoted) is scanned: its young
    /// referents are promoted at once rather than copied to the to-space, so that an
    /// old object never waits in the remembered set for a referent one collection
    /// younger (a promoted continuation and the objects its frame holds, say).
    pub from_old: bool,
}

/// How a worker reaches the old space.
pub(super) enum OldAccess<'a> {
    /// Working alone: the collection's own reference.
    Own(&'a mut OldSpace),
    /// In parallel: shared behind a lock, taken only to refill a promotion buffer (a
    /// run of cells at a time) or to resolve a byref into the old space.
    Shared {
        space: &'a (dyn SharedOld + 'a),
        /// The space's region (`OldSpace::bounds`), for `contains` without the lock.
        bounds: (usize, usize),
    },
}

impl OldAccess<'_> {
    /// Promotes through `bufs`, refilling the class's run from the space.
    #[cold]
    #[inline(never)]
    fn promote_refill(
        &mut self,
        bufs: &mut PromotionBuffers,
        class: usize,
        size: usize,
    ) -> Option<usize> {
        match self {
            OldAccess::Own(o) => o.promote_alloc(bufs, class, size),
            OldAccess::Shared { space, .. } => space.promote_alloc(bufs, class, size),
        }
    }
}

impl OldLookup for OldAccess<'_> {
    fn contains(&self, addr: usize) -> bool {
        match self {
            OldAccess::Own(o) => o.contains(addr),
            OldAccess::Shared {
                bounds: (start, len),
                ..
            } => addr.wrapping_sub(*start) < *len,
        }
    }

    fn object_start(&self, addr: usize) -> Option<usize> {
        match self {
            OldAccess::Own(o) => OldLookup::object_start(&**o, addr),
            OldAccess::Shared { space, .. } => space.object_start(addr),
        }
    }
}

/// The rest of a worker's state.
pub(super) struct Cold<'a> {
    pub types: &'a [Arc<TypeInfo>],
    pub nursery: &'a Nursery,
    pub old: OldAccess<'a>,
    pub promo: &'a mut PromotionBuffers,
    pub los: &'a LargeObjectSpace,
    pub resolver: Resolver<'a>,
    /// Promoted objects still to scan, a FIFO queue from `grey_head` on (emptied
    /// whenever it drains): breadth-first like the to-space, so that the referents
    /// prefetched when an object is promoted have arrived by the time it is scanned.
    pub grey: Vec<usize>,
    pub grey_head: usize,
    /// Objects promoted so far.
    pub promoted: usize,
    /// Weak slots of scanned objects (copies and old objects) whose referent was
    /// young, settled once the transitive copy is complete.
    pub weak: Vec<usize>,
    /// Ephemeron slots whose key is young and not known to live yet (or null, with a
    /// value), settled by the fix-point after the transitive copy.
    pub ephemerons: Vec<usize>,
    /// Time spent building the nursery index that the clock has been told of.
    pub index_seen: Duration,
    /// Working alone: whether the drain may stop to hand its work to several workers
    /// (see `parallel::worth_it`), and whether it should do so at once.
    pub may_switch: bool,
    pub eager: bool,
    /// Bytes of the to-space this worker left as fillers (retired buffers' tails).
    pub filler_bytes: usize,
    /// In parallel: the workers' shared state.
    pub par: Option<&'a Par>,
    /// In parallel: work handed to this worker by others: to-space ranges `(start,
    /// end)` of copies to scan, and promoted objects `(addr, 0)`.
    pub local: Vec<(usize, usize)>,
    /// In parallel: this worker's own earlier buffers' copies still to scan after the
    /// one being scanned (`Hot::in_segment`), oldest first, and where the queue goes on
    /// in the current allocation buffer after them.
    pub segments: std::collections::VecDeque<(usize, usize)>,
    pub next_scan: usize,
}

/// The evacuator: its hot state (a local of the drain loop while it runs) and the rest.
pub(super) struct Ev<'e, 'a, const PAR: bool> {
    pub hot: &'e mut Hot<'a>,
    pub cold: &'e mut Cold<'a>,
}

/// Copies `len` bytes (a multiple of 8, at least 8) from `src` to `dst`: up to 64
/// bytes with two fixed-size moves (overlapping unless the length is exactly twice the
/// move), more with `memcpy`.
///
/// # Safety
/// `[src, src + len)` must be readable, `[dst, dst + len)` writable, and the two
/// ranges disjoint.
#[inline(always)]
unsafe fn copy_words(src: usize, dst: usize, len: usize) {
    use std::ptr::copy_nonoverlapping as copy;
    debug_assert!(len >= 8 && len.is_multiple_of(8));
    let (s, d) = (src as *const u8, dst as *mut u8);
    // SAFETY: every move below lies inside `[src, src + len)` and `[dst, dst + len)`
    // (each move is at most `len` long and ends by `len`), which the caller
    // guarantees are valid and disjoint.
    unsafe {
        if len <= 16 {
            copy(s, d, 8);
            copy(s.add(len - 8), d.add(len - 8), 8);
        } else if len <= 32 {
            copy(s, d, 16);
            copy(s.add(len - 16), d.add(len - 16), 16);
        } else if len <= 64 {
            copy(s, d, 32);
            copy(s.add(len - 32), d.add(len - 32), 32);
        } else {
            copy(s, d, len);
        }
    }
}

/// Copies `obj` (header `h`, `size` bytes) to `dst` with header `nh`, and leaves a
/// forwarding header behind: one worker alone.
#[inline(always)]
fn install(obj: ObjectRef, h: Header, dst: usize, size: usize, nh: Header) {
    debug_assert!(!h.is_forwarded());
    // SAFETY: `dst` is a fresh old-space cell or to-space range of at least `size`
    // bytes (the callers' contract: they just allocated it), disjoint from the source,
    // which is a live object of `size` bytes; the world is stopped.
    unsafe { copy_words(obj.addr(), dst, size) };
    let new = ObjectRef::from_addr(dst).expect("non-null");
    // SAFETY: both are headers of objects we exclusively own during the collection.
    unsafe {
        new.set_header(nh);
        obj.set_header(Header::forwarding(dst));
    }
}

/// Copies `obj` (header `h`, `size` bytes) to `dst` with header `nh` and installs the
/// forwarding header with one compare-and-swap, while other workers may be copying
/// the same object: `Err` with the winner's copy if another worker forwarded it first
/// (the caller then gives `dst` back, unused).
///
/// The payload is copied before the swap, so both racers may copy it: neither writes
/// the source (only its header changes, and only by this swap), and the loser's copy
/// is simply dropped. The header word is never read or written non-atomically.
#[inline(always)]
fn install_shared(
    obj: ObjectRef,
    h: Header,
    dst: usize,
    size: usize,
    nh: Header,
) -> Result<(), usize> {
    debug_assert!(!h.is_forwarded());
    // SAFETY: as in `install` for the memory; the payload (after the header word) of
    // a young object is never written during a minor collection, so reading it while
    // another worker copies it too is a read-read overlap.
    unsafe { copy_words(obj.addr() + 8, dst + 8, size - 8) };
    let new = ObjectRef::from_addr(dst).expect("non-null");
    // Atomic, though the memory is this worker's own and unpublished until the swap:
    // a byref resolution under the old space's lock may read a cell's first word
    // whatever the cell holds.
    // SAFETY: `dst` is this worker's own fresh memory, a readable, aligned word.
    unsafe { new.header_atomic() }.store(nh.bits(), Ordering::Relaxed);
    // Release: a worker that reads the forwarding header (with acquire) and then the
    // copy sees it complete.
    // SAFETY: `obj` is a live young object; its header is only accessed atomically
    // while workers run in parallel.
    match unsafe { obj.header_atomic() }.compare_exchange(
        h.bits(),
        Header::forwarding(dst).bits(),
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => Ok(()),
        Err(now) => {
            let now = Header(now);
            debug_assert!(now.is_forwarded(), "only forwarding changes a young header");
            Err(now.forwarding_address())
        }
    }
}

/// Places the copy of `obj` that was just allocated at `dst` in the to-space (the
/// last allocation of the worker's buffer) and returns where the object now is: `dst`,
/// or the copy another worker made first (the allocation is then undone).
#[inline(always)]
fn place_copy<const PAR: bool>(
    hot: &mut Hot<'_>,
    obj: ObjectRef,
    h: Header,
    dst: usize,
    size: usize,
    nh: Header,
) -> usize {
    if PAR {
        if let Err(won) = install_shared(obj, h, dst, size, nh) {
            debug_assert_eq!(hot.to_top, dst + size);
            hot.to_top = dst;
            return won;
        }
    } else {
        install(obj, h, dst, size, nh);
    }
    dst
}

/// Places the copy of `obj` in the old-space cell `dst` of class `class`, just taken
/// from the worker's promotion buffers; `scanned`: its type has references to scan,
/// so it joins the promoted objects' queue (otherwise it is filed unlogged at once).
/// Returns where the object now is, as [`place_copy`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn place_promoted<const PAR: bool>(
    cold: &mut Cold<'_>,
    obj: ObjectRef,
    h: Header,
    dst: usize,
    size: usize,
    class: usize,
    nh: Header,
    scanned: bool,
) -> usize {
    let nh = if scanned { nh } else { nh.with(UNLOGGED) };
    if PAR {
        if let Err(won) = install_shared(obj, h, dst, size, nh) {
            cold.promo.give_back(class, dst, size);
            return won;
        }
    } else {
        install(obj, h, dst, size, nh);
    }
    cold.promoted += 1;
    if scanned {
        cold.grey.push(dst);
    }
    dst
}

/// The size of an object whose type's summary has none (a variable-size object).
#[inline(never)]
fn variable_size(types: &[Arc<TypeInfo>], h: Header) -> usize {
    scan::object_size(types, h)
}

#[cold]
#[inline(never)]
fn no_room(size: usize) -> ! {
    panic!("contgc: no room to evacuate a {size}-byte object (promotion reserve exhausted)")
}

/// Takes `size` bytes of the worker's to-space buffer, refilling it in parallel.
#[inline(always)]
fn take_to_space<const PAR: bool>(
    hot: &mut Hot<'_>,
    cold: &mut Cold<'_>,
    size: usize,
) -> Option<usize> {
    match hot.take_to_space(size) {
        Some(dst) => Some(dst),
        None if PAR => parallel::refill_buffer(hot, cold, size),
        None => None,
    }
}

/// The rest of [`Ev::evacuate`]: variable-size objects, promotion, and a full
/// allocation buffer. Out of line, with the hot state passed by value (see
/// [`scan_full`]).
#[inline(never)]
fn evacuate_slow<'a, const PAR: bool>(
    mut hot: Hot<'a>,
    cold: &mut Cold<'a>,
    obj: ObjectRef,
    h: Header,
    sum: TypeSummary,
) -> (Hot<'a>, usize) {
    let size = match sum.size {
        0 => scan::object_size(cold.types, h),
        s => s as usize,
    };
    // The age field holds at most 31, so this does not overflow.
    let age = h.age() + 1;
    let nh = h.with_age(age).without(MARK);
    if age < sum.promotion_age && !hot.from_old {
        if let Some(dst) = take_to_space::<PAR>(&mut hot, cold, size) {
            let at = place_copy::<PAR>(&mut hot, obj, h, dst, size, nh);
            return (hot, at);
        }
    }
    let class = match sum.size {
        0 => class_of(size),
        _ => sum.class as usize,
    };
    let cell = match cold.promo.take(class, size) {
        Some(dst) => Some(dst),
        None => cold.old.promote_refill(cold.promo, class, size),
    };
    let Some(dst) = cell else {
        let dst = take_to_space::<PAR>(&mut hot, cold, size).unwrap_or_else(|| no_room(size));
        let at = place_copy::<PAR>(&mut hot, obj, h, dst, size, nh);
        return (hot, at);
    };
    let scanned = sum.how != ScanHow::Skip;
    let at = place_promoted::<PAR>(cold, obj, h, dst, size, class, nh, scanned);
    (hot, at)
}

/// Entries popped from the promoted objects' queue before its scanned part is dropped.
const GREY_COMPACT: usize = 1024;

impl Cold<'_> {
    /// The next promoted object to scan, if any.
    #[inline(always)]
    pub(super) fn pop_grey(&mut self) -> Option<usize> {
        match self.grey.get(self.grey_head) {
            Some(&p) => {
                self.grey_head += 1;
                if self.grey_head >= GREY_COMPACT && 2 * self.grey_head >= self.grey.len() {
                    // Drop the part already scanned, so that the queue holds only what
                    // waits (a long list would otherwise keep every promoted object):
                    // moves at most as many entries as were popped since.
                    self.grey.drain(..self.grey_head);
                    self.grey_head = 0;
                }
                Some(p)
            }
            None => {
                self.grey.clear();
                self.grey_head = 0;
                None
            }
        }
    }
}

/// Asks the processor to fetch the object that the first reference slot of the object
/// at `src` refers to (by `mask`, its type's [`TypeSummary::ref_mask`]; nothing if it
/// has none), so that the header is in cache when the copy is scanned: breadth-first
/// order scans it later, after other work. A hint only: a prefetch never faults, so
/// any address (null, old, stale) is harmless.
#[inline(always)]
fn prefetch_first_ref(src: usize, mask: u64) {
    if mask != 0 {
        let w = mask.trailing_zeros() as usize;
        // SAFETY: `src` is a live object whose payload word `w` is a reference slot
        // (its type's mask says so): a readable, aligned word.
        let target = unsafe { ((src + 8 + 8 * w) as *const usize).read() };
        scan::prefetch(target);
    }
}

impl<'a> Hot<'a> {
    #[inline(always)]
    pub(super) fn is_young(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.young_start) < self.young_len
    }

    /// The summary of type `index` and the size of an object of that type with header
    /// `h`.
    #[inline(always)]
    pub(super) fn summary(&self, types: &[Arc<TypeInfo>], h: Header) -> (&'a TypeSummary, usize) {
        let sums = self.sums;
        let sum = &sums[h.type_index() as usize];
        let size = match sum.size {
            0 => variable_size(types, h),
            s => s as usize,
        };
        (sum, size)
    }

    /// Where the copies scanned next end: `to_top`, or the end of the earlier buffer
    /// being scanned.
    #[inline(always)]
    pub(super) fn scan_end(&self) -> usize {
        if self.in_segment {
            self.seg_end
        } else {
            self.to_top
        }
    }

    /// Takes `size` bytes of the allocation buffer, if it has them.
    #[inline(always)]
    fn take_to_space(&mut self, size: usize) -> Option<usize> {
        if size > self.limit - self.to_top {
            return None;
        }
        let dst = self.to_top;
        self.to_top += size;
        Some(dst)
    }
}

impl<'a, const PAR: bool> Ev<'_, 'a, PAR> {
    #[inline(always)]
    pub(super) fn reborrow(&mut self) -> Ev<'_, 'a, PAR> {
        Ev {
            hot: &mut *self.hot,
            cold: &mut *self.cold,
        }
    }

    /// Copies a young object (once) and returns its new address. `CHECK_TO`: `addr`
    /// may be a to-space copy already (see [`Visit`]).
    ///
    /// Inlined into every slot visit: only copying a small fixed-size object to the
    /// to-space or promoting it into a buffered cell is done here; variable-size
    /// objects and refills are out of line.
    #[inline(always)]
    pub(super) fn evacuate<const CHECK_TO: bool>(&mut self, addr: usize) -> usize {
        let hot = &mut *self.hot;
        let in_to = addr.wrapping_sub(hot.to_start) < hot.to_end - hot.to_start;
        if CHECK_TO && in_to {
            return addr;
        }
        debug_assert!(!in_to, "a copied slot refers to the to-space");
        let obj = ObjectRef::from_addr(addr).expect("young addresses are non-null");
        // SAFETY: `addr` came from a root or reference slot, which by invariant 1 holds
        // the start of a live object; the world is stopped.
        let h = unsafe { obj.header() };
        if h.is_forwarded() {
            return h.forwarding_address();
        }
        let sums = hot.sums;
        let sum = &sums[h.type_index() as usize];
        let size = sum.size as usize;
        if size == 0 {
            let (next, dst) = evacuate_slow::<PAR>(*self.hot, self.cold, obj, h, *sum);
            *self.hot = next;
            return dst;
        }
        // Promotion ages are at most 15, so the age stays below the maximum here.
        if h.age() + 1 < sum.promotion_age && !hot.from_old && size <= hot.limit - hot.to_top {
            let dst = hot.to_top;
            hot.to_top += size;
            prefetch_first_ref(addr, sum.ref_mask);
            return place_copy::<PAR>(hot, obj, h, dst, size, h.aged_once().without(MARK));
        }
        let cold = &mut *self.cold;
        let class = sum.class as usize;
        let Some(dst) = cold.promo.take(class, size) else {
            let (next, dst) = evacuate_slow::<PAR>(*self.hot, self.cold, obj, h, *sum);
            *self.hot = next;
            return dst;
        };
        let nh = h.with_age(h.age() + 1).without(MARK);
        prefetch_first_ref(addr, sum.ref_mask);
        place_promoted::<PAR>(cold, obj, h, dst, size, class, nh, sum.how != ScanHow::Skip)
    }

    /// The address now of young object `k` if it is known to live (copied already, or
    /// a to-space address), else `None`.
    #[inline(always)]
    pub(super) fn live_young_key(&self, k: usize) -> Option<usize> {
        if k == 0 || !self.hot.is_young(k) {
            return (k != 0).then_some(k);
        }
        let n = settled_young(k, self.hot.to_start, self.hot.to_end);
        (n != 0).then_some(n)
    }

    /// Resolves the byref at `slot` if needed and moves it with its base; returns true
    /// if the base is (still) young.
    #[inline(always)]
    pub(super) fn update_byref<const CHECK_TO: bool>(&mut self, slot: ByrefSlot<'_>) -> bool {
        let cold = &mut *self.cold;
        let (addr, base) = cold
            .resolver
            .settle(slot.load(), cold.nursery, &cold.old, cold.los);
        if base == 0 {
            return false;
        }
        if base == EXTERNAL {
            slot.store(addr, EXTERNAL);
            return false;
        }
        let new_base = if self.hot.is_young(base) {
            self.evacuate::<CHECK_TO>(base)
        } else {
            base
        };
        // The offset inside the base is kept (invariant 4).
        slot.store(new_base + (addr - base), new_base);
        self.hot.is_young(new_base)
    }

    /// Scans an old object (remembered, or just promoted) and files it: remembered if
    /// it still refers to young objects, otherwise unlogged.
    #[inline(always)]
    pub(super) fn settle_old<const CHECK_TO: bool>(
        &mut self,
        obj: ObjectRef,
        remset: &mut Vec<usize>,
    ) {
        // SAFETY: `obj` is a live, non-forwarded old object; the world is stopped.
        let h = unsafe { obj.header() };
        let sums = self.hot.sums;
        let sum = &sums[h.type_index() as usize];
        let types = self.cold.types;
        self.hot.young = false;
        self.hot.from_old = true;
        // SAFETY: as above; the collector owns the object while the world is stopped
        // (and, in parallel, this worker alone scans it: it holds its queue entry).
        unsafe {
            scan::scan_summarized(
                sum,
                types,
                obj,
                h,
                &mut Visit::<CHECK_TO, true, PAR>(self.reborrow()),
            )
        };
        self.hot.from_old = false;
        if self.hot.young {
            remset.push(obj.addr());
        } else {
            // Atomic: in parallel, another worker may read the header meanwhile (a
            // just promoted object is reached through its forwarding header by the
            // byref resolver and the nursery index); only this worker writes it.
            // SAFETY: a live old object; the world is stopped.
            unsafe { obj.header_atomic() }.store(h.with(UNLOGGED).bits(), Ordering::Relaxed);
        }
    }

    /// Scans the to-space copy at `at` (header `h`, of summary `sum`).
    #[inline(always)]
    pub(super) fn scan_copy(&mut self, at: usize, h: Header, sum: &TypeSummary) {
        let obj = ObjectRef::from_addr(at).expect("non-null");
        match sum.how {
            ScanHow::Skip => {}
            // SAFETY: a copied survivor, live and not forwarded, whose summary
            // says `Mask`; the world is stopped, so the collector owns it (in
            // parallel, this worker alone: it holds its queue entry).
            ScanHow::Mask => unsafe {
                scan::scan_mask(
                    sum.ref_mask,
                    obj,
                    &mut Visit::<false, false, PAR>(self.reborrow()),
                )
            },
            ScanHow::Full => *self.hot = scan_full::<PAR>(*self.hot, self.cold, obj, h),
        }
    }
}

/// How often (in objects) the drain loop stops to look around: to offer work to idle
/// workers (in parallel), or to consider going parallel (alone).
const CHECK_EVERY_PAR: usize = 16;
const CHECK_EVERY_ALONE: usize = 1024;

/// Scans copied survivors and promoted objects until no work is left (in parallel:
/// until no worker has any), or until the drain decides to continue in parallel
/// (alone, `Cold::may_switch`: returns `true`, with the work left in the queues).
/// Returns how many copies in the to-space it scanned. The hot state is copied into a
/// local for the loop (see the `minor` module documentation), which is why this is out
/// of line: inlined, the local would be the caller's, whose address has escaped.
#[inline(never)]
pub(super) fn drain<const PAR: bool>(
    ev: Ev<'_, '_, PAR>,
    remset: &mut Vec<usize>,
) -> (usize, bool) {
    let mut hot = *ev.hot;
    let out = drain_with(
        Ev::<PAR> {
            hot: &mut hot,
            cold: &mut *ev.cold,
        },
        remset,
    );
    *ev.hot = hot;
    out
}

#[inline(always)]
fn drain_with<const PAR: bool>(mut ev: Ev<'_, '_, PAR>, remset: &mut Vec<usize>) -> (usize, bool) {
    let types = ev.cold.types;
    let every = match (PAR, ev.cold.eager) {
        (true, _) => CHECK_EVERY_PAR,
        (false, true) => 1,
        (false, false) => CHECK_EVERY_ALONE,
    };
    let mut copied = 0;
    let mut until_check = every;
    loop {
        while ev.hot.scan
            < if PAR {
                ev.hot.scan_end()
            } else {
                ev.hot.to_top
            }
        {
            let at = ev.hot.scan;
            // SAFETY: the allocation buffer below its top holds copied objects back
            // to back, from `scan` on not scanned yet.
            let h = unsafe { ObjectRef::from_addr(at).expect("non-null").header() };
            let (sum, size) = ev.hot.summary(types, h);
            ev.hot.scan = at + size;
            ev.scan_copy(at, h, sum);
            copied += 1;
            until_check -= 1;
            if until_check == 0 {
                until_check = every;
                if checkpoint(&mut ev, copied) {
                    return (copied, true);
                }
            }
        }
        if PAR && ev.hot.in_segment {
            parallel::next_segment(ev.hot, ev.cold);
            continue;
        }
        match ev.cold.pop_grey() {
            Some(p) => {
                ev.settle_old::<false>(ObjectRef::from_addr(p).expect("non-null"), remset);
                until_check -= 1;
                if until_check == 0 {
                    until_check = every;
                    if checkpoint(&mut ev, copied) {
                        return (copied, true);
                    }
                }
            }
            None if PAR => {
                if !parallel::more_work(&mut ev, remset, &mut copied) {
                    break;
                }
            }
            None => break,
        }
    }
    (copied, false)
}

/// The drain loop's periodic look around, `copied` copies into the to-space scanned so
/// far: in parallel, hands work to idle workers; alone, returns true if the drain
/// should continue in parallel.
#[inline(always)]
fn checkpoint<const PAR: bool>(ev: &mut Ev<'_, '_, PAR>, copied: usize) -> bool {
    if PAR {
        parallel::offer(ev);
        false
    } else {
        ev.cold.may_switch && parallel::worth_it(ev, copied)
    }
}

/// Scans a copied survivor whose type the summary bitmap cannot describe, through
/// [`scan::scan_object`]. Out of line, with the hot state passed by value, so that the
/// drain loop keeps it in registers (see the `minor` module documentation).
#[inline(never)]
fn scan_full<'a, const PAR: bool>(
    mut hot: Hot<'a>,
    cold: &mut Cold<'a>,
    obj: ObjectRef,
    h: Header,
) -> Hot<'a> {
    let ty = &cold.types[h.type_index() as usize];
    let mut v = Visit::<false, false, PAR>(Ev {
        hot: &mut hot,
        cold,
    });
    // SAFETY: `obj` is a copied survivor with header `h`, live and not forwarded; the
    // world is stopped, so the collector owns it.
    unsafe { scan::scan_object(ty, obj, h.len(), &mut v) };
    hot
}
