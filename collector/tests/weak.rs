//! Weak reference slots (`TypeDescriptor::with_weak_refs`, `Scope::set_weak` /
//! `get_weak`): a weak slot never keeps its referent alive, is cleared by the
//! collection that finds the referent dead (minor for young, major for old, with one
//! or several GC workers), follows the referent while it lives, and is never read as
//! live after its referent died. The verifier is on in every heap here.

use contgc_collector::{CollectionKind, Config, Heap, Local, Scope, TypeDescriptor, TypeId};

struct Types {
    /// A weak cell: weak slot 0, data word 8 (the id it expects).
    cell: TypeId,
    /// An object: data word 0 (its id), reference slot 8.
    obj: TypeId,
    /// A weak array: elements of one weak slot.
    table: TypeId,
}

fn heap(config: contgc_collector::ConfigBuilder) -> (Heap, Types) {
    let h = Heap::new(config.verify_after_gc(true).build().unwrap()).unwrap();
    let t = Types {
        cell: h
            .register_type(&TypeDescriptor::fixed("WeakCell", 16).with_weak_refs(&[0]))
            .unwrap(),
        obj: h
            .register_type(&TypeDescriptor::fixed("Obj", 16).with_refs(&[8]))
            .unwrap(),
        table: h
            .register_type(&TypeDescriptor::array("WeakTable", 0, 8).with_elem_weak_refs(&[0]))
            .unwrap(),
    };
    (h, t)
}

fn obj<'s>(s: &mut Scope<'s>, t: &Types, id: u64) -> Local<'s> {
    let o = s.alloc(t.obj).unwrap();
    s.write_u64(o, 0, id);
    o
}

/// The id of the object a weak cell refers to, if it is still there.
fn weak_id<'s>(s: &mut Scope<'s>, cell: Local<'s>) -> Option<u64> {
    s.scope(|i| {
        let r = i.get_weak(cell, 0)?;
        Some(i.read_u64(r, 0))
    })
}

#[test]
fn a_minor_collection_clears_a_weak_slot_to_a_dead_young_object_and_moves_a_live_one() {
    let (h, t) = heap(Config::builder().promotion_age(3));
    let mut m = h.mutator();
    m.scope(|s| {
        let (dead_cell, live_cell) = (s.alloc(t.cell).unwrap(), s.alloc(t.cell).unwrap());
        let live = obj(s, &t, 2);
        s.scope(|i| {
            let dead = obj(i, &t, 1);
            i.set_weak(dead_cell, 0, Some(dead));
        });
        s.set_weak(live_cell, 0, Some(live));
        let before = s.raw(live).addr();
        s.collect(CollectionKind::Minor);
        assert_ne!(s.raw(live).addr(), before, "the live referent was copied");
        assert_eq!(weak_id(s, dead_cell), None);
        let back = s.get_weak(live_cell, 0).expect("the referent lives");
        assert!(
            s.same(back, live),
            "the slot follows its referent to its copy"
        );
    });
}

#[test]
fn an_old_objects_weak_slot_to_a_young_object_is_settled_by_minor_collections() {
    let (h, t) = heap(Config::builder().promotion_age(1));
    let mut m = h.mutator();
    m.scope(|s| {
        let cell = s.alloc(t.cell).unwrap();
        s.collect(CollectionKind::Minor); // the cell is old now
        let young = obj(s, &t, 7);
        s.set_weak(cell, 0, Some(young));
        // Alive: promoted, and the slot follows it.
        s.collect(CollectionKind::Minor);
        assert_eq!(weak_id(s, cell), Some(7));
        s.scope(|i| {
            let short = obj(i, &t, 8);
            i.set_weak(cell, 0, Some(short));
        });
        // Dead: nothing but the old cell's weak slot reached it.
        s.collect(CollectionKind::Minor);
        assert_eq!(weak_id(s, cell), None);
    });
}

#[test]
fn a_weak_slot_to_an_old_object_is_cleared_by_the_major_collection_that_frees_it() {
    for workers in [1, 2, 4] {
        let (h, t) = heap(
            Config::builder()
                .promotion_age(1)
                .gc_workers(workers)
                .parallel_threshold(0),
        );
        let mut m = h.mutator();
        m.scope(|s| {
            let cell = s.alloc(t.cell).unwrap();
            s.scope(|i| {
                let o = obj(i, &t, 5);
                i.set_weak(cell, 0, Some(o));
                i.collect(CollectionKind::Minor); // both old now
            });
            // Minor collections never free old objects: the slot stays.
            s.collect(CollectionKind::Minor);
            assert_eq!(weak_id(s, cell), Some(5), "{workers} workers");
            s.collect(CollectionKind::Major);
            assert_eq!(weak_id(s, cell), None, "{workers} workers");
        });
    }
}

/// A weak table (an array of weak slots) over many objects, every other one kept by
/// a strong list: after each collection, of every kind and with 1, 2 or 4 workers,
/// each kept object is still in its slot and each dropped one is gone.
#[test]
fn a_weak_table_keeps_exactly_the_objects_that_live_elsewhere() {
    const N: u32 = 2000;
    for workers in [1, 2, 4] {
        let (h, t) = heap(
            Config::builder()
                .promotion_age(2)
                .gc_workers(workers)
                .parallel_threshold(0),
        );
        let mut m = h.mutator();
        m.scope(|s| {
            let table = s.alloc_array(t.table, N).unwrap();
            let keep = obj(s, &t, u64::MAX);
            s.scope(|i| {
                for k in 0..N as u64 {
                    let o = obj(i, &t, k);
                    i.set_weak(table, 8 * k as usize, Some(o));
                    if k % 2 == 0 {
                        // Kept: linked from `keep`.
                        let head = i.get_ref(keep, 8);
                        i.set_ref(o, 8, head);
                        i.set_ref(keep, 8, Some(o));
                    }
                }
            });
            for kind in [
                CollectionKind::Minor,
                CollectionKind::Minor,
                CollectionKind::Major,
                CollectionKind::Minor,
                CollectionKind::Major,
            ] {
                s.collect(kind);
                for k in 0..N as usize {
                    let got = s.scope(|i| {
                        let r = i.get_weak(table, 8 * k)?;
                        Some(i.read_u64(r, 0))
                    });
                    if k % 2 == 0 {
                        assert_eq!(got, Some(k as u64), "{workers} workers, {kind:?}, slot {k}");
                    } else {
                        // Young garbage goes at the first minor collection; once
                        // promoted, at the next major one; never read as live
                        // with another object's id.
                        assert!(got.is_none() || got == Some(k as u64), "slot {k}: {got:?}");
                    }
                }
            }
            // After a major collection every dropped object is gone.
            for k in (1..N as usize).step_by(2) {
                assert!(s.scope(|i| i.get_weak(table, 8 * k).is_none()), "slot {k}");
            }
        });
    }
}

/// Under GC stress (a collection every few allocations), cells weakly referring to
/// objects that are dropped at random: a cell never reads an object other than its
/// own, and reads it as long as it is strongly held.
#[test]
fn weak_slots_under_gc_stress_never_read_a_dead_or_wrong_object() {
    for every in [1, 3, 17] {
        let (h, t) = heap(Config::builder().gc_stress(every).promotion_age(2));
        let mut m = h.mutator();
        m.scope(|s| {
            let holder = s.alloc_array(t.table, 64).unwrap();
            let strong = s.alloc(t.obj).unwrap();
            let mut cells = Vec::new();
            let mut rng = 0x1234_5678_u64;
            for round in 0..400u64 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let cell = s.alloc(t.cell).unwrap();
                s.write_u64(cell, 8, round);
                s.scope(|i| {
                    let o = obj(i, &t, round);
                    i.set_weak(cell, 0, Some(o));
                    if rng.is_multiple_of(3) {
                        let head = i.get_ref(strong, 8);
                        i.set_ref(o, 8, head);
                        i.set_ref(strong, 8, Some(o));
                    }
                });
                s.set_weak(holder, 8 * (round as usize % 64), Some(cell));
                cells.push((cell, rng.is_multiple_of(3)));
                for &(c, held) in &cells {
                    let want = s.read_u64(c, 8);
                    match weak_id(s, c) {
                        Some(id) => assert_eq!(id, want, "a cell read another object"),
                        None => assert!(!held, "a strongly held referent was cleared"),
                    }
                }
            }
        });
    }
}

#[test]
#[should_panic(expected = "it holds Weak")]
fn a_weak_slot_is_not_a_reference_slot() {
    let (h, t) = heap(Config::builder());
    let mut m = h.mutator();
    m.scope(|s| {
        let cell = s.alloc(t.cell).unwrap();
        let _ = s.get_ref(cell, 0);
    });
}

/// Weak handles: follow a young object through minor collections, are cleared once it
/// dies, and a handle to an old object survives minors and is cleared by the major
/// collection that frees it, with one or several workers.
#[test]
fn weak_handles_follow_their_object_and_are_cleared_when_it_dies() {
    for workers in [1, 2] {
        let (h, t) = heap(
            Config::builder()
                .promotion_age(2)
                .gc_workers(workers)
                .parallel_threshold(0),
        );
        let mut m = h.mutator();
        let (kept_w, young_w, old_w, keep) = m.scope(|s| {
            let kept = obj(s, &t, 1);
            let keep = s.persist(kept);
            let kept_w = s.weak_handle(kept);
            let young_w = s.scope(|i| {
                let o = obj(i, &t, 2);
                i.weak_handle(o)
            });
            let old_w = s.scope(|i| {
                let o = obj(i, &t, 3);
                let w = i.weak_handle(o);
                let p = i.persist(o);
                i.collect(CollectionKind::Minor);
                i.collect(CollectionKind::Minor); // promoted
                drop(p);
                w
            });
            (kept_w, young_w, old_w, keep)
        });
        m.collect(CollectionKind::Minor);
        m.scope(|s| {
            // Read in an inner scope: the local a read makes keeps its object alive
            // only as long as that scope.
            let id = |s: &mut Scope<'_>, w| {
                s.scope(|i| {
                    let o = i.get_weak_handle(w)?;
                    Some(i.read_u64(o, 0))
                })
            };
            assert_eq!(id(s, &kept_w), Some(1), "{workers} workers");
            assert_eq!(id(s, &young_w), None, "died young");
            assert_eq!(id(s, &old_w), Some(3), "old: minors do not free it");
            s.collect(CollectionKind::Major);
            assert_eq!(id(s, &old_w), None, "freed by the major collection");
            assert_eq!(id(s, &kept_w), Some(1));
            let k = s.get_persistent(&keep);
            let back = s.get_weak_handle(&kept_w).unwrap();
            assert!(s.same(k, back));
        });
        drop(keep);
        m.collect(CollectionKind::Major);
        m.scope(|s| assert!(s.get_weak_handle(&kept_w).is_none()));
    }
}
