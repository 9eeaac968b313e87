//! The safe data accessors (`read_*`/`write_*`, `read_bytes`/`write_bytes`, data field
//! tokens) refuse every word that is not plain data: weak, tagged, ephemeron and
//! private words as well as references and byrefs. A data write into such a word
//! would hand the collector an arbitrary address to follow; these tests would crash
//! (or fail the verifier) if one got through.

use contgc_collector::{
    CollectionKind, Config, FieldError, Heap, TagScheme, TypeDescriptor, TypeId,
};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn heap() -> Heap {
    Heap::new(Config::builder().verify_after_gc(true).build().unwrap()).unwrap()
}

/// Types with one special word at payload offset 8 and data at offset 0.
fn special_types(h: &Heap) -> Vec<TypeId> {
    [
        TypeDescriptor::fixed("WeakBox", 16).with_weak_refs(&[8]),
        TypeDescriptor::fixed("TaggedBox", 16).with_tagged(&[8], TagScheme::LOW_BIT),
        TypeDescriptor::fixed("Entry", 24).with_ephemerons(&[8]),
        TypeDescriptor::fixed("Private", 16).with_private(&[8]),
        TypeDescriptor::fixed("PrivateRef", 16).with_private_refs(&[8]),
        TypeDescriptor::array("WeakArray", 8, 16).with_elem_weak_refs(&[0]),
    ]
    .iter()
    .map(|d| h.register_type(d).unwrap())
    .collect()
}

#[test]
fn data_field_tokens_are_refused_for_special_words() {
    let h = heap();
    for t in special_types(&h) {
        assert!(
            matches!(
                h.data_field(t, 8),
                Err(FieldError::WrongSlot { offset: 8, .. })
            ),
            "{t:?}"
        );
        assert!(h.data_field(t, 0).is_ok(), "{t:?}: offset 0 is data");
    }
}

#[test]
fn every_data_accessor_panics_on_a_special_word_and_the_heap_stays_sound() {
    let h = heap();
    let types = special_types(&h);
    let mut m = h.mutator();
    m.scope(|s| {
        for (i, &t) in types.iter().enumerate() {
            // The last type is the array (its element's weak word at offset 8).
            let o = if i + 1 == types.len() {
                s.alloc_array(t, 2).unwrap()
            } else {
                s.alloc(t).unwrap()
            };
            let hit = |name: &str, r: std::thread::Result<()>| {
                let e = r.expect_err(name);
                let msg = e
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .unwrap_or_default()
                    .to_owned();
                assert!(msg.contains("overlap its"), "{t:?} {name}: {msg}");
            };
            hit(
                "write_u64",
                catch_unwind(AssertUnwindSafe(|| s.write_u64(o, 8, 0x1000))),
            );
            hit(
                "write_u8",
                catch_unwind(AssertUnwindSafe(|| s.write_u8(o, 9, 1))),
            );
            hit(
                "write_bytes",
                catch_unwind(AssertUnwindSafe(|| s.write_bytes(o, 4, &[1; 8]))),
            );
            hit(
                "read_u64",
                catch_unwind(AssertUnwindSafe(|| {
                    let _ = s.read_u64(o, 8);
                })),
            );
            // The data word is still data.
            s.write_u64(o, 0, 7);
            assert_eq!(s.read_u64(o, 0), 7);
        }
        // Nothing was written: both kinds of collection find a sound heap (the
        // verifier runs after each).
        s.collect(CollectionKind::Minor);
        s.collect(CollectionKind::Major);
    });
}

/// An ephemeron's value word is inside its slot, not the slot's start: the panic says
/// so rather than that the slot "is not an ephemeron slot (it holds Ephemeron)".
#[test]
#[should_panic(expected = "lies inside a Ephemeron slot but does not start one")]
fn an_ephemeron_slot_is_named_by_its_key_word() {
    let h = heap();
    let e = h
        .register_type(&TypeDescriptor::fixed("Entry", 24).with_ephemerons(&[8]))
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let o = s.alloc(e).unwrap();
        s.set_ephemeron(o, 16, None, None);
    });
}

/// A view given another heap's field token names the two heaps (it said only "type
/// index 3 used on an object of type index 5 (or of another heap)").
#[test]
fn a_view_refuses_another_heaps_token_naming_the_heaps() {
    let (a, b) = (heap(), heap());
    let desc = TypeDescriptor::fixed("Point", 16);
    let (ta, tb) = (
        a.register_type(&desc).unwrap(),
        b.register_type(&desc).unwrap(),
    );
    let field_of_b = b.data_field(tb, 0).unwrap();
    let mut m = a.mutator();
    m.scope(|s| {
        let o = s.alloc(ta).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| s.view(o).get(field_of_b)));
        let payload = r.expect_err("refused");
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(
            msg.contains(&format!("field token of heap #{}", b.id()))
                && msg.contains(&format!("object of heap #{}", a.id())),
            "{msg}"
        );
    });
}
