//! The survivor benchmark: the cost of a minor collection per surviving object, for
//! one young list or many, copied to the to-space or promoted.

use super::*;

/// The object graph of the survivor benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One linked list, kept by one root: each object is reached only through the one
    /// before it (no parallelism possible).
    List,
    /// [`WIDE_LISTS`] independent lists, one root each, allocated round-robin.
    Wide,
}

/// Lists of the [`Shape::Wide`] survivor benchmark.
pub const WIDE_LISTS: usize = 1_000;

impl Shape {
    pub(super) fn name(self) -> &'static str {
        match self {
            Shape::List => "list",
            Shape::Wide => "wide",
        }
    }
}

/// Where the survivor benchmark's collection copies its survivors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// The to-space (the default promotion age, 2: first-time survivors are copied).
    Survivor,
    /// The old generation (promotion age 1: every survivor is promoted).
    Old,
}

impl Destination {
    pub(super) fn name(self) -> &'static str {
        match self {
            Destination::Survivor => "survivor",
            Destination::Old => "old",
        }
    }
}

/// What the survivor benchmark measured (medians over runs).
#[derive(Clone, Copy, Debug)]
pub struct SurvivorFigures {
    /// Pause per surviving object, in ns.
    pub ns_per_object: f64,
    /// Pause of the measured collection, in µs.
    pub pause_us: f64,
    /// Bytes per surviving object.
    pub bytes_per_object: usize,
    /// The parts of the median pause.
    pub parts: crate::PauseParts,
    /// GC workers the median pause's copy ran on (see `PauseRecord::gc_workers`).
    pub workers_used: usize,
}

/// The survivor benchmark: `n` young 16-byte objects (a header and one reference)
/// linked into one list or [`WIDE_LISTS`] lists, kept by roots, then one forced minor
/// collection with up to `workers` GC workers, measured by its pause record (per surviving object). Each run builds the
/// lists anew in the same heap (so the memory the collection copies into has been
/// touched before, as in a running program); the median of `runs` is reported.
pub fn survivors(
    shape: Shape,
    n: usize,
    to: Destination,
    workers: usize,
    runs: usize,
) -> SurvivorFigures {
    let bytes = 16;
    let nursery = (n * bytes * 2).next_power_of_two().max(1 << 20);
    let heap = heap_with(
        bench_config()
            .gc_workers(workers)
            .nursery_size(nursery)
            .survivor_size(nursery)
            .promotion_age(match to {
                Destination::Survivor => 2,
                Destination::Old => 1,
            })
            .build()
            .expect("a valid configuration"),
    );
    let node = heap
        .register_type(&TypeDescriptor::fixed("ListNode", 8).with_refs(&[0]))
        .unwrap();
    let mut m = heap.mutator();
    let lists = match shape {
        Shape::List => 1,
        Shape::Wide => WIDE_LISTS.min(n.max(1)),
    };
    let base = m.roots_len();
    let mut per_object = Vec::new();
    let mut pauses = Vec::new();
    let mut records = Vec::new();
    // One unmeasured run first: it touches the to-space (or the old blocks).
    for run in 0..=runs {
        for _ in 0..lists {
            // SAFETY: a null root.
            unsafe { m.push_root(None) };
        }
        for i in 0..n {
            let r = (base + i % lists) as u32;
            let o = m.alloc_raw(node).expect("alloc");
            // SAFETY: `o` is fresh and the root's object is live (rooted); no
            // allocation or safepoint comes between reading them and the stores.
            unsafe {
                m.store_ref(o, 0, m.root(r));
                m.set_root(r, Some(o));
            }
        }
        let r = m.collect(CollectionKind::Minor);
        assert_eq!(r.kind, CollectionKind::Minor);
        assert_eq!(r.survivors, n, "every object survives");
        if to == Destination::Old {
            assert_eq!(r.promoted_bytes, n * bytes, "every survivor is promoted");
        }
        // SAFETY: only the roots pushed above are released; no scope is open.
        unsafe { m.truncate_roots(base) };
        // Empty the heap for the next run: the survivors die.
        match to {
            Destination::Survivor => {
                m.collect(CollectionKind::Minor);
            }
            Destination::Old => {
                m.collect(CollectionKind::Major);
            }
        }
        if run > 0 {
            per_object.push(r.duration.as_nanos() as f64 / n as f64);
            pauses.push(r.duration.as_secs_f64() * 1e6);
            records.push(r);
        }
    }
    let rec = median_record(records);
    SurvivorFigures {
        ns_per_object: median(per_object),
        pause_us: median(pauses),
        bytes_per_object: bytes,
        parts: rec.parts,
        workers_used: rec.gc_workers,
    }
}
