//! Exceptions unwind to the next frame whose *current suspension point* is inside a
//! handler (issue 8, item 4): a frame with handlers around some of its awaits catches
//! only when suspended at one of them; a `finally` is a handler that cleans up and
//! throws on.

use contgc_collector::{Config, Heap, Scope, TypeDescriptor, TypeId};
use contgc_continuation::{
    resume_chain_with, Capture, ChainOutcome, Continuation, Frame, FrameLayout, FrameType, Outcome,
    ResultKind, Suspension, Value,
};

/// What the frames did, in order, and the exception type to throw.
struct Log {
    events: Vec<String>,
    exception: TypeId,
}

/// Throws a fresh exception object.
fn thrower<'s>(f: &mut Frame<'_, 's, Log>) -> Outcome<'s> {
    f.ctx().events.push("throw".into());
    let ty = f.ctx().exception;
    let e = f.scope().alloc(ty).unwrap();
    Outcome::Throw(e)
}

/// A frame with handlers at some suspension points: catches (returns 1) if the
/// exception is delivered to it; runs as a `finally` (cleans up and throws on) at
/// suspension point 2.
fn try_frame<'s>(f: &mut Frame<'_, 's, Log>) -> Outcome<'s> {
    let ft = *f.frame_type();
    let state = f.state();
    let e = f.take_exception(&ft);
    match (state, e) {
        (2, Some(e)) => {
            f.ctx().events.push("finally".into());
            Outcome::Throw(e)
        }
        (_, Some(_)) => {
            f.ctx().events.push(format!("caught at {state}"));
            Outcome::Return(Value::Data(1))
        }
        (_, None) => {
            f.ctx().events.push(format!("returned at {state}"));
            Outcome::Return(Value::Data(0))
        }
    }
}

/// The root: catches everything.
fn root<'s>(f: &mut Frame<'_, 's, Log>) -> Outcome<'s> {
    let ft = *f.frame_type();
    let caught = f.take_exception(&ft).is_some();
    f.ctx().events.push(format!("root caught={caught}"));
    Outcome::Return(Value::Unit)
}

struct Types {
    leaf: FrameType<Log>,
    try_ft: FrameType<Log>,
    root: FrameType<Log>,
}

fn types(h: &Heap) -> Types {
    Types {
        leaf: FrameLayout::new("Leaf")
            .register_with_context(h, thrower)
            .unwrap(),
        try_ft: FrameLayout::new("Try")
            .handles_exceptions_at(&[1, 2])
            .register_with_context(h, try_frame)
            .unwrap(),
        root: FrameLayout::new("Root")
            .result(ResultKind::Data)
            .handles_exceptions(true)
            .register_with_context(h, root)
            .unwrap(),
    }
}

fn frame<'s>(s: &mut Scope<'s>, ft: &FrameType<Log>, state: u32) -> Continuation<'s> {
    Capture::begin(s, ft, None, state).unwrap().finish()
}

/// Runs leaf (throws) -> Try suspended at `state` -> Root, returning the log.
fn run(state: u32) -> Vec<String> {
    let h = Heap::new(Config::builder().verify_after_gc(true).build().unwrap()).unwrap();
    let t = types(&h);
    let mut log = Log {
        events: Vec::new(),
        exception: h.register_type(&TypeDescriptor::fixed("Exc", 8)).unwrap(),
    };
    let mut m = h.mutator();
    m.scope(|s| {
        let leaf = frame(s, &t.leaf, 0);
        let mid = frame(s, &t.try_ft, state);
        let top = frame(s, &t.root, 0);
        let mut chain = Suspension::new();
        for k in [leaf, mid, top] {
            chain.push(s, k);
        }
        assert_eq!(
            resume_chain_with(s, leaf, &mut log),
            Ok(ChainOutcome::Completed(Value::Unit))
        );
    });
    log.events
}

#[test]
fn a_frame_catches_only_at_a_suspension_point_inside_its_handler() {
    assert_eq!(run(1), ["throw", "caught at 1", "root caught=false"]);
}

#[test]
fn outside_its_handlers_the_exception_unwinds_past_the_frame() {
    assert_eq!(run(0), ["throw", "root caught=true"]);
    assert_eq!(run(3), ["throw", "root caught=true"]);
}

#[test]
fn a_finally_cleans_up_and_throws_on() {
    assert_eq!(run(2), ["throw", "finally", "root caught=true"]);
}

#[test]
fn an_empty_handler_list_handles_nothing() {
    let h = Heap::new(Config::default()).unwrap();
    let ft = FrameLayout::new("None")
        .handles_exceptions_at(&[])
        .register(&h, |_| Outcome::Return(Value::Unit))
        .unwrap();
    assert_eq!(ft.exception_offset(), None);
}
