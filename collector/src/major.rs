//! The major collection's marking phase, on one thread or on several.
//!
//! Marks every object reachable from the roots (including every suspended task, of
//! whatever age), young and old, by setting `MARK` in its header. Objects do not move
//! while marking; the collection then sweeps the old spaces and clears the marks left
//! on young objects (see `collection.rs`).
//!
//! # How an object is marked
//! The mark stack holds *edges*: the addresses a scanned object's slots refer to,
//! pushed without looking at them. An address popped from the stack goes through a
//! small FIFO of [`RING`] entries, and is prefetched as it enters (the line of its
//! header and the line 32 bytes on, see `drain`), so that by the time
//! it leaves the FIFO and its header is read (is it marked? of what type?), the header
//! is in cache: marking a big heap is a chain of cache misses otherwise, one per
//! object (Boehm's and Cher, Hosking and Vijaykumar's prefetch-on-grey). The stack is
//! explicit (no native recursion), so a million-long linked list marks like any other
//! graph. Objects are scanned through the one scanning core (`scan.rs`), through
//! their type's summary bitmap where it has one.
//!
//! # Several workers
//! The collecting thread first visits the roots and the suspended tasks' members,
//! resolving the byrefs among them, and gathers the edges they hold. With one worker
//! (or a heap under the parallel threshold) it then marks alone. Otherwise the edges
//! are cut into packets handed to a [`WorkPool`] and the collecting thread and its
//! helpers mark together: a worker marks an object and scans it, and a worker whose
//! pool reports an idle worker hands it the older half of its stack. The
//! pool's protocol (`work_pool.rs`) ends the phase when every worker is idle and no
//! work is waiting.
//!
//! Two workers that reach the same unmarked object at the same moment may both mark
//! and scan it: the mark is set with a plain atomic store rather than a locked
//! read-modify-write, which would cost more than the rest of marking an object
//! (measured: the `lock bts` took 60% of a worker's time). Scanning twice is
//! harmless: marking is idempotent, nothing but mark bits changes in headers during
//! the phase, no reference slot is written, and a byref slot is only ever written
//! with its resolution, which both workers compute alike, through atomic stores
//! (`contgc_heap::byref::store`), so a concurrent reader sees the old or the new
//! state, both valid. Counts of scanned objects and resolved byrefs may therefore
//! count such an object twice.

use crate::byrefs::{Resolver, SharedIndex};
use crate::gc_threads::run_fresh;
use crate::scan::{
    self, ByrefSlot, EphemeronSlot, RefSlot, RootScan, SlotVisitor, TypeSummary, WeakSlot,
};
use crate::work_pool::{Packet, WorkPool};
use contgc_heap::byref::EXTERNAL;
use contgc_heap::header::MARK;
use contgc_heap::internal::{LargeObjectSpace, Nursery, OldSpace};
use contgc_heap::{ObjectRef, TypeInfo};
use contgc_roots::internal::{MemberVisitor, TaskRegistry};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Entries of the prefetch FIFO: enough to cover a memory access's latency with the
/// work of scanning the objects ahead of it. 64 rather than 32: marking the main job's
/// heap took 5.4-5.7 ms with two workers against 6.4-6.7 ms (alternating builds), and
/// 128 gave 4.3-7.6 ms, no steadier gain.
const RING: usize = 64;
/// Objects a parallel worker marks between two looks at whether another is idle.
const SHARE_EVERY: u32 = 64;
/// Edges per packet of the initial work.
const PACKET: usize = 256;

/// What marking reads: the heap's types and spaces.
#[derive(Clone, Copy)]
pub(crate) struct MarkSpaces<'a> {
    pub types: &'a [Arc<TypeInfo>],
    /// The types' summaries, current (every registered type summarised).
    pub sums: &'a [TypeSummary],
    pub nursery: &'a Nursery,
    pub old: &'a OldSpace,
    pub los: &'a LargeObjectSpace,
}

/// What marking found.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MarkOutcome {
    pub byrefs_resolved: usize,
    /// Time spent building the nursery index for byref resolution.
    pub byref_index: Duration,
    /// Objects scanned (an object two workers reached at once counts twice).
    pub marked: usize,
    /// Threads that marked.
    pub workers: usize,
    /// Weak slots cleared because their referent was not marked.
    pub weak_cleared: usize,
    /// Ephemerons cleared because their key was not marked.
    pub ephemerons_cleared: usize,
}

impl MarkOutcome {
    fn add(&mut self, r: &Resolver<'_>, marked: usize) {
        self.byrefs_resolved += r.resolved;
        self.byref_index += r.index_time;
        self.marked += marked;
    }
}

/// One worker's marking state. `PAR`: other workers mark at the same time, so headers
/// are written atomically and work is shared through `pool`.
struct Marker<'a, const PAR: bool> {
    sp: MarkSpaces<'a>,
    /// Edges: addresses of objects that may not be marked yet.
    stack: Vec<usize>,
    /// The prefetch FIFO: `len` entries from `head`, wrapping.
    ring: [usize; RING],
    head: usize,
    len: usize,
    resolver: Resolver<'a>,
    pool: Option<&'a WorkPool<usize>>,
    marked: usize,
    /// Weak slots of the objects scanned (holding non-null), settled once marking is
    /// over.
    weak: Vec<usize>,
    /// Ephemeron slots whose key was not marked when they were scanned, for the
    /// fix-point.
    ephemerons: Vec<usize>,
}

impl<'a, const PAR: bool> Marker<'a, PAR> {
    fn new(sp: MarkSpaces<'a>, index: &'a SharedIndex, pool: Option<&'a WorkPool<usize>>) -> Self {
        Marker {
            sp,
            stack: Vec::new(),
            ring: [0; RING],
            head: 0,
            len: 0,
            resolver: Resolver::new(sp.types, index),
            pool,
            marked: 0,
            weak: Vec::new(),
            ephemerons: Vec::new(),
        }
    }

    /// Resolves the byref at `slot` if needed and returns its base (or EXTERNAL/0).
    fn byref_base(&mut self, slot: ByrefSlot<'_>) -> usize {
        let (addr, base) =
            self.resolver
                .settle(slot.load(), self.sp.nursery, self.sp.old, self.sp.los);
        if base != 0 {
            // Objects do not move while marking. Another worker may store the same
            // resolution into the same slot at the same time (see `mark`).
            slot.store(addr, base);
        }
        base
    }

    /// Marks and scans `addr` unless it is marked already (by anyone).
    #[inline(always)]
    fn process(&mut self, addr: usize) {
        let obj = ObjectRef::from_addr(addr).expect("edges are non-null");
        let sp = self.sp;
        // Old objects are marked in the space's side map: an object marked already is
        // not touched, and marking writes nothing to the object.
        let h = if sp.old.contains(addr) {
            if sp.old.is_marked(addr) {
                return;
            }
            sp.old.mark(addr);
            // By invariant 1 every reference slot and root holds null (never pushed) or
            // the start of a live object, and so does a resolved byref base.
            // SAFETY: a live object; the world is stopped, no old header is written.
            unsafe { obj.header() }
        } else {
            // SAFETY: as above; the load is atomic: other workers may set the mark
            // bit of a young or large object.
            let h = unsafe { obj.header() };
            if h.is_marked() {
                return;
            }
            if PAR {
                // A plain atomic store, not a read-modify-write: two workers that
                // read the header unmarked at the same moment both mark and scan the
                // object, which is harmless (see `mark`), and far cheaper than a
                // locked instruction per object, which waits for every store before
                // it.
                // SAFETY: as above; while several workers mark, headers are only
                // accessed atomically, and only their mark bit changes.
                unsafe { obj.header_atomic() }.store(h.with(MARK).bits(), Ordering::Relaxed);
            } else {
                // SAFETY: as above, and this worker marks alone.
                unsafe { obj.set_header(h.with(MARK)) };
            }
            h
        };
        self.marked += 1;
        let sum = &sp.sums[h.type_index() as usize];
        // SAFETY: a live object with header `h` (less its mark); the world is stopped,
        // and another worker scanning it at the same time writes only its byref
        // slots, atomically and with the values this scan writes (see `mark`).
        unsafe { scan::scan_summarized(sum, sp.types, obj, h, self) };
    }

    /// Marks until the stack and the FIFO are empty.
    fn drain(&mut self) {
        let mut until_share = SHARE_EVERY;
        loop {
            while self.len < RING {
                let Some(a) = self.stack.pop() else { break };
                scan::prefetch(a);
                // And the line 32 bytes on, when that is the next line: an object
                // starting in the second half of its line has its first slots in the
                // next one, which the scan would otherwise wait for. Unconditional (a
                // prefetch of a line already asked for costs less than a branch that
                // goes either way). The main job's heap (40-byte continuations) marked
                // in 7.4-9.3 ms with two workers against 11.3-12.1 ms without
                // (alternating builds), with no change on one worker.
                scan::prefetch(a + 32);
                self.sp.old.prefetch_mark(a);
                self.ring[(self.head + self.len) % RING] = a;
                self.len += 1;
            }
            if self.len == 0 {
                return;
            }
            let a = self.ring[self.head];
            self.head = (self.head + 1) % RING;
            self.len -= 1;
            self.process(a);
            if PAR {
                until_share -= 1;
                if until_share == 0 {
                    until_share = SHARE_EVERY;
                    self.share_if_wanted();
                }
            }
        }
    }

    /// Hands the older half of the stack to the pool if a worker is idle.
    fn share_if_wanted(&mut self) {
        let Some(pool) = self.pool else { return };
        if self.stack.len() >= 2 && pool.wants_work() {
            let rest = self.stack.split_off(self.stack.len() / 2);
            let older = std::mem::replace(&mut self.stack, rest);
            pool.share(older);
        }
    }

    /// A parallel worker's life: take a packet, mark from it, repeat until the pool
    /// says the phase is over.
    fn work(&mut self, pool: &WorkPool<usize>) {
        while let Some(packet) = pool.take() {
            self.stack.extend_from_slice(&packet);
            self.drain();
        }
    }
}

impl<const PAR: bool> SlotVisitor for Marker<'_, PAR> {
    #[inline(always)]
    fn visit_ref(&mut self, slot: RefSlot<'_>) {
        let v = slot.load();
        if v != 0 {
            self.stack.push(v);
        }
    }

    #[inline(always)]
    fn visit_byref(&mut self, slot: ByrefSlot<'_>) {
        let base = self.byref_base(slot);
        if base != 0 && base != EXTERNAL {
            self.stack.push(base);
        }
    }

    /// The value is traced if the key is marked already; otherwise the pair waits for
    /// the fix-point (`mark_ephemerons`).
    #[inline(always)]
    fn visit_ephemeron(&mut self, slot: EphemeronSlot<'_>) {
        let k = slot.key().load();
        if k != 0 && is_marked(self.sp.old, k) {
            self.visit_ref(slot.value());
        } else if k != 0 || slot.value().load() != 0 {
            self.ephemerons.push(slot.addr());
        }
    }

    /// Not traced: recorded, and cleared after marking if its referent was not marked.
    #[inline(always)]
    fn visit_weak(&mut self, slot: WeakSlot<'_>) {
        if slot.load() != 0 {
            self.weak.push(slot.addr());
        }
    }
}

impl<const PAR: bool> MemberVisitor for Marker<'_, PAR> {
    fn reference(&mut self, slot: &mut usize) -> bool {
        self.visit_ref(RefSlot::from_mut(slot));
        false
    }

    fn byref(&mut self, slot: &mut [usize; 2]) -> bool {
        self.visit_byref(ByrefSlot::from_mut(slot));
        false
    }
}

/// Marks everything reachable from `roots` and the suspended tasks through references
/// and byref bases, resolving unresolved byrefs on the way, with `workers` threads
/// (the collecting thread and helpers started for the phase, see
/// [`run_fresh`]; 1 = this thread alone).
///
/// The world must be stopped, every allocation buffer retired, and no object may be
/// marked when this starts.
pub(crate) fn mark(
    sp: MarkSpaces<'_>,
    roots: &mut RootScan<'_>,
    tasks: &TaskRegistry,
    workers: usize,
) -> MarkOutcome {
    let index = SharedIndex::new();
    let mut first = Marker::<false>::new(sp, &index, None);
    roots(&mut |slot: &mut usize| first.visit_ref(RefSlot::from_mut(slot)));
    // SAFETY: the world is stopped, and marking rewrites no reference slot of a
    // member (byref slots only, with their resolution).
    unsafe { tasks.visit(false, &mut first) };
    let mut out = MarkOutcome {
        workers: 1,
        ..MarkOutcome::default()
    };
    if workers <= 1 {
        first.drain();
        let pending = std::mem::take(&mut first.ephemerons);
        out.ephemerons_cleared = mark_ephemerons(&mut first, pending);
        out.add(&first.resolver, first.marked);
        out.weak_cleared = clear_dead_weak(sp.old, &first.weak);
        return out;
    }
    out.add(&first.resolver, 0);
    let packets: Vec<Packet<usize>> = first.stack.chunks(PACKET).map(<[usize]>::to_vec).collect();
    drop(first);
    let pool = WorkPool::new(workers, packets);
    let results = run_fresh(workers, |_| {
        let mut m = Marker::<true>::new(sp, &index, Some(&pool));
        m.work(&pool);
        let r = &m.resolver;
        (r.resolved, r.index_time, m.marked, m.weak, m.ephemerons)
    });
    let mut weak = Vec::new();
    let mut pending = Vec::new();
    for (resolved, index_time, marked, w, e) in results {
        out.byrefs_resolved += resolved;
        out.byref_index += index_time;
        out.marked += marked;
        weak.extend(w);
        pending.extend(e);
    }
    // The workers have finished: the fix-point runs on this thread alone.
    let mut last = Marker::<false>::new(sp, &index, None);
    out.ephemerons_cleared = mark_ephemerons(&mut last, pending);
    out.add(&last.resolver, last.marked);
    weak.extend(last.weak);
    out.weak_cleared = clear_dead_weak(sp.old, &weak);
    out.workers = workers;
    out
}

/// True if the object at `addr` is marked: in the old space's side map for an old
/// object, in its header otherwise. `addr` must be an object that was live when
/// marking started (an ephemeron key, a weak referent of a slot or handle, a
/// remembered object): nothing is freed before the sweep.
#[inline(always)]
pub(crate) fn is_marked(old: &OldSpace, addr: usize) -> bool {
    if old.contains(addr) {
        return old.is_marked(addr);
    }
    // SAFETY: as the caller guarantees: a valid object until the sweep; atomic load.
    unsafe { ObjectRef::from_addr(addr).expect("non-null").header() }.is_marked()
}

/// The major collection's ephemeron fix-point, once the mark stack is empty: the
/// pairs whose key has been marked since get their value marked, and marking goes on,
/// until a round marks no key; the pairs left have a dead key (or none) and are
/// cleared. Runs on one thread. Returns how many pairs it cleared.
fn mark_ephemerons(m: &mut Marker<'_, false>, mut pending: Vec<usize>) -> usize {
    loop {
        let before = pending.len();
        pending.retain(|&a| {
            // SAFETY: recorded from an ephemeron slot of a marked (live) object, which
            // does not move during marking; the world is stopped.
            let slot = unsafe { EphemeronSlot::from_addr(a) };
            let k = slot.key().load();
            if k != 0 && is_marked(m.sp.old, k) {
                m.visit_ref(slot.value());
                false
            } else {
                true
            }
        });
        let resolved = pending.len() < before;
        m.drain();
        let found = std::mem::take(&mut m.ephemerons);
        if !resolved && found.is_empty() {
            break;
        }
        pending.extend(found);
    }
    for &a in &pending {
        // SAFETY: as above; the key died, so the pair holds nothing.
        unsafe { EphemeronSlot::from_addr(a) }.clear();
    }
    pending.len()
}

/// Sets to null every recorded weak slot whose referent is not marked; returns how
/// many it cleared. Runs once marking is complete, before anything is swept.
fn clear_dead_weak(old: &OldSpace, slots: &[usize]) -> usize {
    let mut cleared = 0;
    for &a in slots {
        // A weak slot of an object marking scanned: live and unmoved (nothing moves
        // or is freed before the sweep), and the workers have finished.
        // SAFETY: as just said; its referent is still a valid object.
        unsafe {
            scan::settle_weak(a, |v| {
                if is_marked(old, v) {
                    v
                } else {
                    cleared += 1;
                    0
                }
            })
        };
    }
    cleared
}
