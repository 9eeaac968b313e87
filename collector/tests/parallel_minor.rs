//! Minor collections whose transitive copy runs on several GC workers: every object
//! survives once, with its data and every reference to it (objects reached by many
//! workers at once included), whether survivors stay in the to-space, are promoted,
//! or overflow the to-space; and the collector goes parallel only when there is work
//! to share. Every heap here runs the verifier after each collection.

use contgc_collector::{CollectionKind, Config, ConfigBuilder, Heap, PauseRecord, TypeDescriptor};

/// Hub objects that every node refers to (`i % HUBS`): reached by all workers at once.
const HUBS: usize = 16;

/// Builds `lists` young lists of `n` nodes in all (allocated round-robin: node `i`
/// goes to the front of list `i % lists`), each node `[next, id, hub]` referring to
/// hub `i % HUBS`; collects once (`kind`), then checks every list, every id and that
/// all nodes of a hub still refer to the one copy of it. Returns the collection's
/// record.
fn lists_survive(
    config: ConfigBuilder,
    lists: usize,
    n: usize,
    kind: CollectionKind,
) -> PauseRecord {
    let heap = Heap::new(config.verify_after_gc(true).build().unwrap()).unwrap();
    let node = heap
        .register_type(&TypeDescriptor::fixed("Node", 24).with_refs(&[0, 16]))
        .unwrap();
    let hub = heap
        .register_type(&TypeDescriptor::fixed("Hub", 8))
        .unwrap();
    let table = heap
        .register_type(&TypeDescriptor::array("Table", 0, 8).with_elem_refs(&[0]))
        .unwrap();
    let mut m = heap.mutator();
    m.scope(|s| {
        let heads = s.alloc_array(table, lists as u32).unwrap();
        let hubs = s.alloc_array(table, HUBS as u32).unwrap();
        for h in 0..HUBS {
            s.scope(|s| {
                let o = s.alloc(hub).unwrap();
                s.write_u64(o, 0, 1000 + h as u64);
                s.set_ref(hubs, 8 * h, Some(o));
            });
        }
        for i in 0..n {
            s.scope(|s| {
                let o = s.alloc(node).unwrap();
                let l = i % lists;
                let next = s.get_ref(heads, 8 * l);
                s.set_ref(o, 0, next);
                s.write_u64(o, 8, i as u64);
                let h = s.get_ref(hubs, 8 * (i % HUBS));
                s.set_ref(o, 16, h);
                s.set_ref(heads, 8 * l, Some(o));
            });
        }
        let record = s.collect(kind);
        let hub_at: Vec<usize> = (0..HUBS)
            .map(|h| {
                s.scope(|s| {
                    let o = s.get_ref(hubs, 8 * h).unwrap();
                    assert_eq!(s.read_u64(o, 0), 1000 + h as u64, "hub {h}");
                    s.raw(o).addr()
                })
            })
            .collect();
        let mut seen = 0;
        for l in 0..lists {
            s.scope(|s| {
                let mut at = s.get_ref(heads, 8 * l);
                // The list's ids, newest first: the largest i with i % lists == l, down.
                let mut want = (n - 1 - l) / lists * lists + l;
                while let Some(o) = at {
                    let id = s.read_u64(o, 8) as usize;
                    assert_eq!(id, want, "list {l}");
                    let h = s.get_ref(o, 16).unwrap();
                    assert_eq!(s.raw(h).addr(), hub_at[id % HUBS], "node {id}'s hub");
                    seen += 1;
                    at = s.get_ref(o, 0);
                    want = want.wrapping_sub(lists);
                }
            });
        }
        assert_eq!(seen, n, "every node is in its list");
        record
    })
}

fn workers(n: usize) -> ConfigBuilder {
    Config::builder()
        .nursery_size(8 << 20)
        .survivor_size(4 << 20)
        .gc_workers(n)
}

#[test]
fn survivors_copied_to_the_to_space_by_several_workers() {
    for w in [2, 4] {
        let r = lists_survive(
            workers(w).parallel_threshold(0),
            100,
            20_000,
            CollectionKind::Minor,
        );
        assert_eq!(r.kind, CollectionKind::Minor);
        assert_eq!(r.gc_workers, w, "the copy ran on every worker");
        assert_eq!(r.promoted_bytes, 0, "first-time survivors stay young");
        assert_eq!(r.survivors, 20_000 + HUBS + 2);
    }
}

#[test]
fn survivors_promoted_by_several_workers() {
    for w in [2, 4] {
        let r = lists_survive(
            workers(w).parallel_threshold(0).promotion_age(1),
            100,
            20_000,
            CollectionKind::Minor,
        );
        assert_eq!(r.gc_workers, w);
        assert_eq!(r.survivors, 20_000 + HUBS + 2);
        assert!(r.promoted_bytes >= 20_000 * 32, "every node is promoted");
    }
}

#[test]
fn a_to_space_that_overflows_promotes_the_rest() {
    // 20,000 nodes of 32 bytes do not fit a 128 KiB to-space.
    let config = Config::builder()
        .nursery_size(4 << 20)
        .survivor_size(128 << 10)
        .gc_workers(2)
        .parallel_threshold(0);
    let r = lists_survive(config, 100, 20_000, CollectionKind::Minor);
    assert_eq!(r.gc_workers, 2);
    assert!(r.promoted_bytes > 0, "the overflow was promoted");
    assert!(r.survivor_bytes - r.promoted_bytes <= 128 << 10);
}

#[test]
fn a_major_collection_evacuates_the_nursery_in_parallel_too() {
    let r = lists_survive(
        workers(2).parallel_threshold(0),
        100,
        20_000,
        CollectionKind::Major,
    );
    assert_eq!(r.kind, CollectionKind::Major);
    assert!(r.nursery_evacuated);
}

#[test]
fn the_copy_goes_parallel_only_when_it_pays() {
    // Many lists, much to copy, promoted: shared.
    let wide = lists_survive(
        workers(2).promotion_age(1),
        1_000,
        100_000,
        CollectionKind::Minor,
    );
    assert_eq!(wide.gc_workers, 2, "{wide:?}");
    // Copied to the to-space (500 lists: their table is young, not a large object,
    // whose referents are promoted at once): one worker copies that as fast as two.
    let young = lists_survive(workers(2), 500, 100_000, CollectionKind::Minor);
    assert_eq!(young.gc_workers, 1, "{young:?}");
    // One list: never more than one object waits, nothing to share.
    let chain = lists_survive(
        workers(2).promotion_age(1),
        1,
        100_000,
        CollectionKind::Minor,
    );
    assert_eq!(chain.gc_workers, 1, "{chain:?}");
    // Little to copy: done before it would pay.
    let small = lists_survive(workers(2).promotion_age(1), 100, 500, CollectionKind::Minor);
    assert_eq!(small.gc_workers, 1, "{small:?}");
    // One worker configured: alone.
    let alone = lists_survive(
        workers(1).parallel_threshold(0),
        1_000,
        20_000,
        CollectionKind::Minor,
    );
    assert_eq!(alone.gc_workers, 1);
}
