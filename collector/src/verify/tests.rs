//! The verifier catches planted violations: each test builds a small, valid heap
//! (checked by the verifier after a real collection), stops the world, breaks one
//! thing the verifier checks, and runs the verifier on it directly.

use super::verify;
use crate::collection::visit_roots;
use crate::spaces::Spaces;
use crate::sync::lock;
use crate::{CollectionKind, Config, Heap, Mutator, TypeDescriptor, TypeId};
use contgc_heap::byref::{self as byref_slot, EXTERNAL, UNRESOLVED};
use contgc_heap::continuation_prefix::{
    FLAGS_OFFSET, FLAG_CAPTURED, FLAG_LINKED, FLAG_RESUMED, PREFIX_BYTES, STATE_OFFSET,
};
use contgc_heap::header::{MARK, UNLOGGED};
use contgc_heap::types::FILLER_TYPE_INDEX;
use contgc_heap::{Header, ObjectRef};
use contgc_roots::internal::{MemberVisitor, TaskRegistry};
use contgc_roots::TaskRoot;
use std::sync::Arc;

/// Roots of the test heap, by index in the shadow stack.
const OLD_REF: u32 = 0; // old (pretenured) object whose slot 0 refers to YOUNG
const YOUNG: u32 = 1; // young object (a survivor after the first collection)
const OLD_BYREF: u32 = 2; // old object whose byref at +8 points into YOUNG
const CONT: u32 = 3; // young continuation whose next is CONT2
const CONT2: u32 = 4;
const PLAIN_OLD: u32 = 5; // old object referring to nothing

struct World {
    _heap: Heap,
    m: Mutator,
    _task: TaskRoot,
}

/// Old type: a reference at 0, a byref at 8, data at 24.
fn old_type() -> TypeDescriptor {
    TypeDescriptor::fixed("Old", 32)
        .with_refs(&[0])
        .with_byrefs(&[8])
        .pretenured(true)
}

fn world() -> World {
    let heap = Heap::new(
        Config::builder()
            .promotion_age(3)
            .verify_after_gc(true)
            .build()
            .unwrap(),
    )
    .unwrap();
    let old: TypeId = heap.register_type(&old_type()).unwrap();
    let young = heap
        .register_type(&TypeDescriptor::fixed("Young", 24).with_refs(&[0]))
        .unwrap();
    let cont = heap
        .register_type(
            &TypeDescriptor::fixed("Cont", PREFIX_BYTES as u32 + 8)
                .with_private_refs(&[0])
                .with_private(&[STATE_OFFSET as u32])
                .as_continuation(),
        )
        .unwrap();
    let mut m = heap.mutator();
    // SAFETY: every object is rooted right after its allocation, and objects are read
    // back from their roots after every allocation (which may collect); the slots are
    // the ones the descriptors declare.
    let task = unsafe {
        let o = m.alloc_raw(old).unwrap();
        m.push_root(Some(o));
        let y = m.alloc_raw(young).unwrap();
        m.push_root(Some(y));
        let ob = m.alloc_raw(old).unwrap();
        m.push_root(Some(ob));
        let c = m.alloc_raw(cont).unwrap();
        m.push_root(Some(c));
        let c2 = m.alloc_raw(cont).unwrap();
        m.push_root(Some(c2));
        let p = m.alloc_raw(old).unwrap();
        m.push_root(Some(p));
        let r = |m: &Mutator, i| m.root(i).unwrap();
        let (o, y, ob, c, c2) = (
            r(&m, OLD_REF),
            r(&m, YOUNG),
            r(&m, OLD_BYREF),
            r(&m, CONT),
            r(&m, CONT2),
        );
        m.store_ref(o, 0, Some(y));
        m.store_byref(ob, 8, y.payload() as usize + 8);
        m.store_ref(c, 0, Some(c2));
        // Captured (and linked, as a chain's frames are; never resumed here).
        c.store_u32(FLAGS_OFFSET, FLAG_CAPTURED | FLAG_LINKED);
        c2.store_u32(FLAGS_OFFSET, FLAG_CAPTURED | FLAG_LINKED);
        m.suspend_task_raw(c)
    };
    // The verifier runs after this collection (and must pass).
    m.collect(CollectionKind::Minor);
    let mut w = World {
        _heap: heap,
        m,
        _task: task,
    };
    verify_now(&mut w.m, |_, _| {}).expect("the unbroken heap verifies");
    w
}

/// Stops the world, retires every buffer as a collection does, lets `plant` break
/// something, and runs the verifier.
fn verify_now(
    m: &mut Mutator,
    plant: impl FnOnce(&mut Spaces, &TaskRegistry),
) -> Result<(), String> {
    let heap = Arc::clone(&m.heap);
    let world = heap
        .rendezvous
        .begin_collection()
        .expect("no other thread collects");
    let result = {
        let mut sp = lock(&heap.spaces);
        let sp = &mut *sp;
        let mutators = lock(&heap.mutators);
        let types = heap.types.read();
        for p in mutators.iter() {
            // SAFETY: the world is stopped; the pointers are registered mutators.
            let local = unsafe { &mut *p.0 };
            local.retire_buffer(&sp.nursery);
            sp.remset.append(&mut local.remset);
        }
        plant(sp, &heap.tasks);
        let mut roots = |f: &mut dyn FnMut(&mut usize)| visit_roots(&heap, &mutators, f);
        verify(sp, &types, &mut roots, &heap.tasks, false)
    };
    heap.rendezvous.end_collection(world);
    result
}

fn expect_err(w: &mut World, plant: impl FnOnce(&mut Spaces, &TaskRegistry), what: &str) {
    let e = verify_now(&mut w.m, plant).expect_err("the planted violation is caught");
    assert!(e.contains(what), "expected {what:?}, got {e:?}");
}

fn root(w: &World, i: u32) -> ObjectRef {
    w.m.root(i).unwrap()
}

/// Rewrites a header word (the world is stopped while `plant` runs).
fn set_header(o: ObjectRef, f: impl FnOnce(Header) -> Header) {
    // SAFETY: `o` is a live object and the world is stopped.
    unsafe { o.set_header(f(o.header())) }
}

#[test]
fn a_reference_to_no_object_is_invariant_1() {
    let mut w = world();
    let (p, y) = (root(&w, PLAIN_OLD), root(&w, YOUNG));
    expect_err(
        &mut w,
        // SAFETY: slot 0 of a live object; the world is stopped while `plant` runs.
        |_, _| unsafe { p.store_slot(0, y.addr() + 8) },
        "invariant 1",
    );
}

#[test]
fn a_reference_into_the_middle_of_an_old_object_is_invariant_1() {
    // The target lies in the old space, possibly beyond the walk's position: checked
    // once the old space is indexed.
    for target in [OLD_REF, PLAIN_OLD] {
        let mut w = world();
        let (p, t) = (root(&w, PLAIN_OLD), root(&w, target));
        expect_err(
            &mut w,
            // SAFETY: slot 0 of a live object; the world is stopped while `plant` runs.
            |_, _| unsafe { p.store_slot(0, t.addr() + 8) },
            "invariant 1",
        );
    }
}

#[test]
fn a_root_to_no_object_is_invariant_1() {
    let mut w = world();
    let y = root(&w, YOUNG);
    // SAFETY: a deliberately bad root; no collection runs before the check.
    unsafe { w.m.set_root(PLAIN_OLD, ObjectRef::from_addr(y.addr() + 8)) };
    expect_err(&mut w, |_, _| {}, "invariant 1: a root");
}

#[test]
fn an_unremembered_old_to_young_reference_is_invariant_2() {
    let mut w = world();
    let o = root(&w, OLD_REF);
    expect_err(
        &mut w,
        |sp, _| {
            sp.remset.retain(|&a| a != o.addr());
            set_header(o, |h| h.with(UNLOGGED));
        },
        "invariant 2",
    );
}

#[test]
fn an_unremembered_old_to_young_byref_is_invariant_2() {
    let mut w = world();
    let (o, ob) = (root(&w, OLD_REF), root(&w, OLD_BYREF));
    expect_err(
        &mut w,
        |sp, _| {
            // Only the byref holder is forgotten.
            sp.remset.retain(|&a| a != ob.addr());
            set_header(ob, |h| h.with(UNLOGGED));
            assert!(sp.remset.contains(&o.addr()));
        },
        "has young base",
    );
}

#[test]
fn a_disarmed_barrier_is_caught() {
    let mut w = world();
    let p = root(&w, PLAIN_OLD);
    expect_err(
        &mut w,
        |_, _| set_header(p, |h| h.without(UNLOGGED)),
        "barrier is disarmed",
    );
}

#[test]
fn remembered_set_errors_are_caught() {
    let mut w = world();
    let o = root(&w, OLD_REF);
    expect_err(
        &mut w,
        |sp, _| sp.remset.push(o.addr()),
        "holds an object twice",
    );
    let mut w = world();
    let y = root(&w, YOUNG);
    expect_err(
        &mut w,
        |sp, _| sp.remset.push(y.addr()),
        "not a live old object",
    );
}

#[test]
fn a_forwarding_header_is_invariant_3() {
    let mut w = world();
    let (y, p) = (root(&w, YOUNG), root(&w, PLAIN_OLD));
    expect_err(
        &mut w,
        |_, _| set_header(y, |_| Header::forwarding(p.addr())),
        "invariant 3",
    );
}

#[test]
fn a_leftover_mark_is_invariant_3() {
    let mut w = world();
    let p = root(&w, PLAIN_OLD);
    expect_err(
        &mut w,
        |_, _| set_header(p, |h| h.with(MARK)),
        "still marked",
    );
}

/// Old objects are marked in the old space's side map: a mark left there is caught
/// as a header mark is.
#[test]
fn a_leftover_mark_in_the_old_mark_map_is_invariant_3() {
    let mut w = world();
    let p = root(&w, PLAIN_OLD);
    expect_err(
        &mut w,
        |sp, _| sp.old.mark(p.addr()),
        "invariant 3: a mark is left in the old space's mark map",
    );
}

#[test]
fn bad_headers_are_caught() {
    let mut w = world();
    let y = root(&w, YOUNG);
    expect_err(
        &mut w,
        |_, _| set_header(y, |h| h.with(UNLOGGED)),
        "young object",
    );
    let mut w = world();
    let p = root(&w, PLAIN_OLD);
    expect_err(
        &mut w,
        |_, _| set_header(p, |h| Header::new(FILLER_TYPE_INDEX, 24).with_age(h.age())),
        "filler object",
    );
    let mut w = world();
    let p = root(&w, PLAIN_OLD);
    expect_err(
        &mut w,
        |_, _| set_header(p, |_| Header::new(1000, 0).with(UNLOGGED)),
        "bad type index",
    );
}

fn byref_at(o: ObjectRef) -> *mut usize {
    o.payload().wrapping_add(8).cast()
}

#[test]
fn byref_violations_are_invariant_4() {
    let mut w = world();
    let (ob, y, p) = (root(&w, OLD_BYREF), root(&w, YOUNG), root(&w, PLAIN_OLD));
    // SAFETY (all three plants): the byref slot of a live object; the world is
    // stopped while `plant` runs.
    expect_err(
        &mut w,
        // SAFETY: see above (a live object's byref slot, the world stopped).
        |_, _| unsafe { byref_slot::store(byref_at(ob), y.payload() as usize, UNRESOLVED) },
        "was not resolved",
    );
    expect_err(
        &mut w,
        // SAFETY: see above (a live object's byref slot, the world stopped).
        |_, _| unsafe { byref_slot::store(byref_at(ob), y.addr() + 64, y.addr()) },
        "lies outside its base",
    );
    expect_err(
        &mut w,
        // SAFETY: see above (a live object's byref slot, the world stopped).
        |_, _| unsafe { byref_slot::store(byref_at(ob), p.payload() as usize, EXTERNAL) },
        "says external",
    );
    expect_err(
        &mut w,
        // SAFETY: see above (a live object's byref slot, the world stopped).
        |_, _| unsafe { byref_slot::store(byref_at(ob), y.payload() as usize, y.addr() + 8) },
        "not an object",
    );
}

/// Visits the suspended tasks as a minor collection would, but reports every member
/// as referring to old objects only: the registry then ages young groups as old.
struct Lie;

impl MemberVisitor for Lie {
    fn reference(&mut self, _: &mut usize) -> bool {
        false
    }
    fn byref(&mut self, _: &mut [usize; 2]) -> bool {
        false
    }
}

#[test]
fn a_task_group_aged_old_with_a_young_member_is_invariant_5() {
    let mut w = world();
    expect_err(
        &mut w,
        // SAFETY: the world is stopped; `Lie` changes no slot.
        |_, tasks| unsafe { tasks.visit(true, &mut Lie) },
        "invariant 5",
    );
}

#[test]
fn a_continuation_whose_next_is_not_a_continuation_is_caught() {
    let mut w = world();
    let (c, y) = (root(&w, CONT), root(&w, YOUNG));
    expect_err(
        &mut w,
        // SAFETY: `next` of a live continuation; the world is stopped.
        |_, _| unsafe { c.store_slot(0, y.addr()) },
        "not a continuation",
    );
}

#[test]
fn a_consumed_continuation_on_a_task_chain_is_invariant_6() {
    let mut w = world();
    let c2 = root(&w, CONT2);
    expect_err(
        &mut w,
        // SAFETY: the flags word of a live continuation; the world is stopped.
        |_, _| unsafe { c2.store_u32(FLAGS_OFFSET, FLAG_CAPTURED | FLAG_LINKED | FLAG_RESUMED) },
        "already resumed",
    );
}

#[test]
fn a_never_captured_continuation_on_a_task_chain_is_invariant_6() {
    let mut w = world();
    let c2 = root(&w, CONT2);
    expect_err(
        &mut w,
        // A zeroed flags word: allocated, never captured.
        // SAFETY: the flags word of a live continuation; the world is stopped.
        |_, _| unsafe { c2.store_u32(FLAGS_OFFSET, 0) },
        "never captured",
    );
}

#[test]
fn a_cycle_on_a_task_chain_is_invariant_6() {
    let mut w = world();
    let (c, c2) = (root(&w, CONT), root(&w, CONT2));
    expect_err(
        &mut w,
        // SAFETY: `next` of a live continuation, set to another live continuation;
        // the world is stopped.
        |_, _| unsafe { c2.store_slot(0, c.addr()) },
        "cycle",
    );
}
