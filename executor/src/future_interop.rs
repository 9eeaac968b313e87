//! Rust futures awaited by async2 frames.
//!
//! A frame awaits any `Future + Send + 'static` ([`TaskCx::await_future`](crate::TaskCx::await_future)):
//! once the task is suspended the future is polled, first by the executor between
//! jobs and then on whichever thread wakes it (its waker polls it there: a poll is
//! plain Rust and needs no mutator); when it is ready its output resumes the task. Only
//! one poll runs at a time. The executor's polls (the first one, and those of a future
//! woken while it was polled, one that yields by waking itself, say) run between jobs
//! with the worker's mutator in native state, never in a loop inside a job: the
//! worker's other tasks run meanwhile, and collections do not wait for a poll. A poll
//! on a waking thread holds up whatever that thread does, so polls should still be
//! short. A panic in `poll`
//! resumes the task with a [`FaultKind::Panicked`](crate::FaultKind) exception. If the
//! task is cancelled while it waits, the future is dropped at once (after the poll
//! running then, if one is).
//!
//! The executor is not a tokio runtime. Polls run on its workers and on waking
//! threads, inside whatever runtime context that thread has entered: normally none,
//! so a future that needs one (tokio's timers and sockets) panics on its first poll,
//! which throws [`FaultKind::Panicked`](crate::FaultKind) into the frame. Two traps:
//! - tokio's `sleep` and `timeout` look for the runtime when they are *created*, not
//!   polled: `cx.await_future(s, tokio::time::sleep(d))` panics in the frame's own
//!   code, before the await, and the panic ends the whole task
//!   ([`TaskError::Panicked`](crate::TaskError)) rather than throwing a fault a
//!   handler could catch; `async move { tokio::time::sleep(d).await }` defers the
//!   creation to the first poll, which throws the fault instead.
//! - A runtime driven from inside `tokio_runtime.block_on(..)` (or any thread that
//!   entered a tokio runtime) polls inside that runtime's context: a tokio timer then
//!   registers with that runtime, and fires only while it is driven. Do not drive a
//!   `Runtime` from inside tokio's `block_on` if its tasks await tokio timers.
//!
//! Await such work through a runtime of its own instead: spawn it on a tokio runtime
//! and await the `JoinHandle` (which is runtime-independent), or send the result back
//! over a channel whose receiving future needs no reactor (`tokio::sync::oneshot`,
//! `futures::channel`). Runtime-independent futures (channels, `JoinHandle`s,
//! hand-written ones) need nothing more.

use crate::task::{Delivery, Task};
use crate::wait::BoxedFuture;
use crate::FaultKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Wake, Waker};

/// What a Rust future's output becomes in the awaiting frame.
pub trait FutureValue: Send + 'static {
    /// The value the await returns.
    fn into_delivery(self) -> FutureOutput;
}

/// A Rust future's output as the awaiting frame sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FutureOutput {
    /// The await returns unit.
    Unit,
    /// The await returns a `u64`.
    Data(u64),
    /// The await throws a fault of this kind.
    Fault(FaultKind),
}

impl FutureValue for () {
    fn into_delivery(self) -> FutureOutput {
        FutureOutput::Unit
    }
}

impl FutureValue for u64 {
    fn into_delivery(self) -> FutureOutput {
        FutureOutput::Data(self)
    }
}

impl FutureValue for FutureOutput {
    fn into_delivery(self) -> FutureOutput {
        self
    }
}

impl From<FutureOutput> for Delivery {
    fn from(o: FutureOutput) -> Delivery {
        match o {
            FutureOutput::Unit => Delivery::Unit,
            FutureOutput::Data(x) => Delivery::Data(x),
            FutureOutput::Fault(k) => Delivery::Fault(k),
        }
    }
}

/// What the executor shares with the futures its tasks await.
pub(crate) struct FutureShared {
    /// Futures being awaited: not completed, not dropped (the current-thread runtime
    /// parks while any is, rather than reporting `Stalled`).
    in_flight: AtomicUsize,
    /// Futures to poll between jobs: just awaited, or woken while being polled.
    repoll: Mutex<Vec<Arc<FutureJob>>>,
    /// `repoll.len()`, written under the lock, read without it (a hint).
    repoll_hint: AtomicUsize,
}

impl FutureShared {
    pub(crate) fn new() -> Arc<FutureShared> {
        Arc::new(FutureShared {
            in_flight: AtomicUsize::new(0),
            repoll: Mutex::new(Vec::new()),
            repoll_hint: AtomicUsize::new(0),
        })
    }

    /// Drops the polls still queued: the executor is going away, and nothing else
    /// would (each queued job holds this, which holds the job: a cycle that would keep
    /// the futures, their tasks and the tasks' chains forever). Dropped outside the
    /// lock: a job's drop may drop its future.
    pub(crate) fn clear(&self) {
        drop(self.take_queued());
    }

    /// Empties the queue of polls.
    fn take_queued(&self) -> Vec<Arc<FutureJob>> {
        let mut q = self.lock();
        self.repoll_hint.store(0, Ordering::Release);
        std::mem::take(&mut *q)
    }

    /// Futures being awaited.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// True if futures wait to be polled again ([`poll_again`](Self::poll_again)).
    pub(crate) fn has_repolls(&self) -> bool {
        self.repoll_hint.load(Ordering::Acquire) != 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<FutureJob>>> {
        self.repoll.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Polls each queued future (just awaited, or woken during its last poll);
    /// returns how many. Called by the runtime and the workers between jobs.
    pub(crate) fn poll_again(&self) -> usize {
        let jobs = self.take_queued();
        let n = jobs.len();
        for job in jobs {
            job.run();
        }
        n
    }
}

pub(crate) struct FutureJob {
    state: Mutex<JobState>,
    task: Arc<Task>,
    seq: u64,
    /// The executor's side: its count of futures in flight (this one leaves it when
    /// its future is done or dropped), and its queue of futures to poll again.
    shared: Arc<FutureShared>,
}

struct JobState {
    fut: Option<BoxedFuture>,
    polling: bool,
    notified: bool,
    /// The task was cancelled while a poll ran: the poller drops the future.
    abandoned: bool,
}

/// A task's hold on the future it awaits, so that cancelling the task drops the
/// future at once ([`abandon`]).
pub(crate) type FutureHook = Weak<FutureJob>;

/// Starts polling `fut` for suspended `task` at `seq`.
pub(crate) fn start(fut: BoxedFuture, task: Arc<Task>, seq: u64, shared: Arc<FutureShared>) {
    shared.in_flight.fetch_add(1, Ordering::AcqRel);
    let job = Arc::new(FutureJob {
        state: Mutex::new(JobState {
            fut: Some(fut),
            polling: false,
            notified: false,
            abandoned: false,
        }),
        task,
        seq,
        shared,
    });
    // Before the first poll: a cancellation from now on drops the future.
    job.task.hook_future(seq, Arc::downgrade(&job));
    // The first poll too runs between jobs, with the mutator in native state, not
    // here (inside the task's suspension, with the worker's mutator running).
    job.queue_poll();
}

/// Drops the future a cancelled task awaited (at once, or after the poll running
/// now), so that it no longer counts as in flight.
pub(crate) fn abandon(hook: &FutureHook) {
    let Some(job) = hook.upgrade() else {
        return; // every waker is gone: dropped already
    };
    let fut = {
        let mut g = job.lock();
        if g.polling {
            g.abandoned = true;
            return;
        }
        g.fut.take()
    };
    if let Some(fut) = fut {
        // Outside the lock: dropping a future may wake it, which takes the lock.
        drop(fut);
        job.leave();
    }
}

impl FutureJob {
    fn lock(&self) -> std::sync::MutexGuard<'_, JobState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leaves the executor's count of futures in flight; the last one out wakes a
    /// parked worker, which may now have to report `Stalled` (a current-thread runtime
    /// parks without a timeout while any future is in flight).
    fn leave(&self) {
        if self.shared.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.task.notify_scheduler();
        }
    }

    /// Queues a poll for the executor's next look between jobs
    /// ([`FutureShared::poll_again`]) and wakes a parked worker.
    fn queue_poll(self: &Arc<Self>) {
        let mut q = self.shared.lock();
        q.push(self.clone());
        self.shared.repoll_hint.store(q.len(), Ordering::Release);
        drop(q);
        self.task.notify_scheduler();
    }

    fn run(self: &Arc<Self>) {
        let mut g = self.lock();
        if g.polling {
            g.notified = true;
            return;
        }
        let Some(mut fut) = g.fut.take() else {
            return; // done already
        };
        if !self.task.waits_at(self.seq) {
            // The task was cancelled: drop the future.
            drop(g);
            drop(fut);
            self.leave();
            return;
        }
        g.polling = true;
        drop(g);
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        let polled = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
        let out = match polled {
            Ok(Poll::Ready(d)) => d,
            Err(_) => Delivery::Fault(FaultKind::Panicked),
            Ok(Poll::Pending) => {
                let mut g = self.lock();
                g.polling = false;
                if g.abandoned {
                    drop(g);
                    drop(fut);
                    self.leave();
                    return;
                }
                g.fut = Some(fut);
                if std::mem::take(&mut g.notified) {
                    // Woken while it was polled (a future that yields by waking itself,
                    // say): polled again between jobs, never in a loop here, so that
                    // the worker's other tasks run and its mutator reaches a safepoint.
                    drop(g);
                    self.queue_poll();
                }
                return;
            }
        };
        self.lock().polling = false;
        drop(fut);
        let _ = self.task.wake(self.seq, out);
        self.leave();
    }
}

impl Drop for FutureJob {
    fn drop(&mut self) {
        // Every waker is gone and the future never completed: it never will.
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if st.fut.take().is_some() {
            self.leave();
        }
    }
}

impl Wake for FutureJob {
    fn wake(self: Arc<Self>) {
        self.run();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.run();
    }
}
