//! A minor collection's transitive copy with several GC workers.
//!
//! # When
//! A minor collection starts alone: roots, young task groups and the remembered set
//! are visited by the collecting thread, and so is the start of the copy. The drain
//! loop looks at its queues every 1,024 objects, and stops to let the rest of the copy
//! run in parallel ([`drain_in_parallel`]) if the heap has more than one
//! [`gc_workers`](crate::ConfigBuilder::gc_workers) and
//! - the work waiting there (copies not yet scanned, promoted objects counted 16
//!   bytes each) is 4 KiB or more: there is work to share; and
//! - the survivors so far were promoted at least as often as copied to the to-space.
//!
//! The second rule comes from measurement (docs/BENCHMARKS.md, survivors): a copy
//! into the to-space costs 4-5 ns an object alone, and the compare-and-swap each
//! parallel copy needs costs as much again, so two workers copy young survivors no
//! faster than one; promotion, which writes scattered old-space cells and waits on
//! memory, is 8-13 ns an object alone and gains from a second worker (1.05-1.5x). A
//! collection that copies little, or whose survivors form one chain, never wakes a
//! helper. (`parallel_threshold(0)` makes the switch happen as soon as any work
//! waits, whatever the mix, so that tests exercise it on small heaps.)
//!
//! # How
//! - **Forwarding**: a worker copies the object into its own memory, then installs
//!   the forwarding header with one compare-and-swap; a worker that loses the race
//!   gives its copy back and uses the winner's (`evacuate::install_shared`). Only
//!   the header word is contended, and it is only accessed atomically.
//! - **To-space**: each worker copies into its own allocation buffer, a 32 KiB chunk
//!   claimed from the to-space with one atomic; its unused tail becomes a filler
//!   object when the buffer is retired, so the survivor space stays walkable. Each
//!   buffer is its worker's Cheney queue.
//! - **Promotion**: each worker has its own promotion buffers (a run of cells per size
//!   class); refilling one takes the old space's lock, once per run, and so does
//!   resolving a byref into the old space. Helpers' buffers are retired when they
//!   finish; worker 0 uses the collection's own.
//! - **Balance**: a worker with work checks every 16 objects whether another is idle
//!   ([`WorkPool::wants_work`]) and then hands over part of what it has: half of the
//!   ranges it holds, or half of its promoted objects still to scan, or the older half
//!   (at most 16 KiB) of its buffer's unscanned copies, as `(start, end)` ranges and
//!   `(object, 0)` entries. The pool's protocol ends the phase when every worker is
//!   idle and nothing is waiting (`work_pool`).
//! - **The rest** of the collection (the ephemeron fix-point, weak slots and handles,
//!   the remembered set's filing) runs alone afterwards, from what each worker
//!   recorded.
//!
//! The outcome is the same object graph whatever the number of workers; which
//! survivors stay in the to-space and which are promoted can differ, since buffers
//! leave tails unused when the to-space runs out.

use super::evacuate::{drain, Cold, Ev, Hot, OldAccess};
use crate::byrefs::{Resolver, SharedIndex};
use crate::gc_threads::GcThreads;
use crate::sync::lock;
use crate::work_pool::{Packet, WorkPool};
use contgc_heap::internal::{LargeObjectSpace, Nursery, OldSpace, PromotionBuffers};
use contgc_heap::{ObjectRef, TypeInfo};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes of the to-space a worker claims at a time.
const BUFFER_BYTES: usize = 32 << 10;
/// The most bytes of its buffer's unscanned copies a worker hands over at once.
const SHARE_BYTES: usize = 16 << 10;
/// Work waiting in a lone drain's queues (bytes; promoted objects count 16) from which
/// the rest of the copy runs in parallel.
const SWITCH_PENDING: usize = 4 << 10;

/// The old space behind the parallel workers' lock.
pub(super) trait SharedOld: Sync {
    /// [`OldSpace::promote_alloc`], under the lock.
    fn promote_alloc(
        &self,
        bufs: &mut PromotionBuffers,
        class: usize,
        size: usize,
    ) -> Option<usize>;
    /// [`OldSpace::object_start`], under the lock.
    fn object_start(&self, addr: usize) -> Option<usize>;
    /// [`OldSpace::retire_promotion_buffers`], under the lock.
    fn retire(&self, bufs: &mut PromotionBuffers);
}

impl SharedOld for Mutex<&mut OldSpace> {
    fn promote_alloc(
        &self,
        bufs: &mut PromotionBuffers,
        class: usize,
        size: usize,
    ) -> Option<usize> {
        lock(self).promote_alloc(bufs, class, size)
    }

    fn object_start(&self, addr: usize) -> Option<usize> {
        lock(self).object_start(addr).map(|o| o.addr())
    }

    fn retire(&self, bufs: &mut PromotionBuffers) {
        lock(self).retire_promotion_buffers(bufs);
    }
}

/// The parallel workers' shared state.
pub(super) struct Par {
    pool: WorkPool<(usize, usize)>,
    /// The to-space's top: `[top, end)` is unclaimed.
    top: AtomicUsize,
    end: usize,
}

impl Par {
    /// Claims a buffer of the to-space with room for `size` bytes: `BUFFER_BYTES` (or
    /// `size` if larger), or the rest of the to-space if that is less but enough.
    fn claim(&self, size: usize) -> Option<(usize, usize)> {
        // Relaxed: the claimed memory is this worker's alone; nothing is published.
        let mut cur = self.top.load(Ordering::Relaxed);
        loop {
            let want = BUFFER_BYTES.max(size).min(self.end - cur);
            if want < size {
                return None;
            }
            match self.top.compare_exchange_weak(
                cur,
                cur + want,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some((cur, cur + want)),
                Err(now) => cur = now,
            }
        }
    }
}

/// True if a lone drain that has scanned `copied` to-space copies should continue in
/// parallel: enough work waits in its queues, and the survivors so far were promoted
/// at least as often as copied to the to-space (see the module documentation).
#[inline(never)]
pub(super) fn worth_it<const PAR: bool>(ev: &Ev<'_, '_, PAR>, copied: usize) -> bool {
    let pending = (ev.hot.scan_end() - ev.hot.scan) + 16 * (ev.cold.grey.len() - ev.cold.grey_head);
    if ev.cold.eager {
        return pending > 0;
    }
    pending >= SWITCH_PENDING && ev.cold.promoted >= copied
}

/// Retires the worker's allocation buffer (its unused tail made a filler; its copies
/// not scanned yet stay in the queue, which goes on in the new buffer after them) and
/// claims a new one with room for `size` bytes, which it takes; `None` if the to-space
/// has no such room left.
#[cold]
#[inline(never)]
pub(super) fn refill_buffer(hot: &mut Hot<'_>, cold: &mut Cold<'_>, size: usize) -> Option<usize> {
    let par = cold.par?;
    // The buffer's unscanned copies: from `scan`, or, while an earlier buffer is being
    // scanned, from where the queue goes on in this one.
    if hot.in_segment {
        if cold.next_scan < hot.to_top {
            cold.segments.push_back((cold.next_scan, hot.to_top));
        }
    } else if hot.scan < hot.to_top {
        hot.in_segment = true;
        hot.seg_end = hot.to_top;
    }
    cold.filler_bytes += hot.limit - hot.to_top;
    // SAFETY: `[to_top, limit)` is the unused rest of this worker's buffer, inside
    // the to-space.
    unsafe { cold.nursery.fill(hot.to_top, hot.limit) };
    hot.limit = hot.to_top;
    cold.next_scan = hot.to_top;
    if !hot.in_segment {
        hot.scan = hot.to_top;
    }
    let (start, end) = par.claim(size)?;
    cold.next_scan = start;
    if !hot.in_segment {
        hot.scan = start;
    }
    hot.to_top = start + size;
    hot.limit = end;
    Some(start)
}

/// Moves the scan on once an earlier buffer's copies are all scanned: to the next
/// earlier buffer's, or back to the current allocation buffer.
#[inline(never)]
pub(super) fn next_segment(hot: &mut Hot<'_>, cold: &mut Cold<'_>) {
    match cold.segments.pop_front() {
        Some((start, end)) => (hot.scan, hot.seg_end) = (start, end),
        None => {
            hot.in_segment = false;
            hot.scan = cold.next_scan;
        }
    }
}

/// Hands part of this worker's work to the pool if another worker is idle.
#[inline(always)]
pub(super) fn offer<const PAR: bool>(ev: &mut Ev<'_, '_, PAR>) {
    if let Some(par) = ev.cold.par {
        if par.pool.wants_work() {
            share(ev.hot, ev.cold, par);
        }
    }
}

#[cold]
#[inline(never)]
fn share(hot: &mut Hot<'_>, cold: &mut Cold<'_>, par: &Par) {
    if !cold.segments.is_empty() {
        let keep = cold.segments.len() / 2;
        par.pool.share(cold.segments.drain(keep..).collect());
        return;
    }
    let local = &mut cold.local;
    if !local.is_empty() {
        let keep = local.len() / 2;
        par.pool.share(local.split_off(keep));
        return;
    }
    let grey = &mut cold.grey;
    let waiting = grey.len() - cold.grey_head;
    if waiting >= 2 {
        let from = grey.len() - waiting / 2;
        let packet: Packet<(usize, usize)> = grey[from..].iter().map(|&a| (a, 0)).collect();
        grey.truncate(from);
        par.pool.share(packet);
        return;
    }
    // The older part of the buffer's queue, up to half of it, in whole objects; at
    // least one object stays.
    let (start, top) = (hot.scan, hot.scan_end());
    let goal = start + ((top - start) / 2).min(SHARE_BYTES);
    let mut end = start;
    while end < goal {
        // SAFETY: `[scan, to_top)` holds this worker's copies back to back.
        let h = unsafe { ObjectRef::from_addr(end).expect("non-null").header() };
        end += hot.summary(cold.types, h).1;
    }
    if end > start && end < top {
        par.pool.share(vec![(start, end)]);
        hot.scan = end;
    }
}

/// Finds a parallel worker more work once its own queues are empty: a range or
/// promoted object it holds (scanned here), or a packet from the pool. Returns false
/// once the phase is over. `copied` counts the to-space copies scanned.
#[inline(never)]
pub(super) fn more_work<const PAR: bool>(
    ev: &mut Ev<'_, '_, PAR>,
    remset: &mut Vec<usize>,
    copied: &mut usize,
) -> bool {
    loop {
        if let Some((start, end)) = ev.cold.local.pop() {
            if end == 0 {
                let obj = ObjectRef::from_addr(start).expect("non-null");
                ev.settle_old::<false>(obj, remset);
            } else {
                let types = ev.cold.types;
                let mut at = start;
                while at < end {
                    // SAFETY: a range of copies back to back, handed to this worker
                    // alone (through the pool's lock, or from its own buffer).
                    let h = unsafe { ObjectRef::from_addr(at).expect("non-null").header() };
                    let (sum, size) = ev.hot.summary(types, h);
                    ev.scan_copy(at, h, sum);
                    at += size;
                    *copied += 1;
                    // A range may hold 2,000 copies: idle workers are fed meanwhile
                    // (from this worker's other queues; the range itself is not split).
                    if copied.is_multiple_of(64) {
                        offer(ev);
                    }
                }
            }
            return true;
        }
        let Some(par) = ev.cold.par else {
            return false;
        };
        match par.pool.take() {
            Some(packet) => ev.cold.local.extend(packet),
            None => return false,
        }
    }
}

/// What the parallel drain did, for the collection's outcome.
#[derive(Default)]
pub(super) struct ParallelOutcome {
    /// To-space copies scanned.
    pub copied: usize,
    /// Object bytes promoted through the helpers' buffers (worker 0's are the
    /// collection's own, counted with them).
    pub helper_promoted_bytes: usize,
    /// Workers that took part.
    pub workers: usize,
}

/// What a worker starts with.
struct Start<'p> {
    hot: Hot<'p>,
    grey: Vec<usize>,
    grey_head: usize,
    weak: Vec<usize>,
    ephemerons: Vec<usize>,
    promo: Option<&'p mut PromotionBuffers>,
}

/// What a worker hands back.
struct Finish {
    copied: usize,
    promoted: usize,
    promoted_bytes: usize,
    filler_bytes: usize,
    weak: Vec<usize>,
    ephemerons: Vec<usize>,
    remset: Vec<usize>,
    resolved: usize,
    index_time: Duration,
}

/// The immutable context every worker shares.
struct Context<'p> {
    types: &'p [Arc<TypeInfo>],
    nursery: &'p Nursery,
    los: &'p LargeObjectSpace,
    index: &'p SharedIndex,
    par: &'p Par,
    old: &'p (dyn SharedOld + 'p),
    bounds: (usize, usize),
}

/// Continues a lone drain that stopped to go parallel (see the module documentation)
/// with up to `workers` workers, until the transitive copy is complete; the lone
/// evacuator `ev` then holds every worker's records (weak slots, ephemerons, promoted
/// count, byref statistics), the remembered set in `remset`, and an allocation buffer
/// from the to-space's top on. If no helper can be started it finishes alone.
pub(super) fn drain_in_parallel(
    ev: Ev<'_, '_, false>,
    remset: &mut Vec<usize>,
    index: &SharedIndex,
    threads: &GcThreads,
    workers: usize,
) -> ParallelOutcome {
    ev.cold.may_switch = false;
    let n = threads.start(workers);
    if n < 2 {
        let (copied, _) = drain::<false>(ev, remset);
        return ParallelOutcome {
            copied,
            helper_promoted_bytes: 0,
            workers: 1,
        };
    }
    let Ev { hot, cold } = ev;
    let to_end = hot.to_end;
    // Worker 0 goes on with the lone drain's queues, in a buffer cut from the rest of
    // the to-space.
    let mut first_hot = *hot;
    first_hot.limit = first_hot.to_top + BUFFER_BYTES.min(to_end - first_hot.to_top);
    let par = Par {
        pool: WorkPool::new(n, Vec::new()),
        top: AtomicUsize::new(first_hot.limit),
        end: to_end,
    };
    let OldAccess::Own(old) = &mut cold.old else {
        unreachable!("a lone drain owns the old space");
    };
    let bounds = old.bounds();
    let old = Mutex::new(&mut **old);
    let first = Mutex::new(Some(Start {
        hot: first_hot,
        grey: std::mem::take(&mut cold.grey),
        grey_head: std::mem::take(&mut cold.grey_head),
        weak: std::mem::take(&mut cold.weak),
        ephemerons: std::mem::take(&mut cold.ephemerons),
        promo: Some(&mut *cold.promo),
    }));
    let mut empty_hot = *hot;
    (empty_hot.to_top, empty_hot.limit, empty_hot.scan) = (to_end, to_end, to_end);
    let cx = Context {
        types: cold.types,
        nursery: cold.nursery,
        los: cold.los,
        index,
        par: &par,
        old: &old,
        bounds,
    };
    let results = threads.run(n, |i| {
        let start = if i == 0 { lock(&first).take() } else { None };
        let start = start.unwrap_or(Start {
            hot: empty_hot,
            grey: Vec::new(),
            grey_head: 0,
            weak: Vec::new(),
            ephemerons: Vec::new(),
            promo: None,
        });
        work(&cx, start)
    });
    let mut out = ParallelOutcome {
        workers: n,
        ..ParallelOutcome::default()
    };
    for f in results {
        out.copied += f.copied;
        out.helper_promoted_bytes += f.promoted_bytes;
        cold.promoted += f.promoted;
        cold.filler_bytes += f.filler_bytes;
        cold.weak.extend(f.weak);
        cold.ephemerons.extend(f.ephemerons);
        remset.extend(f.remset);
        cold.resolver.resolved += f.resolved;
        cold.resolver.index_time += f.index_time;
    }
    let top = par.top.load(Ordering::Relaxed);
    (hot.to_top, hot.scan, hot.limit) = (top, top, to_end);
    out
}

/// One worker of the parallel drain: drains until the phase is over, retires its
/// buffers, and hands back what it recorded.
fn work(cx: &Context<'_>, start: Start<'_>) -> Finish {
    let mut own = PromotionBuffers::new();
    let helper = start.promo.is_none();
    let promo: &mut PromotionBuffers = match start.promo {
        Some(p) => p,
        None => &mut own,
    };
    let mut hot = start.hot;
    let mut cold = Cold {
        types: cx.types,
        nursery: cx.nursery,
        old: OldAccess::Shared {
            space: cx.old,
            bounds: cx.bounds,
        },
        promo,
        los: cx.los,
        resolver: Resolver::new(cx.types, cx.index),
        grey: start.grey,
        grey_head: start.grey_head,
        promoted: 0,
        weak: start.weak,
        ephemerons: start.ephemerons,
        index_seen: Duration::ZERO,
        may_switch: false,
        eager: false,
        filler_bytes: 0,
        par: Some(cx.par),
        local: Vec::new(),
        segments: std::collections::VecDeque::new(),
        next_scan: hot.to_top,
    };
    let mut remset = Vec::new();
    let (copied, _) = drain::<true>(
        Ev {
            hot: &mut hot,
            cold: &mut cold,
        },
        &mut remset,
    );
    debug_assert!(cold.grey.len() == cold.grey_head && cold.local.is_empty());
    debug_assert!(!hot.in_segment && cold.segments.is_empty());
    // The phase is over: no worker claims a buffer any more. The buffer claimed last
    // gives its unused tail back to the to-space; any other tail becomes a filler.
    let trimmed = cx
        .par
        .top
        .compare_exchange(hot.limit, hot.to_top, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok();
    let mut filler_bytes = cold.filler_bytes;
    if !trimmed {
        filler_bytes += hot.limit - hot.to_top;
        // SAFETY: `[to_top, limit)` is the unused rest of this worker's buffer.
        unsafe { cx.nursery.fill(hot.to_top, hot.limit) };
    }
    let (resolved, index_time) = (cold.resolver.resolved, cold.resolver.index_time);
    let Cold {
        promoted,
        weak,
        ephemerons,
        ..
    } = cold;
    let promoted_bytes = if helper {
        let bytes = own.bytes();
        cx.old.retire(&mut own);
        bytes
    } else {
        0
    };
    Finish {
        copied,
        promoted,
        promoted_bytes,
        filler_bytes,
        weak,
        ephemerons,
        remset,
        resolved,
        index_time,
    }
}
