//! Regression tests of executor bugs the model test's author found (both fixed):
//! allocating while holding a task's lock, and a suspended send that did not keep its
//! channel open. Both need two workers; neither relies on timing (the second one
//! orders its steps with a handshake and by waiting for a task's state).

use contgc_collector::{Config, Heap};
use contgc_continuation::Value;
use contgc_executor::{
    channel, Executor, FaultKind, Shutdown, Step, TaskError, TaskResult, TaskState, WaitOn,
};
use std::sync::{mpsc, Arc, Mutex};

fn heap(stress: Option<u32>) -> Heap {
    let mut b = Config::builder().nursery_size(256 << 10);
    if let Some(n) = stress {
        b = b.gc_stress(n);
    }
    Heap::new(b.build().unwrap()).unwrap()
}

/// `TaskCx::join` held the joined task's lock while it allocated the fault exception
/// of a task that had panicked: a collection started by that allocation waited for a
/// worker blocked on the same lock, forever. A collection at every allocation makes
/// two joiners meet it at once.
#[test]
fn joining_a_faulted_task_from_two_workers_does_not_deadlock() {
    let heap = heap(Some(1));
    let ex = Executor::new(&heap, 2, |_| ()).unwrap();
    let panicked = ex
        .spawn(|_s, _cx| -> Step<'_> { panic!("the joined task panics") })
        .unwrap();
    assert!(matches!(panicked.wait(), Err(TaskError::Panicked(_))));
    let shared = Arc::new(panicked);
    let joiners: Vec<_> = (0..2)
        .map(|_| {
            let h = shared.clone();
            ex.spawn(move |s, cx| {
                for _ in 0..2000 {
                    let Step::Throw(e) = cx.join(s, &h) else {
                        panic!("joining a panicked task throws at once")
                    };
                    assert_eq!(cx.fault_kind(s, e), Some(FaultKind::Panicked));
                }
                Step::Return(Value::Unit)
            })
            .unwrap()
        })
        .collect();
    for j in &joiners {
        assert!(matches!(j.wait(), Ok(TaskResult::Unit)));
    }
    ex.shutdown(Shutdown::Drain);
}

/// A send suspended on a full channel held no sender count until the worker
/// registered it; frame code dropping the last `Sender` in between told a waiting
/// receiver the channel was closed, and the message (buffered afterwards) was lost
/// although the send completed.
#[test]
fn a_suspended_send_keeps_the_channel_open() {
    let heap = heap(None);
    let ex = Executor::new(&heap, 2, |_| ()).unwrap();
    let (tx, rx) = channel(1);
    let rx = Arc::new(rx);
    tx.try_send_data(1).unwrap(); // the buffer is full
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let sender = ex
        .spawn(move |s, cx| {
            let step = cx.send(s, &tx, Value::Data(2));
            assert!(matches!(step, Step::Suspend(_)), "the channel is full");
            // Let the receiver drain the buffer and wait, then drop the last sender
            // before this send is registered.
            ready_tx.send(()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
            drop(tx);
            step
        })
        .unwrap();
    ready_rx.recv().unwrap();
    let first = {
        let rx = rx.clone();
        ex.spawn(move |s, cx| cx.recv(s, &rx)).unwrap()
    };
    assert_eq!(first.wait().unwrap().data(), Some(1));
    let second = {
        let rx = rx.clone();
        ex.spawn(move |s, cx| cx.recv(s, &rx)).unwrap()
    };
    let waiting = TaskState::Suspended(WaitOn::ChannelRecv(rx.id()));
    while second.state() != waiting {
        std::thread::yield_now();
    }
    go_tx.send(()).unwrap();
    assert!(
        matches!(sender.wait(), Ok(TaskResult::Unit)),
        "the send completed"
    );
    assert_eq!(
        second.wait().unwrap().data(),
        Some(2),
        "and its message arrived"
    );
    ex.shutdown(Shutdown::Drain);
}

/// `Shutdown::Cancel` cancelled the tasks alive when it began, but a task that frame
/// code spawned afterwards was never cancelled: waiting on an event nobody causes, it
/// kept the shutdown waiting forever. Tasks created once a cancelling shutdown has
/// begun now start cancelled. (Whether the spawn lands after the shutdown's snapshot
/// of the live tasks is up to the threads; either way the shutdown must return.)
#[test]
fn a_task_spawned_during_a_cancelling_shutdown_does_not_hang_it() {
    let heap = heap(None);
    let ex = Executor::new(&heap, 2, |_| ()).unwrap();
    let spawner = ex.spawner();
    let never = contgc_executor::Completion::new(); // kept, never set
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let late = {
        let never = never.clone();
        ex.spawn(move |_s, cx| {
            started_tx.send(()).unwrap();
            // Still running when the shutdown begins: wait until spawns from outside
            // are refused, then spawn from frame code.
            while spawner.spawn(|_s, _cx| Step::Return(Value::Unit)).is_ok() {
                std::thread::yield_now();
            }
            let h = cx.spawn(move |s, cx| cx.await_completion(s, &never));
            Step::Return(Value::Data(h.id().0))
        })
        .unwrap()
    };
    started_rx.recv().unwrap();
    let shutdown = std::thread::spawn(move || ex.shutdown(Shutdown::Cancel));
    shutdown.join().unwrap();
    assert!(late.result().unwrap().is_ok());
    drop(never);
}

/// A task suspended on an event nobody causes ends cancelled by a cancelling shutdown.
#[test]
fn a_cancelling_shutdown_ends_a_task_waiting_forever() {
    let heap = heap(None);
    let ex = Executor::new(&heap, 1, |_| ()).unwrap();
    let never = contgc_executor::Completion::new();
    let h = {
        let never = never.clone();
        ex.spawn(move |s, cx| cx.await_completion(s, &never))
            .unwrap()
    };
    while !matches!(h.state(), TaskState::Suspended(_)) {
        std::thread::yield_now();
    }
    ex.shutdown(Shutdown::Cancel);
    assert_eq!(h.state(), TaskState::Cancelled);
    drop(never);
}

/// A runtime given another heap's mutator panicked inside a task's job, which left the
/// task running forever (later runs reported it stalled). The heap is now checked
/// before any job is taken: the wrong mutator is refused and the task still finishes
/// on the right one.
#[test]
fn a_mutator_of_another_heap_is_refused_before_any_task_is_touched() {
    let (a, b) = (heap(None), heap(None));
    let mut rt = contgc_executor::Runtime::new(&a, ()).unwrap();
    let mut ma = a.mutator();
    let contgc_executor::Called::Suspended(h) = rt.call(&mut ma, |s, cx| cx.yield_now(s)) else {
        panic!("a yield suspends")
    };
    let mut mb = b.mutator();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.run(&mut mb)));
    let msg = r.expect_err("refused");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("belongs to heap"), "{msg}");
    rt.run(&mut ma).expect("nothing stalls");
    assert!(matches!(h.result(), Some(Ok(TaskResult::Unit))));
}

/// Two tasks awaiting one shared `Receiver`: the second waiter replaced the first,
/// which then waited forever, even after every sender was gone. Both are served now,
/// in order, and a waiter left when the senders go sees the close.
#[test]
fn tasks_awaiting_one_shared_receiver_are_all_served() {
    let h = heap(None);
    let mut rt = contgc_executor::Runtime::new(&h, ()).unwrap();
    let mut m = h.mutator();
    let (tx, rx) = channel(4);
    let rx = Arc::new(rx);
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let r = rx.clone();
            rt.start(&mut m, move |s, cx| cx.recv(s, &r))
        })
        .collect();
    tx.try_send_data(1).unwrap();
    tx.try_send_data(2).unwrap();
    assert!(rt.run(&mut m).is_err(), "the third waits on");
    let got: Vec<_> = waiters[..2]
        .iter()
        .map(|w| w.result().and_then(|r| r.ok()).and_then(|v| v.data()))
        .collect();
    assert_eq!(got, [Some(1), Some(2)], "served in the order they waited");
    drop(tx);
    rt.run(&mut m).expect("the close reaches the last waiter");
    assert!(
        matches!(waiters[2].result(), Some(Err(TaskError::Threw(_)))),
        "the ChannelClosed exception, unhandled"
    );
}

/// A cleanup that panicked inside `Runtime::run` unwound past the step that registers
/// the tasks parked on the run's mutator again: a later run with another mutator then
/// faulted a yielded task ("parked on another mutator"). The panic still reaches the
/// caller; the runtime's tasks are as a return would leave them.
#[test]
fn a_finalizer_panicking_in_a_run_leaves_the_runtime_whole() {
    use contgc_collector::{CollectionKind, TypeDescriptor};
    use contgc_continuation::{Capture, Frame, FrameLayout, Outcome};
    use contgc_executor::{Cx, Runtime};

    fn resume<'s>(f: &mut Frame<'_, 's, Cx<()>>) -> Outcome<'s> {
        let ft = f.frame_type();
        let n = f.u64(ft, 0);
        let k = f.continuation();
        let (s, cx) = f.scope_and_ctx();
        if n == 0 {
            return Outcome::Return(Value::Data(42));
        }
        let Step::Suspend(mut chain) = cx.yield_now(s) else {
            unreachable!("a yield suspends")
        };
        let mut c = Capture::begin(s, ft, Some(k), 0).unwrap();
        c.set_u64(0, n - 1);
        c.link(&mut chain);
        Outcome::Suspend(chain.head().unwrap())
    }

    let heap = Heap::new(
        Config::builder()
            .gc_stress(5)
            .verify_after_gc(true)
            .build()
            .unwrap(),
    )
    .unwrap();
    let obj = heap.register_type(&TypeDescriptor::fixed("O", 8)).unwrap();
    let ft = FrameLayout::new("Y")
        .data_bytes(8)
        .register_with_context::<Cx<()>>(&heap, resume)
        .unwrap();
    let mut rt = Runtime::new(&heap, ()).unwrap();
    let mut m = heap.mutator();
    let h = rt.spawn(move |s, cx| {
        s.scope(|i| {
            let o = i.alloc(obj).unwrap();
            i.register_finalizer(o, || panic!("the cleanup panics"));
        });
        s.collect(CollectionKind::Minor);
        let Step::Suspend(mut chain) = cx.yield_now(s) else {
            unreachable!("a yield suspends")
        };
        let mut c = Capture::begin(s, &ft, None, 0).unwrap();
        c.set_u64(0, 3);
        c.link(&mut chain);
        Step::Suspend(chain)
    });
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.run(&mut m)));
    assert!(first.is_err(), "the cleanup's panic reaches the caller");
    let mut m2 = heap.mutator();
    drop(m);
    assert!(rt.run(&mut m2).is_ok());
    assert!(matches!(h.result(), Some(Ok(TaskResult::Data(42)))));
}

/// A cancelled task's timer stayed in the timer heap until its deadline, and an idle
/// runtime parked until then before it reported `Stalled` (an hour here). Idle
/// workers now drop timers nobody waits for. (A regression hangs this test.)
#[test]
fn a_cancelled_sleep_does_not_delay_stalled() {
    use contgc_executor::{Completion, Runtime};
    let heap = heap(Some(5));
    let mut rt = Runtime::new(&heap, ()).unwrap();
    let mut m = heap.mutator();
    let c = Completion::new();
    let c2 = c.clone();
    let a = rt.spawn(move |s, cx| cx.await_completion(s, &c2));
    let b = rt.spawn(|s, cx| cx.sleep(s, std::time::Duration::from_secs(3600)));
    rt.run_ready(&mut m);
    assert!(b.cancel());
    let stalled = rt
        .run(&mut m)
        .expect_err("only the completion's setter can go on");
    assert_eq!(stalled.tasks, 1);
    assert!(matches!(b.result(), Some(Err(TaskError::Cancelled(_)))));
    c.set_data(5).unwrap();
    assert!(rt.run(&mut m).is_ok());
    assert!(matches!(a.result(), Some(Ok(TaskResult::Data(5)))));
}

/// A cancelled task's Rust future was dropped only at its next wake, and counted as
/// in flight until then: an idle runtime parked forever instead of reporting
/// `Stalled`. Cancelling now drops the future at once. (A regression hangs this
/// test.)
#[test]
fn a_cancelled_tasks_future_is_dropped_at_once() {
    use contgc_executor::{Completion, Runtime};
    let heap = heap(Some(5));
    let mut rt = Runtime::new(&heap, ()).unwrap();
    let mut m = heap.mutator();
    let c = Completion::new();
    let c2 = c.clone();
    let _a = rt.spawn(move |s, cx| cx.await_completion(s, &c2));
    let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
    let b = rt.spawn(move |s, cx| cx.await_future(s, async move { rx.await.unwrap_or(7) }));
    rt.run_ready(&mut m);
    assert!(b.cancel());
    assert!(
        rt.run(&mut m).is_err(),
        "Stalled: only `c` can wake the last task"
    );
    assert!(tx.is_closed(), "the future (and its receiver) was dropped");
    c.set_data(0).unwrap();
    assert!(rt.run(&mut m).is_ok());
}

/// A future that yields by waking itself and returning `Pending`. It completes once
/// `flag` is set.
fn self_waking(
    flag: Arc<std::sync::atomic::AtomicBool>,
) -> impl std::future::Future<Output = u64> + Send + 'static {
    std::future::poll_fn(move |cx| {
        if flag.load(std::sync::atomic::Ordering::Acquire) {
            std::task::Poll::Ready(1u64)
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
}

/// A future woken during its own poll was polled again in a loop inside the job: on a
/// current-thread runtime the task that would let it finish never ran. It is now
/// polled again between jobs. (A regression hangs this test.)
#[test]
fn a_self_waking_future_lets_other_tasks_run() {
    use contgc_executor::Runtime;
    let heap = heap(Some(5));
    let mut rt = Runtime::new(&heap, ()).unwrap();
    let mut m = heap.mutator();
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = flag.clone();
    let a = rt.spawn(move |s, cx| cx.await_future(s, self_waking(f)));
    let b = rt.spawn(move |_s, _cx| {
        flag.store(true, std::sync::atomic::Ordering::Release);
        Step::Return(Value::Unit)
    });
    assert!(rt.run(&mut m).is_ok());
    assert!(matches!(a.result(), Some(Ok(TaskResult::Data(1)))));
    assert!(b.result().is_some());
}

/// The same on the multi-threaded executor was a deadlock: the spinning worker's
/// mutator never reached a safepoint, so a collection started by the task on the
/// other worker (GC stress: every allocation or so) waited forever. (A regression
/// hangs this test.)
#[test]
fn a_self_waking_future_does_not_hold_up_collections() {
    let heap = heap(Some(1));
    let obj = heap
        .register_type(&contgc_collector::TypeDescriptor::fixed("O", 16))
        .unwrap();
    let ex = Executor::new(&heap, 2, |_| ()).unwrap();
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = flag.clone();
    let a = ex
        .spawn(move |s, cx| cx.await_future(s, self_waking(f)))
        .unwrap();
    let b = ex
        .spawn(move |s, _cx| {
            for _ in 0..100 {
                s.alloc(obj).unwrap();
            }
            flag.store(true, std::sync::atomic::Ordering::Release);
            Step::Return(Value::Unit)
        })
        .unwrap();
    assert!(b.wait().is_ok());
    assert_eq!(a.wait().unwrap().data(), Some(1));
    ex.shutdown(Shutdown::Drain);
}

/// The executor's first poll of an awaited future runs between jobs now: an embedder
/// that drives the runtime only through `run_jobs` still gets its futures polled.
#[test]
fn run_jobs_alone_drives_an_awaited_future() {
    use contgc_executor::Runtime;
    let heap = heap(Some(3));
    let mut rt = Runtime::new(&heap, ()).unwrap();
    let mut m = heap.mutator();
    let h = rt.spawn(|s, cx| cx.await_future(s, async { 5u64 }));
    for _ in 0..10 {
        if h.result().is_some() {
            break;
        }
        rt.run_jobs(&mut m, 1);
    }
    assert!(matches!(h.result(), Some(Ok(TaskResult::Data(5)))));
}

/// Sets its flag when dropped.
struct DropFlag(Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A future whose first poll was still queued when its runtime was dropped was never
/// dropped: the queue of polls and each queued job held each other (found by a review
/// of the change that queues first polls). Dropping the runtime now drops them.
#[test]
fn dropping_a_runtime_drops_the_futures_it_had_yet_to_poll() {
    use contgc_executor::Runtime;
    let heap = heap(None);
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut rt = Runtime::new(&heap, ()).unwrap();
    let mut m = heap.mutator();
    let flag = DropFlag(dropped.clone());
    let _h = rt.start(&mut m, move |s, cx| {
        cx.await_future(s, async move {
            let _flag = flag;
            std::future::pending::<u64>().await
        })
    });
    assert!(!dropped.load(std::sync::atomic::Ordering::SeqCst));
    drop(rt);
    assert!(
        dropped.load(std::sync::atomic::Ordering::SeqCst),
        "the future went with its runtime"
    );
}

/// Dropping an executor joined its workers, which hung a thread that held a running
/// mutator of the heap: the workers' collections (cancelling allocates) waited for
/// that mutator. The drop now cancels and returns; the tasks end on their own.
#[test]
fn dropping_an_executor_beside_a_running_mutator_does_not_hang() {
    use contgc_executor::Completion;
    let heap = heap(Some(1));
    let mut m = heap.mutator();
    let ex = Executor::new(&heap, 2, |_| ()).unwrap();
    let c = Completion::new();
    let hs: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            ex.spawn(move |s, cx| cx.await_completion(s, &c)).unwrap()
        })
        .collect();
    // Every task suspended (its cancellation then allocates a fault, and GC stress
    // makes that collect); this thread's mutator lets collections through meanwhile.
    for h in &hs {
        m.blocking(|| {
            while !matches!(h.state(), contgc_executor::TaskState::Suspended(_)) {
                std::thread::yield_now();
            }
        });
    }
    drop(ex);
    // Waiting for the tasks, this thread's mutator lets collections through.
    for h in hs {
        let out = m.blocking(|| h.wait());
        assert!(matches!(out, Err(TaskError::Cancelled(_))), "{out:?}");
    }
    drop(c);
}

/// `sleep(Duration::MAX)` panicked in the library ("overflow when adding duration to
/// instant"), faulting the task. It now sleeps until cancelled.
#[test]
fn an_endless_sleep_sleeps_until_cancelled() {
    use contgc_executor::Runtime;
    let heap = heap(Some(3));
    let mut rt = Runtime::new(&heap, ()).unwrap();
    let mut m = heap.mutator();
    let h = rt.spawn(|s, cx| cx.sleep(s, std::time::Duration::MAX));
    rt.run_ready(&mut m);
    assert!(matches!(
        h.state(),
        contgc_executor::TaskState::Suspended(WaitOn::Timer { .. })
    ));
    assert!(h.cancel());
    assert!(rt.run(&mut m).is_ok());
    assert!(matches!(h.result(), Some(Err(TaskError::Cancelled(_)))));
}

/// Counts nothing: a waker whose `Arc` count the test reads.
struct Quiet;

impl std::task::Wake for Quiet {
    fn wake(self: Arc<Self>) {}
}

/// A `JoinHandle` polled as a future kept every waker it was ever polled with (and
/// scanned them all at each poll). Only the latest is kept now.
#[test]
fn a_join_handle_keeps_only_its_latest_waker() {
    use contgc_executor::{Completion, Runtime};
    use std::future::Future;
    let heap = heap(None);
    let mut rt = Runtime::new(&heap, ()).unwrap();
    let mut m = heap.mutator();
    let c = Completion::new();
    let c2 = c.clone();
    let mut h = rt.spawn(move |s, cx| cx.await_completion(s, &c2));
    rt.run_ready(&mut m);
    let first = Arc::new(Quiet);
    for i in 0..1000 {
        let w = if i == 0 {
            first.clone()
        } else {
            Arc::new(Quiet)
        };
        let waker = std::task::Waker::from(w);
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(std::pin::Pin::new(&mut h).poll(&mut cx).is_pending());
    }
    assert_eq!(Arc::strong_count(&first), 1, "the first waker was let go");
    c.set_data(3).unwrap();
    assert!(rt.run(&mut m).is_ok());
    assert!(matches!(h.result(), Some(Ok(TaskResult::Data(3)))));
}
