//! Frame code gets its own frame type and the embedder's context (issue 8, item 1):
//! the dispatcher finds each frame's `FrameType` from its type index, hands frames a
//! typed `&mut C`, refuses (before running or consuming anything) a frame registered
//! for another context type, and names frame types for diagnostics. No thread-locals:
//! cargo runs these tests as threads of one process, each with heaps of its own.

mod common;

use contgc_collector::{Heap, Scope, TypeDescriptor};
use contgc_continuation::{
    resume_chain, resume_chain_with, Capture, ChainOutcome, Continuation, Frame, FrameLayout,
    FrameType, Outcome, ResultKind, ResumeError, Suspension, Value,
};

fn heap() -> Heap {
    common::verified_heap(256 << 10)
}

/// An embedder's VM state.
#[derive(Default)]
struct Vm {
    /// Names of the frames run, in order, as `Frame::name` gives them.
    ran: Vec<String>,
    /// The frame types each frame found for itself, in order.
    seen: Vec<FrameType<Vm>>,
    total: u64,
}

/// Another context type, whose frames must never see a `Vm`.
#[derive(Default)]
struct Other {
    runs: u32,
}

/// Adds its data word and its callee's result (if it awaits one) into the VM.
fn vm_frame<'s>(f: &mut Frame<'_, 's, Vm>) -> Outcome<'s> {
    let ft = f.frame_type();
    let callee = match ft.result_offset() {
        Some(_) if f.state() == 1 => f.result_u64(ft),
        _ => 0,
    };
    let v = f.u64(ft, 0) + callee;
    let name = f.name().to_owned();
    let vm = f.ctx();
    vm.ran.push(name);
    vm.seen.push(*ft);
    vm.total += v;
    Outcome::Return(Value::Data(v))
}

fn other_frame<'s>(f: &mut Frame<'_, 's, Other>) -> Outcome<'s> {
    f.ctx().runs += 1;
    Outcome::Return(Value::Unit)
}

fn unit_frame<'s>(_: &mut Frame<'_, 's>) -> Outcome<'s> {
    Outcome::Return(Value::Unit)
}

fn captured<'s, C>(
    s: &mut Scope<'s>,
    ft: &FrameType<C>,
    state: u32,
    data: Option<u64>,
) -> Continuation<'s> {
    let mut c = Capture::begin(s, ft, None, state).unwrap();
    if let Some(d) = data {
        c.set_u64(0, d);
    }
    c.finish()
}

fn linked<'s>(s: &mut Scope<'s>, frames: &[Continuation<'s>]) {
    let mut susp = Suspension::new();
    for &k in frames {
        susp.push(s, k);
    }
}

#[test]
fn frame_code_reaches_its_own_frame_type_and_the_context() {
    let h = heap();
    let leaf_ft = FrameLayout::new("Leaf")
        .data_bytes(8)
        .register_with_context::<Vm>(&h, vm_frame)
        .unwrap();
    let mid_ft = FrameLayout::new("Mid")
        .refs(2)
        .data_bytes(8)
        .result(ResultKind::Data)
        .register_with_context::<Vm>(&h, vm_frame)
        .unwrap();
    let root_ft = FrameLayout::new("Root")
        .byrefs(1)
        .data_bytes(16)
        .result(ResultKind::Data)
        .register_with_context::<Vm>(&h, vm_frame)
        .unwrap();
    let mut vm = Vm::default();
    let mut m = h.mutator();
    m.scope(|s| {
        // Frame types change along the chain (and come back): each frame must find
        // its own, not the previous frame's.
        let frames = [
            captured(s, &leaf_ft, 0, Some(1)),
            captured(s, &mid_ft, 1, Some(10)),
            captured(s, &mid_ft, 1, Some(100)),
            captured(s, &root_ft, 1, Some(1000)),
            captured(s, &mid_ft, 1, Some(10000)),
        ];
        linked(s, &frames);
        assert_eq!(
            resume_chain_with(s, frames[0], &mut vm),
            Ok(ChainOutcome::Completed(Value::Data(11111)))
        );
    });
    assert_eq!(vm.seen, [leaf_ft, mid_ft, mid_ft, root_ft, mid_ft]);
    assert_eq!(vm.ran, ["Leaf", "Mid", "Mid", "Root", "Mid"]);
    assert_eq!(vm.total, 1 + 11 + 111 + 1111 + 11111);
}

#[test]
fn a_frame_registered_for_another_context_is_refused_before_it_runs() {
    let h = heap();
    let vm_ft = FrameLayout::new("VmFrame")
        .data_bytes(8)
        .register_with_context::<Vm>(&h, vm_frame)
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let k = captured(s, &vm_ft, 0, Some(5));
        linked(s, &[k]);
        // With a context of another type: refused, the frame neither runs nor is
        // consumed (its resume function takes a `Frame<Vm>`).
        let mut other = Other::default();
        match resume_chain_with(s, k, &mut other) {
            Err(
                e @ ResumeError::ContextMismatch {
                    frame,
                    registered,
                    given,
                },
            ) => {
                assert!(s.same(frame.local(), k.local()));
                assert!(registered.ends_with("Vm"), "{registered}");
                assert!(given.ends_with("Other"), "{given}");
                let text = e.describe(s);
                assert!(text.contains("VmFrame"), "{text}");
                assert!(text.contains("Other"), "{text}");
            }
            other => panic!("expected ContextMismatch, got {other:?}"),
        }
        assert_eq!(other.runs, 0);
        // Context-free resumption (`C = ()`) is refused the same way.
        assert!(matches!(
            resume_chain(s, k),
            Err(ResumeError::ContextMismatch { given: "()", .. })
        ));
        // The suspension is intact: with the right context it runs, once.
        let mut vm = Vm::default();
        assert_eq!(
            resume_chain_with(s, k, &mut vm),
            Ok(ChainOutcome::Completed(Value::Data(5)))
        );
        assert_eq!(vm.ran, ["VmFrame"]);
        assert_eq!(
            resume_chain_with(s, k, &mut vm),
            Err(ResumeError::AlreadyResumed)
        );
    });
}

#[test]
fn a_context_free_frame_is_refused_a_context() {
    let h = heap();
    let ft = FrameLayout::new("Plain").register(&h, unit_frame).unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let k = captured(s, &ft, 0, None);
        linked(s, &[k]);
        assert!(matches!(
            resume_chain_with(s, k, &mut Vm::default()),
            Err(ResumeError::ContextMismatch {
                registered: "()",
                ..
            })
        ));
        assert_eq!(resume_chain(s, k), Ok(ChainOutcome::Completed(Value::Unit)));
    });
}

#[test]
fn a_mixed_chain_stops_at_the_first_frame_of_another_context() {
    let h = heap();
    let vm_ft = FrameLayout::new("VmLeaf")
        .data_bytes(8)
        .register_with_context::<Vm>(&h, vm_frame)
        .unwrap();
    // A caller of another context type awaiting the leaf's result: linking does not
    // look at context types, so a chain can mix them.
    let other_ft = FrameLayout::new("OtherCaller")
        .result(ResultKind::Data)
        .register_with_context::<Other>(&h, other_frame)
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let leaf = captured(s, &vm_ft, 0, Some(7));
        let caller = captured(s, &other_ft, 1, None);
        linked(s, &[leaf, caller]);
        let mut vm = Vm::default();
        match resume_chain_with(s, leaf, &mut vm) {
            Err(ResumeError::ContextMismatch { frame, .. }) => {
                assert!(s.same(frame.local(), caller.local()))
            }
            other => panic!("expected ContextMismatch, got {other:?}"),
        }
        assert_eq!(vm.ran, ["VmLeaf"], "the leaf ran, once");
        // The caller was not consumed and got the leaf's result: it can be resumed
        // with its own context.
        let mut o = Other::default();
        assert_eq!(
            resume_chain_with(s, caller, &mut o),
            Ok(ChainOutcome::Completed(Value::Unit))
        );
        assert_eq!(o.runs, 1);
    });
}

#[test]
fn type_names_are_found_by_index() {
    let h = heap();
    let ft = FrameLayout::new("Named")
        .data_bytes(8)
        .register_with_context::<Vm>(&h, vm_frame)
        .unwrap();
    let plain = h.register_type(&TypeDescriptor::fixed("Plain", 8)).unwrap();
    let other = heap();
    let mut m = h.mutator();
    m.scope(|s| {
        assert_eq!(s.type_name(ft.type_id().index()), Some("Named"));
        assert_eq!(s.type_name(plain.index()), Some("Plain"));
        assert_eq!(s.type_name(1 << 20), None);
        assert_eq!(ft.name(s), Some("Named"));
        // A frame type of another heap has no name in this one.
        let foreign = FrameLayout::new("Foreign")
            .register(&other, unit_frame)
            .unwrap();
        assert_eq!(foreign.name(s), None);
        // Frame code reads its own name (vm_frame records it).
        let k = captured(s, &ft, 0, Some(1));
        linked(s, &[k]);
        let mut vm = Vm::default();
        resume_chain_with(s, k, &mut vm).unwrap();
        assert_eq!(vm.ran, ["Named"]);
    });
}

/// The same layout registered with two heaps: each heap's frames find that heap's
/// frame type, whatever the type indices are.
#[test]
fn each_heap_keeps_its_own_frame_types() {
    let a = heap();
    let b = heap();
    // Shift b's indices so that the same index names different types in the heaps.
    b.register_type(&TypeDescriptor::fixed("Padding", 8))
        .unwrap();
    let fa = FrameLayout::new("A")
        .data_bytes(8)
        .register_with_context::<Vm>(&a, vm_frame)
        .unwrap();
    let fb = FrameLayout::new("B")
        .data_bytes(8)
        .register_with_context::<Vm>(&b, vm_frame)
        .unwrap();
    let fb2 = FrameLayout::new("B2")
        .data_bytes(8)
        .register_with_context::<Vm>(&b, vm_frame)
        .unwrap();
    assert_ne!(fa.type_id().index(), fb2.type_id().index());
    for (h, ft, name) in [(&a, fa, "A"), (&b, fb2, "B2"), (&b, fb, "B")] {
        let mut vm = Vm::default();
        let mut m = h.mutator();
        m.scope(|s| {
            let k = captured(s, &ft, 0, Some(3));
            linked(s, &[k]);
            resume_chain_with(s, k, &mut vm).unwrap();
        });
        assert_eq!(vm.seen, [ft]);
        assert_eq!(vm.ran, [name]);
    }
}

#[test]
#[should_panic(expected = "type belongs to heap")]
fn capturing_with_a_frame_type_of_another_heap_is_refused() {
    let h = heap();
    let other = heap();
    let foreign = FrameLayout::new("F").register(&other, unit_frame).unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let _ = Capture::begin(s, &foreign, None, 0);
    });
}

#[test]
#[should_panic(expected = "registered with heap")]
fn reading_a_frame_with_a_frame_type_of_another_heap_is_refused() {
    struct Foreign(FrameType<Foreign>);
    fn reads<'s>(f: &mut Frame<'_, 's, Foreign>) -> Outcome<'s> {
        let foreign = f.ctx().0;
        Outcome::Return(Value::Data(f.u64(&foreign, 0)))
    }
    let h = heap();
    let other = heap();
    let layout = FrameLayout::new("F").data_bytes(8);
    let ft = layout.register_with_context::<Foreign>(&h, reads).unwrap();
    let foreign = layout
        .register_with_context::<Foreign>(&other, reads)
        .unwrap();
    // Same type index in both heaps: only the heap id tells them apart.
    assert_eq!(ft.type_id().index(), foreign.type_id().index());
    let mut m = h.mutator();
    m.scope(|s| {
        let k = captured(s, &ft, 0, Some(1));
        let _ = resume_chain_with(s, k, &mut Foreign(foreign));
    });
}

#[test]
fn a_never_captured_frame_is_reported_as_such_whatever_the_context() {
    // Found by review: the context check ran first and reported a mismatch.
    let h = heap();
    let ft = FrameLayout::new("F")
        .register_with_context::<Vm>(&h, vm_frame)
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let k = s.alloc(ft.type_id()).unwrap();
        let k = Continuation::from_local(s, k).unwrap();
        assert_eq!(resume_chain(s, k), Err(ResumeError::NotCaptured));
        assert_eq!(
            resume_chain_with(s, k, &mut Vm::default()),
            Err(ResumeError::NotCaptured)
        );
    });
}

/// A frame-type cache kept across runs finds each frame type once, and an entry of one
/// heap is never taken for another heap's type of the same index: there the context
/// check runs (and refuses a frame registered for another context).
#[test]
fn a_frame_type_cache_is_per_heap_and_keeps_the_context_check() {
    use contgc_continuation::{resume_chain_cached, FrameTypeCache};
    let (a, b) = (heap(), heap());
    // The first frame type of each heap: the same type index in both.
    let fa = FrameLayout::new("A")
        .data_bytes(8)
        .register_with_context::<Vm>(&a, vm_frame)
        .unwrap();
    let fb = FrameLayout::new("B")
        .data_bytes(8)
        .register_with_context::<Other>(&b, other_frame)
        .unwrap();
    assert_eq!(fa.type_id().index(), fb.type_id().index());
    let mut cache = FrameTypeCache::<Vm>::default();
    let mut vm = Vm::default();
    let mut ma = a.mutator();
    for i in 0..3u64 {
        ma.scope(|s| {
            let mut c = Capture::begin(s, &fa, None, 0).unwrap();
            c.set_u64(0, i);
            let k = c.finish();
            let out = resume_chain_cached(s, k, &mut vm, &mut cache).unwrap();
            assert!(matches!(out, ChainOutcome::Completed(_)));
        });
    }
    assert_eq!(vm.total, 3, "0 + 1 + 2");
    let mut mb = b.mutator();
    mb.scope(|s| {
        let k = Capture::begin(s, &fb, None, 0).unwrap().finish();
        // Heap b's type of the same index was registered for `Other`: refused.
        let err = resume_chain_cached(s, k, &mut vm, &mut cache).unwrap_err();
        assert!(
            matches!(err, ResumeError::ContextMismatch { .. }),
            "{err:?}"
        );
    });
}
