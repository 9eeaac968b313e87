//! Misuse of the continuation API is refused (panics or errors), never undefined
//! behaviour: regression tests for the findings of an unsafe-code review.

mod common;

use contgc_collector::{CollectionKind, DescriptorError, Heap, TypeDescriptor};
use contgc_continuation::{
    resume_chain, resume_chain_with, Capture, ChainOutcome, Continuation, Frame, FrameLayout,
    Outcome, ResumeError, ResumeFn, Suspension, Value,
};

/// The context of the allocating chain's frames: the type of the garbage the first
/// frame allocates (no thread-locals).
struct Ctx {
    garbage: contgc_collector::TypeId,
}

fn heap() -> Heap {
    common::verified_heap(64 << 10)
}

/// Allocates enough to collect several times, then reads its own data: the dispatcher
/// must not keep using the address it had before the frame ran.
fn allocating_frame<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    let ft = f.frame_type();
    let g = f.ctx().garbage;
    for _ in 0..20_000 {
        f.scope().scope(|s| {
            s.alloc(g).unwrap();
        });
    }
    let v = f.u64(ft, 0);
    Outcome::Return(Value::Data(v))
}

/// Adds its data word to its callee's result (any context: it needs none).
fn adding_frame<'s, C>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let callee = if f.state() == 0 { 0 } else { f.result_u64(ft) };
    Outcome::Return(Value::Data(callee + f.u64(ft, 0)))
}

#[test]
fn a_frame_that_allocates_and_then_reads_does_not_leave_the_dispatcher_stale() {
    let h = heap();
    // One frame type per method: the allocating leaf, and the adding callers.
    let [alloc_ft, add_ft] = [allocating_frame as ResumeFn<Ctx>, adding_frame].map(|f| {
        FrameLayout::new("F")
            .data_bytes(8)
            .result(contgc_continuation::ResultKind::Data)
            .register_with_context::<Ctx>(&h, f)
            .unwrap()
    });
    let mut ctx = Ctx {
        garbage: h.register_type(&TypeDescriptor::fixed("G", 32)).unwrap(),
    };
    let mut m = h.mutator();
    m.scope(|s| {
        let mut chain = Suspension::new();
        for (i, ft) in [alloc_ft, add_ft, add_ft].iter().enumerate() {
            let mut c = Capture::begin_link(s, ft, u32::from(i != 0)).unwrap();
            c.set_u64(0, 10 + i as u64);
            c.link(&mut chain);
        }
        let before = h.stats().minor_collections;
        assert_eq!(
            resume_chain_with(s, chain.head().unwrap(), &mut ctx).expect("resume"),
            ChainOutcome::Completed(Value::Data(10 + 11 + 12))
        );
        assert!(h.stats().minor_collections > before, "the frame collected");
    });
}

#[test]
fn continuation_types_must_keep_their_control_words_private() {
    let forged = TypeDescriptor::fixed("Forged", 24)
        .with_refs(&[0])
        .as_continuation();
    assert_eq!(
        forged.validate().unwrap_err(),
        DescriptorError::BadContinuation
    );
    let tiny = TypeDescriptor::fixed("Tiny", 8)
        .with_private_refs(&[0])
        .as_continuation();
    assert_eq!(
        tiny.validate().unwrap_err(),
        DescriptorError::BadContinuation
    );
}

#[test]
fn a_continuation_allocated_but_never_captured_is_refused() {
    let h = heap();
    let ty = h
        .register_type(
            &TypeDescriptor::fixed("K", 16)
                .with_private_refs(&[0])
                .with_private(&[8])
                .as_continuation(),
        )
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let k = s.alloc(ty).unwrap();
        let k = Continuation::from_local(s, k).unwrap();
        assert_eq!(resume_chain(s, k), Err(ResumeError::NotCaptured));
    });
}

/// Panics if called: a frame that must not run.
fn must_not_run<'s>(_: &mut Frame<'_, 's>) -> Outcome<'s> {
    panic!("a never-captured frame was resumed")
}

#[test]
fn a_frame_type_continuation_allocated_but_never_captured_is_refused() {
    let h = heap();
    let ft = FrameLayout::new("F")
        .data_bytes(8)
        .register(&h, must_not_run)
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        // Allocated through the safe API, never captured: its flags word is zero.
        let k = s.alloc(ft.type_id()).unwrap();
        let k = Continuation::from_local(s, k).unwrap();
        assert_eq!(resume_chain(s, k), Err(ResumeError::NotCaptured));
        // Refused before it was consumed: still not resumable, for the same reason.
        assert_eq!(resume_chain(s, k), Err(ResumeError::NotCaptured));
    });
}

#[test]
#[should_panic(expected = "overlap its Private slot")]
fn the_state_and_flags_word_cannot_be_written_through_the_safe_api() {
    let h = heap();
    let ft = FrameLayout::new("F")
        .data_bytes(8)
        .register(&h, adding_frame)
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let k = Capture::begin(s, &ft, None, 0).unwrap().finish();
        // Zeroing it would make the frame look never captured (and forge its state).
        s.write_u64(k.local(), 8, 0);
    });
}

#[test]
#[should_panic(expected = "not a Ref slot")]
fn next_cannot_be_written_through_the_safe_api() {
    let h = heap();
    let ft = FrameLayout::new("F")
        .data_bytes(8)
        .register(&h, adding_frame)
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let k = Capture::begin(s, &ft, None, 0).unwrap().finish();
        s.set_ref(k.local(), 0, Some(k.local()));
    });
}

#[test]
#[should_panic(expected = "belongs to heap")]
fn a_frame_type_of_another_heap_is_refused() {
    let h1 = heap();
    let h2 = heap();
    let ft1 = FrameLayout::new("F")
        .data_bytes(8)
        .register(&h1, adding_frame)
        .unwrap();
    let _ft2 = FrameLayout::new("F")
        .data_bytes(4096)
        .register(&h2, adding_frame)
        .unwrap();
    let mut m = h2.mutator();
    m.scope(|s| {
        let _ = Capture::begin(s, &ft1, None, 0);
    });
}

#[test]
fn layouts_that_do_not_fit_are_refused_without_wrapping() {
    let h = heap();
    assert!(matches!(
        FrameLayout::new("Huge")
            .data_bytes(u32::MAX)
            .register(&h, adding_frame),
        Err(DescriptorError::TooLarge { .. })
    ));
    assert!(matches!(
        FrameLayout::new("Many")
            .refs(u32::MAX)
            .register(&h, adding_frame),
        Err(DescriptorError::TooLarge { .. })
    ));
    let ft = FrameLayout::new("F")
        .data_bytes(8)
        .register(&h, adding_frame)
        .unwrap();
    let r = std::panic::catch_unwind(|| ft.data_offset(u32::MAX - 7, 8));
    assert!(r.is_err(), "an offset past the data is refused");
}

#[test]
#[should_panic(expected = "does not hold a continuation")]
fn a_chain_tail_overwritten_by_safe_code_is_refused() {
    let h = heap();
    let ft = FrameLayout::new("F")
        .data_bytes(8)
        .register(&h, adding_frame)
        .unwrap();
    let plain = h
        .register_type(&TypeDescriptor::fixed("P", 16).with_refs(&[0]))
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let mut chain = Suspension::new();
        let k = Capture::begin(s, &ft, None, 0).unwrap().finish();
        chain.push(s, k);
        let p = s.alloc(plain).unwrap();
        s.set_local(k.local(), p); // the tail's local now names a plain object
        let k2 = Capture::begin(s, &ft, None, 0).unwrap().finish();
        chain.push(s, k2);
    });
}

/// The same through the chain's own tail local, which `Capture::link` moves along
/// and `into_locals` hands out: `link` and `push` check it too (they trusted it, and
/// wrote a continuation's address into a plain object's first word).
#[test]
fn a_chains_own_tail_local_overwritten_by_safe_code_is_refused() {
    let h = heap();
    let ft = FrameLayout::new("F")
        .data_bytes(8)
        .register(&h, adding_frame)
        .unwrap();
    let victim = h
        .register_type(&TypeDescriptor::fixed("Victim", 16))
        .unwrap();
    for via_link in [true, false] {
        let mut m = h.mutator();
        m.scope(|s| {
            let v = s.alloc(victim).unwrap();
            s.write_u64(v, 0, 77);
            let mut chain = Suspension::new();
            Capture::begin(s, &ft, None, 0).unwrap().link(&mut chain);
            Capture::begin(s, &ft, None, 1).unwrap().link(&mut chain);
            let [_, tail] = chain.into_locals();
            s.set_local(tail.unwrap(), v);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if via_link {
                    Capture::begin(s, &ft, None, 2).unwrap().link(&mut chain)
                } else {
                    let k = Capture::begin(s, &ft, None, 2).unwrap().finish();
                    chain.push(s, k)
                }
            }));
            let msg = r.expect_err("refused");
            let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(msg.contains("does not hold a continuation"), "{msg}");
            assert_eq!(s.read_u64(v, 0), 77, "the plain object was not written");
            s.collect(CollectionKind::Major);
        });
    }
}

#[test]
fn a_short_lived_mutator_does_not_leak_task_groups() {
    let h = heap();
    let ft = FrameLayout::new("F")
        .data_bytes(8)
        .register(&h, adding_frame)
        .unwrap();
    for _ in 0..200 {
        let mut m = h.mutator();
        m.scope(|s| {
            let k = Capture::begin(s, &ft, None, 0).unwrap().finish();
            let t = s.suspend_task(k.local());
            s.collect(CollectionKind::Minor);
            let _ = s.resume_task(t);
        });
    }
    assert!(h.stats().task_groups <= 2, "{:?}", h.stats());
}

/// A frame that recaptures itself and suspends as a new root (`x == 2` at state 0);
/// any other returns its `x`. For frames of any context type `C`.
fn root_again<'s, C>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let x = f.u64(ft, 0);
    if x == 2 && f.state() == 0 {
        let mut c = f.recapture(ft, 1).unwrap();
        c.set_u64(0, 2);
        return Outcome::Suspend(c.finish());
    }
    Outcome::Return(Value::Data(x))
}

/// Reusing a continuation whose frame has returned to its caller kept that caller as
/// `next`: after the caller recaptured itself, pushing the caller and then the reused
/// continuation made a loop (caller -> reused -> caller) from `Capture` and `push`
/// alone, which the verifier then reported as a broken task chain. A reuse after the
/// dispatcher left the continuation now starts with no caller.
#[test]
fn reusing_a_continuation_whose_frame_returned_keeps_no_caller() {
    let heap = heap();
    let ft = FrameLayout::new("F")
        .data_bytes(8)
        .result(contgc_continuation::ResultKind::Data)
        .register(&heap, root_again::<()>)
        .unwrap();
    let mut m = heap.mutator();
    m.scope(|s| {
        let mut c = Capture::begin(s, &ft, None, 0).unwrap();
        c.set_u64(0, 1);
        let k = c.finish();
        let mut c = Capture::begin(s, &ft, None, 0).unwrap();
        c.set_u64(0, 2);
        let caller = c.finish();
        let mut chain = Suspension::new();
        chain.push(s, k);
        chain.push(s, caller);
        // k returns to its caller, which suspends again as a root.
        let out = resume_chain(s, k).unwrap();
        assert!(matches!(out, ChainOutcome::Suspended(_)));
        let mut c = Capture::begin(s, &ft, Some(k), 0).unwrap();
        c.set_u64(0, 1);
        let k2 = c.finish();
        assert!(
            k2.next(s).is_none(),
            "the caller it returned to is not kept"
        );
        let mut chain = Suspension::new();
        chain.push(s, caller);
        chain.push(s, k2);
        let stack = contgc_continuation::async_stack(s, caller);
        assert_eq!(stack.frames.len(), 2, "caller -> k2, then the end");
        let t = s.suspend_task(caller.local());
        s.collect(CollectionKind::Minor);
        s.collect(CollectionKind::Major);
        let leaf = s.resume_task(t).into_heap().unwrap();
        let leaf = Continuation::from_local(s, leaf).unwrap();
        // The caller (state 1) returns 2 into k2, which returns 1: the chain ends.
        let out = resume_chain(s, leaf).unwrap();
        assert!(matches!(out, ChainOutcome::Completed(Value::Data(1))));
    });
}

/// The context of `recapturing_elsewhere`: the layout it suspends into.
struct Elsewhere {
    b: Option<contgc_continuation::FrameType<Elsewhere>>,
}

/// At state 0 suspends again in a fresh continuation of another layout
/// (`Frame::recapture` with layout B, which hands the caller on); else returns `x`.
fn recapturing_elsewhere<'s>(f: &mut Frame<'_, 's, Elsewhere>) -> Outcome<'s> {
    let ft = f.frame_type();
    let x = f.u64(ft, 0);
    if f.state() == 0 {
        let b = f.ctx().b.unwrap();
        let mut c = f.recapture(&b, 0).unwrap();
        c.set_u64(0, x);
        return Outcome::Suspend(c.finish());
    }
    Outcome::Return(Value::Data(x))
}

fn returning<'s>(f: &mut Frame<'_, 's, Elsewhere>) -> Outcome<'s> {
    let ft = f.frame_type();
    Outcome::Return(Value::Data(f.u64(ft, 0)))
}

/// The same loop through a frame that left its continuation by suspending in another
/// one (found by a review of the fix above): `k` was consumed but not marked left, and
/// a reuse kept its caller.
#[test]
fn reusing_a_continuation_whose_frame_suspended_elsewhere_keeps_no_caller() {
    use contgc_continuation::{resume_chain_with, ResultKind};
    let heap = heap();
    let register = |name: &str, bytes: u32, f: ResumeFn<Elsewhere>| {
        FrameLayout::new(name)
            .data_bytes(bytes)
            .result(ResultKind::Data)
            .register_with_context::<Elsewhere>(&heap, f)
            .unwrap()
    };
    let fta = register("A", 8, recapturing_elsewhere);
    let ftb = register("B", 16, returning);
    let ftp = register("P", 8, root_again::<Elsewhere>);
    let mut cx = Elsewhere { b: Some(ftb) };
    let mut m = heap.mutator();
    m.scope(|s| {
        let mut c = Capture::begin(s, &fta, None, 0).unwrap();
        c.set_u64(0, 1);
        let k = c.finish();
        let mut c = Capture::begin(s, &ftp, None, 0).unwrap();
        c.set_u64(0, 2);
        let caller = c.finish();
        let mut chain = Suspension::new();
        chain.push(s, k);
        chain.push(s, caller);
        // A suspends again in a fresh B continuation; B returns to P, which
        // suspends again as a root.
        let ChainOutcome::Suspended(kb) = resume_chain_with(s, k, &mut cx).unwrap() else {
            panic!("A suspends")
        };
        let out = resume_chain_with(s, kb, &mut cx).unwrap();
        assert!(matches!(out, ChainOutcome::Suspended(_)));
        let mut c = Capture::begin(s, &fta, Some(k), 1).unwrap();
        c.set_u64(0, 1);
        let k2 = c.finish();
        assert!(k2.next(s).is_none(), "the caller it left is not kept");
        let mut chain = Suspension::new();
        chain.push(s, caller);
        chain.push(s, k2);
        let t = s.suspend_task(caller.local());
        s.collect(CollectionKind::Minor);
        s.collect(CollectionKind::Major);
        drop(t);
    });
}

/// A continuation allocated but never captured into (of a type registered with
/// `as_continuation`, or a frame type's allocated through `Scope::alloc`) used to get
/// into chains and tasks: `async_stack` called it resumable, `suspend_task` took it,
/// and the next collection's verifier failed. Pushing it, giving it as a `next` or
/// suspending it as a task is now refused, and `async_stack` says it is not resumable.
#[test]
fn a_never_captured_continuation_stays_out_of_chains_and_tasks() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let h = heap();
    let ft = FrameLayout::new("F")
        .data_bytes(8)
        .register(&h, must_not_run)
        .unwrap();
    let mut m = h.mutator();
    m.scope(|s| {
        let raw = s.alloc(ft.type_id()).unwrap();
        let k = Continuation::from_local(s, raw).unwrap();
        let stack = contgc_continuation::async_stack(s, k);
        assert!(!stack.frames[0].resumable);
        let pushed = catch_unwind(AssertUnwindSafe(|| Suspension::new().push(s, k)));
        let msg = *pushed.expect_err("refused").downcast::<String>().unwrap();
        assert!(msg.contains("never captured"), "{msg}");
        let linked = catch_unwind(AssertUnwindSafe(|| {
            let mut c = Capture::begin(s, &ft, None, 0).unwrap();
            c.set_next(Some(k));
        }));
        assert!(linked.is_err(), "refused as a next");
        let suspended = catch_unwind(AssertUnwindSafe(|| s.suspend_task(raw)));
        let payload = suspended.expect_err("refused");
        let msg = payload
            .downcast_ref::<&str>()
            .map(|m| m.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap();
        assert!(msg.contains("never captured"), "{msg}");
    });
    // The heap is whole (the verifier runs at every collection here).
    m.collect(CollectionKind::Major);
}
