use super::*;

#[test]
fn rejects_bad_descriptors_with_the_reason() {
    let e = |d: TypeDescriptor| d.validate().unwrap_err();
    assert_eq!(
        e(TypeDescriptor::fixed("A", 0)),
        DescriptorError::ZeroSize { what: "size" }
    );
    assert!(matches!(
        e(TypeDescriptor::fixed("A", u32::MAX)),
        DescriptorError::TooLarge { .. }
    ));
    assert_eq!(
        e(TypeDescriptor::fixed("A", 16).with_refs(&[4])),
        DescriptorError::MisalignedSlot { offset: 4 }
    );
    assert!(matches!(
        e(TypeDescriptor::fixed("A", 16).with_refs(&[16])),
        DescriptorError::SlotOutOfBounds { offset: 16, .. }
    ));
    assert!(matches!(
        e(TypeDescriptor::fixed("A", 12).with_refs(&[8])),
        DescriptorError::SlotOutOfBounds { offset: 8, .. }
    ));
    assert_eq!(
        e(TypeDescriptor::fixed("A", 16)
            .with_refs(&[0])
            .with_byrefs(&[0])),
        DescriptorError::ConflictingSlots {
            offset: 0,
            kind: SlotKind::Byref,
            other_offset: 0,
            other_kind: SlotKind::Ref
        }
    );
    assert_eq!(
        e(TypeDescriptor::fixed("A", 16).with_refs(&[8, 8])),
        DescriptorError::OverlappingSlots { offset: 8 }
    );
    // A byref slot takes two words.
    assert!(matches!(
        e(TypeDescriptor::fixed("A", 16).with_byrefs(&[8])),
        DescriptorError::SlotOutOfBounds { offset: 8, .. }
    ));
    assert_eq!(
        e(TypeDescriptor::fixed("A", 24)
            .with_byrefs(&[0])
            .with_refs(&[8])),
        DescriptorError::ConflictingSlots {
            offset: 0,
            kind: SlotKind::Byref,
            other_offset: 8,
            other_kind: SlotKind::Ref
        }
    );
    assert_eq!(
        e(TypeDescriptor::fixed("K", 8).as_continuation()),
        DescriptorError::BadContinuation
    );
    // `next` must be private, and so must the state and flags word.
    assert_eq!(
        e(TypeDescriptor::fixed("K", 16)
            .with_refs(&[0])
            .with_private(&[8])
            .as_continuation()),
        DescriptorError::BadContinuation
    );
    assert_eq!(
        e(TypeDescriptor::fixed("K", 16)
            .with_private_refs(&[0])
            .as_continuation()),
        DescriptorError::BadContinuation
    );
    let k = TypeDescriptor::fixed("K", 16)
        .with_private_refs(&[0])
        .with_private(&[8])
        .as_continuation()
        .validate()
        .unwrap();
    assert!(k.is_continuation());
    assert_eq!(k.refs(), &[0], "a private reference is traced");
    assert!(
        !k.is_ref_slot(0, 0),
        "but not a reference slot for the safe API"
    );
    assert_eq!(k.slot_kind(0, 0), Some(SlotKind::PrivateRef));
    assert_eq!(
        e(TypeDescriptor::fixed("A", 8).with_promotion_age(0)),
        DescriptorError::BadPromotionAge { age: 0 }
    );
    assert_eq!(
        e(TypeDescriptor::array("A", 0, 0)),
        DescriptorError::ZeroSize {
            what: "element size"
        }
    );
    assert_eq!(
        e(TypeDescriptor::array("A", 4, 8).with_elem_refs(&[0])),
        DescriptorError::MisalignedElements { base: 4, elem: 8 }
    );
    assert_eq!(e(TypeDescriptor::fixed("", 8)), DescriptorError::EmptyName);
    assert_eq!(
        e(TypeDescriptor::fixed("A", 8).with_elem_refs(&[0])),
        DescriptorError::ElementSlotsOnFixedType
    );
    // Slots of one kind that overlap without being the same slot.
    assert_eq!(
        e(TypeDescriptor::fixed("A", 32).with_byrefs(&[0, 8])),
        DescriptorError::ConflictingSlots {
            offset: 8,
            kind: SlotKind::Byref,
            other_offset: 0,
            other_kind: SlotKind::Byref
        }
    );
    let msg = e(TypeDescriptor::fixed("A", 16)
        .with_private(&[8])
        .with_refs(&[8]))
    .to_string();
    assert_eq!(
        msg,
        "private slot at offset 8 overlaps the reference slot at offset 8"
    );
    assert!(!msg.contains("more than once"), "{msg}");
    // Every error explains itself.
    let msg = e(TypeDescriptor::fixed("A", 16).with_refs(&[16])).to_string();
    assert!(msg.contains("offset 16"), "{msg}");
}

#[test]
fn sizes_and_slots() {
    let t = TypeDescriptor::array("Pairs", 8, 16)
        .with_refs(&[0])
        .with_elem_refs(&[8])
        .validate()
        .unwrap();
    assert_eq!(t.payload_size(3), Some(8 + 48));
    assert_eq!(t.object_size(3), Some(64));
    assert_eq!(t.object_size(0), Some(16));
    let mut offs = vec![];
    t.for_each_ref_offset(3, |o| offs.push(o));
    assert_eq!(offs, vec![0, 16, 32, 48]);
    assert_eq!(t.slot_kind(0, 3), Some(SlotKind::Ref));
    assert_eq!(t.slot_kind(8, 3), Some(SlotKind::Data));
    assert_eq!(t.slot_kind(16, 3), Some(SlotKind::Ref));
    assert_eq!(t.slot_kind(56, 3), None);
    assert_eq!(t.check_data(8, 8, 3), FieldCheck::Ok);
    assert_eq!(
        t.check_data(12, 8, 3),
        FieldCheck::OverlapsSlot {
            offset: 16,
            kind: SlotKind::Ref
        }
    );
    assert!(matches!(
        t.check_data(50, 8, 3),
        FieldCheck::OutOfBounds { .. }
    ));
    assert!(matches!(
        t.check_data(usize::MAX - 7, 8, 3),
        FieldCheck::OutOfBounds { .. }
    ));
    // Byref slots, in the fixed part and in every element.
    let b = TypeDescriptor::array("Frames", 16, 24)
        .with_byrefs(&[0])
        .with_elem_refs(&[16])
        .with_elem_byrefs(&[0])
        .validate()
        .unwrap();
    assert_eq!(b.byrefs(), &[0]);
    assert!(b.has_byrefs() && b.needs_scan());
    let mut offs = vec![];
    b.for_each_byref_offset(2, |o| offs.push(o));
    assert_eq!(offs, vec![0, 16, 40]);
    assert!(b.is_byref_slot(40, 2) && !b.is_byref_slot(48, 2));
    assert_eq!(b.slot_kind(48, 2), Some(SlotKind::Byref));
    assert_eq!(b.slot_kind(56, 2), Some(SlotKind::Ref));
    assert!(matches!(
        TypeDescriptor::array("A", 0, 8)
            .with_elem_byrefs(&[0])
            .validate(),
        Err(DescriptorError::SlotOutOfBounds {
            region: "element",
            ..
        })
    ));
    let odd = TypeDescriptor::fixed("Odd", 12).validate().unwrap();
    assert_eq!(odd.check_data(8, 4, 0), FieldCheck::Ok);
    assert!(matches!(
        odd.check_data(12, 4, 0),
        FieldCheck::OutOfBounds { .. }
    ));
    let wide = TypeDescriptor::fixed("Wide", 1024).validate().unwrap();
    assert_eq!(wide.check_data(504, 8, 0), FieldCheck::Ok);
    assert!(matches!(
        wide.check_data(1020, 8, 0),
        FieldCheck::OutOfBounds { .. }
    ));
    let small = TypeDescriptor::fixed("Byte", 1).validate().unwrap();
    assert_eq!(small.object_size(0), Some(16));
}

/// Data accesses are refused over every kind of slot but data, in types with no
/// reference or byref slot too, by the fast path (inside the masks) and the slow one
/// (wide accesses, words past the masks, elements).
#[test]
fn data_checks_refuse_every_slot_kind_not_only_references() {
    let scheme = TagScheme::LOW_BIT;
    let cases: Vec<(TypeDescriptor, usize, SlotKind)> = vec![
        (
            TypeDescriptor::fixed("W", 16).with_weak_refs(&[8]),
            8,
            SlotKind::Weak,
        ),
        (
            TypeDescriptor::fixed("T", 16).with_tagged(&[8], scheme),
            8,
            SlotKind::Tagged,
        ),
        (
            TypeDescriptor::fixed("E", 24).with_ephemerons(&[8]),
            8,
            SlotKind::Ephemeron,
        ),
        (
            TypeDescriptor::fixed("P", 16).with_private(&[8]),
            8,
            SlotKind::Private,
        ),
        (
            TypeDescriptor::fixed("Q", 16).with_private_refs(&[8]),
            8,
            SlotKind::PrivateRef,
        ),
        (
            TypeDescriptor::fixed("Far", 1024).with_weak_refs(&[1000]),
            1000,
            SlotKind::Weak,
        ),
        (
            TypeDescriptor::array("A", 8, 16).with_elem_weak_refs(&[8]),
            8 + 16 + 8,
            SlotKind::Weak,
        ),
    ];
    for (d, at, kind) in cases {
        let t = d.validate().unwrap();
        let len = 4;
        assert_eq!(t.slot_kind(at, len), Some(kind), "{}", t.name());
        let hit = FieldCheck::OverlapsSlot { offset: at, kind };
        // One word, a byte inside it, and a wide access starting before it.
        assert_eq!(t.check_data(at, 8, len), hit, "{} word", t.name());
        assert_eq!(t.check_data(at + 3, 1, len), hit, "{} byte", t.name());
        assert_eq!(t.check_data(at - 8, 16, len), hit, "{} wide", t.name());
        // The data word before the slot is still data.
        assert_eq!(
            t.check_data(at - 8, 8, len),
            FieldCheck::Ok,
            "{} data",
            t.name()
        );
    }
    // An ephemeron's value word is its slot too.
    let e = TypeDescriptor::fixed("E", 24)
        .with_ephemerons(&[8])
        .validate()
        .unwrap();
    let value = FieldCheck::OverlapsSlot {
        offset: 16,
        kind: SlotKind::Ephemeron,
    };
    assert_eq!(e.check_data(16, 8, 0), value);
    assert_eq!(e.check_data(19, 1, 0), value);
}
