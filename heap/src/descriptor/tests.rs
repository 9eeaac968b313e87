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
