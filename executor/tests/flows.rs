#![cfg(not(loom))]
//! Task-local context flow, exceptions through awaits, and Rust future interop (tokio
//! both ways), with GC-stress and the verifier on.

mod common;

use common::heap;
use contgc_collector::{Heap, Scope, Typed};
use contgc_continuation::{Capture, Frame, FrameLayout, FrameType, Outcome, ResultKind, Value};
use contgc_executor::{Completion, Cx, Executor, FaultKind, Runtime, Shutdown, Step, TaskError};
use std::time::Duration;

/// Frame types of the async functions below.
#[derive(Clone, Copy)]
struct Fx {
    /// `outer`: awaits `inner` (result: data), handles exceptions at state 2.
    outer: FrameType<Cx<Fx>>,
    /// `catcher`: the same layout, awaiting a completion.
    catcher: FrameType<Cx<Fx>>,
    /// `inner`: awaits one thing, then returns.
    inner: FrameType<Cx<Fx>>,
    num: Typed<u64>,
}

type C = Cx<Fx>;

fn fx(heap: &Heap) -> Fx {
    Fx {
        outer: outer_layout("outer")
            .register_with_context::<C>(heap, outer_resume)
            .unwrap(),
        catcher: outer_layout("catcher")
            .register_with_context::<C>(heap, catcher_resume)
            .unwrap(),
        inner: FrameLayout::new("inner")
            .data_bytes(8)
            .register_with_context::<C>(heap, inner_resume)
            .unwrap(),
        num: heap.register_plain::<u64>("Num").unwrap(),
    }
}

/// The layout of `outer` and `catcher`: 8 data bytes, a data result, a handler around
/// the await at suspension point 2.
fn outer_layout(name: &str) -> FrameLayout {
    FrameLayout::new(name)
        .data_bytes(8)
        .result(ResultKind::Data)
        .handles_exceptions_at(&[2])
}

/// `step`; if it suspended, the calling frame (of the type `frame` picks, with no
/// live state) is captured at `state` and linked under its chain.
fn suspend_outer<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    step: Step<'s>,
    frame: fn(&Fx) -> FrameType<C>,
    state: u32,
) -> Step<'s> {
    match step {
        Step::Suspend(mut chain) => {
            let ft = frame(cx.state());
            Capture::begin(s, &ft, None, state)
                .unwrap()
                .link(&mut chain);
            Step::Suspend(chain)
        }
        other => other,
    }
}

fn ctx_value<'s>(s: &mut Scope<'s>, cx: &mut C) -> u64 {
    let num = cx.state().num;
    cx.context(s).map_or(0, |o| s.value(num, o))
}

fn set_ctx<'s>(s: &mut Scope<'s>, cx: &mut C, v: u64) {
    let num = cx.state().num;
    let o = s.alloc_value(num, v).unwrap();
    cx.set_context(s, Some(o));
}

// inner(v): sets the context to v, yields, returns nothing.
fn inner<'s>(s: &mut Scope<'s>, cx: &mut C, v: u64) -> Step<'s> {
    set_ctx(s, cx, v);
    match cx.yield_now(s) {
        Step::Suspend(mut chain) => {
            let ft = cx.state().inner;
            let mut c = Capture::begin(s, &ft, None, 1).unwrap();
            c.set_u64(0, v);
            c.link(&mut chain);
            Step::Suspend(chain)
        }
        other => other,
    }
}

fn inner_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let v = f.u64(ft, 0);
    let (s, cx) = f.scope_and_ctx();
    // The context flowed across the suspension.
    assert_eq!(ctx_value(s, cx), v);
    Outcome::Return(Value::Unit)
}

// outer: sets the context to 1, awaits inner(2), returns the context it then sees
// (2: a callee's change flows back to its caller).
fn outer<'s>(s: &mut Scope<'s>, cx: &mut C) -> Step<'s> {
    set_ctx(s, cx, 1);
    match inner(s, cx, 2) {
        Step::Suspend(mut chain) => {
            let ft = cx.state().outer;
            Capture::begin(s, &ft, None, 1).unwrap().link(&mut chain);
            Step::Suspend(chain)
        }
        Step::Return(_) => Step::Return(Value::Data(ctx_value(s, cx))),
        t => t,
    }
}

fn outer_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let (s, cx) = f.scope_and_ctx();
    Outcome::Return(Value::Data(ctx_value(s, cx)))
}

#[test]
fn context_flows_from_callee_to_caller_but_not_across_spawns() {
    let heap = heap(Some(3));
    let mut rt = Runtime::new(&heap, fx(&heap)).unwrap();
    let mut m = heap.mutator();
    let out = rt.block_on(&mut m, outer).unwrap();
    assert_eq!(out.unwrap().data(), Some(2));

    // A spawned task starts with the spawner's context; its changes stay its own.
    let out = rt
        .block_on(&mut m, |s, cx| {
            set_ctx(s, cx, 7);
            let child = cx.spawn(|s, cx| {
                let seen = ctx_value(s, cx);
                set_ctx(s, cx, 8);
                Step::Return(Value::Data(seen))
            });
            {
                let step = cx.join(s, &child);
                suspend_outer(s, cx, step, |t| t.outer, 1)
            }
        })
        .unwrap();
    // outer_resume returns the parent's context after the join: still 7.
    assert_eq!(out.unwrap().data(), Some(7));
    // And a task started from synchronous code starts with no context.
    let out = rt
        .block_on(&mut m, |s, cx| Step::Return(Value::Data(ctx_value(s, cx))))
        .unwrap();
    assert_eq!(out.unwrap().data(), Some(0));
}

// catcher: awaits `c` at state 2 (inside its handler): an exception set into the
// completion is caught and its fault kind (or 100 + its payload) returned.
fn catcher<'s>(s: &mut Scope<'s>, cx: &mut C, c: &Completion) -> Step<'s> {
    {
        let step = cx.await_completion(s, c);
        suspend_outer(s, cx, step, |t| t.catcher, 2)
    }
}

fn catcher_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let e = f.take_exception(ft);
    let r = f.result_u64(ft);
    let (s, cx) = f.scope_and_ctx();
    match e {
        Some(e) => {
            let code = match cx.fault_kind(s, e) {
                Some(k) => k as u64,
                None => {
                    let num = cx.state().num;
                    100 + s.value(num, e)
                }
            };
            Outcome::Return(Value::Data(code))
        }
        None => Outcome::Return(Value::Data(r)),
    }
}

#[test]
fn an_exception_set_into_a_completion_is_thrown_into_the_awaiting_frame() {
    let heap = heap(Some(5));
    let fx = fx(&heap);
    let mut rt = Runtime::new(&heap, fx).unwrap();
    let mut m = heap.mutator();
    let c = Completion::new();
    let (c1, c2) = (c.clone(), c.clone());
    let thrown = rt.spawn(move |s, cx| catcher(s, cx, &c1));
    rt.run_ready(&mut m);
    m.scope(|s| {
        let e = s.alloc_value(fx.num, 5).unwrap();
        c.set_exception(s, e).unwrap();
    });
    rt.run(&mut m).unwrap();
    assert_eq!(thrown.result().unwrap().unwrap().data(), Some(105));
    // Awaiting the thrown completion later throws at once.
    let again = rt
        .block_on(&mut m, move |s, cx| catcher(s, cx, &c2))
        .unwrap();
    assert!(
        matches!(again, Err(TaskError::Threw(_))),
        "no handler ran: it was not suspended"
    );
}

#[test]
fn a_cancellation_caught_by_a_handler_lets_the_task_complete() {
    let heap = heap(None);
    let mut rt = Runtime::new(&heap, fx(&heap)).unwrap();
    let mut m = heap.mutator();
    let never = Completion::new();
    let c = never.clone();
    let h = rt.spawn(move |s, cx| catcher(s, cx, &c));
    rt.run_ready(&mut m);
    h.cancel();
    rt.run(&mut m).unwrap();
    assert_eq!(
        h.result().unwrap().unwrap().data(),
        Some(FaultKind::Cancelled as u64)
    );
    drop(never);
}

fn await_tokio<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    rx: tokio::sync::oneshot::Receiver<u64>,
) -> Step<'s> {
    {
        let step = cx.await_future(s, async move { rx.await.unwrap_or(0) });
        suspend_outer(s, cx, step, |t| t.catcher, 1)
    }
}

#[test]
fn a_task_awaits_tokio_futures_and_tokio_awaits_tasks() {
    let heap = heap(Some(7));
    let fx = fx(&heap);
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .unwrap();
    let ex = Executor::new(&heap, 2, move |_| fx).unwrap();
    let handles: Vec<_> = (0..20u64)
        .map(|i| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            // Tokio sends after a short sleep, on its own thread.
            tokio_rt.spawn(async move {
                tokio::time::sleep(Duration::from_micros(50 * i)).await;
                let _ = tx.send(i * 3);
            });
            ex.spawn(move |s, cx| await_tokio(s, cx, rx)).unwrap()
        })
        .collect();
    // The other way round: tokio awaits the async2 tasks' join handles.
    let sum = tokio_rt.block_on(async move {
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap().data().unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..20u64).map(|i| i * 3).sum::<u64>());
    ex.shutdown(Shutdown::Drain);
}

#[test]
fn a_current_thread_runtime_waits_for_a_pending_future() {
    let heap = heap(None);
    let mut rt = Runtime::new(&heap, fx(&heap)).unwrap();
    let mut m = heap.mutator();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        tx.send(11).unwrap();
    });
    let out = rt
        .block_on(&mut m, move |s, cx| await_tokio(s, cx, rx))
        .unwrap();
    assert_eq!(out.unwrap().data(), Some(11));
    t.join().unwrap();
}
