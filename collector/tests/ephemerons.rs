//! Ephemerons (`TypeDescriptor::with_elem_ephemerons`, `Scope::set_ephemeron` /
//! `get_ephemeron`): an entry keeps its value alive exactly while its key lives by
//! other means than ephemeron values, through chains of entries (the fix-point), in
//! minor and major collections, with 1, 2 or 4 GC workers; a dead key's entry is
//! cleared. The verifier is on in every heap here.

use contgc_collector::{CollectionKind, Config, Heap, Local, Scope, TypeDescriptor, TypeId};

struct Types {
    map: TypeId,
    obj: TypeId,
}

fn heap(config: contgc_collector::ConfigBuilder) -> (Heap, Types) {
    let h = Heap::new(config.verify_after_gc(true).build().unwrap()).unwrap();
    let t = Types {
        map: h
            .register_type(&TypeDescriptor::array("WeakMap", 0, 16).with_elem_ephemerons(&[0]))
            .unwrap(),
        // Data word 0 (an id), reference slot 8.
        obj: h
            .register_type(&TypeDescriptor::fixed("Obj", 16).with_refs(&[8]))
            .unwrap(),
    };
    (h, t)
}

fn obj<'s>(s: &mut Scope<'s>, t: &Types, id: u64) -> Local<'s> {
    let o = s.alloc(t.obj).unwrap();
    s.write_u64(o, 0, id);
    o
}

/// The ids of entry `e`'s key and value, if there.
fn entry<'s>(s: &mut Scope<'s>, map: Local<'s>, e: usize) -> (Option<u64>, Option<u64>) {
    s.scope(|i| {
        let (k, v) = i.get_ephemeron(map, 16 * e);
        (k.map(|k| i.read_u64(k, 0)), v.map(|v| i.read_u64(v, 0)))
    })
}

fn configs() -> Vec<(&'static str, contgc_collector::ConfigBuilder)> {
    let mut v = Vec::new();
    for workers in [1, 2, 4] {
        v.push((
            "workers",
            Config::builder()
                .promotion_age(2)
                .gc_workers(workers)
                .parallel_threshold(0),
        ));
    }
    v
}

/// Entry 2's key is held by a local; entry 1's key is entry 2's value, entry 0's key
/// is entry 1's value: a chain that runs against the order entries are scanned in, so
/// only the fix-point resolves it. Entry 3's key is held by nothing; entry 4's value
/// refers to its own key (which must not keep it alive). After every kind of
/// collection: 0, 1, 2 intact, 3 and 4 cleared.
#[test]
fn entries_live_exactly_while_their_keys_do_through_chains_of_entries() {
    for (what, config) in configs() {
        let (h, t) = heap(config);
        let mut m = h.mutator();
        m.scope(|s| {
            let map = s.alloc_array(t.map, 5).unwrap();
            let root_key = obj(s, &t, 100);
            s.scope(|i| {
                let (v0, v1, v2) = (obj(i, &t, 0), obj(i, &t, 1), obj(i, &t, 2));
                i.set_ephemeron(map, 32, Some(root_key), Some(v2));
                i.set_ephemeron(map, 16, Some(v2), Some(v1));
                i.set_ephemeron(map, 0, Some(v1), Some(v0));
                let (k3, v3) = (obj(i, &t, 103), obj(i, &t, 3));
                i.set_ephemeron(map, 48, Some(k3), Some(v3));
                let (k4, v4) = (obj(i, &t, 104), obj(i, &t, 4));
                i.set_ref(v4, 8, Some(k4));
                i.set_ephemeron(map, 64, Some(k4), Some(v4));
            });
            for kind in [
                CollectionKind::Minor,
                CollectionKind::Major,
                CollectionKind::Minor,
                CollectionKind::Major,
            ] {
                s.collect(kind);
                assert_eq!(entry(s, map, 0), (Some(1), Some(0)), "{what} {kind:?}");
                assert_eq!(entry(s, map, 1), (Some(2), Some(1)), "{what} {kind:?}");
                assert_eq!(entry(s, map, 2), (Some(100), Some(2)), "{what} {kind:?}");
                // Young dead keys go at the first minor collection already.
                assert_eq!(entry(s, map, 3), (None, None), "{what} {kind:?}");
                assert_eq!(entry(s, map, 4), (None, None), "{what} {kind:?}");
            }
        });
    }
}

/// An old map (remembered by the barrier) whose entries have young keys and values:
/// minor collections keep and move the live ones, clear the dead ones; a key that
/// is old and dead is cleared by the next major collection only.
#[test]
fn an_old_map_with_young_entries_is_settled_by_minor_collections() {
    let (h, t) = heap(Config::builder().promotion_age(1));
    let mut m = h.mutator();
    m.scope(|s| {
        let map = s.alloc_array(t.map, 3).unwrap();
        let kept = obj(s, &t, 10);
        s.collect(CollectionKind::Minor); // the map and `kept` are old
        s.scope(|i| {
            let young_key = obj(i, &t, 11);
            let v = obj(i, &t, 1);
            i.set_ephemeron(map, 0, Some(kept), Some(v)); // old live key, young value
            let v = obj(i, &t, 2);
            i.set_ephemeron(map, 16, Some(young_key), Some(v)); // dies young
        });
        s.collect(CollectionKind::Minor);
        assert_eq!(entry(s, map, 0), (Some(10), Some(1)));
        assert_eq!(entry(s, map, 1), (None, None));
        // An old key that dies: minor collections keep its entry, a major one clears it.
        s.scope(|i| {
            let k = obj(i, &t, 12);
            let v = obj(i, &t, 3);
            i.set_ephemeron(map, 32, Some(k), Some(v));
            let p = i.persist(k);
            i.collect(CollectionKind::Minor); // k and v promoted
            drop(p);
        });
        s.collect(CollectionKind::Minor);
        assert_eq!(entry(s, map, 2), (Some(12), Some(3)));
        s.collect(CollectionKind::Major);
        assert_eq!(entry(s, map, 2), (None, None));
        assert_eq!(entry(s, map, 0), (Some(10), Some(1)));
    });
}

/// Under GC stress, a map whose keys are strongly held or dropped at random: a held
/// key's entry is always intact, a dropped one's is intact or cleared, never mixed
/// up; after a final major collection exactly the held ones are left.
#[test]
fn ephemerons_under_gc_stress_keep_exactly_the_live_keys_entries() {
    const N: usize = 48;
    for every in [1, 4, 19] {
        let (h, t) = heap(Config::builder().gc_stress(every).promotion_age(2));
        let mut m = h.mutator();
        m.scope(|s| {
            let map = s.alloc_array(t.map, N as u32).unwrap();
            let holder = s.alloc_array(t.map, N as u32).unwrap(); // keys as strong values
            let strong = obj(s, &t, u64::MAX);
            let mut held = [false; N];
            let mut rng = 0xC0FF_EE00_u64;
            for round in 0..300u64 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let e = (rng % N as u64) as usize;
                let keep = rng & 32 != 0;
                s.scope(|i| {
                    let k = obj(i, &t, 1000 + round);
                    let v = obj(i, &t, round);
                    i.set_ephemeron(map, 16 * e, Some(k), Some(v));
                    // Keys held strongly: through entry e of `holder`, under a
                    // key that lives (`strong`).
                    let kept = keep.then_some(k);
                    i.set_ephemeron(holder, 16 * e, Some(strong), kept);
                });
                held[e] = keep;
                for (j, &h) in held.iter().enumerate() {
                    match entry(s, map, j) {
                        (Some(k), Some(v)) => assert_eq!(k, v + 1000, "entry {j} mixed up"),
                        (None, None) => assert!(!h, "a held key's entry {j} was cleared"),
                        other => panic!("entry {j} half cleared: {other:?}"),
                    }
                }
            }
            s.collect(CollectionKind::Major);
            for (j, &h) in held.iter().enumerate() {
                let (k, _) = entry(s, map, j);
                assert_eq!(k.is_some(), h, "entry {j} after a major collection");
            }
        });
    }
}
