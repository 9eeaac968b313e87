//! The executor's tasks, awaiters and schedulers, with the heap verifier after every
//! collection and GC-stress on.

mod common;

use common::{caller, expected, heap, looper, vm};
use contgc_continuation::Value;
use contgc_executor::{
    channel, Completion, Executor, FaultKind, Runtime, Shutdown, SpawnError, Step, TaskError,
    TaskState, WaitOn,
};
use std::time::Duration;

#[test]
fn a_task_that_returns_at_once() {
    let heap = heap(None);
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let out = rt
        .block_on(&mut m, |_s, _cx| Step::Return(Value::Data(5)))
        .unwrap();
    assert_eq!(out.unwrap().data(), Some(5));
    assert_eq!(rt.live_tasks(), 0);
}

#[test]
fn yielding_tasks_interleave_and_keep_their_frames() {
    let heap = heap(Some(7));
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let hs: Vec<_> = (0..50u64)
        .map(|t| rt.spawn(move |s, cx| looper(s, cx, 20 + t, 0)))
        .collect();
    rt.run(&mut m).unwrap();
    for (t, h) in hs.iter().enumerate() {
        assert_eq!(h.state(), TaskState::Completed);
        assert_eq!(
            h.result().unwrap().unwrap().data(),
            Some(expected(20 + t as u64))
        );
    }
    assert!(heap.stats().minor_collections > 0);
}

#[test]
fn sleeping_tasks_wake_in_deadline_order() {
    let heap = heap(None);
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let long = rt.spawn(|s, cx| looper(s, cx, 3, 2000));
    let short = rt.spawn(|s, cx| looper(s, cx, 2, 10));
    rt.run_ready(&mut m);
    assert!(matches!(
        long.state(),
        TaskState::Suspended(WaitOn::Timer { .. })
    ));
    rt.run(&mut m).unwrap();
    assert_eq!(long.result().unwrap().unwrap().data(), Some(expected(3)));
    assert_eq!(short.result().unwrap().unwrap().data(), Some(expected(2)));
}

#[test]
fn completion_wakes_every_awaiter_once_and_refuses_a_second_set() {
    let heap = heap(Some(5));
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let c = Completion::new();
    let hs: Vec<_> = (0..5)
        .map(|_| {
            let c = c.clone();
            rt.spawn(move |s, cx| cx.await_completion(s, &c))
        })
        .collect();
    rt.run_ready(&mut m);
    let id = c.id();
    for h in &hs {
        assert_eq!(h.state(), TaskState::Suspended(WaitOn::Completion(id)));
    }
    // Nothing else can wake them: the runtime says so rather than waiting forever.
    assert_eq!(rt.run(&mut m).unwrap_err().tasks, 5);
    c.set_data(9).unwrap();
    assert_eq!(
        c.set_data(10),
        Err(contgc_executor::CompletionError::AlreadySet)
    );
    rt.run(&mut m).unwrap();
    for h in &hs {
        // The awaiter's root frame is the sentinel's caller: none here, so the task
        // returns what the await returned.
        assert_eq!(h.result().unwrap().unwrap().data(), Some(9));
    }
    // A later await completes at once.
    let late = rt
        .block_on(&mut m, move |s, cx| cx.await_completion(s, &c))
        .unwrap();
    assert_eq!(late.unwrap().data(), Some(9));
}

#[test]
fn a_dropped_completion_abandons_its_awaiters() {
    let heap = heap(None);
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let c = Completion::new();
    let c2 = c.clone();
    let h = rt.spawn(move |s, cx| cx.await_completion(s, &c2));
    rt.run_ready(&mut m);
    drop(c);
    rt.run(&mut m).unwrap();
    let Err(TaskError::Threw(e)) = h.result().unwrap() else {
        panic!("expected an exception")
    };
    m.scope(|s| {
        let e = s.get_persistent(&e);
        assert_eq!(rt.fault_kind(s, e), Some(FaultKind::Abandoned));
    });
}

#[test]
fn joining_a_task_returns_its_result() {
    let heap = heap(Some(3));
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let out = rt
        .block_on(&mut m, |s, cx| {
            let child = cx.spawn(|s, cx| looper(s, cx, 10, 0));
            cx.join(s, &child)
        })
        .unwrap();
    assert_eq!(out.unwrap().data(), Some(expected(10)));
}

#[test]
fn cancelling_a_suspended_task_ends_it_cancelled() {
    let heap = heap(None);
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let h = rt.spawn(|s, cx| looper(s, cx, 3, 60_000_000));
    rt.run_ready(&mut m);
    assert!(matches!(
        h.state(),
        TaskState::Suspended(WaitOn::Timer { .. })
    ));
    assert!(h.cancel());
    rt.run(&mut m).unwrap();
    assert_eq!(h.state(), TaskState::Cancelled);
    assert!(matches!(
        h.result(),
        Some(Err(TaskError::Cancelled(Some(_))))
    ));
    assert!(!h.cancel(), "an ended task cannot be cancelled");
    // The cancellation unwound through the sentinel and the looper frame.
    let stack = h.exception_stack().unwrap();
    let names: Vec<_> = stack.frames.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["contgc.Await", "Looper"]);
    assert!(stack.frames.iter().all(|f| !f.resumable));
    // Cancelled before it started: it never runs.
    let q = rt.spawn(|_s, _cx| panic!("must not run"));
    q.cancel();
    rt.run(&mut m).unwrap();
    assert!(matches!(q.result(), Some(Err(TaskError::Cancelled(None)))));
}

#[test]
fn a_panic_in_frame_code_faults_the_task_only() {
    let heap = heap(Some(11));
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let bad = rt.spawn(|_s, _cx| panic!("boom"));
    let good = rt.spawn(|s, cx| looper(s, cx, 5, 0));
    rt.run(&mut m).unwrap();
    match bad.result().unwrap() {
        Err(TaskError::Panicked(msg)) => assert_eq!(msg, "boom"),
        other => panic!("{other:?}"),
    }
    assert_eq!(good.result().unwrap().unwrap().data(), Some(expected(5)));
    m.collect(contgc_collector::CollectionKind::Major); // verified
}

#[test]
fn suspending_without_an_await_is_a_dispatch_error() {
    let heap = heap(None);
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let out = rt
        .block_on(&mut m, |s, cx| {
            // Two awaits; the task suspends with the first one's chain, whose
            // sentinel is not the latest await's.
            let first = cx.sleep(s, Duration::ZERO);
            let _second = cx.sleep(s, Duration::ZERO);
            first
        })
        .unwrap();
    assert!(matches!(out, Err(TaskError::Dispatch(_))), "{out:?}");
}

#[test]
fn a_bare_yield_in_an_entry_completes_the_task() {
    let heap = heap(None);
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let out = rt.block_on(&mut m, |s, cx| cx.yield_now(s)).unwrap();
    assert!(matches!(out, Ok(contgc_executor::TaskResult::Unit)));
}

#[test]
fn a_task_cancelled_while_it_yields_is_cancelled_at_a_yield() {
    let heap = heap(Some(9));
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    // Yields forever (a million rounds); cancelled from outside after it started.
    let h = rt.spawn(|s, cx| looper(s, cx, 1_000_000, 0));
    assert_eq!(rt.run_jobs(&mut m, 5), 5);
    assert_eq!(h.state(), TaskState::Ready);
    assert!(h.cancel());
    rt.run(&mut m).unwrap();
    assert_eq!(h.state(), TaskState::Cancelled);
}

#[test]
fn spawning_on_a_shut_down_executor_is_refused() {
    let heap = heap(None);
    let vm = vm(&heap);
    let ex = Executor::new(&heap, 2, move |_| vm).unwrap();
    let sp = ex.spawner();
    let h = sp.spawn(|s, cx| looper(s, cx, 100, 0)).unwrap();
    assert_eq!(h.wait().unwrap().data(), Some(expected(100)));
    ex.shutdown(Shutdown::Drain);
    assert_eq!(
        sp.spawn(|_s, _cx| Step::Return(Value::Unit)).unwrap_err(),
        SpawnError::ShutDown
    );
}

#[test]
fn channel_capacity_one_round_trip() {
    let heap = heap(Some(13));
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let (tx, rx) = channel(1);
    // Fill the buffer from outside, then a task receives.
    tx.try_send_data(4).unwrap();
    assert_eq!(
        tx.try_send_data(5),
        Err(contgc_executor::TryError::WouldBlock)
    );
    let out = rt.block_on(&mut m, move |s, cx| cx.recv(s, &rx)).unwrap();
    assert_eq!(out.unwrap().data(), Some(4));
    // The receiver is gone (dropped with the task's closure): sends fail.
    assert_eq!(tx.try_send_data(6), Err(contgc_executor::TryError::Closed));
}

#[test]
fn a_resumed_frame_suspends_under_a_sub_chain_built_in_a_nested_scope() {
    let heap = heap(Some(5));
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let out = rt
        .block_on(&mut m, |s, cx| caller(s, cx, None, 0, 0))
        .unwrap();
    assert_eq!(
        out.unwrap().data(),
        Some(expected(2) + expected(3) + expected(4))
    );
    // The shadow stack did not grow with the nested calls.
    assert_eq!(m.roots_len(), 0);
}

/// A task that keeps yielding does not starve a task woken from another thread: the
/// runtime looks at the global queue now and then (without that, `block_on` below would
/// never return: the yielder yields a billion times).
#[test]
fn a_yielding_task_does_not_starve_a_task_woken_from_another_thread() {
    let heap = heap(None);
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let yielder = rt.spawn(|s, cx| looper(s, cx, 1_000_000_000, 0));
    let c = Completion::new();
    let setter = {
        let c = c.clone();
        std::thread::spawn(move || c.set_data(5).unwrap())
    };
    let out = rt
        .block_on(&mut m, move |s, cx| cx.await_completion(s, &c))
        .unwrap();
    assert_eq!(out.unwrap().data(), Some(5));
    setter.join().unwrap();
    yielder.cancel();
    rt.run(&mut m).unwrap();
    assert_eq!(yielder.state(), TaskState::Cancelled);
}

/// A current-thread runtime may be run on one mutator and then on another of the same
/// heap: the chains of tasks that yielded (parked on the mutator of the run) are
/// registered again before a run returns.
#[test]
fn a_runtime_can_be_run_on_another_mutator_after_a_yield() {
    let heap = heap(Some(7));
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let h = rt.spawn(|s, cx| looper(s, cx, 5, 0));
    {
        let mut m1 = heap.mutator();
        assert_eq!(rt.run_jobs(&mut m1, 2), 2);
    }
    let mut m2 = heap.mutator();
    let mut m3 = heap.mutator();
    assert_eq!(rt.run_jobs(&mut m2, 1), 1);
    rt.run(&mut m3).unwrap();
    assert_eq!(h.result().unwrap().unwrap().data(), Some(expected(5)));
}

type Slot = std::sync::Arc<std::sync::Mutex<Option<contgc_executor::JoinHandle>>>;

/// A link of a chain of spawns on one worker: link 1000 spawns a task that yields 5
/// times; every link after it records, once, the link at which that task had ended.
fn link<'s>(
    _s: &mut contgc_collector::Scope<'s>,
    cx: &mut common::C,
    n: u64,
    ran: std::sync::Arc<[std::sync::atomic::AtomicU64; 2]>,
    y: Slot,
) -> Step<'s> {
    use std::sync::atomic::Ordering;
    let k = ran[0].fetch_add(1, Ordering::SeqCst);
    if k == 1000 {
        *y.lock().unwrap() = Some(cx.spawn(|s, cx| looper(s, cx, 5, 0)));
    } else if y.lock().unwrap().as_ref().is_some_and(|h| h.is_finished()) {
        let _ = ran[1].compare_exchange(u64::MAX, k, Ordering::SeqCst, Ordering::SeqCst);
    }
    if n > 0 {
        let r = ran.clone();
        drop(cx.spawn(move |s, cx| link(s, cx, n - 1, r, y)));
    }
    Step::Return(Value::Unit)
}

/// On a multi-threaded worker, a task that yields (kept in the worker's own queue)
/// is not held back by local work that keeps coming (a chain of spawns).
#[test]
fn a_yielded_task_is_not_starved_by_local_work() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    const N: u64 = 200_000;
    let heap = heap(None);
    let v = vm(&heap);
    let ex = Executor::new(&heap, 1, move |_| v).unwrap();
    let ran = Arc::new([AtomicU64::new(0), AtomicU64::new(u64::MAX)]);
    let slot: Slot = Arc::new(Mutex::new(None));
    let (r, s2) = (ran.clone(), slot.clone());
    let chain = ex.spawn(move |s, cx| link(s, cx, N, r, s2)).unwrap();
    chain.wait().unwrap();
    ex.shutdown(Shutdown::Drain);
    let y = slot.lock().unwrap().take().unwrap();
    assert!(y.wait().is_ok());
    // The link at which the yielder was seen ended (measured by the chain itself).
    let at = ran[1].load(Ordering::SeqCst);
    assert!(
        at < 10_000,
        "the yielder was held back by the chain ({at} links)"
    );
}

#[test]
fn call_returns_without_a_task_and_suspends_into_one() {
    use contgc_executor::Called;
    let heap = heap(Some(5));
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    // Returns at once: no task.
    let x = 20u64;
    match rt.call(&mut m, |_s, _cx| Step::Return(Value::Data(x + 1))) {
        Called::Done(out) => assert_eq!(out.unwrap().data(), Some(21)),
        Called::Suspended(_) => panic!("nothing suspended"),
    }
    assert_eq!(rt.live_tasks(), 0);
    // Throws at once: the exception is the outcome.
    match rt.call(&mut m, |s, cx| {
        Step::Throw(cx.fault(s, FaultKind::Protocol))
    }) {
        Called::Done(Err(TaskError::Threw(_))) => {}
        other => panic!("expected a thrown exception, got {other:?}"),
    }
    // Panics: faulted, and the runtime goes on.
    match rt.call(&mut m, |_s, _cx| panic!("frame code panicked")) {
        Called::Done(Err(TaskError::Panicked(msg))) => assert!(msg.contains("panicked")),
        other => panic!("expected a panic, got {other:?}"),
    }
    // Suspends: becomes a task that a run finishes, with its frames intact.
    let Called::Suspended(h) = rt.call(&mut m, |s, cx| looper(s, cx, 30, 0)) else {
        panic!("a looper yields");
    };
    assert_eq!(rt.live_tasks(), 1);
    rt.run(&mut m).unwrap();
    assert_eq!(h.result().unwrap().unwrap().data(), Some(expected(30)));
    // Asking for the task id makes the task; it ended when the function returned.
    match rt.call(&mut m, |_s, cx| {
        let id = cx.task_id();
        Step::Return(Value::Data(id.0))
    }) {
        Called::Done(out) => assert!(out.unwrap().data().is_some()),
        Called::Suspended(_) => panic!("nothing suspended"),
    }
    assert_eq!(rt.live_tasks(), 0);
}

/// The runtime runs the heap's pending finalizers between jobs: a cleanup registered
/// by a task on an object that dies runs during `block_on`, on this thread, once.
#[test]
fn the_runtime_runs_pending_finalizers_between_jobs() {
    use contgc_collector::{CollectionKind, TypeDescriptor};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let heap = heap(None);
    let obj = heap
        .register_type(&TypeDescriptor::fixed("Resource", 8))
        .unwrap();
    let mut rt = Runtime::new(&heap, vm(&heap)).unwrap();
    let mut m = heap.mutator();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let out = rt.block_on(&mut m, move |s, _cx| {
        s.scope(|i| {
            let o = i.alloc(obj).unwrap();
            let r = r.clone();
            i.register_finalizer(o, move || {
                r.fetch_add(1, Ordering::Relaxed);
            });
        });
        s.collect(CollectionKind::Minor);
        Step::Return(Value::Data(0))
    });
    assert_eq!(out.unwrap().unwrap().data(), Some(0));
    let h = rt.spawn(|_s, _cx| Step::Return(Value::Data(1)));
    rt.run(&mut m).unwrap();
    assert_eq!(h.result().unwrap().unwrap().data(), Some(1));
    assert_eq!(ran.load(Ordering::Relaxed), 1);
    assert_eq!(m.pending_finalizers(), 0);
}
