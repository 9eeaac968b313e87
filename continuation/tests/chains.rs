//! Continuation chains: capture, collections in between, resume with result
//! propagation, re-suspension without allocation, exception unwinding, byrefs into a
//! caller's frame, and both placements. The verifier runs after every collection.

use contgc_collector::{
    CollectionKind, Config, ContinuationPlacement, Heap, Scope, TypeDescriptor, TypeId,
};
use contgc_continuation::{
    resume_chain_with, Capture, ChainOutcome, Continuation, Frame, FrameLayout, FrameType, Outcome,
    ResultKind, ResumeFn, Suspension, Value,
};

/// The test's state, given to every frame as its context: the test frame types (one
/// layout, one frame type per resume function: a frame type is one method's frame),
/// the object type frames allocate and a log of what ran.
struct Ctx {
    /// Resumed by `sum_frame`.
    ft: FrameType<Ctx>,
    /// Resumed by `resuspend_once`.
    resuspend: FrameType<Ctx>,
    /// Resumed by `throwing_leaf`.
    throwing: FrameType<Ctx>,
    /// Resumed by `plain_frame`.
    plain: FrameType<Ctx>,
    /// Resumed by `sum_result`.
    after: FrameType<Ctx>,
    /// Resumed by `byref_caller`.
    byref_caller: FrameType<Ctx>,
    boxed: TypeId,
    log: Vec<&'static str>,
}

fn heap(placement: ContinuationPlacement) -> Heap {
    Heap::new(
        Config::builder()
            .nursery_size(256 << 10)
            .continuation_placement(placement)
            .verify_after_gc(true)
            .build()
            .unwrap(),
    )
    .unwrap()
}

/// Registers the test frame types (one reference, one integer, a data result) and the
/// object type.
fn setup(h: &Heap) -> Ctx {
    let frame = |name: &str, f: ResumeFn<Ctx>| {
        FrameLayout::new(name)
            .refs(1)
            .data_bytes(8)
            .result(ResultKind::Data)
            .register_with_context::<Ctx>(h, f)
            .unwrap()
    };
    let boxed = h.register_type(&TypeDescriptor::fixed("Boxed", 8)).unwrap();
    Ctx {
        ft: frame("Frame", sum_frame),
        resuspend: frame("Resuspend", resuspend_once),
        throwing: frame("Throwing", throwing_leaf),
        plain: frame("Plain", plain_frame),
        after: frame("After", sum_result),
        byref_caller: frame("ByrefCaller", byref_caller),
        boxed,
        log: Vec::new(),
    }
}

/// Resumes a frame: checks its object and integer, returns callee result + both.
fn sum_frame<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let ft = f.frame_type();
    let callee = if f.state() == 0 { 0 } else { f.result_u64(ft) };
    let i = f.u64(ft, 0);
    let obj = f.get_ref(ft, 0).expect("the frame's object");
    let v = f.scope().read_u64(obj, 0);
    assert_eq!(v, 10 * i, "frame {i} lost its object");
    Outcome::Return(Value::Data(callee + v + i))
}

/// Captures a chain of `depth` frames (leaf first), returning its leaf.
fn capture_chain<'s>(s: &mut Scope<'s>, cx: &Ctx, depth: u64) -> Continuation<'s> {
    let (ft, boxed) = (cx.ft, cx.boxed);
    let mut susp = Suspension::new();
    for i in 0..depth {
        let obj = s.alloc(boxed).unwrap();
        s.write_u64(obj, 0, 10 * i);
        // the leaf resumes at state 0 (no callee result); the others at state 1
        let state = u32::from(i != 0);
        let mut c = Capture::begin(s, &ft, None, state).unwrap();
        c.set_ref(0, Some(obj)).set_u64(0, i);
        let k = c.finish();
        susp.push(s, k);
    }
    susp.head().unwrap()
}

fn expected(depth: u64) -> u64 {
    (0..depth).map(|i| 11 * i).sum()
}

#[test]
fn chains_survive_collections_and_resume_with_results() {
    for placement in [
        ContinuationPlacement::Nursery,
        ContinuationPlacement::OldGeneration,
    ] {
        let h = heap(placement);
        let mut cx = setup(&h);
        let mut m = h.mutator();
        m.scope(|s| {
            let leaf = capture_chain(s, &cx, 64);
            s.collect(CollectionKind::Minor);
            // garbage in between, so that the nursery fills and objects move
            for _ in 0..20_000 {
                s.scope(|i| {
                    i.alloc(cx.boxed).unwrap();
                });
            }
            s.collect(CollectionKind::Major);
            assert_eq!(
                resume_chain_with(s, leaf, &mut cx).expect("resume"),
                ChainOutcome::Completed(Value::Data(expected(64)))
            );
        });
        let st = h.stats();
        assert!(
            st.old_bytes >= 64 * cx.ft.object_size(),
            "{placement:?}: frames are old now: {st:?}"
        );
    }
}

#[test]
fn one_allocation_per_frame_and_none_when_a_frame_resuspends() {
    let h = heap(ContinuationPlacement::Nursery);
    let mut cx = setup(&h);
    let mut m = h.mutator();
    m.scope(|s| {
        let ft = cx.resuspend;
        let before = s.census();
        let mut susp = Suspension::new();
        for _ in 0..10 {
            let k = Capture::begin(s, &ft, None, 0).unwrap().finish();
            susp.push(s, k);
        }
        let after = s.census();
        assert_eq!(
            after.objects() - before.objects(),
            10,
            "one allocation per frame"
        );
        // the header, next, state and flags, one reference, one integer and a result
        // slot
        assert_eq!(ft.object_size(), 8 + 16 + 8 + 8 + 8);
        assert_eq!(
            after.bytes() - before.bytes(),
            10 * 48,
            "one object's bytes per frame"
        );
        let leaf = susp.head().unwrap();
        // The leaf re-suspends in place: no allocation, same continuation.
        let out = resume_chain_with(s, leaf, &mut cx).expect("resume");
        let ChainOutcome::Suspended(again) = out else {
            panic!("expected a suspension, got {out:?}")
        };
        assert!(s.same(again.local(), leaf.local()));
        assert_eq!(s.census(), after);
        s.collect(CollectionKind::Minor);
        let settled = s.census();
        // The leaf now completes; each caller was captured at state 0 too, so it
        // re-suspends once before completing.
        let mut cur = again;
        let mut runs = 0;
        loop {
            runs += 1;
            match resume_chain_with(s, cur, &mut cx).expect("resume") {
                ChainOutcome::Suspended(k) => cur = k,
                ChainOutcome::Completed(v) => {
                    assert_eq!(v, Value::Data(0));
                    break;
                }
                ChainOutcome::Threw(_) => panic!("no exception expected"),
            }
        }
        assert_eq!(runs, 10, "each of the 9 callers re-suspended once");
        assert_eq!(s.census(), settled, "zero allocations on re-suspension");
    });
}

/// At state 0: re-suspends into its own continuation at state 1. At state 1: returns
/// the callee's result (0 for the leaf).
fn resuspend_once<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let ft = f.frame_type();
    if f.state() == 0 {
        let k = f.recapture(ft, 1).unwrap().finish();
        return Outcome::Suspend(k);
    }
    Outcome::Return(Value::Data(f.result_u64(ft)))
}

fn plain_frame<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    f.ctx().log.push("plain");
    Outcome::Return(Value::Data(1))
}

fn throwing_leaf<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let (s, cx) = f.scope_and_ctx();
    cx.log.push("throw");
    let e = s.alloc(cx.boxed).unwrap();
    s.write_u64(e, 0, 500);
    Outcome::Throw(e)
}

fn handler_frame<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    // Its own frame type: the handler layout, not the context's `ft`.
    let ft = f.frame_type();
    let e = f
        .take_exception(ft)
        .expect("the exception reached its handler");
    let code = f.scope().read_u64(e, 0);
    f.ctx().log.push("handler");
    Outcome::Return(Value::Data(code + 1))
}

fn sum_result<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let ft = f.frame_type();
    f.ctx().log.push("after");
    Outcome::Return(Value::Data(f.result_u64(ft) + 1000))
}

#[test]
fn exceptions_unwind_to_the_next_frame_with_a_handler() {
    let h = heap(ContinuationPlacement::Nursery);
    let mut cx = setup(&h);
    let exc = FrameLayout::new("Handler")
        .result(ResultKind::Data)
        .handles_exceptions(true)
        .register_with_context::<Ctx>(&h, handler_frame)
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let (throwing, plain) = (cx.throwing, cx.plain);
        let mut susp = Suspension::new();
        for t in [&throwing, &plain, &plain, &exc, &cx.after] {
            let k = Capture::begin(s, t, None, 1).unwrap().finish();
            susp.push(s, k);
        }
        s.collect(CollectionKind::Minor);
        let out = resume_chain_with(s, susp.head().unwrap(), &mut cx).expect("resume");
        assert_eq!(out, ChainOutcome::Completed(Value::Data(1501)));
        assert_eq!(cx.log, ["throw", "handler", "after"]);

        // Without a handler the exception leaves the root.
        let mut susp = Suspension::new();
        for t in [&throwing, &plain] {
            let k = Capture::begin(s, t, None, 1).unwrap().finish();
            susp.push(s, k);
        }
        let ChainOutcome::Threw(e) =
            resume_chain_with(s, susp.head().unwrap(), &mut cx).expect("resume")
        else {
            panic!("the exception must escape")
        };
        assert_eq!(s.read_u64(e, 0), 500);
    });
}

/// The callee writes through its byref into its caller's frame, then returns.
fn byref_callee<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let ft = f.frame_type();
    let v = f.u64_via_byref(ft, 0);
    f.set_u64_via_byref(ft, 0, v * 2);
    Outcome::Return(Value::Unit)
}

/// The caller reads its own local, which its callee changed.
fn byref_caller<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let ft = f.frame_type();
    Outcome::Return(Value::Data(f.u64(ft, 0)))
}

#[test]
fn a_byref_into_a_suspended_callers_frame_follows_it() {
    let h = heap(ContinuationPlacement::Nursery);
    let mut cx = setup(&h);
    let callee_ft = FrameLayout::new("Callee")
        .byrefs(1)
        .register_with_context::<Ctx>(&h, byref_callee)
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let ft = cx.byref_caller;
        let callee = Capture::begin(s, &callee_ft, None, 1).unwrap().finish();
        let mut c = Capture::begin(s, &ft, None, 1).unwrap();
        c.set_u64(0, 21);
        let caller = c.finish();
        // The callee's byref points at the caller's data word (raw capture: the next
        // collection resolves it).
        let addr = s.raw(caller.local()).payload() as usize + ft.data_offset(0, 8);
        let mut c = Capture::begin(s, &callee_ft, Some(callee), 1).unwrap();
        // SAFETY: `addr` is inside the caller continuation's payload, read just now.
        unsafe { c.set_byref_raw(0, addr) };
        c.finish();
        let mut susp = Suspension::new();
        susp.push(s, callee);
        susp.push(s, caller);
        s.collect(CollectionKind::Minor); // both promoted (first survival), moved
        s.collect(CollectionKind::Major);
        assert_eq!(
            resume_chain_with(s, callee, &mut cx).expect("resume"),
            ChainOutcome::Completed(Value::Data(42))
        );
    });
}

#[test]
fn chains_linked_without_locals_mix_with_pushed_frames() {
    let h = heap(ContinuationPlacement::Nursery);
    let mut cx = setup(&h);
    let boxed = cx.boxed;
    let mut m = h.mutator();
    m.scope(|s| {
        let ft = cx.ft;
        let mut susp = Suspension::new();
        let before = s.roots_len();
        for i in 0..200u64 {
            let obj = s.alloc(boxed).unwrap();
            s.write_u64(obj, 0, 10 * i);
            let state = u32::from(i != 0);
            if i % 3 == 1 {
                let mut c = Capture::begin(s, &ft, None, state).unwrap();
                c.set_ref(0, Some(obj)).set_u64(0, i);
                let k = c.finish();
                susp.push(s, k);
            } else {
                let mut c = Capture::begin_link(s, &ft, state).unwrap();
                c.set_ref(0, Some(obj)).set_u64(0, i);
                c.link(&mut susp);
            }
            if i % 50 == 0 {
                s.collect(CollectionKind::Minor);
            }
        }
        let _ = before;
        // A chain built only by linking takes two locals (head and tail), however long.
        let obj = s.alloc(boxed).unwrap();
        let before = s.roots_len();
        let mut linked = Suspension::new();
        let plain = cx.plain;
        for i in 0..100u64 {
            let mut c = Capture::begin_link(s, &plain, 1).unwrap();
            c.set_ref(0, Some(obj)).set_u64(0, i);
            c.link(&mut linked);
        }
        assert_eq!(s.roots_len() - before, 2);
        s.collect(CollectionKind::Major);
        assert_eq!(
            resume_chain_with(s, susp.head().unwrap(), &mut cx).expect("resume"),
            ChainOutcome::Completed(Value::Data(expected(200)))
        );
    });
}
