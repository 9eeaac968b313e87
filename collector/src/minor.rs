//! The minor collection: evacuates the nursery's live objects.
//!
//! Survivors younger than the promotion age are copied to the to-space; older ones (or
//! all of them once the to-space is full) are promoted into old-space cells. Work is
//! kept on explicit lists, never the native stack: the to-space itself is the queue of
//! copied survivors still to scan (Cheney's algorithm), and promoted objects wait in a
//! FIFO queue.
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
//! - types are read from the dense [`TypeSummaries`](crate::scan::TypeSummaries) table (size, size class,
//!   promotion age and a bitmap of reference words in 16 bytes), never from the
//!   descriptors, except for variable-size objects and types the bitmap cannot
//!   describe;
//! - the to-space top and end live in the evacuator (a bounds check and a bump), and
//!   promotion bumps through per-collection [`PromotionBuffers`](contgc_heap::internal::PromotionBuffers), one run of cells per
//!   size class, refilled from the old space a block (or a free cell) at a time and
//!   retired to it when the collection ends;
//! - small objects are copied with a few fixed-size moves, not a `memcpy` call;
//! - the drain loop reads each header once, and its slot visitor neither tracks
//!   whether referents stay young (only old objects need that) nor checks for to-space
//!   addresses (only root slots can hold one: an embedder may report a slot twice);
//! - the state every object touches (`evacuate::Hot`) is a local of the drain loop,
//!   so that it lives in registers: slots are written through raw pointers, which the
//!   compiler must assume may alias any memory whose address has escaped, as the
//!   evacuator's has (to the root scan and the task registry).
//!
//! # Several workers
//! A collection with much to copy finishes its transitive copy with all the heap's
//! GC workers (`parallel`: when and how). Roots, task groups and the remembered set
//! are always visited by the collecting thread.

mod evacuate;
mod parallel;
mod visit;

use crate::byrefs::{Resolver, SharedIndex};
use crate::gc_threads::GcThreads;
use crate::scan::{self, ByrefSlot, EphemeronSlot, RefSlot, RootScan, SlotVisitor};
use crate::spaces::Spaces;
use crate::stats::PhaseClock;
use contgc_heap::{ObjectRef, TypeInfo};
use contgc_roots::internal::{MemberVisitor, TaskRegistry, WeakTable};
use evacuate::{drain, Cold, Ev, Hot, OldAccess};
use std::sync::Arc;
use std::time::Duration;
use visit::{settled_young, Visit};

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
    /// GC workers the transitive copy ran on (1: the collecting thread alone).
    pub workers: usize,
}

/// The GC workers a minor collection may use (see `parallel`).
pub(crate) struct MinorWorkers<'a> {
    pub threads: &'a GcThreads,
    /// At most this many (1: alone).
    pub workers: usize,
    /// Go parallel as soon as any work waits (`parallel_threshold(0)`), not only once
    /// much does.
    pub eager: bool,
}

/// The minor collection's ephemeron fix-point, after the transitive copy: a recorded
/// pair whose key has been copied since gets its key updated and its value evacuated,
/// and the copy continues from there, until a round resolves nothing; the pairs left
/// have a dead key (or none) and are cleared. Returns the survivors the rounds copied
/// and the pairs cleared.
fn ephemeron_fixpoint(mut ev: Ev<'_, '_, false>, remset: &mut Vec<usize>) -> (usize, usize) {
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
                    Visit::<true, false, false>(ev.reborrow()).visit_ref(slot.value());
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
        copied += drain(ev.reborrow(), remset).0;
    }
    let dead = std::mem::take(&mut ev.cold.ephemerons);
    for &a in &dead {
        // SAFETY: as above.
        unsafe { EphemeronSlot::from_addr(a) }.clear();
    }
    (copied, dead.len())
}

/// Runs a minor collection. `roots` must hand every root slot to the visitor it is
/// given; the spaces' remembered set is replaced by the new one. `clock` times the
/// phases (see [`PhaseClock`]).
///
/// The world must be stopped, every allocation buffer retired, and the old space must
/// have room for every nursery byte (the caller checks), and, if `workers` allows more
/// than one, room for that with one partly used block per size class and worker.
pub(crate) fn collect(
    types: &[Arc<TypeInfo>],
    spaces: &mut Spaces,
    roots: &mut RootScan<'_>,
    tasks: &TaskRegistry,
    weak_handles: &WeakTable,
    workers: MinorWorkers<'_>,
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
        to_end,
        to_top: to_start,
        limit: to_end,
        scan: to_start,
        in_segment: false,
        seg_end: 0,
        young: false,
        from_old: false,
    };
    let mut cold = Cold {
        types,
        nursery,
        old: OldAccess::Own(old),
        promo,
        los,
        resolver: Resolver::new(types, &index),
        grey: Vec::new(),
        grey_head: 0,
        promoted: 0,
        weak: Vec::new(),
        ephemerons: Vec::new(),
        index_seen: Duration::ZERO,
        may_switch: workers.workers > 1,
        eager: workers.eager,
        filler_bytes: 0,
        par: None,
        local: Vec::new(),
        segments: std::collections::VecDeque::new(),
        next_scan: 0,
    };
    let mut ev = Ev {
        hot: &mut hot,
        cold: &mut cold,
    };
    let mut slots = 0;
    roots(&mut |slot: &mut usize| {
        slots += 1;
        Visit::<true, false, false>(ev.reborrow()).visit_ref(RefSlot::from_mut(slot));
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
    out.workers = 1;
    let mut helper_promoted_bytes = 0;
    let mut objects = 0;
    if ev.hot.to_top != ev.hot.to_start || !ev.cold.grey.is_empty() {
        let (copied, switch) = drain(ev.reborrow(), remset);
        objects += copied;
        if switch {
            let p = parallel::drain_in_parallel(
                ev.reborrow(),
                remset,
                &index,
                workers.threads,
                workers.workers,
            );
            objects += p.copied;
            helper_promoted_bytes = p.helper_promoted_bytes;
            out.workers = p.workers;
        }
    }
    ev.cold.may_switch = false;
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

    out.promoted_bytes = cold.promo.bytes() + helper_promoted_bytes;
    out.survivors = cold.promoted + objects;
    out.survivor_bytes = hot.to_top - hot.to_start - cold.filler_bytes + out.promoted_bytes;
    out.byrefs_resolved = cold.resolver.resolved;
    out.byref_index = cold.resolver.index_time;
    let (to_top, fillers) = (hot.to_top, cold.filler_bytes);
    drop(cold);
    old.retire_promotion_buffers(promo);
    nursery.set_to_top(to_top, fillers);
    nursery.flip();
    out
}

impl Ev<'_, '_, false> {
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

/// True if `addr` (not 0) lies in the nursery `[start, start + len)`.
#[inline]
fn hot_young(start: usize, len: usize, addr: usize) -> bool {
    addr != 0 && addr.wrapping_sub(start) < len
}

/// The task registry's visitor: counts the members it is handed.
struct Members<'e, 'a> {
    ev: Ev<'e, 'a, false>,
    n: usize,
}

impl MemberVisitor for Members<'_, '_> {
    fn reference(&mut self, slot: &mut usize) -> bool {
        self.n += 1;
        self.ev.hot.young = false;
        Visit::<true, true, false>(self.ev.reborrow()).visit_ref(RefSlot::from_mut(slot));
        self.ev.hot.young
    }

    fn byref(&mut self, slot: &mut [usize; 2]) -> bool {
        self.n += 1;
        self.ev.hot.young = false;
        Visit::<true, true, false>(self.ev.reborrow()).visit_byref(ByrefSlot::from_mut(slot));
        self.ev.hot.young
    }
}
