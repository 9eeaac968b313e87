//! The continuation contract: one-shot resumption, callers never dropped, chains
//! without cycles, result slots cleared on reuse. Each test failed (ran a frame twice,
//! completed silently, looped, or kept a stale result) before the contract was
//! enforced.

mod common;

use contgc_collector::{CollectionKind, Heap, Scope, TypeDescriptor};
use contgc_continuation::{
    async_stack, resume_chain_with, Capture, ChainOutcome, Continuation, Frame, FrameLayout,
    FrameType, Outcome, ResultKind, ResumeError, ResumeFn, StackEnd, Suspension, Value,
};

/// What the test frames share: counters and types, handed to them as their context
/// (no thread-locals).
#[derive(Default)]
struct Ctx {
    /// Frame runs, plus each counting frame's data word.
    runs: u32,
    /// A plain object type, for frames that allocate one.
    plain: Option<contgc_collector::TypeId>,
    /// A frame type of another heap, for the frame that reads with it.
    foreign: Option<FrameType<Ctx>>,
}

type Ft = FrameType<Ctx>;

fn heap() -> Heap {
    common::verified_heap(256 << 10)
}

/// The layout of the test frames: one reference, 8 data bytes and a reference result
/// slot.
fn layout(name: &str) -> FrameLayout {
    FrameLayout::new(name)
        .refs(1)
        .data_bytes(8)
        .result(ResultKind::Ref)
}

/// The test frame types, one per resume function (a frame type is one method's
/// frame), all of [`layout`].
struct Fts {
    counting: Ft,
    unit: Ft,
    returns_ref: Ft,
    resuspends: Ft,
    drops_its_caller: Ft,
    reads_with_foreign_type: Ft,
    suspends_with_an_overwritten_leaf: Ft,
    suspends_without_capturing: Ft,
    captures_then_returns: Ft,
}

fn frame_types(h: &Heap) -> Fts {
    let ft =
        |name: &str, f: ResumeFn<Ctx>| layout(name).register_with_context::<Ctx>(h, f).unwrap();
    Fts {
        counting: ft("Counting", counting),
        unit: ft("Unit", unit),
        returns_ref: ft("ReturnsRef", returns_ref),
        resuspends: ft("Resuspends", resuspends),
        drops_its_caller: ft("DropsItsCaller", drops_its_caller),
        reads_with_foreign_type: ft("ReadsWithForeignType", reads_with_foreign_type),
        suspends_with_an_overwritten_leaf: ft(
            "SuspendsWithAnOverwrittenLeaf",
            suspends_with_an_overwritten_leaf,
        ),
        suspends_without_capturing: ft("SuspendsWithoutCapturing", suspends_without_capturing),
        captures_then_returns: ft("CapturesThenReturns", captures_then_returns),
    }
}

/// Counts its runs (adding its data word) and returns nothing.
fn counting<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let ft = f.frame_type();
    let v = f.u64(ft, 0) as u32;
    f.ctx().runs += 1 + v;
    Outcome::Return(Value::Unit)
}

/// Counts its runs and returns nothing.
fn unit<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    f.ctx().runs += 1;
    Outcome::Return(Value::Unit)
}

/// Returns its reference to the caller.
fn returns_ref<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let ft = f.frame_type();
    let r = f.get_ref(ft, 0);
    Outcome::Return(Value::Ref(r))
}

/// State 0: suspends again reusing its continuation (the caller is kept).
/// State 1: returns unit.
fn resuspends<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let ft = f.frame_type();
    if f.state() == 1 {
        return Outcome::Return(Value::Unit);
    }
    let k = f.recapture(ft, 1).unwrap().finish();
    Outcome::Suspend(k)
}

/// Suspends with a fresh continuation that is not linked to its caller.
fn drops_its_caller<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let ft = f.frame_type();
    let k = Capture::begin(f.scope(), ft, None, 0).unwrap().finish();
    Outcome::Suspend(k)
}

/// A chain of `n` counting frames, leaf first.
fn chain<'s>(s: &mut Scope<'s>, fts: &Fts, n: u64) -> Continuation<'s> {
    let mut susp = Suspension::new();
    for i in 0..n {
        let mut c = Capture::begin(s, &fts.counting, None, 0).unwrap();
        c.set_u64(0, i);
        let k = c.finish();
        susp.push(s, k);
    }
    susp.head().unwrap()
}

/// Runs `f` in a scope on a fresh heap (verifier on) with the frame types registered
/// and a fresh context.
fn with_scope<R>(f: impl for<'s> FnOnce(&mut Scope<'s>, &Heap, &Fts, &mut Ctx) -> R) -> R {
    let h = heap();
    let fts = frame_types(&h);
    let mut ctx = Ctx::default();
    let mut m = h.mutator();
    m.scope(|s| f(s, &h, &fts, &mut ctx))
}

/// A finished capture of a frame of type `ft` (resumed by its function) at `state`.
fn captured<'s>(s: &mut Scope<'s>, ft: &Ft, state: u32) -> Continuation<'s> {
    Capture::begin(s, ft, None, state).unwrap().finish()
}

/// Links `frames` (leaf first) into a chain.
fn linked<'s>(s: &mut Scope<'s>, frames: &[Continuation<'s>]) {
    let mut susp = Suspension::new();
    for &k in frames {
        susp.push(s, k);
    }
}

#[test]
fn a_chain_is_resumed_once() {
    with_scope(|s, _, fts, ctx| {
        let leaf = chain(s, fts, 3);
        let stack = async_stack(s, leaf);
        assert_eq!((stack.frames.len(), stack.end), (3, StackEnd::Root));
        assert!(stack
            .frames
            .iter()
            .all(|f| f.resumable && f.name == "Counting"));
        let before = ctx.runs;
        assert_eq!(
            resume_chain_with(s, leaf, ctx),
            Ok(ChainOutcome::Completed(Value::Unit))
        );
        // The async stack shows the frames consumed.
        let stack = async_stack(s, leaf);
        assert_eq!(stack.frames.len(), 3);
        assert!(stack.frames.iter().all(|f| !f.resumable));
        assert!(stack.to_string().contains("[already resumed]"));
        assert_eq!(ctx.runs - before, 3 + (1 + 2)); // three frames, data 0, 1, 2
                                                    // The chain completed: resuming it again runs nothing.
        assert_eq!(
            resume_chain_with(s, leaf, ctx),
            Err(ResumeError::AlreadyResumed)
        );
        assert_eq!(ctx.runs - before, 6, "no frame ran twice");
    });
}

#[test]
fn a_still_registered_task_cannot_be_resumed_twice() {
    with_scope(|s, _, fts, ctx| {
        let leaf = chain(s, fts, 2);
        let task = s.suspend_task(leaf.local());
        let before = ctx.runs;
        // Resumed through the local while the task is still registered ...
        assert!(resume_chain_with(s, leaf, ctx).is_ok());
        // ... then through the task root: refused.
        let again = s.resume_task(task).into_heap().unwrap();
        let again = Continuation::from_local(s, again).unwrap();
        assert_eq!(
            resume_chain_with(s, again, ctx),
            Err(ResumeError::AlreadyResumed)
        );
        assert_eq!(ctx.runs - before, 2 + 1);
    });
}

#[test]
fn a_resuspended_frame_can_be_resumed_again_but_not_its_old_suspension() {
    with_scope(|s, _, fts, ctx| {
        let caller = captured(s, &fts.unit, 0);
        let leaf = captured(s, &fts.resuspends, 0);
        linked(s, &[leaf, caller]);
        let before = ctx.runs;
        let Ok(ChainOutcome::Suspended(again)) = resume_chain_with(s, leaf, ctx) else {
            panic!("the leaf suspends again")
        };
        assert!(
            s.same(again.local(), leaf.local()),
            "its continuation is reused"
        );
        assert_eq!(
            resume_chain_with(s, again, ctx),
            Ok(ChainOutcome::Completed(Value::Unit))
        );
        assert_eq!(ctx.runs - before, 1, "the caller ran once");
        assert_eq!(
            resume_chain_with(s, again, ctx),
            Err(ResumeError::AlreadyResumed)
        );
    });
}

#[test]
fn a_frame_that_suspends_without_its_caller_is_refused() {
    with_scope(|s, _, fts, ctx| {
        let leaf = captured(s, &fts.drops_its_caller, 0);
        let caller = captured(s, &fts.unit, 0);
        linked(s, &[leaf, caller]);
        let before = ctx.runs;
        match resume_chain_with(s, leaf, ctx) {
            Err(ResumeError::OrphanedCallers { caller: c, .. }) => {
                assert!(s.same(c.local(), caller.local()))
            }
            other => panic!("expected OrphanedCallers, got {other:?}"),
        }
        // The caller was not lost: it can still be resumed on its own.
        assert_eq!(
            resume_chain_with(s, caller, ctx),
            Ok(ChainOutcome::Completed(Value::Unit))
        );
        assert_eq!(ctx.runs - before, 1);
    });
}

#[test]
fn a_reused_continuation_does_not_keep_the_previous_result() {
    with_scope(|s, h, fts, ctx| {
        let obj = h.register_type(&TypeDescriptor::fixed("O", 8)).unwrap();
        let o = s.alloc(obj).unwrap();
        let mut c = Capture::begin(s, &fts.returns_ref, None, 0).unwrap();
        c.set_ref(0, Some(o));
        let callee = c.finish();
        let caller = captured(s, &fts.resuspends, 0);
        linked(s, &[callee, caller]);
        let Ok(ChainOutcome::Suspended(k)) = resume_chain_with(s, callee, ctx) else {
            panic!("the caller suspends again")
        };
        assert!(s.same(k.local(), caller.local()));
        let off = fts.resuspends.result_offset().unwrap();
        // SAFETY: `k` is a live continuation of that frame type; `off` is its result
        // slot.
        let result = unsafe { s.raw(k.local()).load_slot(off) };
        assert_eq!(result, 0, "the previous call's result is cleared on reuse");
    });
}

#[test]
#[should_panic(expected = "already linked")]
fn pushing_a_continuation_twice_is_refused() {
    with_scope(|s, _, fts, _| {
        let a = captured(s, &fts.unit, 0);
        let b = captured(s, &fts.unit, 0);
        let mut susp = Suspension::new();
        susp.push(s, a);
        susp.push(s, b);
        susp.push(s, a); // would make b -> a -> b
    });
}

#[test]
#[should_panic(expected = "does not hold a continuation")]
fn linking_an_overwritten_local_as_next_is_refused() {
    with_scope(|s, h, fts, _| {
        let plain = h.register_type(&TypeDescriptor::fixed("P", 8)).unwrap();
        let caller = captured(s, &fts.unit, 0);
        let p = s.alloc(plain).unwrap();
        s.set_local(caller.local(), p); // the local now names a plain object
        let mut c = Capture::begin(s, &fts.unit, None, 0).unwrap();
        c.set_next(Some(caller));
    });
}

#[test]
#[should_panic(expected = "does not hold a continuation")]
fn pushing_an_overwritten_local_is_refused() {
    with_scope(|s, h, fts, _| {
        let plain = h.register_type(&TypeDescriptor::fixed("P", 8)).unwrap();
        let k = captured(s, &fts.unit, 0);
        let p = s.alloc(plain).unwrap();
        s.set_local(k.local(), p);
        Suspension::new().push(s, k);
    });
}

#[test]
fn a_value_the_caller_cannot_hold_is_an_error() {
    let h = heap();
    let fts = frame_types(&h);
    let data = FrameLayout::new("D")
        .data_bytes(8)
        .result(ResultKind::Data)
        .register_with_context::<Ctx>(&h, unit)
        .unwrap();
    let ctx = &mut Ctx::default();
    let mut m = h.mutator();
    m.scope(|s| {
        let callee = captured(s, &fts.returns_ref, 0);
        let caller = Capture::begin(s, &data, None, 1).unwrap().finish();
        linked(s, &[callee, caller]);
        match resume_chain_with(s, callee, ctx) {
            Err(ResumeError::ResultMismatch { caller: c, .. }) => {
                assert!(s.same(c.local(), caller.local()))
            }
            other => panic!("expected ResultMismatch, got {other:?}"),
        }
    });
}

#[test]
#[should_panic(expected = "registered with heap")]
fn a_frame_type_of_another_heap_is_named_as_such() {
    let h = heap();
    let fts = frame_types(&h);
    let other = heap();
    let foreign = layout("F")
        .register_with_context::<Ctx>(&other, unit)
        .unwrap();
    let mut ctx = Ctx {
        foreign: Some(foreign),
        ..Ctx::default()
    };
    let mut m = h.mutator();
    m.scope(|s| {
        let k = captured(s, &fts.reads_with_foreign_type, 0);
        let _ = resume_chain_with(s, k, &mut ctx);
    });
}

fn reads_with_foreign_type<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let foreign = f.ctx().foreign.unwrap();
    Outcome::Return(Value::Data(f.u64(&foreign, 0)))
}

#[test]
#[should_panic(expected = "already linked")]
fn recapturing_a_linked_frame_in_place_keeps_it_linked() {
    with_scope(|s, _, fts, _| {
        let a = captured(s, &fts.unit, 0);
        let b = captured(s, &fts.unit, 0);
        let mut susp = Suspension::new();
        susp.push(s, a);
        susp.push(s, b);
        // Rewriting the suspended leaf in place does not make it linkable again ...
        let a = Capture::begin(s, &fts.unit, Some(a), 1).unwrap().finish();
        susp.push(s, a); // ... so this cannot close the cycle b -> a -> b.
    });
}

// Found by an adversarial review of the contract (each compiled and misbehaved: a
// segfault, an endless dispatch, a panic inside the dispatcher, a frame run again).

/// Suspends with its own continuation's local overwritten by a plain object.
fn suspends_with_an_overwritten_leaf<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let k = f.continuation();
    let plain = f.ctx().plain.unwrap();
    let s = f.scope();
    let d = s.alloc(plain).unwrap();
    s.write_u64(d, 0, 0x4141_4141_4140);
    s.set_local(k.local(), d);
    Outcome::Suspend(k)
}

/// Suspends with its own (consumed) continuation, without capturing into it.
fn suspends_without_capturing<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    Outcome::Suspend(f.continuation())
}

/// Captures into its own continuation, then returns anyway.
fn captures_then_returns<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    f.ctx().runs += 1;
    let ft = f.frame_type();
    f.recapture(ft, 0).unwrap().finish();
    Outcome::Return(Value::Unit)
}

#[test]
fn a_suspension_leaf_that_is_not_a_continuation_is_refused() {
    let h = heap();
    let fts = frame_types(&h);
    let mut ctx = Ctx {
        plain: Some(h.register_type(&TypeDescriptor::fixed("P", 8)).unwrap()),
        ..Ctx::default()
    };
    let mut m = h.mutator();
    m.scope(|s| {
        let leaf = captured(s, &fts.suspends_with_an_overwritten_leaf, 0);
        let caller = captured(s, &fts.unit, 0);
        linked(s, &[leaf, caller]);
        assert_eq!(
            resume_chain_with(s, leaf, &mut ctx),
            Err(ResumeError::NotAContinuation)
        );
    });
}

#[test]
fn a_root_frame_suspending_with_its_consumed_continuation_is_refused() {
    with_scope(|s, _, fts, ctx| {
        let root = captured(s, &fts.suspends_without_capturing, 0);
        linked(s, &[root]);
        assert_eq!(
            resume_chain_with(s, root, ctx),
            Err(ResumeError::BadSuspension)
        );
    });
}

#[test]
fn a_frame_that_captures_and_then_returns_is_refused() {
    with_scope(|s, _, fts, ctx| {
        let leaf = captured(s, &fts.captures_then_returns, 0);
        linked(s, &[leaf]);
        let before = ctx.runs;
        assert_eq!(
            resume_chain_with(s, leaf, ctx),
            Err(ResumeError::CapturedThenReturned)
        );
        assert_eq!(ctx.runs - before, 1);
    });
}

#[test]
#[should_panic(expected = "already linked")]
fn set_next_cannot_close_a_cycle() {
    with_scope(|s, _, fts, _| {
        let a = captured(s, &fts.unit, 0);
        let mut b = Capture::begin(s, &fts.unit, None, 0).unwrap();
        b.set_next(Some(a)); // links a under b
        let b = b.finish();
        let mut susp = Suspension::new();
        susp.push(s, a); // a is already linked: refused (would make a -> b -> a)
        susp.push(s, b);
    });
}

#[test]
#[should_panic(expected = "already in a chain")]
fn a_linked_continuation_rewritten_in_place_cannot_get_a_new_caller() {
    with_scope(|s, _, fts, _| {
        let root = captured(s, &fts.unit, 0);
        let other = captured(s, &fts.unit, 0);
        linked(s, &[root]);
        let mut c = Capture::begin(s, &fts.unit, Some(root), 1).unwrap();
        c.set_next(Some(other));
    });
}

#[test]
fn an_unfinished_capture_is_not_resumable() {
    with_scope(|s, _, fts, ctx| {
        let k = captured(s, &fts.unit, 0);
        let k2 = k;
        let _unfinished = Capture::begin(s, &fts.unit, Some(k2), 1).unwrap(); // never finished
        assert_eq!(
            resume_chain_with(s, k, ctx),
            Err(ResumeError::AlreadyResumed)
        );
    });
}

#[test]
#[should_panic(expected = "invariant 6")]
fn the_verifier_notices_a_registered_task_whose_chain_was_resumed() {
    with_scope(|s, _, fts, ctx| {
        let leaf = chain(s, fts, 2);
        let _task = s.suspend_task(leaf.local());
        // Resumed through a local while still registered: the task's chain now holds
        // consumed frames (its callers would run twice, or are orphaned).
        resume_chain_with(s, leaf, ctx).unwrap();
        s.collect(CollectionKind::Minor); // the verifier panics
    });
}
