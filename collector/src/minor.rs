//! The minor collection: evacuates the nursery's live objects.
//!
//! Survivors younger than the promotion age are copied to the to-space; older ones (or
//! all of them once the to-space is full) are promoted into old-space cells. Work is
//! kept on explicit lists, never the native stack: the to-space itself is the queue of
//! copied survivors still to scan (Cheney's algorithm), and promoted objects wait in a
//! FIFO queue in the collection's scratch arena.
//!
//! The cost is O(roots + young suspended-task groups + remembered objects +
//! survivors): the old generation is never walked, nor are suspended tasks that refer
//! only to old objects (see `contgc_roots::task_groups`). Old objects that still refer to young ones afterwards (remembered objects
//! whose referents stayed in the to-space, and promoted objects in the same position)
//! form the new remembered set; every other scanned old object gets its `UNLOGGED` bit
//! back, so the write barrier logs it again the next time it is written.
//!
//! # The per-object path
//! Copying a survivor is meant to cost little more than the copy itself:
//! - types are read from the dense [`TypeSummaries`] table (size, size class,
//!   promotion age and a bitmap of reference words in 16 bytes), never from the
//!   descriptors, except for variable-size objects and types the bitmap cannot
//!   describe;
//! - the to-space top and end live in the evacuator (a bounds check and a bump), and
//!   promotion bumps through per-collection [`PromotionBuffers`], one run of cells per
//!   size class, refilled from the old space a block (or a free cell) at a time and
//!   retired to it when the collection ends;
//! - small objects are copied with a few fixed-size moves, not a `memcpy` call;
//! - the drain loop reads each header once, and its slot visitor neither tracks
//!   whether referents stay young (only old objects need that) nor checks for to-space
//!   addresses (only root slots can hold one: an embedder may report a slot twice);
//! - the state every object touches ([`Hot`]) is a local of the drain loop, so that it
//!   lives in registers: slots are written through raw pointers, which the compiler
//!   must assume may alias any memory whose address has escaped, as the evacuator's
//!   has (to the root scan and the task registry).

use crate::byrefs::{Resolver, SharedIndex};
use crate::scan::{
    self, ByrefSlot, EphemeronSlot, RefSlot, RootScan, ScanHow, SlotVisitor, TypeSummary, WeakSlot,
};
use crate::spaces::Spaces;
use crate::stats::PhaseClock;
use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;
use contgc_heap::byref::EXTERNAL;
use contgc_heap::header::{Header, MARK, UNLOGGED};
use contgc_heap::internal::{LargeObjectSpace, Nursery, OldSpace, PromotionBuffers};
use contgc_heap::size_classes::class_of;
use contgc_heap::{ObjectRef, TypeInfo};
use contgc_roots::internal::{MemberVisitor, TaskRegistry, WeakTable};
use std::sync::Arc;
use std::time::Duration;

/// What a minor collection did, and where its time went.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MinorOutcome {
    pub promoted_bytes: usize,
    pub survivors: usize,
    pub survivor_bytes: usize,
    pub byrefs_resolved: usize,
    /// Evacuating the root slots' referents.
    pub roots: Duration,
    /// Visiting the young suspended-task groups.
    pub task_groups: Duration,
    /// Scanning the remembered set.
    pub remembered: Duration,
    /// The transitive copy (draining the to-space and the promoted objects' queue).
    pub copy: Duration,
    /// Building the nursery index for byref resolution (taken out of the part it fell in).
    pub byref_index: Duration,
    /// Weak slots cleared because their young referent died.
    pub weak_cleared: usize,
    /// Ephemerons cleared because their young key died.
    pub ephemerons_cleared: usize,
}

/// The minor collection's ephemeron fix-point, after the transitive copy: a recorded
/// pair whose key has been copied since gets its key updated and its value evacuated,
/// and the copy continues from there, until a round resolves nothing; the pairs left
/// have a dead key (or none) and are cleared. Returns the survivors the rounds copied
/// and the pairs cleared.
fn ephemeron_fixpoint(mut ev: Ev<'_, '_>, remset: &mut Vec<usize>) -> (usize, usize) {
    let mut copied = 0;
    loop {
        let mut pending = std::mem::take(&mut ev.cold.ephemerons);
        let before = pending.len();
        pending.retain(|&a| {
            // SAFETY: recorded from an ephemeron slot of an object this collection
            // scanned (a copy, a promoted object or a remembered old one): live and
            // not moved since; the world is stopped.
            let slot = unsafe { EphemeronSlot::from_addr(a) };
            match ev.live_young_key(slot.key().load()) {
                Some(k) => {
                    slot.key().store(k);
                    Visit::<true, false>(ev.reborrow()).visit_ref(slot.value());
                    false
                }
                None => true,
            }
        });
        let resolved = pending.len() < before;
        // Pairs recorded by the drain below join the next round.
        let found = std::mem::replace(&mut ev.cold.ephemerons, pending);
        if !resolved && found.is_empty() {
            break;
        }
        ev.cold.ephemerons.extend(found);
        copied += drain(ev.reborrow(), remset);
    }
    let dead = std::mem::take(&mut ev.cold.ephemerons);
    for &a in &dead {
        // SAFETY: as above.
        unsafe { EphemeronSlot::from_addr(a) }.clear();
    }
    (copied, dead.len())
}

/// What evacuating and scanning an object reads and writes on every object (see the
/// module documentation).
#[derive(Clone, Copy)]
struct Hot<'a> {
    sums: &'a [TypeSummary],
    young_start: usize,
    young_len: usize,
    /// The to-space: `[to_start, to_top)` holds the survivors copied so far.
    to_start: usize,
    to_top: usize,
    to_end: usize,
    /// Set by a tracking slot visitor when a slot it updated still refers to a young
    /// object (its base, for a byref); cleared before each old object or task member.
    young: bool,
    /// Set while an old object (remembered, or just promoted) is scanned: its young
    /// referents are promoted at once rather than copied to the to-space, so that an
    /// old object never waits in the remembered set for a referent one collection
    /// younger (a promoted continuation and the objects its frame holds, say).
    from_old: bool,
}

/// The rest of the evacuator's state.
struct Cold<'a> {
    types: &'a [Arc<TypeInfo>],
    nursery: &'a Nursery,
    old: &'a mut OldSpace,
    promo: &'a mut PromotionBuffers,
    los: &'a LargeObjectSpace,
    resolver: Resolver<'a>,
    /// Promoted objects still to scan, a FIFO queue from `grey_head` on (emptied
    /// whenever it drains): breadth-first like the to-space, so that the referents
    /// prefetched when an object is promoted have arrived by the time it is scanned.
    grey: BumpVec<'a, usize>,
    grey_head: usize,
    /// Objects promoted so far.
    promoted: usize,
    /// Weak slots of scanned objects (copies and old objects) whose referent was
    /// young, settled once the transitive copy is complete.
    weak: BumpVec<'a, usize>,
    /// Ephemeron slots whose key is young and not known to live yet (or null, with a
    /// value), settled by the fix-point after the transitive copy.
    ephemerons: Vec<usize>,
    /// Where the drain loop's scan of the to-space has reached (it resumes there when
    /// ephemerons bring more survivors).
    scan: usize,
    /// Time spent building the nursery index that the clock has been told of.
    index_seen: Duration,
}

/// Runs a minor collection. `roots` must hand every root slot to the visitor it is
/// given; the spaces' remembered set is replaced by the new one. `clock` times the
/// phases (see [`PhaseClock`]).
///
/// The world must be stopped, every allocation buffer retired, and the old space must
/// have room for every nursery byte (the caller checks).
pub(crate) fn collect(
    types: &[Arc<TypeInfo>],
    spaces: &mut Spaces,
    roots: &mut RootScan<'_>,
    tasks: &TaskRegistry,
    weak_handles: &WeakTable,
    scratch: &Bump,
    clock: &mut PhaseClock,
) -> MinorOutcome {
    let Spaces {
        nursery,
        old,
        los,
        remset,
        summaries,
        promo,
        ..
    } = spaces;
    debug_assert!(promo.is_empty(), "the last collection retired its buffers");
    summaries.update(types);
    nursery.begin_evacuation();
    let (young_start, young_len) = nursery.bounds();
    let (to_start, to_end) = nursery.to_space();
    let mut out = MinorOutcome::default();
    let index = SharedIndex::new();
    let mut hot = Hot {
        sums: summaries.as_slice(),
        young_start,
        young_len,
        to_start,
        to_top: to_start,
        to_end,
        young: false,
        from_old: false,
    };
    let mut cold = Cold {
        types,
        nursery,
        old,
        promo,
        los,
        resolver: Resolver::new(types, &index),
        grey: BumpVec::new_in(scratch),
        grey_head: 0,
        promoted: 0,
        weak: BumpVec::new_in(scratch),
        ephemerons: Vec::new(),
        scan: to_start,
        index_seen: Duration::ZERO,
    };
    let mut ev = Ev {
        hot: &mut hot,
        cold: &mut cold,
    };
    let mut slots = 0;
    roots(&mut |slot: &mut usize| {
        slots += 1;
        Visit::<true, false>(ev.reborrow()).visit_ref(RefSlot::from_mut(slot));
    });
    out.roots = ev.lap(clock, slots);
    let mut members = Members {
        ev: ev.reborrow(),
        n: 0,
    };
    // SAFETY: the world is stopped; the evacuator leaves every slot valid.
    unsafe { tasks.visit(true, &mut members) };
    let n = members.n;
    out.task_groups = ev.lap(clock, n);
    let remembered = std::mem::take(remset);
    for &addr in &remembered {
        let obj = ObjectRef::from_addr(addr).expect("remembered objects are non-null");
        ev.settle_old::<true>(obj, remset);
    }
    out.remembered = ev.lap(clock, remembered.len());
    let mut objects = if ev.hot.to_top != ev.hot.to_start || !ev.cold.grey.is_empty() {
        drain(ev.reborrow(), remset)
    } else {
        0
    };
    if !ev.cold.ephemerons.is_empty() {
        let (more, cleared) = ephemeron_fixpoint(ev.reborrow(), remset);
        objects += more;
        out.ephemerons_cleared = cleared;
    }
    // Timed if it copied anything much.
    out.copy = ev.lap(clock, objects + ev.cold.promoted);
    out.weak_cleared = settle_weak_slots(&ev.cold.weak, (young_start, young_len), to_start, to_end);
    out.weak_cleared += weak_handles.settle_young(|v| {
        // A slot reused or set for an old object may still be on the young list.
        if !hot_young(young_start, young_len, v) {
            return (v, false);
        }
        let n = settled_young(v, to_start, to_end);
        (n, hot_young(young_start, young_len, n))
    });

    out.promoted_bytes = cold.promo.bytes();
    out.survivors = cold.promoted + objects;
    out.survivor_bytes = hot.to_top - hot.to_start + out.promoted_bytes;
    out.byrefs_resolved = cold.resolver.resolved;
    out.byref_index = cold.resolver.index_time;
    let to_top = hot.to_top;
    drop(cold);
    old.retire_promotion_buffers(promo);
    nursery.set_to_top(to_top);
    nursery.flip();
    out
}

/// The evacuator: its hot state (a local of the drain loop while it runs) and the rest.
struct Ev<'e, 'a> {
    hot: &'e mut Hot<'a>,
    cold: &'e mut Cold<'a>,
}

/// A slot visitor over the evacuator. `CHECK_TO`: the slot may already hold a
/// to-space address (root slots, which an embedder may report twice; task members and
/// remembered objects, to be safe); the drain loop's slots never do, since they were
/// copied from nursery objects, which never refer to the to-space (it held no live
/// object before this collection). `TRACK`: record in `young` whether the referent
/// stays young (for old objects and task members, whose filing depends on it).
struct Visit<'e, 'a, const CHECK_TO: bool, const TRACK: bool>(Ev<'e, 'a>);

impl<const CHECK_TO: bool, const TRACK: bool> SlotVisitor for Visit<'_, '_, CHECK_TO, TRACK> {
    /// Evacuates a young referent and updates the slot.
    #[inline(always)]
    fn visit_ref(&mut self, slot: RefSlot<'_>) {
        let ev = &mut self.0;
        let v = slot.load();
        if ev.hot.is_young(v) {
            let n = ev.evacuate::<CHECK_TO>(v);
            slot.store(n);
            if TRACK {
                ev.hot.young |= ev.hot.is_young(n);
            }
        }
    }

    /// Resolves the byref if needed and moves it with its base.
    #[inline(always)]
    fn visit_byref(&mut self, slot: ByrefSlot<'_>) {
        let young = self.0.update_byref::<CHECK_TO>(slot);
        if TRACK {
            self.0.hot.young |= young;
        }
    }

    /// The value is traced once the key is known to live: an old key (minor
    /// collections free no old object) or a young one already copied. Otherwise the
    /// pair waits for the fix-point (`ephemeron_fixpoint`); an old object holding one
    /// stays remembered.
    #[inline(always)]
    fn visit_ephemeron(&mut self, slot: EphemeronSlot<'_>) {
        let k = slot.key().load();
        let live = if k == 0 {
            None
        } else if !self.0.hot.is_young(k) {
            Some(k)
        } else {
            self.0.live_young_key(k)
        };
        match live {
            Some(k) => {
                if k != slot.key().load() {
                    slot.key().store(k);
                }
                if TRACK {
                    self.0.hot.young |= self.0.hot.is_young(k);
                }
                self.visit_ref(slot.value());
            }
            None if k == 0 && slot.value().load() == 0 => {}
            None => {
                self.0.cold.ephemerons.push(slot.addr());
                if TRACK {
                    self.0.hot.young = true;
                }
            }
        }
    }

    /// Not traced: a young referent is recorded and settled after the copy (moved if
    /// it survived, null if not). An old object holding one stays remembered, since
    /// its referent may stay young.
    #[inline(always)]
    fn visit_weak(&mut self, slot: WeakSlot<'_>) {
        if self.0.hot.is_young(slot.load()) {
            self.0.cold.weak.push(slot.addr());
            if TRACK {
                self.0.hot.young = true;
            }
        }
    }
}

/// Settles the weak slots a minor collection recorded, once every survivor is copied:
/// a referent that was copied (its header forwards) becomes its copy, a to-space
/// address stays, and any other young referent died: the slot becomes null. Returns
/// how many were cleared.
fn settle_weak_slots(
    slots: &[usize],
    (young_start, young_len): (usize, usize),
    to_start: usize,
    to_end: usize,
) -> usize {
    let mut cleared = 0;
    for &a in slots {
        // `a` is a weak slot of an object this collection scanned (a copy, a
        // promoted or a remembered old object): live and not moved since.
        // SAFETY: as just said; its referent's header (or forwarding header) is still
        // in the nursery, which is not reused before the collection ends.
        unsafe {
            scan::settle_weak(a, |v| {
                // Settled already (a slot recorded twice): leave it.
                if !hot_young(young_start, young_len, v) {
                    return v;
                }
                let n = settled_young(v, to_start, to_end);
                cleared += usize::from(n == 0);
                n
            })
        };
    }
    cleared
}

/// Where the young object `v` (held weakly: by a weak slot or handle, or as an
/// ephemeron key) is now: its copy if it has been copied, itself if it is a to-space
/// address already, else 0 (not copied: dead once the copy is complete). Run before
/// the nursery flips, while forwarding headers are intact.
#[inline]
fn settled_young(v: usize, to_start: usize, to_end: usize) -> usize {
    if v.wrapping_sub(to_start) < to_end - to_start {
        return v;
    }
    // SAFETY: `v` is a young object's address held weakly since before this
    // collection: its header, or the forwarding header left in its place, is still
    // there (the from-space and eden are not reused before the flip).
    let h = unsafe { ObjectRef::from_addr(v).expect("non-null").header() };
    if h.is_forwarded() {
        h.forwarding_address()
    } else {
        0
    }
}

/// True if `addr` (not 0) lies in the nursery `[start, start + len)`.
#[inline]
fn hot_young(start: usize, len: usize, addr: usize) -> bool {
    addr != 0 && addr.wrapping_sub(start) < len
}

/// The task registry's visitor: counts the members it is handed.
struct Members<'e, 'a> {
    ev: Ev<'e, 'a>,
    n: usize,
}

impl MemberVisitor for Members<'_, '_> {
    fn reference(&mut self, slot: &mut usize) -> bool {
        self.n += 1;
        self.ev.hot.young = false;
        Visit::<true, true>(self.ev.reborrow()).visit_ref(RefSlot::from_mut(slot));
        self.ev.hot.young
    }

    fn byref(&mut self, slot: &mut [usize; 2]) -> bool {
        self.n += 1;
        self.ev.hot.young = false;
        Visit::<true, true>(self.ev.reborrow()).visit_byref(ByrefSlot::from_mut(slot));
        self.ev.hot.young
    }
}

/// Copies an object of `size` bytes (a multiple of 8, at least 16) from `src` to
/// `dst`: objects up to 64 bytes with two fixed-size moves each (overlapping unless
/// the size is exactly twice the move), larger ones with `memcpy`.
///
/// # Safety
/// `[src, src + size)` must be readable, `[dst, dst + size)` writable, and the two
/// ranges disjoint.
#[inline(always)]
unsafe fn copy_object(src: usize, dst: usize, size: usize) {
    use std::ptr::copy_nonoverlapping as copy;
    debug_assert!(size >= 16 && size.is_multiple_of(8));
    let (s, d) = (src as *const u8, dst as *mut u8);
    // SAFETY: every move below lies inside `[src, src + size)` and `[dst, dst + size)`
    // (16 <= size), which the caller guarantees are valid and disjoint.
    unsafe {
        if size <= 32 {
            copy(s, d, 16);
            copy(s.add(size - 16), d.add(size - 16), 16);
        } else if size <= 64 {
            copy(s, d, 32);
            copy(s.add(size - 32), d.add(size - 32), 32);
        } else {
            copy(s, d, size);
        }
    }
}

/// Copies `obj` (header `h`, `size` bytes) to `dst` with header `nh`, and leaves a
/// forwarding header behind.
#[inline(always)]
fn install(obj: ObjectRef, h: Header, dst: usize, size: usize, nh: Header) {
    debug_assert!(!h.is_forwarded());
    // SAFETY: `dst` is a fresh old-space cell or to-space range of at least `size`
    // bytes (the callers' contract: they just allocated it), disjoint from the source,
    // which is a live object of `size` bytes; the world is stopped.
    unsafe { copy_object(obj.addr(), dst, size) };
    let new = ObjectRef::from_addr(dst).expect("non-null");
    // SAFETY: both are headers of objects we exclusively own during the collection.
    unsafe {
        new.set_header(nh);
        obj.set_header(Header::forwarding(dst));
    }
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

/// The rest of [`Ev::evacuate`]: variable-size objects, promotion, and a full
/// to-space. Out of line, with the hot state passed by value (see [`scan_full`]).
#[inline(never)]
fn evacuate_slow<'a>(
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
        if let Some(dst) = hot.take_to_space(size) {
            install(obj, h, dst, size, nh);
            return (hot, dst);
        }
    }
    let class = match sum.size {
        0 => class_of(size),
        _ => sum.class as usize,
    };
    let Some(dst) = cold.old.promote_alloc(cold.promo, class, size) else {
        let dst = hot.take_to_space(size).unwrap_or_else(|| no_room(size));
        install(obj, h, dst, size, nh);
        return (hot, dst);
    };
    cold.promoted += 1;
    if sum.how != ScanHow::Skip {
        cold.grey.push(dst);
        install(obj, h, dst, size, nh);
    } else {
        install(obj, h, dst, size, nh.with(UNLOGGED));
    }
    (hot, dst)
}

/// Entries popped from the promoted objects' queue before its scanned part is dropped.
const GREY_COMPACT: usize = 1024;

impl Cold<'_> {
    /// The next promoted object to scan, if any.
    #[inline(always)]
    fn pop_grey(&mut self) -> Option<usize> {
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
    fn is_young(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.young_start) < self.young_len
    }

    /// The summary of type `index` and the size of an object of that type with header
    /// `h`.
    #[inline(always)]
    fn summary(&self, types: &[Arc<TypeInfo>], h: Header) -> (&'a TypeSummary, usize) {
        let sums = self.sums;
        let sum = &sums[h.type_index() as usize];
        let size = match sum.size {
            0 => variable_size(types, h),
            s => s as usize,
        };
        (sum, size)
    }

    /// Takes `size` bytes of the to-space, if it has them.
    #[inline(always)]
    fn take_to_space(&mut self, size: usize) -> Option<usize> {
        if size > self.to_end - self.to_top {
            return None;
        }
        let dst = self.to_top;
        self.to_top += size;
        Some(dst)
    }
}

impl<'a> Ev<'_, 'a> {
    #[inline(always)]
    fn reborrow(&mut self) -> Ev<'_, 'a> {
        Ev {
            hot: &mut *self.hot,
            cold: &mut *self.cold,
        }
    }

    /// Ends a phase that handled `work` items (see [`PhaseClock::lap`]), with the time
    /// spent building the nursery index taken out.
    #[inline(always)]
    fn lap(&mut self, clock: &mut PhaseClock, work: usize) -> Duration {
        let total = self.cold.resolver.index_time;
        if total != self.cold.index_seen {
            clock.exclude(total - self.cold.index_seen);
            self.cold.index_seen = total;
        }
        clock.lap(work)
    }

    /// Copies a young object (once) and returns its new address. `CHECK_TO`: `addr`
    /// may be a to-space copy already (see [`Visit`]).
    ///
    /// Inlined into every slot visit: only copying a small fixed-size object to the
    /// to-space is done here; variable-size objects and promotion are out of line.
    #[inline(always)]
    fn evacuate<const CHECK_TO: bool>(&mut self, addr: usize) -> usize {
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
            let (next, dst) = evacuate_slow(*self.hot, self.cold, obj, h, *sum);
            *self.hot = next;
            return dst;
        }
        // Promotion ages are at most 15, so the age stays below the maximum here.
        if h.age() + 1 < sum.promotion_age && !hot.from_old && size <= hot.to_end - hot.to_top {
            let dst = hot.to_top;
            hot.to_top += size;
            prefetch_first_ref(addr, sum.ref_mask);
            install(obj, h, dst, size, h.aged_once().without(MARK));
            return dst;
        }
        let cold = &mut *self.cold;
        let Some(dst) = cold.old.promote_alloc(cold.promo, sum.class as usize, size) else {
            let (next, dst) = evacuate_slow(*self.hot, self.cold, obj, h, *sum);
            *self.hot = next;
            return dst;
        };
        cold.promoted += 1;
        let nh = h.with_age(h.age() + 1).without(MARK);
        prefetch_first_ref(addr, sum.ref_mask);
        if sum.how != ScanHow::Skip {
            cold.grey.push(dst);
            install(obj, h, dst, size, nh);
        } else {
            install(obj, h, dst, size, nh.with(UNLOGGED));
        }
        dst
    }

    /// The address now of young object `k` if it is known to live (copied already, or
    /// a to-space address), else `None`.
    #[inline(always)]
    fn live_young_key(&self, k: usize) -> Option<usize> {
        if k == 0 || !self.hot.is_young(k) {
            return (k != 0).then_some(k);
        }
        let n = settled_young(k, self.hot.to_start, self.hot.to_end);
        (n != 0).then_some(n)
    }

    /// Resolves the byref at `slot` if needed and moves it with its base; returns true
    /// if the base is (still) young.
    #[inline(always)]
    fn update_byref<const CHECK_TO: bool>(&mut self, slot: ByrefSlot<'_>) -> bool {
        let cold = &mut *self.cold;
        let (addr, base) = cold
            .resolver
            .settle(slot.load(), cold.nursery, cold.old, cold.los);
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
    fn settle_old<const CHECK_TO: bool>(&mut self, obj: ObjectRef, remset: &mut Vec<usize>) {
        // SAFETY: `obj` is a live, non-forwarded old object; the world is stopped.
        let h = unsafe { obj.header() };
        let sums = self.hot.sums;
        let sum = &sums[h.type_index() as usize];
        let types = self.cold.types;
        self.hot.young = false;
        self.hot.from_old = true;
        // SAFETY: as above; the collector owns the object while the world is stopped.
        unsafe {
            scan::scan_summarized(
                sum,
                types,
                obj,
                h,
                &mut Visit::<CHECK_TO, true>(self.reborrow()),
            )
        };
        self.hot.from_old = false;
        if self.hot.young {
            remset.push(obj.addr());
        } else {
            // SAFETY: a live old object; the world is stopped.
            unsafe { obj.set_header(h.with(UNLOGGED)) };
        }
    }
}

/// Scans copied survivors and promoted objects until no work is left; returns how
/// many objects it scanned in the to-space (every survivor copied there). The hot
/// state is copied into a local for the loop (see the module documentation), which is
/// why this is out of line: inlined, the local would be the caller's, whose address
/// has escaped.
#[inline(never)]
fn drain(ev: Ev<'_, '_>, remset: &mut Vec<usize>) -> usize {
    let mut hot = *ev.hot;
    let copied = drain_with(
        Ev {
            hot: &mut hot,
            cold: &mut *ev.cold,
        },
        remset,
    );
    *ev.hot = hot;
    copied
}

#[inline(always)]
fn drain_with(mut ev: Ev<'_, '_>, remset: &mut Vec<usize>) -> usize {
    let types = ev.cold.types;
    let mut scan = ev.cold.scan;
    let mut copied = 0;
    loop {
        while scan < ev.hot.to_top {
            let obj = ObjectRef::from_addr(scan).expect("non-null");
            // SAFETY: the to-space below its top holds copied objects back to back.
            let h = unsafe { obj.header() };
            let (sum, size) = ev.hot.summary(types, h);
            match sum.how {
                ScanHow::Skip => {}
                // SAFETY: a copied survivor, live and not forwarded, whose summary
                // says `Mask`; the world is stopped, so the collector owns it.
                ScanHow::Mask => unsafe {
                    scan::scan_mask(sum.ref_mask, obj, &mut Visit::<false, false>(ev.reborrow()))
                },
                ScanHow::Full => *ev.hot = scan_full(*ev.hot, ev.cold, obj, h),
            }
            scan += size;
            copied += 1;
        }
        match ev.cold.pop_grey() {
            Some(p) => ev.settle_old::<false>(ObjectRef::from_addr(p).expect("non-null"), remset),
            None => break,
        }
    }
    ev.cold.scan = scan;
    copied
}

/// Scans a copied survivor whose type the summary bitmap cannot describe, through
/// [`scan::scan_object`]. Out of line, with the hot state passed by value, so that the
/// drain loop keeps it in registers (see the module documentation).
#[inline(never)]
fn scan_full<'a>(mut hot: Hot<'a>, cold: &mut Cold<'a>, obj: ObjectRef, h: Header) -> Hot<'a> {
    let ty = &cold.types[h.type_index() as usize];
    let mut v = Visit::<false, false>(Ev {
        hot: &mut hot,
        cold,
    });
    // SAFETY: `obj` is a copied survivor with header `h`, live and not forwarded; the
    // world is stopped, so the collector owns it.
    unsafe { scan::scan_object(ty, obj, h.len(), &mut v) };
    hot
}
