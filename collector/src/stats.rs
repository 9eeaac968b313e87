//! Collection statistics: every pause is recorded and queryable, with a histogram per
//! kind of collection.
//!
//! # What a pause is
//! A pause ([`PauseRecord::duration`]) is measured on the thread that collects, from
//! the moment it asks to stop the world (before it waits for the other mutators to
//! reach a safepoint, so the time to safepoint is included) to the moment it has
//! restarted the world: the collection (and the verifier, when it is on) has finished,
//! every parked mutator has been released and woken, and the collecting thread is
//! about to return to its caller. That is the longest time any mutator was kept from
//! running by the collection. A caller timing [`Mutator::collect`] also sees the time
//! to record the pause (a few tens of nanoseconds) and, if another thread was
//! collecting at the time, the wait for that collection.
//!
//! [`Mutator::collect`]: crate::Mutator::collect

use hdrhistogram::Histogram;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Minor (nursery only) or major (whole heap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CollectionKind {
    /// Evacuates the nursery; scans roots and remembered old objects only.
    Minor,
    /// Marks the whole heap and sweeps the old generation, then evacuates the nursery.
    Major,
}

/// One pause: what a collection did and how long the world was stopped for it.
#[derive(Clone, Debug, PartialEq)]
pub struct PauseRecord {
    /// Which collection ran.
    pub kind: CollectionKind,
    /// This collection's number: collections of either kind since the heap was
    /// created, this one included (1 for the first). Not reset by
    /// [`Heap::reset_pause_stats`](crate::Heap::reset_pause_stats).
    pub number: u64,
    /// False if a major collection could not evacuate the nursery (the old
    /// generation had no room for its live objects); always true for a minor one.
    pub nursery_evacuated: bool,
    /// When the collecting thread asked to stop the world.
    pub started: Instant,
    /// Wall time from [`started`](Self::started) to the restart of the world, every
    /// parked mutator released (see the [module documentation](self) for exactly what
    /// is included).
    pub duration: Duration,
    /// Bytes copied from the nursery to the old generation.
    pub promoted_bytes: usize,
    /// Nursery objects that survived (copied to a survivor space or promoted).
    pub survivors: usize,
    /// Bytes of those survivors.
    pub survivor_bytes: usize,
    /// Heap bytes in use before the collection: the nursery as handed out (each
    /// mutator's allocation buffer counts whole, used or not, as in
    /// [`HeapStats::young_bytes`]), old-space cells and large objects. For the bytes of
    /// the objects themselves, see [`Mutator::census`](crate::Mutator::census).
    pub heap_before: usize,
    /// Heap bytes in use after it, counted the same way.
    pub heap_after: usize,
    /// Byrefs resolved from raw addresses to `<base, offset>`.
    pub byrefs_resolved: usize,
    /// Threads that did the collection's parallel part: for a major collection the
    /// heap's [`gc_workers`](crate::ConfigBuilder::gc_workers) if the heap is at or
    /// above the [`parallel_threshold`](crate::ConfigBuilder::parallel_threshold), else
    /// 1; for a minor collection, the workers its transitive copy ran on (1 unless it
    /// had enough to copy to go parallel, see `gc_workers`). At most `gc_workers`;
    /// fewer if helper threads could not be started.
    pub gc_workers: usize,
    /// Where the pause's time went, part by part.
    pub parts: PauseParts,
}

/// A pause's time by its parts, so that a slow pause explains itself.
///
/// Each part is timed with one clock read at its end, and only if it handled at least
/// [`MIN_TIMED_WORK`] items (root slots, task-group members, remembered objects,
/// survivors): a part with less to do is not timed, so that a quiet pause pays for no
/// clock read, and its time (a few hundred nanoseconds at most) counts in the next
/// part that is timed, or in [`other`](Self::other). The parts and `other` add up to
/// [`PauseRecord::duration`]. A major collection that evacuates the nursery afterwards
/// reports its marking and sweeping, then the parts of that evacuation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PauseParts {
    /// From the request to stop the world until every other mutator had stopped:
    /// timed only when other mutators are attached (with one there is no one to
    /// wait for), and then including the retiring of every allocation buffer.
    pub stop: Duration,
    /// Major collections: marking every reachable object.
    pub mark: Duration,
    /// Major collections: sweeping the old space and the large objects, and clearing
    /// the marks left on young objects.
    pub sweep: Duration,
    /// Minor collections (and the evacuation ending a major one): evacuating what the
    /// root slots refer to (persistent handles, shadow stacks, parked objects, root
    /// providers).
    pub roots: Duration,
    /// Visiting the young suspended-task groups (all of them in a major collection's
    /// evacuation, whose groups were marked through, or in `Naive` mode) and
    /// evacuating their members' referents.
    pub task_groups: Duration,
    /// Scanning the remembered old objects and evacuating their young referents.
    pub remembered: Duration,
    /// The transitive copy: scanning the survivors copied so far, copying (or
    /// promoting: old-space cells come from per-collection buffers, so promotion is
    /// part of the copy) what they refer to, until no work is left.
    pub copy: Duration,
    /// Building the nursery's object-start index for resolving raw byrefs into the
    /// nursery (at most once per marking and once per evacuation); taken out of the
    /// part during which it ran.
    pub byref_index: Duration,
    /// Running the heap verifier (`Config::verify_after_gc`).
    pub verify: Duration,
    /// Everything else: choosing the collection, retiring buffers (with one mutator),
    /// parts too small to be timed, recording, and restarting the world.
    pub other: Duration,
}

/// Parts handling fewer items than this are not timed (see [`PauseParts`]).
pub const MIN_TIMED_WORK: usize = 64;

impl PauseParts {
    /// The sum of the timed parts (everything but [`other`](Self::other)).
    pub fn timed(&self) -> Duration {
        self.stop
            + self.mark
            + self.sweep
            + self.roots
            + self.task_groups
            + self.remembered
            + self.copy
            + self.byref_index
            + self.verify
    }
}

/// Times the parts of a pause (see [`PauseParts`]): one clock read per timed part.
#[derive(Debug)]
pub(crate) struct PhaseClock {
    last: Instant,
    /// Time inside the current part that belongs to another part (the nursery index).
    excluded: Duration,
    /// The parts timed so far, added up (what is left of the pause is `other`).
    timed: Duration,
}

impl PhaseClock {
    /// A clock whose first part starts at `start`.
    pub(crate) fn new(start: Instant) -> Self {
        PhaseClock {
            last: start,
            excluded: Duration::ZERO,
            timed: Duration::ZERO,
        }
    }

    /// Ends a part that handled `work` items: its time since the last timed part ended,
    /// or zero (the time carries into the next part) if `work` is below
    /// [`MIN_TIMED_WORK`].
    #[inline(always)]
    pub(crate) fn lap(&mut self, work: usize) -> Duration {
        if work < MIN_TIMED_WORK {
            return Duration::ZERO;
        }
        self.lap_always()
    }

    /// Ends a part whatever it did.
    #[inline(never)]
    pub(crate) fn lap_always(&mut self) -> Duration {
        let now = Instant::now();
        let excluded = std::mem::take(&mut self.excluded);
        let d = now.saturating_duration_since(self.last);
        self.last = now;
        // The excluded time was timed apart: it counts, in its own part.
        self.timed += d;
        d.saturating_sub(excluded)
    }

    /// Takes `d`, timed apart, out of the current part.
    pub(crate) fn exclude(&mut self, d: Duration) {
        self.excluded += d;
    }

    /// Ends a part that is not the pause's (the verifier's preparation, say): its time
    /// goes to `other`.
    pub(crate) fn skip(&mut self) {
        self.last = Instant::now();
    }

    /// The parts timed so far, added up (excluded time included).
    pub(crate) fn timed(&self) -> Duration {
        self.timed
    }
}

/// Median, 99th percentile and maximum pause of one kind, in nanoseconds, from a
/// histogram with 3 significant digits (each figure is within 0.1% of a recorded
/// pause) covering 1 ns to one hour (longer pauses count as one hour).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PauseSummary {
    /// Number of pauses.
    pub count: u64,
    /// Median pause.
    pub median_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// Longest pause.
    pub max_ns: u64,
}

/// Pause records kept for querying; older ones are dropped past this many (the
/// histograms keep counting).
pub const MAX_RECORDS: usize = 1 << 16;

#[derive(Debug)]
pub(crate) struct Stats {
    records: VecDeque<PauseRecord>,
    minor: Histogram<u64>,
    major: Histogram<u64>,
    /// Collections numbered so far (never reset).
    numbered: u64,
    /// The live heap as of the last major collection.
    live: Option<LiveHeap>,
}

/// Longest pause the histograms tell apart (one hour, in nanoseconds); longer ones are
/// counted as this long. The records keep their exact durations.
const MAX_TRACKED_NS: u64 = 3_600 * 1_000_000_000;

impl Stats {
    pub(crate) fn new() -> Self {
        // Fixed bounds, 1 ns to an hour, with 3 significant digits (each value within
        // 0.1% of what was recorded): `saturating_record` never resizes a histogram,
        // so an auto-resizing one made with `Histogram::new` would clamp every pause
        // to its initial range (2 ns).
        let h = || Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3).expect("valid bounds");
        Stats {
            records: VecDeque::new(),
            minor: h(),
            major: h(),
            numbered: 0,
            live: None,
        }
    }

    /// The number of the collection starting now.
    pub(crate) fn next_number(&mut self) -> u64 {
        self.numbered += 1;
        self.numbered
    }

    /// Collections numbered so far.
    pub(crate) fn numbered(&self) -> u64 {
        self.numbered
    }

    /// Records what a major collection found live.
    pub(crate) fn set_live(&mut self, live: LiveHeap) {
        self.live = Some(live);
    }

    pub(crate) fn live(&self) -> Option<LiveHeap> {
        self.live
    }

    pub(crate) fn record(&mut self, r: PauseRecord) {
        let ns = r.duration.as_nanos().min(u64::MAX as u128) as u64;
        match r.kind {
            CollectionKind::Minor => self.minor.saturating_record(ns.max(1)),
            CollectionKind::Major => self.major.saturating_record(ns.max(1)),
        }
        if self.records.len() == MAX_RECORDS {
            self.records.pop_front();
        }
        self.records.push_back(r);
    }

    pub(crate) fn records(&self) -> Vec<PauseRecord> {
        self.records.iter().cloned().collect()
    }

    pub(crate) fn count(&self, kind: CollectionKind) -> u64 {
        self.hist(kind).len()
    }

    fn hist(&self, kind: CollectionKind) -> &Histogram<u64> {
        match kind {
            CollectionKind::Minor => &self.minor,
            CollectionKind::Major => &self.major,
        }
    }

    pub(crate) fn summary(&self, kind: CollectionKind) -> PauseSummary {
        let h = self.hist(kind);
        if h.is_empty() {
            return PauseSummary::default();
        }
        PauseSummary {
            count: h.len(),
            median_ns: h.value_at_quantile(0.5),
            p99_ns: h.value_at_quantile(0.99),
            max_ns: h.max(),
        }
    }

    pub(crate) fn reset(&mut self) {
        self.records.clear();
        self.minor.reset();
        self.major.reset();
    }
}

/// The live heap as a major collection found it: the last figure of live bytes the
/// collector knows for certain. Between major collections the old generation also
/// holds garbage not yet swept (which [`HeapStats::old_bytes`] counts), and minor
/// collections learn only how much of the nursery lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveHeap {
    /// The collection's [number](PauseRecord::number).
    pub collection: u64,
    /// Bytes of live objects in every space right after that collection: the old and
    /// large objects it kept, the nursery objects it promoted and those it left in the
    /// nursery (old objects counted by their cells, as in [`HeapStats::old_bytes`]).
    pub bytes: usize,
    /// Of those, bytes of old and large objects (promoted ones included).
    pub old_bytes: usize,
    /// Of those, bytes of objects still in the nursery.
    pub young_bytes: usize,
}

/// A snapshot of the heap's occupancy and collection counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Minor collections so far (major ones not included; restarts from 0 at
    /// [`Heap::reset_pause_stats`](crate::Heap::reset_pause_stats)).
    pub minor_collections: u64,
    /// Major collections so far (restarts from 0 with the minor count).
    pub major_collections: u64,
    /// Collections of either kind since the heap was created (never reset): the
    /// [number](PauseRecord::number) of the latest one.
    pub collections: u64,
    /// The live heap as of the last major collection (`None` before the first).
    pub live: Option<LiveHeap>,
    /// Bytes in the nursery: eden as handed out (allocation buffers count whole,
    /// used or not) plus the survivor space in use.
    pub young_bytes: usize,
    /// Bytes of the cells of the old generation's blocks that hold objects, live ones
    /// and garbage not yet swept (see [`live`](Self::live) for the live figure). A
    /// cell is the smallest size class that holds its object
    /// ([`cell_size`](contgc_heap::cell_size): at most about a quarter more than the
    /// object), which lets a major collection's sweep count the live bytes from its
    /// mark map without reading the live objects.
    pub old_bytes: usize,
    /// Bytes of old-generation blocks in use.
    pub old_committed_bytes: usize,
    /// Bytes of old-generation blocks not in use but faulted in ahead of promotion (at
    /// most 2 MiB): after a collection that promoted, the collecting thread commits
    /// the pages of the blocks the next one will likely fill, once the world has
    /// restarted, so that no pause pays those page faults. They count in the
    /// process's resident memory, not in [`old_committed_bytes`](Self::old_committed_bytes).
    pub old_ready_bytes: usize,
    /// Bytes of large objects.
    pub large_bytes: usize,
    /// Number of large objects.
    pub large_objects: usize,
    /// Old objects in the remembered set.
    pub remembered: usize,
    /// Live persistent handles.
    pub handles: usize,
    /// Suspended tasks registered.
    pub suspended_tasks: usize,
    /// Suspended-task groups ever created (recycled ones are reused, not counted again).
    pub task_groups: u32,
}

impl HeapStats {
    /// Bytes of old and large objects (live ones and garbage not yet swept). The heap
    /// limit is checked against `old_committed_bytes + large_bytes`, which also counts
    /// the free cells of the blocks in use.
    pub fn old_and_large_bytes(&self) -> usize {
        self.old_bytes + self.large_bytes
    }
}

/// Objects and bytes in each space, counted by walking the heap
/// ([`Mutator::census`](crate::Mutator::census)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Objects in the nursery (fillers excluded).
    pub young_objects: usize,
    /// Their bytes.
    pub young_bytes: usize,
    /// Objects in the old space's blocks.
    pub old_objects: usize,
    /// The bytes of their cells (each the smallest size class holding its object, see
    /// [`cell_size`](contgc_heap::cell_size)), as [`HeapStats::old_bytes`] counts them.
    pub old_bytes: usize,
    /// Large objects.
    pub large_objects: usize,
    /// Their bytes.
    pub large_bytes: usize,
}

impl Census {
    /// Objects in all spaces.
    pub fn objects(&self) -> usize {
        self.young_objects + self.old_objects + self.large_objects
    }

    /// Bytes in all spaces.
    pub fn bytes(&self) -> usize {
        self.young_bytes + self.old_bytes + self.large_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pause(ns: u64) -> PauseRecord {
        PauseRecord {
            kind: CollectionKind::Minor,
            number: 0,
            nursery_evacuated: true,
            started: Instant::now(),
            duration: Duration::from_nanos(ns),
            promoted_bytes: 0,
            survivors: 0,
            survivor_bytes: 0,
            heap_before: 0,
            heap_after: 0,
            byrefs_resolved: 0,
            gc_workers: 1,
            parts: PauseParts::default(),
        }
    }

    /// Within the histogram's precision (3 significant digits).
    fn close(got: u64, want: u64) -> bool {
        got.abs_diff(want) <= want / 1000 + 1
    }

    #[test]
    fn the_summary_follows_pauses_from_100_ns_to_10_s() {
        let mut st = Stats::new();
        // 1,000 pauses, spread geometrically from 100 ns to 10 s.
        let n = 1000;
        let mut want: Vec<u64> = (0..n)
            .map(|i| (100.0 * 1e8f64.powf(i as f64 / (n - 1) as f64)).round() as u64)
            .collect();
        // Record them out of order.
        for &ns in want.iter().rev() {
            st.record(pause(ns));
        }
        want.sort_unstable();
        assert_eq!(want[0], 100);
        assert_eq!(want[n - 1], 10_000_000_000);
        let s = st.summary(CollectionKind::Minor);
        assert_eq!(s.count, n as u64);
        assert!(close(s.max_ns, 10_000_000_000), "max {} ns", s.max_ns);
        // hdrhistogram's quantile q is the smallest value with at least q of the
        // records at or below it.
        let at = |q: f64| want[((q * n as f64).ceil() as usize).max(1) - 1];
        assert!(
            close(s.median_ns, at(0.5)),
            "median {} vs {}",
            s.median_ns,
            at(0.5)
        );
        assert!(
            close(s.p99_ns, at(0.99)),
            "p99 {} vs {}",
            s.p99_ns,
            at(0.99)
        );
        assert_eq!(st.summary(CollectionKind::Major), PauseSummary::default());
    }

    #[test]
    fn a_pause_lasts_until_the_world_has_restarted() {
        let heap = crate::Heap::new(crate::Config::default()).unwrap();
        let mut m = heap.mutator();
        for kind in [CollectionKind::Minor, CollectionKind::Major] {
            let r = m.collect(kind);
            let restarted = heap.inner.rendezvous.restarted_at().expect("restarted");
            assert!(r.started <= restarted);
            assert!(
                r.started + r.duration >= restarted,
                "the pause ended {:?} before the world restarted",
                restarted - (r.started + r.duration)
            );
            assert_eq!(heap.pauses().last(), Some(&r));
        }
    }

    #[test]
    fn pauses_past_an_hour_count_as_an_hour() {
        let mut st = Stats::new();
        st.record(pause(2 * MAX_TRACKED_NS));
        assert!(close(
            st.summary(CollectionKind::Minor).max_ns,
            MAX_TRACKED_NS
        ));
        assert_eq!(
            st.records()[0].duration,
            Duration::from_nanos(2 * MAX_TRACKED_NS)
        );
    }
}
