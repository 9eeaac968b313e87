//! Pinning (`Scope::pin`, `Mutator::pin_raw` / `unpin_raw`): a pinned object never
//! moves and never dies while pinned, young or old, through minor and major
//! collections with any number of GC workers and under GC stress; pins nest and
//! unbalanced unpins are refused. The verifier is on in every heap here.

use contgc_collector::{CollectionKind, Config, Heap, PinError, TypeDescriptor, TypeId};

fn heap(config: contgc_collector::ConfigBuilder) -> (Heap, TypeId) {
    let h = Heap::new(config.verify_after_gc(true).build().unwrap()).unwrap();
    let t = h
        .register_type(&TypeDescriptor::fixed("Buffer", 32).with_refs(&[0]))
        .unwrap();
    (h, t)
}

#[test]
fn a_pinned_young_object_gets_an_address_that_never_changes() {
    for workers in [1, 2, 4] {
        let (h, t) = heap(
            Config::builder()
                .promotion_age(3)
                .gc_workers(workers)
                .parallel_threshold(0),
        );
        let mut m = h.mutator();
        let pinned = m.scope(|s| {
            let b = s.alloc(t).unwrap();
            s.write_u64(b, 8, 77);
            let p = s.pin(b).unwrap();
            assert_eq!(s.raw(b), p.object(), "the local follows the promotion");
            p
        });
        // Nothing but the pin holds it now.
        let at = pinned.object();
        for kind in [
            CollectionKind::Minor,
            CollectionKind::Major,
            CollectionKind::Minor,
        ] {
            m.collect(kind);
            assert_eq!(pinned.object(), at);
            // SAFETY: pinned, so live at this address; word 8 is data.
            assert_eq!(unsafe { at.load_u64(8) }, 77, "{workers} workers, {kind:?}");
        }
        // Unpinned, it can die: a major collection frees it (the old space has one
        // object less afterwards).
        let before = h.stats().old_bytes;
        drop(pinned);
        m.collect(CollectionKind::Major);
        assert!(h.stats().old_bytes < before, "{workers} workers");
    }
}

#[test]
fn pins_nest_and_an_unbalanced_unpin_is_refused() {
    let (h, t) = heap(Config::builder());
    let mut m = h.mutator();
    m.scope(|s| {
        let b = s.alloc(t).unwrap();
        let (p1, p2) = (s.pin(b).unwrap(), s.pin(b).unwrap());
        assert_eq!(s.pin_count(b), 2);
        assert_eq!(p1.object(), p2.object());
        drop(p1);
        assert_eq!(s.pin_count(b), 1);
        drop(p2);
        assert_eq!(s.pin_count(b), 0);
        let o = s.raw(b);
        // SAFETY: no Pinned holds a pin on `o`.
        let r = unsafe { s.mutator().unpin_raw(o) };
        assert_eq!(r, Err(PinError::NotPinned { addr: o.addr() }));
    });
}

#[test]
fn raw_pins_keep_their_object_alive_until_unpinned() {
    let (h, t) = heap(Config::builder().promotion_age(2));
    let mut m = h.mutator();
    let o = m.scope(|s| {
        let b = s.alloc(t).unwrap();
        s.write_u64(b, 16, 5);
        let o = s.raw(b);
        // SAFETY: a live local.
        unsafe { s.mutator().pin_raw(o) }.unwrap()
    });
    m.collect(CollectionKind::Major);
    m.collect(CollectionKind::Minor);
    assert_eq!(m.pin_count(o), 1);
    // SAFETY: pinned: live at this address.
    assert_eq!(unsafe { o.load_u64(16) }, 5);
    // SAFETY: the pin made above.
    unsafe { m.unpin_raw(o) }.unwrap();
    assert_eq!(m.pin_count(o), 0);
}

/// Under GC stress, objects pinned and unpinned at random between allocations: a
/// pinned one is always where it was pinned with its data intact.
#[test]
fn pinned_objects_stay_put_under_gc_stress() {
    for every in [1, 7] {
        let (h, t) = heap(Config::builder().gc_stress(every).promotion_age(2));
        let mut m = h.mutator();
        m.scope(|s| {
            let mut pins = Vec::new();
            for round in 0..200u64 {
                s.scope(|i| {
                    let b = i.alloc(t).unwrap();
                    i.write_u64(b, 8, round);
                    if round % 3 == 0 {
                        pins.push((i.pin(b).unwrap(), round));
                    }
                });
                if round % 7 == 0 && !pins.is_empty() {
                    pins.remove((round as usize / 7) % pins.len());
                }
                for (p, id) in &pins {
                    // SAFETY: pinned: live at this address; word 8 is data.
                    assert_eq!(unsafe { p.object().load_u64(8) }, *id);
                }
            }
        });
    }
}
