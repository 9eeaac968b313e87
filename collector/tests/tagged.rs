//! Tagged value slots (`TypeDescriptor::with_tagged` / `with_elem_tagged`,
//! `Scope::get_tagged` / `set_tagged`): the collector traces and moves only the words
//! the slot's `TagScheme` says are references, and never changes an immediate. The
//! verifier is on in every heap here.

use contgc_collector::{
    CollectionKind, Config, DescriptorError, Heap, Local, Scope, TagScheme, Tagged, TaggedError,
    TypeDescriptor, TypeId,
};

const NAN_BOX: TagScheme = match TagScheme::new(0xFFFF_0000_0000_0000, 0xFFFC_0000_0000_0000) {
    Some(s) => s,
    None => panic!("a valid scheme"),
};

struct Types {
    values: TypeId,
    boxed: TypeId,
}

fn heap(config: contgc_collector::ConfigBuilder, scheme: TagScheme) -> (Heap, Types) {
    let h = Heap::new(config.verify_after_gc(true).build().unwrap()).unwrap();
    let t = Types {
        values: h
            .register_type(&TypeDescriptor::array("Values", 8, 8).with_elem_tagged(&[0], scheme))
            .unwrap(),
        boxed: h
            .register_type(&TypeDescriptor::fixed("Boxed", 16).with_tagged(&[8], scheme))
            .unwrap(),
    };
    (h, t)
}

/// An immediate for `i` under `scheme`: a low-bit integer, or a double's bits.
fn imm(scheme: TagScheme, i: u64) -> u64 {
    if scheme == TagScheme::LOW_BIT {
        (i << 1) | 1
    } else {
        (i as f64 + 0.5).to_bits()
    }
}

fn boxed<'s>(s: &mut Scope<'s>, t: &Types, id: u64) -> Local<'s> {
    let b = s.alloc(t.boxed).unwrap();
    s.write_u64(b, 0, id);
    b
}

/// A value vector of `n` values, every third one a reference to a box holding its
/// index, the others immediates; checks it after every kind of collection, with 1, 2
/// and 4 GC workers, under both schemes.
#[test]
fn references_in_tagged_slots_move_and_immediates_stay_as_they_are() {
    const N: usize = 3000;
    for scheme in [TagScheme::LOW_BIT, NAN_BOX] {
        for workers in [1, 2, 4] {
            let (h, t) = heap(
                Config::builder()
                    .promotion_age(2)
                    .gc_workers(workers)
                    .parallel_threshold(0),
                scheme,
            );
            let mut m = h.mutator();
            m.scope(|s| {
                let v = s.alloc_array(t.values, N as u32).unwrap();
                s.scope(|i| {
                    for k in 0..N {
                        let val = if k % 3 == 0 {
                            Tagged::Ref(boxed(i, &t, k as u64))
                        } else {
                            Tagged::Imm(imm(scheme, k as u64))
                        };
                        i.set_tagged(v, 8 + 8 * k, val).unwrap();
                    }
                });
                for kind in [
                    CollectionKind::Minor,
                    CollectionKind::Minor,
                    CollectionKind::Major,
                    CollectionKind::Minor,
                ] {
                    s.collect(kind);
                    for k in 0..N {
                        s.scope(|i| match i.get_tagged(v, 8 + 8 * k) {
                            Tagged::Ref(r) => {
                                assert_eq!(k % 3, 0, "slot {k} became a reference");
                                assert_eq!(i.read_u64(r, 0), k as u64, "slot {k}");
                            }
                            Tagged::Imm(w) => {
                                assert_ne!(k % 3, 0, "reference {k} was lost");
                                assert_eq!(w, imm(scheme, k as u64), "slot {k}");
                            }
                        });
                    }
                }
            });
        }
    }
}

/// An old box's tagged slot is the only thing that keeps a young box alive: the
/// barrier remembers the old one, the minor collection keeps and moves the young one.
#[test]
fn a_tagged_reference_from_an_old_object_keeps_a_young_one_alive() {
    let (h, t) = heap(Config::builder().promotion_age(1), TagScheme::LOW_BIT);
    let mut m = h.mutator();
    m.scope(|s| {
        let old = boxed(s, &t, 1);
        s.collect(CollectionKind::Minor); // `old` is old now
        s.scope(|i| {
            let young = boxed(i, &t, 2);
            i.set_tagged(old, 8, Tagged::Ref(young)).unwrap();
        });
        s.collect(CollectionKind::Minor);
        s.collect(CollectionKind::Major);
        match s.get_tagged(old, 8) {
            Tagged::Ref(r) => assert_eq!(s.read_u64(r, 0), 2),
            Tagged::Imm(w) => panic!("the reference became {w:#x}"),
        }
        // An immediate drops it.
        s.set_tagged(old, 8, Tagged::Imm(imm(TagScheme::LOW_BIT, 9)))
            .unwrap();
        s.collect(CollectionKind::Major);
        assert!(matches!(s.get_tagged(old, 8), Tagged::Imm(w) if w == 19));
    });
}

#[test]
fn an_immediate_with_reference_tag_bits_is_refused() {
    let (h, t) = heap(Config::builder(), NAN_BOX);
    let mut m = h.mutator();
    m.scope(|s| {
        let b = boxed(s, &t, 0);
        let fake = 0xFFFC_0000_0000_1000;
        assert_eq!(
            s.set_tagged(b, 8, Tagged::Imm(fake)),
            Err(TaggedError::LooksLikeReference { word: fake })
        );
        // The reference tag with a null address is an immediate (null).
        s.set_tagged(b, 8, Tagged::Imm(0xFFFC_0000_0000_0000))
            .unwrap();
        assert!(matches!(
            s.get_tagged(b, 8),
            Tagged::Imm(0xFFFC_0000_0000_0000)
        ));
    });
}

#[test]
fn tag_schemes_and_descriptors_are_checked() {
    assert!(TagScheme::new(0, 0).is_none(), "no tag bits");
    assert!(TagScheme::new(0x10, 0).is_none(), "an address bit");
    assert!(
        TagScheme::new(0x1, 0x2).is_none(),
        "reference bits outside the mask"
    );
    assert!(TagScheme::new(0x7, 0x2).is_some());
    let mut d = TypeDescriptor::fixed("NoScheme", 8);
    d.tagged.push(0);
    assert_eq!(d.validate().err(), Some(DescriptorError::NoTagScheme));
    let clash = TypeDescriptor::fixed("Clash", 8)
        .with_refs(&[0])
        .with_tagged(&[0], TagScheme::LOW_BIT);
    assert!(matches!(
        clash.validate(),
        Err(DescriptorError::ConflictingSlots { .. })
    ));
    // One scheme per type: a second, different one is refused when given.
    let two = std::panic::catch_unwind(|| {
        TypeDescriptor::array("TwoSchemes", 8, 8)
            .with_tagged(&[0], TagScheme::LOW_BIT)
            .with_elem_tagged(&[0], NAN_BOX)
    });
    assert!(two.is_err());
    let same = TypeDescriptor::array("OneScheme", 8, 8)
        .with_tagged(&[0], TagScheme::LOW_BIT)
        .with_elem_tagged(&[0], TagScheme::LOW_BIT);
    assert!(same.validate().is_ok());
}

/// Under GC stress, a vector of values rewritten at random between immediates and
/// fresh boxes: every read gives what was last written.
#[test]
fn tagged_slots_under_gc_stress_keep_what_was_written() {
    for every in [1, 5, 23] {
        let (h, t) = heap(Config::builder().gc_stress(every), TagScheme::LOW_BIT);
        let mut m = h.mutator();
        m.scope(|s| {
            let v = s.alloc_array(t.values, 32).unwrap();
            let mut model = vec![None::<u64>; 32]; // Some(id): a box; None: immediate = index
            for k in 0..32 {
                s.set_tagged(v, 8 + 8 * k, Tagged::Imm(imm(TagScheme::LOW_BIT, k as u64)))
                    .unwrap();
            }
            let mut rng = 0x9E37_79B9_u64;
            for round in 0..600u64 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let k = (rng % 32) as usize;
                s.scope(|i| {
                    if rng & 64 == 0 {
                        let b = boxed(i, &t, round);
                        i.set_tagged(v, 8 + 8 * k, Tagged::Ref(b)).unwrap();
                        model[k] = Some(round);
                    } else {
                        i.set_tagged(v, 8 + 8 * k, Tagged::Imm(imm(TagScheme::LOW_BIT, k as u64)))
                            .unwrap();
                        model[k] = None;
                    }
                });
                for (j, want) in model.iter().enumerate() {
                    s.scope(|i| match (i.get_tagged(v, 8 + 8 * j), want) {
                        (Tagged::Ref(r), Some(id)) => assert_eq!(i.read_u64(r, 0), *id),
                        (Tagged::Imm(w), None) => {
                            assert_eq!(w, imm(TagScheme::LOW_BIT, j as u64))
                        }
                        (got, want) => panic!("slot {j}: {got:?}, expected {want:?}"),
                    });
                }
            }
        });
    }
}
