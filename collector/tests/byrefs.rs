//! Byrefs: captured raw or through the safe API, resolved by the next collection,
//! moved with their base, and checked by the verifier (invariant 4).

use contgc_collector::{Byref, ByrefError, CollectionKind, Config, Heap, TypeDescriptor};

fn setup(promotion_age: u8) -> (Heap, contgc_collector::TypeId, contgc_collector::TypeId) {
    let h = Heap::new(
        Config::builder()
            .promotion_age(promotion_age)
            .verify_after_gc(true)
            .build()
            .unwrap(),
    )
    .unwrap();
    // A frame-like holder: one byref slot (16 bytes) and a data word.
    let holder = h
        .register_type(&TypeDescriptor::fixed("Holder", 24).with_byrefs(&[0]))
        .unwrap();
    // A target: a reference and three data words.
    let target = h
        .register_type(&TypeDescriptor::fixed("Target", 32).with_refs(&[0]))
        .unwrap();
    (h, holder, target)
}

#[test]
fn raw_byrefs_into_young_objects_are_resolved_and_follow_their_base() {
    let (h, holder, target) = setup(3);
    let mut m = h.mutator();
    m.scope(|s| {
        let hold = s.alloc(holder).unwrap();
        let t = s.scope_escape(|i| i.alloc(target).ok()).unwrap();
        s.write_u64(t, 16, 5);
        let (ho, to) = (s.raw(hold), s.raw(t));
        // SAFETY: live objects; slot 0 is the holder's byref slot; the address is
        // payload byte 16 of the target.
        unsafe { s.mutator().store_byref(ho, 0, to.payload() as usize + 16) };
        assert!(matches!(s.byref(hold, 0).unwrap(), Byref::Unresolved(_)));
        for kind in [
            CollectionKind::Minor,
            CollectionKind::Minor,
            CollectionKind::Major,
        ] {
            s.collect(kind);
            let Byref::Heap { base, offset } = s.byref(hold, 0).unwrap() else {
                panic!("resolved by the collection")
            };
            assert!(s.same(base, t));
            assert_eq!(offset, 16);
        }
        assert_ne!(s.raw(t), to, "the target moved");
        s.write_u64_via(hold, 0, 99);
        assert_eq!(s.read_u64(t, 16), 99);
        assert_eq!(s.read_u64(t, 8), 0, "only the captured field changed");
        let stats = s.heap().pauses();
        assert_eq!(stats.iter().map(|p| p.byrefs_resolved).sum::<usize>(), 1);
    });
}

#[test]
fn a_byref_keeps_its_base_alive() {
    let (h, holder, target) = setup(1);
    let mut m = h.mutator();
    m.scope(|s| {
        let hold = s.alloc(holder).unwrap();
        s.scope(|i| {
            let t = i.alloc(target).unwrap();
            i.write_u64(t, 24, 1234);
            let (ho, to) = (i.raw(hold), i.raw(t));
            // SAFETY: live objects; byref slot 0; payload byte 24 of the target.
            unsafe { i.mutator().store_byref(ho, 0, to.payload() as usize + 24) };
        });
        // Only the byref refers to the target now.
        s.collect(CollectionKind::Minor);
        s.collect(CollectionKind::Major);
        assert_eq!(s.read_u64_via(hold, 0), 1234);
    });
}

#[test]
fn byrefs_written_into_old_objects_are_found_through_the_remembered_set() {
    let (h, holder, target) = setup(1);
    let big = h
        .register_type(&TypeDescriptor::array("Big", 0, 8))
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let hold = s.alloc(holder).unwrap();
        let large = s.alloc_array(big, 1000).unwrap();
        s.collect(CollectionKind::Minor); // the holder is old now
        let t = s.alloc(target).unwrap(); // young
        s.write_u64(t, 8, 7);
        let (ho, to) = (s.raw(hold), s.raw(t));
        // SAFETY: live objects; byref slot 0; payload byte 8 of the young target.
        unsafe { s.mutator().store_byref(ho, 0, to.payload() as usize + 8) };
        s.collect(CollectionKind::Minor);
        assert_eq!(s.read_u64_via(hold, 0), 7);
        // Re-point the old holder into a large object, then an old one.
        let (ho, lo) = (s.raw(hold), s.raw(large));
        // SAFETY: live; payload byte 800 of the large object.
        unsafe { s.mutator().store_byref(ho, 0, lo.payload() as usize + 800) };
        s.collect(CollectionKind::Minor);
        s.write_u64_via(hold, 0, 31);
        assert_eq!(s.read_u64(large, 800), 31);
    });
}

#[test]
fn byrefs_into_another_holders_payload_work_the_same() {
    let (h, holder, _) = setup(2);
    let mut m = h.mutator();
    m.scope(|s| {
        let caller = s.alloc(holder).unwrap();
        let callee = s.alloc(holder).unwrap();
        s.write_u64(caller, 16, 40);
        // The callee's byref points at the caller's local (payload byte 16).
        s.set_byref(callee, 0, caller, 16).unwrap();
        for _ in 0..4 {
            s.collect(CollectionKind::Minor);
        }
        s.write_u64_via(callee, 0, 41);
        assert_eq!(s.read_u64(caller, 16), 41);
    });
}

#[test]
fn external_byrefs_are_kept_as_they_are() {
    let (h, holder, target) = setup(1);
    let mut m = h.mutator();
    let outside = Box::new(5u64);
    let addr = &*outside as *const u64 as usize;
    m.scope(|s| {
        let hold = s.alloc(holder).unwrap();
        s.set_byref_external(hold, 0, addr).unwrap();
        s.collect(CollectionKind::Minor);
        s.collect(CollectionKind::Major);
        assert_eq!(s.byref(hold, 0).unwrap(), Byref::External(addr));
        // A raw capture of an outside address resolves to external.
        let ho = s.raw(hold);
        // SAFETY: live holder, byref slot 0, address outside the heap.
        unsafe { s.mutator().store_byref(ho, 0, addr) };
        s.collect(CollectionKind::Minor);
        assert_eq!(s.byref(hold, 0).unwrap(), Byref::External(addr));
        // An address inside the heap is refused as external.
        let t = s.alloc(target).unwrap();
        let inside = s.raw(t).payload() as usize;
        assert_eq!(
            s.set_byref_external(hold, 0, inside),
            Err(ByrefError::InsideHeap { addr: inside })
        );
    });
}

#[test]
fn bad_captures_are_refused() {
    let (h, holder, target) = setup(1);
    let mut m = h.mutator();
    m.scope(|s| {
        let hold = s.alloc(holder).unwrap();
        let t = s.alloc(target).unwrap();
        assert_eq!(
            s.set_byref(hold, 0, t, 32),
            Err(ByrefError::OutOfBounds {
                offset: 32,
                payload: 32
            })
        );
        assert!(matches!(
            s.set_byref(hold, 8, t, 0),
            Err(ByrefError::NotAByrefSlot { offset: 8, .. })
        ));
        assert!(matches!(
            s.set_byref(t, 0, t, 0),
            Err(ByrefError::NotAByrefSlot { .. })
        ));
        // The error message names the problem.
        let msg = s.set_byref(hold, 0, t, 40).unwrap_err().to_string();
        assert!(msg.contains("past the end"), "{msg}");
    });
}

#[test]
fn a_byref_whose_two_words_disagree_is_resolved_again_from_its_address() {
    // Two threads storing one byref slot at once can leave the address of one store
    // beside the base word of the other; the collector trusts the address.
    let (h, holder, target) = setup(1);
    let mut m = h.mutator();
    m.scope(|s| {
        let hold = s.alloc(holder).unwrap();
        let t1 = s.alloc(target).unwrap();
        let t2 = s.alloc(target).unwrap();
        s.write_u64(t1, 16, 1);
        s.write_u64(t2, 16, 2);
        s.set_byref(hold, 0, t1, 16).unwrap();
        let (ho, o2) = (s.raw(hold), s.raw(t2));
        // SAFETY: word 8 of the holder's payload is the byref's base word; writing a
        // live object of this heap there is what a racing `set_byref` would do.
        unsafe { ho.store_slot(8, o2.addr()) };
        // The safe view refuses to trust the pair until a collection settles it.
        assert!(matches!(
            s.byref(hold, 0).unwrap(),
            Byref::Heap { .. } | Byref::Unresolved(_)
        ));
        s.collect(CollectionKind::Minor);
        s.collect(CollectionKind::Major);
        let Byref::Heap { base, offset } = s.byref(hold, 0).unwrap() else {
            panic!("settled")
        };
        assert!(s.same(base, t1), "the address decides the base");
        assert_eq!((offset, s.read_u64_via(hold, 0)), (16, 1));
    });
}

/// Parallel marking (2 and 4 workers, every major parallel): thousands of holders,
/// each with a raw byref into one of a few targets that only the byrefs keep alive,
/// so workers race to mark the same targets and may scan the same holder twice. Every
/// byref must come out resolved to its own target and offset, every target alive,
/// and the verifier (on) must find the heap sound after each collection.
#[test]
fn parallel_marking_resolves_every_byref_and_keeps_every_base() {
    const HOLDERS: usize = 4000;
    const TARGETS: usize = 16;
    for workers in [2, 4] {
        let h = Heap::new(
            Config::builder()
                .gc_workers(workers)
                .parallel_threshold(0)
                .verify_after_gc(true)
                .build()
                .unwrap(),
        )
        .unwrap();
        // A holder: a byref slot, the next holder, a data word.
        let holder = h
            .register_type(
                &TypeDescriptor::fixed("Link", 32)
                    .with_byrefs(&[0])
                    .with_refs(&[16]),
            )
            .unwrap();
        let target = h
            .register_type(&TypeDescriptor::fixed("Target", 8 * TARGETS as u32))
            .unwrap();
        let mut m = h.mutator();
        m.scope(|s| {
            let head = s.alloc(holder).unwrap();
            s.scope(|s| {
                let mut last = head;
                let targets: Vec<_> = (0..TARGETS).map(|_| s.alloc(target).unwrap()).collect();
                for (i, &t) in targets.iter().enumerate() {
                    for w in 0..TARGETS {
                        s.write_u64(t, 8 * w, (i * 1000 + w) as u64);
                    }
                }
                for i in 1..HOLDERS {
                    let n = s.alloc(holder).unwrap();
                    s.set_ref(last, 16, Some(n));
                    let t = targets[i % TARGETS];
                    let (no, to) = (s.raw(n), s.raw(t));
                    let off = 8 * (i / TARGETS % TARGETS);
                    // SAFETY: live objects; byref slot 0 of the holder; payload byte
                    // `off` of the target.
                    unsafe { s.mutator().store_byref(no, 0, to.payload() as usize + off) };
                    s.write_u64(n, 24, i as u64);
                    last = n;
                }
            });
            // Only the chain from `head` and the byrefs keep anything alive now.
            s.collect(CollectionKind::Major);
            s.collect(CollectionKind::Minor);
            s.collect(CollectionKind::Major);
            let mut n = s.get_ref(head, 16);
            let mut seen = 0;
            while let Some(cur) = n {
                let i = s.read_u64(cur, 24) as usize;
                let want = ((i % TARGETS) * 1000 + i / TARGETS % TARGETS) as u64;
                assert_eq!(
                    s.read_u64_via(cur, 0),
                    want,
                    "{workers} workers, holder {i}"
                );
                assert!(matches!(s.byref(cur, 0).unwrap(), Byref::Heap { .. }));
                seen += 1;
                n = s.get_ref(cur, 16);
            }
            assert_eq!(seen, HOLDERS - 1, "{workers} workers");
        });
    }
}
