//! Loom model checks of the executor's protocols between threads, on the real code:
//! parking idle workers (`park::Parker`, also against a stop-the-world request on the
//! collector's own `Rendezvous`), a completion set racing with the registration of
//! its await, a channel send racing with the receiver's registration, a
//! cancellation racing with a wake, and (as a model of its four accesses) a spawn
//! racing with a shutdown.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p contgc-executor --lib --release`.
//! Each model prints the number of interleavings loom explored.

use crate::channel::{channel, SendNow};
use crate::completion::Completion;
use crate::park::Parker;
use crate::task::{Delivery, Schedule, State, Task, TaskId};
use contgc_collector::internal::Rendezvous;
use contgc_collector::{Config, Heap, TaskRoot};
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::thread;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Weak};

/// A scheduler that counts what it is given.
#[derive(Default)]
struct Counting {
    scheduled: AtomicUsize,
}

impl Schedule for Counting {
    fn schedule(&self, _task: Arc<Task>) {
        self.scheduled.fetch_add(1, SeqCst);
    }
}

/// A task suspended at sequence number 1 (its root: an empty tasklet of a small heap).
fn suspended_task(sched: &Arc<Counting>) -> Arc<Task> {
    let heap = Heap::new(Config::builder().nursery_size(64 << 10).build().unwrap()).unwrap();
    let root: TaskRoot = heap.mutator().scope(|s| s.new_tasklet());
    let w: Weak<dyn Schedule> = Arc::downgrade(sched) as Weak<dyn Schedule>;
    let t = Task::new(TaskId(1), 0, w);
    t.lock().state = State::Suspended {
        root,
        seq: 1,
        on: crate::WaitOn::Yield,
    };
    t
}

fn ready_with(t: &Task) -> Option<Delivery> {
    match std::mem::replace(&mut t.lock().state, State::Done) {
        State::Ready { delivery, .. } => Some(delivery),
        _ => None,
    }
}

/// Runs `f` under loom and prints how many interleavings it explored.
fn model(name: &str, f: impl Fn() + Sync + Send + 'static) {
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = runs.clone();
    loom::model(move || {
        r.fetch_add(1, SeqCst);
        f();
    });
    println!(
        "loom model `{name}`: {} interleavings explored",
        runs.load(SeqCst)
    );
}

#[test]
fn a_parked_worker_never_misses_work() {
    model("park / notify", || {
        let parker = loom::sync::Arc::new(Parker::new());
        let work = loom::sync::Arc::new(AtomicBool::new(false));
        let (p, w) = (parker.clone(), work.clone());
        // (The work flag is read with loads: loom 0.7 mis-models `AtomicBool::swap`
        // after a condition-variable wake-up in this shape, a harness issue.)
        let worker = thread::spawn(move || loop {
            if w.load(SeqCst) {
                break;
            }
            p.park(|| !w.load(SeqCst), None);
        });
        work.store(true, SeqCst);
        parker.notify_one();
        worker.join().unwrap();
    });
}

#[test]
fn a_worker_parking_again_gets_the_next_notification() {
    model("park / notify twice", || {
        let parker = loom::sync::Arc::new(Parker::new());
        let queued = loom::sync::Arc::new(AtomicUsize::new(0));
        let (p, q) = (parker.clone(), queued.clone());
        let worker = thread::spawn(move || {
            let mut taken = 0;
            while taken < 2 {
                if q.load(SeqCst) > taken {
                    taken += 1;
                    continue;
                }
                p.park(|| q.load(SeqCst) == taken, None);
            }
        });
        for _ in 0..2 {
            queued.fetch_add(1, SeqCst);
            parker.notify_one();
        }
        worker.join().unwrap();
    });
}

#[test]
fn a_parked_worker_does_not_delay_a_collection() {
    model("parked worker vs stop-the-world", || {
        let rv = loom::sync::Arc::new(Rendezvous::new());
        let parker = loom::sync::Arc::new(Parker::new());
        let work = loom::sync::Arc::new(AtomicBool::new(false));
        rv.attach(); // the worker's mutator
        rv.attach(); // the collecting mutator (this thread)
        let (p, w, rw) = (parker.clone(), work.clone(), rv.clone());
        let worker = thread::spawn(move || {
            loop {
                if rw.poll() {
                    rw.park();
                }
                if w.load(SeqCst) {
                    break;
                }
                // Idle: park as `Mutator::blocking` does (detached: counts as stopped).
                rw.detach();
                p.park(|| !w.load(SeqCst), None);
                rw.attach();
            }
            rw.detach();
        });
        // The collection must not wait for the parked worker; work is produced only
        // after it, so a collection that waited would deadlock (loom reports it).
        let stopped = loop {
            if let Some(s) = rv.begin_collection() {
                break s;
            }
        };
        rv.end_collection(stopped);
        work.store(true, SeqCst);
        parker.notify_one();
        worker.join().unwrap();
        rv.detach();
    });
}

#[test]
fn a_completion_set_racing_with_its_await_wakes_once() {
    model("completion set vs await", || {
        let sched = Arc::new(Counting::default());
        let task = suspended_task(&sched);
        let c = Completion::new();
        let c2 = c.clone();
        let t2 = task.clone();
        // The worker registers the await after the task's state says suspended.
        let waiter = thread::spawn(move || c2.inner().add_waiter(t2, 1));
        c.set_data(7).unwrap();
        waiter.join().unwrap();
        assert_eq!(sched.scheduled.load(SeqCst), 1, "woken exactly once");
        assert!(matches!(ready_with(&task), Some(Delivery::Data(7))));
        assert_eq!(c.set_data(8), Err(crate::CompletionError::AlreadySet));
    });
}

#[test]
fn a_send_racing_with_the_receivers_registration_delivers_once() {
    model("channel send vs recv registration", || {
        let sched = Arc::new(Counting::default());
        let task = suspended_task(&sched);
        let (tx, rx) = channel(1);
        let t2 = task.clone();
        let receiver = thread::spawn(move || {
            rx.chan().register_receiver(t2, 1, None);
            rx
        });
        assert!(matches!(
            tx.chan().send_now(Delivery::Data(5), None),
            SendNow::Sent
        ));
        let rx = receiver.join().unwrap();
        assert_eq!(
            sched.scheduled.load(SeqCst),
            1,
            "the receiver is woken once"
        );
        assert!(matches!(ready_with(&task), Some(Delivery::Data(5))));
        // And the message is not also left in the buffer.
        assert_eq!(rx.try_recv_data(), Err(crate::TryError::WouldBlock));
    });
}

#[test]
fn a_cancellation_racing_with_a_wake_resumes_the_task_once() {
    model("cancel vs wake", || {
        let sched = Arc::new(Counting::default());
        let task = suspended_task(&sched);
        let t2 = task.clone();
        let canceller = thread::spawn(move || assert!(t2.cancel()));
        let woke = task.wake(1, Delivery::Data(3)).is_ok();
        canceller.join().unwrap();
        assert_eq!(sched.scheduled.load(SeqCst), 1, "resumed exactly once");
        let d = ready_with(&task);
        if woke {
            // The wake came first; the cancellation waits for the next suspension.
            assert!(matches!(d, Some(Delivery::Data(3))));
        } else {
            assert!(matches!(
                d,
                Some(Delivery::Fault(crate::FaultKind::Cancelled))
            ));
        }
    });
}

/// The spawn / shutdown handshake (`Spawner::spawn` against `Executor::stop` and the
/// workers' exit test): a spawn counts its task live, then reads the shutdown flag; the
/// stopper sets the flag, then a worker that sees it reads the count and exits at 0.
/// Every one of these accesses is a read-modify-write (acquire-release), so a spawn
/// that is accepted is always seen by a worker, which then stays to run it. A model of
/// those accesses (loom has no executor to run); with the spawn reading the flag
/// before counting, as it once did, loom finds the run where the task is accepted and
/// every worker has gone.
#[test]
fn an_accepted_spawn_is_never_left_behind_by_a_shutdown() {
    use std::sync::atomic::Ordering::{AcqRel, Acquire};
    model("spawn vs shutdown", || {
        let live = loom::sync::Arc::new(AtomicUsize::new(0));
        let shut = loom::sync::Arc::new(AtomicBool::new(false));
        let spawner = {
            let (live, shut) = (live.clone(), shut.clone());
            thread::spawn(move || {
                live.fetch_add(1, AcqRel);
                if shut.fetch_or(false, AcqRel) {
                    live.fetch_sub(1, AcqRel);
                    false
                } else {
                    true
                }
            })
        };
        let worker = {
            let (live, shut) = (live.clone(), shut.clone());
            thread::spawn(move || shut.load(Acquire) && live.fetch_add(0, AcqRel) == 0)
        };
        shut.swap(true, AcqRel);
        let exited = worker.join().unwrap();
        let accepted = spawner.join().unwrap();
        assert!(!(accepted && exited), "an accepted task would never run");
    });
}
