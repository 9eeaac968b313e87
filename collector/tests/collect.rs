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
