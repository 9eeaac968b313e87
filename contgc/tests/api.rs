//! The facade's surface, used the way an embedder uses it: the public functions that
//! nothing else in the workspace calls (heap identity and type names, the raw layer's
//! loads and root updates, configuration getters, statistics helpers) do what their
//! documentation says.

use contgc::{
    CollectionKind, Config, ContinuationPlacement, Heap, RootMode, TypeDescriptor, MAX_SMALL_OBJECT,
};

fn verified() -> Heap {
    Heap::new(Config::builder().verify_after_gc(true).build().unwrap()).unwrap()
}

#[test]
fn heaps_have_distinct_ids_and_name_only_their_own_types() {
    let (a, b) = (verified(), verified());
    assert_ne!(a.id(), b.id());
    let node = a.register_type(&TypeDescriptor::fixed("Node", 16)).unwrap();
    assert_eq!(node.heap_id(), a.id());
    assert_eq!(a.type_name(node).as_deref(), Some("Node"));
    assert_eq!(
        b.type_name(node),
        None,
        "a type of another heap has no name here"
    );
    assert_eq!(a.mutator().heap_id(), a.id());
}

#[test]
fn raw_layer_loads_and_root_updates_follow_moved_objects() {
    let heap = verified();
    // A reference at 0, a byref at 8..24, data at 24..40.
    let node = heap
        .register_type(
            &TypeDescriptor::fixed("Node", 40)
                .with_refs(&[0])
                .with_byrefs(&[8]),
        )
        .unwrap();
    let mut m = heap.mutator();
    let base = m.roots_len();
    // SAFETY: every address used is a live object of this heap read since the last
    // allocation or collection (re-read from its root after each), offsets are the
    // type's own slots and data words, and the roots pushed here are released below.
    unsafe {
        let a = m.alloc_raw(node).unwrap();
        let ia = m.push_root(Some(a));
        let ib = m.push_root(None);
        let b = m.alloc_raw(node).unwrap();
        let a = m.root(ia).unwrap();
        b.store_u64(24, 7);
        m.store_ref(a, 0, Some(b));
        m.store_byref(a, 8, b.payload() as usize + 24);
        m.set_root(ib, Some(b));
        assert_eq!(m.load_ref(a, 0), Some(b));
        m.collect(CollectionKind::Minor);
        m.collect(CollectionKind::Major);
        let (a2, b2) = (m.root(ia).unwrap(), m.root(ib).unwrap());
        assert_ne!(b2, b, "the minor collection moved the object");
        assert_eq!(m.load_ref(a2, 0), Some(b2));
        assert_eq!(m.load_byref(a2, 8), b2.payload() as usize + 24);
        assert_eq!(b2.load_u64(24), 7);
        m.set_root(ib, None);
        assert_eq!(m.root(ib), None);
        m.truncate_roots(base);
    }
}

#[test]
fn a_config_reports_every_value_it_was_built_with() {
    let c = Config::builder()
        .nursery_size(2 << 20)
        .survivor_size(256 << 10)
        .tlab_size(64 << 10)
        .heap_limit(256 << 20)
        .promotion_age(3)
        .major_growth_factor(3.0)
        .gc_stress(1000)
        .verify_after_gc(true)
        .root_mode(RootMode::Aged)
        .continuation_placement(ContinuationPlacement::OldGeneration)
        .build()
        .unwrap();
    assert_eq!(c.nursery_size(), 2 << 20);
    assert_eq!(c.survivor_size(), 256 << 10);
    assert_eq!(c.tlab_size(), 64 << 10);
    assert_eq!(c.heap_limit(), 256 << 20);
    assert_eq!(c.promotion_age(), 3);
    assert_eq!(c.major_growth_factor(), 3.0);
    assert_eq!(c.gc_stress(), Some(1000));
    assert!(c.verify_after_gc());
    assert_eq!(c.root_mode(), RootMode::Aged);
    assert_eq!(
        c.continuation_placement(),
        ContinuationPlacement::OldGeneration
    );
    let heap = Heap::new(c).unwrap();
    assert_eq!(heap.config().root_mode(), RootMode::Aged);
    let d = Config::default();
    assert_eq!((d.gc_stress(), d.verify_after_gc()), (None, false));
}

#[test]
fn old_and_large_bytes_add_up_the_old_generation() {
    let heap = verified();
    let big = heap
        .register_type(&TypeDescriptor::fixed("Big", MAX_SMALL_OBJECT as u32 * 2))
        .unwrap();
    let small = heap
        .register_type(&TypeDescriptor::fixed("Small", 24).pretenured(true))
        .unwrap();
    let mut m = heap.mutator();
    m.scope(|s| {
        let _big = s.alloc(big).unwrap();
        let _small = s.alloc(small).unwrap();
        let st = s.stats();
        assert_eq!(st.old_and_large_bytes(), st.old_bytes + st.large_bytes);
        assert_eq!(st.large_objects, 1);
        assert!(st.large_bytes > MAX_SMALL_OBJECT * 2);
        assert_eq!(st.old_bytes, 32);
    });
}
