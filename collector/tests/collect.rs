//! What `Mutator::collect` runs and returns, and the live-heap figure of `HeapStats`.

use contgc_collector::{CollectionKind, Config, Heap, TypeDescriptor};

#[test]
fn a_requested_minor_collection_runs_a_minor_one_even_when_a_major_is_due() {
    // With no growth allowance, any old-generation growth makes a major collection due.
    let heap = Heap::new(
        Config::builder()
            .nursery_size(64 << 10)
            .min_major_bytes(0)
            .major_growth_factor(1.001)
            .verify_after_gc(true)
            .build()
            .unwrap(),
    )
    .unwrap();
    let old = heap
        .register_type(&TypeDescriptor::fixed("Old", 24).pretenured(true))
        .unwrap();
    let junk = heap
        .register_type(&TypeDescriptor::fixed("Junk", 120))
        .unwrap();
    let mut m = heap.mutator();
    let first = m.collect(CollectionKind::Major);
    assert_eq!(first.kind, CollectionKind::Major);
    assert!(first.nursery_evacuated);
    m.scope(|s| {
        let _keep = s.alloc(old).unwrap();
        // The old generation has grown since the major collection: a major one is due.
        let r = s.collect(CollectionKind::Minor);
        assert_eq!(
            r.kind,
            CollectionKind::Minor,
            "a minor collection was asked for"
        );
        assert_eq!(r.number, first.number + 1);
        let r = s.collect(CollectionKind::Minor);
        assert_eq!(r.kind, CollectionKind::Minor);
        // The collection the collector starts itself (eden exhausted) follows policy.
        let before = s.stats().collections;
        while s.stats().collections == before {
            s.scope(|s| {
                s.alloc(junk).unwrap();
            });
        }
        let p = s.heap().pauses();
        let last = p.last().unwrap();
        assert_eq!(last.kind, CollectionKind::Major, "{last:?}");
        assert_eq!(last.number, before + 1);
        let r = s.collect(CollectionKind::Major);
        assert_eq!(r.kind, CollectionKind::Major);
        assert_eq!(heap.pauses().last(), Some(&r));
    });
}

#[test]
fn live_bytes_come_from_the_last_major_collection() {
    let heap = Heap::new(
        Config::builder()
            .promotion_age(3)
            .verify_after_gc(true)
            .build()
            .unwrap(),
    )
    .unwrap();
    // 32-byte objects: header and 24 payload bytes.
    let old = heap
        .register_type(&TypeDescriptor::fixed("Old", 24).pretenured(true))
        .unwrap();
    let young = heap
        .register_type(&TypeDescriptor::fixed("Young", 24))
        .unwrap();
    let mut m = heap.mutator();
    assert_eq!(m.stats().live, None, "no major collection yet");
    m.scope(|s| {
        for _ in 0..100 {
            s.alloc(old).unwrap();
        }
        s.alloc(young).unwrap();
        s.scope(|s| {
            for _ in 0..1000 {
                s.alloc(old).unwrap();
                s.alloc(young).unwrap();
            }
        });
        let st = s.stats();
        assert_eq!(st.old_bytes, 1100 * 32);
        let major = s.collect(CollectionKind::Major);
        let live = s.stats().live.expect("a major collection ran");
        assert_eq!(live.collection, major.number);
        assert_eq!(live.old_bytes, 100 * 32);
        assert_eq!(
            live.young_bytes, 32,
            "the young object stays in the nursery"
        );
        assert_eq!(live.bytes, 101 * 32);

        // Garbage made and a minor collection run since: the old generation holds
        // unswept garbage, the live figure still names the major collection.
        s.scope(|s| {
            for _ in 0..1000 {
                s.alloc(old).unwrap();
            }
        });
        let minor = s.collect(CollectionKind::Minor);
        assert_eq!(minor.kind, CollectionKind::Minor);
        let st = s.stats();
        assert_eq!(st.old_bytes, 1100 * 32);
        assert_eq!(st.live, Some(live));
        assert_eq!(st.collections, minor.number);
        // Statistics reset: counts restart, numbers and the live figure stay.
        s.heap().reset_pause_stats();
        let st = s.stats();
        assert_eq!((st.minor_collections, st.major_collections), (0, 0));
        assert_eq!(st.collections, minor.number);
        assert_eq!(st.live, Some(live));
    });
}

/// The number of GC workers changes nothing but speed: the same program, run with 1,
/// 2 and 4 workers (every major collection parallel), leaves every object at the same
/// place (addresses compared relative to the lowest, since each heap has its own
/// region), through majors that free cells and minors that promote into them.
#[test]
fn objects_land_in_the_same_places_whatever_the_number_of_gc_workers() {
    let layout = |workers: usize| -> Vec<usize> {
        let h = Heap::new(
            Config::builder()
                .promotion_age(1)
                .gc_workers(workers)
                .parallel_threshold(0)
                .verify_after_gc(true)
                .build()
                .unwrap(),
        )
        .unwrap();
        let node = h
            .register_type(&TypeDescriptor::fixed("Node", 24).with_refs(&[0]))
            .unwrap();
        let big = h
            .register_type(&TypeDescriptor::fixed("Big", 200).with_refs(&[0]))
            .unwrap();
        let list = h
            .register_type(&TypeDescriptor::array("List", 0, 8).with_elem_refs(&[0]))
            .unwrap();
        let mut m = h.mutator();
        m.scope(|s| {
            let keep = s.alloc_array(list, 40_000).unwrap();
            for round in 0..4usize {
                for i in 0..40_000usize {
                    // Replace every third entry each round (garbage for the majors).
                    if (i + round) % 3 == 0 || round == 0 {
                        s.scope(|s| {
                            let ty = if i % 7 == 0 { big } else { node };
                            let o = s.alloc(ty).unwrap();
                            s.set_ref(keep, 8 * i, Some(o));
                        });
                    }
                }
                s.collect(CollectionKind::Minor);
                s.collect(CollectionKind::Major);
            }
            s.collect(CollectionKind::Minor);
            let addrs: Vec<usize> = (0..40_000)
                .map(|i| {
                    s.scope(|s| {
                        let o = s.get_ref(keep, 8 * i).unwrap();
                        s.raw(o).addr()
                    })
                })
                .collect();
            let low = *addrs.iter().min().unwrap();
            addrs.iter().map(|a| a - low).collect()
        })
    };
    let one = layout(1);
    assert_eq!(one, layout(2), "2 workers");
    assert_eq!(one, layout(4), "4 workers");
}

/// A verified heap promoting every survivor, with a 40-byte `Node` type (a reference at
/// 0, data at 8).
fn promoting_heap(b: contgc_collector::ConfigBuilder) -> (Heap, contgc_collector::TypeId) {
    let heap = Heap::new(b.promotion_age(1).verify_after_gc(true).build().unwrap()).unwrap();
    let node = heap
        .register_type(&TypeDescriptor::fixed("Node", 32).with_refs(&[0]))
        .unwrap();
    (heap, node)
}

/// After a collection that promoted, blocks are faulted in ahead of the next one
/// (`HeapStats::old_ready_bytes`, at most 2 MiB), taken before any other: the next
/// promotion consumes them, every object stays intact (the verifier runs after each
/// collection), and a heap whose limit leaves no room for them reserves none, so it
/// fills up to the same point as before.
#[test]
fn blocks_are_faulted_in_after_a_promoting_collection_and_used_first() {
    let (heap, node) = promoting_heap(Config::builder());
    let mut m = heap.mutator();
    assert_eq!(heap.stats().old_ready_bytes, 0, "nothing promoted yet");
    let keep = m.scope(|s| {
        let mut list = None;
        for i in 0..20_000u64 {
            list = s.scope_escape(|s| {
                let n = s.alloc(node).unwrap();
                s.write_u64(n, 8, i);
                s.set_ref(n, 0, list);
                Some(n)
            });
        }
        s.persist(list.unwrap())
    });
    let promoted = m.collect(CollectionKind::Minor).promoted_bytes;
    assert!(
        promoted >= 20_000 * 40,
        "the list was promoted: {promoted} bytes"
    );
    let ready = heap.stats().old_ready_bytes;
    assert!(
        ready > 0 && ready <= 2 << 20,
        "ready after promoting: {ready} bytes"
    );
    // The next promotion takes ready blocks first.
    let committed = heap.stats().old_committed_bytes;
    m.scope(|s| {
        for _ in 0..20_000 {
            let _ = s.alloc(node).unwrap();
        }
        let l = s.get_persistent(&keep);
        let mut more = Some(l);
        for _ in 0..5_000 {
            more = s.scope_escape(|s| {
                let n = s.alloc(node).unwrap();
                s.set_ref(n, 0, more);
                Some(n)
            });
        }
        s.set_persistent(&keep, more.unwrap());
    });
    m.collect(CollectionKind::Minor);
    let after = heap.stats();
    assert!(after.old_committed_bytes > committed);
    m.scope(|s| {
        let mut n = Some(s.get_persistent(&keep));
        let mut count = 0;
        while let Some(x) = n {
            count += 1;
            n = s.get_ref(x, 0);
        }
        assert_eq!(count, 25_000);
    });
}

/// Ready blocks never cost a heap near its limit any room: with reservations kept
/// out of what a minor collection may need, it still fills (nearly) its whole limit
/// before allocation fails, and what is ready stays within 2 MiB.
#[test]
fn a_heap_near_its_limit_keeps_its_blocks_for_collections() {
    let (heap, node) = promoting_heap(
        Config::builder()
            .nursery_size(256 << 10)
            .heap_limit(2 << 20)
            .min_major_bytes(0),
    );
    let mut m = heap.mutator();
    let kept = m.scope(|s| {
        let mut list = None;
        let mut kept = 0usize;
        loop {
            let r = s.scope_escape(|s| {
                let n = s.alloc(node).ok()?;
                s.set_ref(n, 0, list);
                Some(n)
            });
            match r {
                Some(n) => {
                    list = Some(n);
                    kept += 1;
                }
                None => break kept,
            }
            assert!(heap.stats().old_ready_bytes <= 2 << 20);
        }
    });
    // 40-byte nodes in a 2 MiB limit: at least 90% of it holds the list when
    // allocation fails (52,416 nodes, all of it, when this test was written).
    assert!(kept * 40 >= (2 << 20) * 9 / 10, "only {kept} nodes fitted");
}
