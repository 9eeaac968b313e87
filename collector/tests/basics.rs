//! End-to-end checks of the collector through the safe API, with the verifier on.

use contgc_collector::{
    AllocError, CollectionKind, Config, DataField, Heap, RefField, TypeDescriptor, TypeId,
};

fn heap(config: contgc_collector::ConfigBuilder) -> Heap {
    Heap::new(config.verify_after_gc(true).build().unwrap()).unwrap()
}

#[test]
fn objects_survive_minor_and_major_collections_with_their_contents() {
    let h = heap(Config::builder().nursery_size(256 << 10));
    let node = h
        .register_type(&TypeDescriptor::fixed("Node", 16).with_refs(&[0]))
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let head = s.alloc(node).unwrap();
        let mut tail = head;
        for i in 0..10_000u64 {
            let n = s.scope_escape(|i2| {
                let n = i2.alloc(node).unwrap();
                i2.write_u64(n, 8, i);
                Some(n)
            });
            s.set_ref(tail, 0, n);
            tail = s.dup(n.unwrap());
            if i % 1000 == 0 {
                s.collect(CollectionKind::Minor);
            }
        }
        s.collect(CollectionKind::Major);
        s.collect(CollectionKind::Minor);
        let cur = s.dup(head);
        let mut expect = 0;
        while s.load_into(cur, cur, 0) {
            assert_eq!(s.read_u64(cur, 8), expect);
            expect += 1;
        }
        assert_eq!(expect, 10_000);
    });
    let st = h.stats();
    assert!(st.minor_collections >= 10, "{st:?}");
    assert_eq!(st.major_collections, 1);
}

#[test]
fn old_to_young_references_are_found_without_scanning_the_old_generation() {
    let h = heap(Config::builder().promotion_age(1));
    let node = h
        .register_type(&TypeDescriptor::fixed("Node", 16).with_refs(&[0]))
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let old = s.alloc(node).unwrap();
        s.collect(CollectionKind::Minor); // promotes `old`
        let young = s.alloc(node).unwrap();
        s.write_u64(young, 8, 77);
        s.set_ref(old, 0, Some(young));
        s.scope(|_| {}); // no locals keep `young`; only the old object does
        let st = s.stats();
        assert_eq!(
            st.remembered, 0,
            "logged objects wait in the mutator's buffer"
        );
        s.collect(CollectionKind::Minor);
        let y = s.get_ref(old, 0).unwrap();
        assert_eq!(s.read_u64(y, 8), 77);
    });
}

#[test]
fn a_million_element_list_collects_without_recursion() {
    let h = heap(Config::builder().nursery_size(64 << 20)).clone();
    // verifier is O(heap) per GC; a few GCs only
    let node = h
        .register_type(&TypeDescriptor::fixed("Node", 8).with_refs(&[0]))
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let mut list = None;
        for _ in 0..1_000_000 {
            list = s.scope_escape(|i| {
                let n = i.alloc(node).unwrap();
                i.set_ref(n, 0, list);
                Some(n)
            });
        }
        s.collect(CollectionKind::Minor);
        s.collect(CollectionKind::Major);
        let cur = s.dup(list.unwrap());
        let mut n = 1;
        while s.load_into(cur, cur, 0) {
            n += 1;
        }
        assert_eq!(n, 1_000_000);
    });
}

#[test]
fn allocation_past_the_limit_fails_cleanly_and_the_heap_recovers() {
    let h = heap(
        Config::builder()
            .nursery_size(256 << 10)
            .heap_limit(4 << 20)
            .promotion_age(1),
    );
    let node = h
        .register_type(&TypeDescriptor::fixed("Node", 56).with_refs(&[0]))
        .unwrap();
    let big = h
        .register_type(&TypeDescriptor::array("Bytes", 0, 1))
        .unwrap();
    let mut m = h.mutator();
    let root = m.scope(|s| {
        let head = s.alloc(node).unwrap();
        let p = s.persist(head);
        let mut err = None;
        for _ in 0..1_000_000 {
            let r = s.scope_escape(|i| {
                let n = match i.alloc(node) {
                    Ok(n) => n,
                    Err(e) => {
                        err = Some(e);
                        return None;
                    }
                };
                let h = i.get_persistent(&p);
                let next = i.get_ref(h, 0);
                i.set_ref(n, 0, next);
                i.set_ref(h, 0, Some(n));
                None
            });
            assert!(r.is_none());
            if err.is_some() {
                break;
            }
        }
        let e = err.expect("the limit must be hit");
        assert!(matches!(e, AllocError::HeapLimit { .. }), "{e}");
        // A large allocation fails the same way.
        assert!(s.alloc_array(big, 8 << 20).is_err());
        p
    });
    // Dropping the only root makes everything garbage; the heap is usable again.
    drop(root);
    m.scope(|s| {
        for _ in 0..100_000 {
            s.scope(|i| {
                i.alloc(node).unwrap();
            });
        }
        let a = s.alloc_array(big, 1 << 20).unwrap();
        s.write_u8(a, (1 << 20) - 1, 9);
        assert_eq!(s.read_u8(a, (1 << 20) - 1), 9);
    });
}

#[test]
fn too_large_objects_are_refused() {
    let h = heap(Config::builder());
    let big = h
        .register_type(&TypeDescriptor::array("Words", 0, 8))
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let e = s.alloc_array(big, u32::MAX).unwrap_err();
        assert!(matches!(e, AllocError::TooLarge { .. }), "{e}");
    });
}

#[test]
#[should_panic(expected = "not a Ref slot")]
fn writing_a_reference_into_a_data_slot_panics() {
    let h = heap(Config::builder());
    let t = h
        .register_type(&TypeDescriptor::fixed("T", 16).with_refs(&[0]))
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let a = s.alloc(t).unwrap();
        s.set_ref(a, 8, None);
    });
}

#[test]
#[should_panic(expected = "overlap its Ref slot")]
fn writing_data_over_a_reference_panics() {
    let h = heap(Config::builder());
    let t = h
        .register_type(&TypeDescriptor::fixed("T", 16).with_refs(&[0]))
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let a = s.alloc(t).unwrap();
        s.write_u64(a, 4, 1);
    });
}

#[test]
#[should_panic(expected = "belongs to heap")]
fn a_type_of_another_heap_is_refused() {
    let h1 = heap(Config::builder());
    let h2 = heap(Config::builder());
    let t = h1.register_type(&TypeDescriptor::fixed("T", 8)).unwrap();
    let mut m = h2.mutator();
    m.scope(|s| {
        let _ = s.alloc(t);
    });
}

#[test]
#[should_panic(expected = "belongs to heap")]
fn a_handle_of_another_heap_is_refused() {
    let h1 = heap(Config::builder());
    let h2 = heap(Config::builder());
    let t1 = h1.register_type(&TypeDescriptor::fixed("T", 8)).unwrap();
    let mut m1 = h1.mutator();
    let p = m1.scope(|s| {
        let a = s.alloc(t1).unwrap();
        s.persist(a)
    });
    let mut m2 = h2.mutator();
    m2.scope(|s| {
        s.get_persistent(&p);
    });
}

// Locals used in another mutator's scope, or after their scope closed, do not
// compile: see tests/ui/ (trybuild).

/// An interpreter's operand stack, reported to the collector as roots.
struct OperandStack(std::sync::Arc<std::sync::Mutex<Vec<Option<contgc_collector::ObjectRef>>>>);

// SAFETY: the stack only holds objects of the heap it is registered with, pushed from
// locals just read, and the collector updates them in place.
unsafe impl contgc_collector::RootProvider for OperandStack {
    fn visit_roots(&mut self, visitor: &mut contgc_collector::RootVisitor<'_>) {
        for slot in self.0.lock().unwrap().iter_mut() {
            visitor.visit(slot);
        }
    }
}

#[test]
fn embedder_roots_keep_objects_alive_and_follow_them() {
    let h = heap(Config::builder().promotion_age(2));
    let t = h.register_type(&TypeDescriptor::fixed("Val", 8)).unwrap();
    let stack = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let id = h.add_root_provider(Box::new(OperandStack(stack.clone())));
    let mut m = h.mutator();
    m.scope(|s| {
        for i in 0..100u64 {
            s.scope(|s| {
                let v = s.alloc(t).unwrap();
                s.write_u64(v, 0, i);
                stack.lock().unwrap().push(Some(s.raw(v)));
            });
        }
        stack.lock().unwrap().push(None);
    });
    let before: Vec<_> = stack.lock().unwrap().clone();
    m.collect(CollectionKind::Minor);
    m.collect(CollectionKind::Major);
    m.collect(CollectionKind::Minor);
    let after: Vec<_> = stack.lock().unwrap().clone();
    assert_ne!(
        before[0], after[0],
        "the objects moved and the slots followed"
    );
    assert_eq!(after[100], None);
    m.scope(|s| {
        for (i, slot) in after.iter().take(100).enumerate() {
            // SAFETY: the slot was updated by the last collection and nothing has
            // allocated since.
            let v = unsafe { s.from_raw(slot.unwrap()) };
            assert_eq!(s.read_u64(v, 0), i as u64);
        }
    });
    assert!(h.remove_root_provider(id).is_some());
    m.collect(CollectionKind::Major);
    let st = h.stats();
    assert_eq!(
        st.young_bytes + st.old_bytes,
        0,
        "unreported objects are reclaimed"
    );
}

#[test]
fn a_root_slot_reported_twice_is_evacuated_once() {
    let h = heap(Config::builder().promotion_age(3));
    let t = h.register_type(&TypeDescriptor::fixed("Val", 8)).unwrap();
    let stack = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    // Two providers sharing one stack: every slot is visited twice per collection.
    h.add_root_provider(Box::new(OperandStack(stack.clone())));
    h.add_root_provider(Box::new(OperandStack(stack.clone())));
    let mut m = h.mutator();
    m.scope(|s| {
        let v = s.alloc(t).unwrap();
        s.write_u64(v, 0, 42);
        stack.lock().unwrap().push(Some(s.raw(v)));
    });
    for _ in 0..3 {
        m.collect(CollectionKind::Minor);
    }
    let slot = stack.lock().unwrap()[0].unwrap();
    m.scope(|s| {
        // SAFETY: updated by the last collection; nothing allocated since.
        let v = unsafe { s.from_raw(slot) };
        assert_eq!(s.read_u64(v, 0), 42);
    });
}

#[test]
fn a_full_heap_fails_allocations_cheaply_and_recovers() {
    let h = heap(
        Config::builder()
            .nursery_size(64 << 10)
            .heap_limit(1 << 20)
            .promotion_age(1),
    );
    let node = h
        .register_type(&TypeDescriptor::fixed("Node", 56).with_refs(&[0]))
        .unwrap();
    let mut m = h.mutator();
    let root = m.scope(|s| {
        let head = s.alloc(node).unwrap();
        s.persist(head)
    });
    // Grow a list until the limit refuses it.
    let mut refused = false;
    for _ in 0..100_000 {
        let r = m.scope(|s| {
            let n = s.alloc(node)?;
            let head = s.get_persistent(&root);
            let next = s.get_ref(head, 0);
            s.set_ref(n, 0, next);
            s.set_ref(head, 0, Some(n));
            Ok::<_, AllocError>(())
        });
        if r.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "the limit must be reached");
    let st = h.stats();
    assert!(
        st.old_committed_bytes + st.large_bytes <= (1 << 20) + (64 << 10),
        "a minor may overshoot the limit by a nursery at most: {st:?}"
    );
    // The nursery is full of live list nodes that cannot be promoted under the limit:
    // allocations fail, each after one major collection, not two.
    let majors = h.stats().major_collections;
    for _ in 0..10 {
        assert!(m.scope(|s| s.alloc(node).is_err()));
    }
    assert!(
        h.stats().major_collections - majors <= 10,
        "{:?}",
        h.stats()
    );
    // Cut the list: allocation works again, without a major collection per refill.
    m.scope(|s| {
        let head = s.get_persistent(&root);
        s.set_ref(head, 0, None);
    });
    m.collect(CollectionKind::Major);
    let majors = h.stats().major_collections;
    for _ in 0..10_000 {
        m.scope(|s| {
            s.alloc(node)
                .expect("garbage fits once the live set is small");
        });
    }
    assert!(h.stats().major_collections - majors < 10, "{:?}", h.stats());
}

#[test]
fn gc_stress_collects_at_large_allocations_too() {
    let h = heap(Config::builder().gc_stress(1));
    let big = h
        .register_type(&TypeDescriptor::array("Big", 0, 8))
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        for _ in 0..20 {
            s.scope(|s| {
                s.alloc_array(big, 1000).unwrap();
            });
        }
    });
    let st = h.stats();
    assert!(st.minor_collections + st.major_collections >= 20, "{st:?}");
}

#[test]
#[should_panic(expected = "cannot be removed from heap")]
fn a_root_provider_id_of_another_heap_is_refused() {
    // Before ids named their heap, this removed heap `a`'s own provider (same number).
    let a = heap(Config::builder());
    let b = heap(Config::builder());
    let stack = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let _mine = a.add_root_provider(Box::new(OperandStack(stack.clone())));
    let theirs = b.add_root_provider(Box::new(OperandStack(stack)));
    a.remove_root_provider(theirs);
}

#[test]
fn parked_objects_survive_collections_and_come_back_in_any_order() {
    let heap = heap(
        Config::builder()
            .nursery_size(256 << 10)
            .verify_after_gc(true),
    );
    let t = heap.register_type(&TypeDescriptor::fixed("T", 8)).unwrap();
    let mut m = heap.mutator();
    let mut parked: Vec<_> = m.scope(|s| {
        (0..100u64)
            .map(|i| {
                let o = s.alloc(t).unwrap();
                s.write_u64(o, 0, i);
                s.park(o)
            })
            .collect()
    });
    m.collect(CollectionKind::Minor);
    m.collect(CollectionKind::Major);
    // Unparked out of order, slots reused by later parks.
    let odd: Vec<_> = (0..50).map(|k| parked.remove(k)).collect();
    m.scope(|s| {
        for (k, p) in odd.into_iter().enumerate() {
            let o = s.unpark(p);
            assert_eq!(s.read_u64(o, 0), 2 * k as u64);
        }
        let again = s.alloc(t).unwrap();
        s.write_u64(again, 0, 999);
        parked.push(s.park(again));
    });
    m.collect(CollectionKind::Minor);
    m.scope(|s| {
        let vals: Vec<u64> = parked
            .drain(..)
            .map(|p| {
                let o = s.unpark(p);
                s.read_u64(o, 0)
            })
            .collect();
        assert_eq!(vals.len(), 51);
        assert_eq!(vals[50], 999);
        assert!(vals[..50]
            .iter()
            .enumerate()
            .all(|(k, &v)| v == 2 * k as u64 + 1));
    });
}

#[test]
#[should_panic(expected = "parked on another mutator")]
fn an_object_parked_on_one_mutator_cannot_be_unparked_on_another() {
    let heap = heap(Config::builder());
    let t = heap.register_type(&TypeDescriptor::fixed("T", 8)).unwrap();
    let mut a = heap.mutator();
    let p = a.scope(|s| {
        let o = s.alloc(t).unwrap();
        s.park(o)
    });
    let mut b = heap.mutator();
    drop(a);
    b.scope(|s| {
        s.unpark(p);
    });
}

/// Survivors of many sizes (fixed and variable, with and without references) promoted
/// in one minor collection through the per-collection promotion buffers: the verifier
/// checks them after each collection, their contents survive, the buffers' leftover
/// cells go back to the old space (later promotions and a major collection's sweep
/// find consistent cells and byte counts), and the pause parts add up to the pause.
#[test]
fn promoted_survivors_of_every_size_are_verified_and_swept() {
    let h = heap(Config::builder().promotion_age(1).nursery_size(4 << 20));
    let node = h
        .register_type(&TypeDescriptor::fixed("Node", 16).with_refs(&[0]))
        .unwrap();
    let leaf = h.register_type(&TypeDescriptor::fixed("Leaf", 40)).unwrap();
    let arr = h
        .register_type(&TypeDescriptor::array("Arr", 8, 8).with_elem_refs(&[0]))
        .unwrap();
    let mut m = h.mutator();
    for round in 0..3u64 {
        m.scope(|s| {
            let holder = s.alloc_array(arr, 300).unwrap();
            for i in 0..300u32 {
                // Only the holder keeps the object: the inner scope's local goes.
                s.scope(|s| {
                    let o = match i % 3 {
                        0 => s.alloc(node).unwrap(),
                        1 => s.alloc(leaf).unwrap(),
                        _ => s.alloc_array(arr, i).unwrap(),
                    };
                    if i % 3 != 2 {
                        s.write_u64(o, 8, round * 1000 + i as u64);
                    }
                    s.set_ref(holder, 8 + 8 * i as usize, Some(o));
                });
            }
            let r = s.collect(CollectionKind::Minor);
            assert_eq!(r.kind, CollectionKind::Minor);
            assert!(r.survivors > 300, "{r:?}");
            assert_eq!(r.promoted_bytes, r.survivor_bytes, "everything is promoted");
            assert_eq!(r.parts.timed() + r.parts.other, r.duration, "{:?}", r.parts);
            for i in (0..300u32).filter(|i| i % 3 != 2) {
                s.scope(|s| {
                    let o = s.get_ref(holder, 8 + 8 * i as usize).unwrap();
                    assert_eq!(s.read_u64(o, 8), round * 1000 + i as u64);
                });
            }
            // Half of the promoted objects die; the major collection sweeps them.
            for i in (0..300u32).step_by(2) {
                s.set_ref(holder, 8 + 8 * i as usize, None);
            }
            let before = s.census();
            s.collect(CollectionKind::Major);
            let after = s.census();
            // 150 of the 300 promoted objects die (and the previous round's all do);
            // the holder and the other 150 live.
            assert_eq!(after.old_objects, 151, "{before:?} {after:?}");
            let st = s.stats();
            assert_eq!(st.old_bytes, after.old_bytes, "{st:?} {after:?}");
        });
    }
}

/// A young list much longer than the promoted objects' queue keeps (it drops its
/// scanned part as it goes) is promoted whole in one minor collection, verified, and
/// keeps its contents.
#[test]
fn a_long_young_list_is_promoted_through_the_queue() {
    let h = heap(Config::builder().promotion_age(1).nursery_size(4 << 20));
    let node = h
        .register_type(&TypeDescriptor::fixed("Node", 16).with_refs(&[0]))
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let head = s.alloc(node).unwrap();
        let tail = s.dup(head);
        for i in 1..20_000u64 {
            s.scope(|s| {
                let n = s.alloc(node).unwrap();
                s.write_u64(n, 8, i);
                s.set_ref(tail, 0, Some(n));
                s.set_local(tail, n);
            });
        }
        let r = s.collect(CollectionKind::Minor);
        assert_eq!(r.survivors, 20_000);
        assert_eq!(r.promoted_bytes, 20_000 * 24);
        let cur = s.dup(head);
        let mut expect = 1;
        while s.load_into(cur, cur, 0) {
            assert_eq!(s.read_u64(cur, 8), expect);
            expect += 1;
        }
        assert_eq!(expect, 20_000);
    });
}

/// Field tokens (`Heap::data_field`, `Heap::ref_field`): checked once, then each access
/// checks only the object's type; a token of another type or kind is refused when
/// made, and using one on an object of another type panics.
#[test]
fn field_tokens_access_their_fields_and_refuse_other_types() {
    use contgc_collector::FieldError;
    let h = Heap::new(Config::builder().verify_after_gc(true).build().unwrap()).unwrap();
    let node = h
        .register_type(&TypeDescriptor::fixed("Node", 16).with_refs(&[0]))
        .unwrap();
    let other = h
        .register_type(&TypeDescriptor::fixed("Other", 16))
        .unwrap();
    let (next, val) = (
        h.ref_field(node, 0).unwrap(),
        h.data_field(node, 8).unwrap(),
    );
    assert!(
        matches!(h.data_field(node, 0), Err(FieldError::WrongSlot { .. })),
        "a reference"
    );
    assert!(
        matches!(h.ref_field(node, 8), Err(FieldError::WrongSlot { .. })),
        "data"
    );
    assert!(
        matches!(h.data_field(node, 16), Err(FieldError::WrongSlot { .. })),
        "outside"
    );
    assert!(
        matches!(h.data_field(node, 4), Err(FieldError::WrongSlot { .. })),
        "misaligned"
    );
    let elsewhere = Heap::new(Config::default()).unwrap();
    assert_eq!(elsewhere.data_field(node, 8), Err(FieldError::UnknownType));
    let mut m = h.mutator();
    m.scope(|s| {
        let (a, b) = (s.alloc(node).unwrap(), s.alloc(node).unwrap());
        s.put(b, val, 7);
        s.set_field(a, next, Some(b));
        s.collect(CollectionKind::Major);
        let got = s.get_field(a, next).unwrap();
        assert_eq!(s.get(got, val), 7);
        let o = s.alloc(other).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.get(o, val)));
        assert!(r.is_err(), "a Node token on an Other");
    });
}

/// The view tests' heap (verified, with `promotion_age`): a `Node` (`next` reference
/// at 0, `val` data at 8) and an `Other` of the same size (a reference at 0), so that
/// a `Node` token can be tried on the wrong type.
fn view_heap(promotion_age: u8) -> (Heap, TypeId, TypeId, RefField, DataField) {
    let h = Heap::new(
        Config::builder()
            .promotion_age(promotion_age)
            .verify_after_gc(true)
            .build()
            .unwrap(),
    )
    .unwrap();
    let node = h
        .register_type(&TypeDescriptor::fixed("Node", 16).with_refs(&[0]))
        .unwrap();
    let other = h
        .register_type(&TypeDescriptor::fixed("Other", 16).with_refs(&[0]))
        .unwrap();
    let (next, val) = (
        h.ref_field(node, 0).unwrap(),
        h.data_field(node, 8).unwrap(),
    );
    (h, node, other, next, val)
}

/// Object views (`Scope::view`, `Scope::view_mut`): token reads and writes through
/// them see and make the same words as the checked accessors, stores go through the
/// write barrier (a young object stored into an old one through a view survives the
/// next minor collection), and a token of another type panics.
#[test]
fn object_views_read_and_write_through_field_tokens() {
    let (h, node, other, next, val) = view_heap(1);
    let mut m = h.mutator();
    m.scope(|s| {
        let old = s.alloc(node).unwrap();
        s.collect(CollectionKind::Minor); // `old` is old now
        let young = s.alloc(node).unwrap();
        s.write_u64(young, 8, 41);
        let mut w = s.view_mut(old);
        w.put(val, 5);
        w.set_field(next, Some(young));
        s.collect(CollectionKind::Minor); // the barrier remembered `old`
        assert_eq!(s.view(old).get(val), 5);
        assert_eq!(s.read_u64(old, 8), 5);
        let y = s.get_ref(old, 0).unwrap();
        assert_eq!(s.view(y).get(val), 41);
        let o = s.alloc(other).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.view(o).get(val)));
        assert!(r.is_err(), "a Node token on an Other");
    });
}

/// Following references through views (`ObjView::get_field`): a walk reaches every
/// node of a list that collections have moved (into survivor space and into the old
/// generation) and reads each node's own value, stops at null, reports each object's
/// type, and a token of another type panics on a followed view as on a first one.
#[test]
fn views_follow_references_across_moved_objects() {
    let (h, node, other, next, val) = view_heap(2);
    let mut m = h.mutator();
    m.scope(|s| {
        let mut list = None;
        for i in 0..300u64 {
            list = s.scope_escape(|s| {
                let n = s.alloc(node).unwrap();
                s.write_u64(n, 8, i);
                s.set_field(n, next, list);
                Some(n)
            });
            if i % 100 == 99 {
                s.collect(CollectionKind::Minor); // older nodes move, then promote
            }
        }
        let head = list.unwrap();
        let mut seen = Vec::new();
        let mut v = Some(s.view(head));
        while let Some(n) = v {
            assert_eq!(n.type_index(), node.index());
            seen.push(n.get(val));
            v = n.get_field(next);
        }
        assert_eq!(seen, (0..300u64).rev().collect::<Vec<_>>());
        // A node whose next is an Other: following works, a Node token on it panics.
        let o = s.alloc(other).unwrap();
        let n = s.alloc(node).unwrap();
        s.set_field(n, next, Some(o));
        let followed = s.view(n).get_field(next).unwrap();
        assert_eq!(followed.type_index(), other.index());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| followed.get_field(next)));
        assert!(
            r.is_err(),
            "a Node token on an Other reached through a view"
        );
    });
}

/// Register-style locals: walking a long list with `load_field_into` reuses one local,
/// so the scope's shadow stack does not grow with the walk.
#[test]
fn loading_into_a_local_walks_a_list_without_growing_the_scope() {
    let h = Heap::new(Config::builder().verify_after_gc(true).build().unwrap()).unwrap();
    let node = h
        .register_type(&TypeDescriptor::fixed("Node", 16).with_refs(&[0]))
        .unwrap();
    let next = h.ref_field(node, 0).unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let head = s.alloc(node).unwrap();
        let cur = s.alloc(node).unwrap();
        s.set_local(cur, head);
        for _ in 0..1000 {
            s.scope(|i| {
                let n = i.alloc(node).unwrap();
                i.set_field(cur, next, Some(n));
                i.load_field_into(cur, cur, next);
            });
        }
        s.collect(CollectionKind::Minor);
        s.set_local(cur, head);
        let before = s.roots_len();
        let mut steps = 0;
        while s.load_field_into(cur, cur, next) {
            steps += 1;
        }
        assert_eq!(steps, 1000);
        assert_eq!(s.roots_len(), before, "no local was pushed");
    });
}
