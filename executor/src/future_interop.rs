//! Rust futures awaited by async2 frames.
//!
//! A frame awaits any `Future + Send + 'static` ([`TaskCx::await_future`](crate::TaskCx::await_future)):
//! once the task is suspended the future is polled, first on the worker and then on
//! whichever thread wakes it (its waker polls it there: a poll is plain Rust and needs
//! no mutator); when it is ready its output resumes the task. Only one poll runs at a
//! time: a wake that arrives during a poll makes that poll go round again. A panic in
//! `poll` resumes the task with a [`FaultKind::Panicked`](crate::FaultKind)
//! exception. If the task is cancelled while it waits, the future is dropped at its
//! next wake.
//!
//! The executor is not a tokio runtime, and polls run on its workers and on waking
//! threads, outside any runtime's context: a future that needs one to be entered
//! (tokio's timers and sockets, `tokio::time::sleep` say) panics on its first poll,
//! which throws [`FaultKind::Panicked`](crate::FaultKind) into the frame. Await
//! such work through a runtime of its own instead: spawn it on a tokio runtime and
//! await the `JoinHandle` (which is runtime-independent), or send the result back
//! over a channel whose receiving future needs no reactor
//! (`tokio::sync::oneshot`, `futures::channel`). Runtime-independent futures
//! (channels, `JoinHandle`s, hand-written ones) need nothing more.

use crate::task::{Delivery, Task};
use crate::wait::BoxedFuture;
use crate::FaultKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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

struct FutureJob {
    state: Mutex<JobState>,
    task: Arc<Task>,
    seq: u64,
    /// The executor's count of futures in flight; this one leaves it when its future
    /// is done or dropped.
    in_flight: Arc<AtomicUsize>,
}

struct JobState {
    fut: Option<BoxedFuture>,
    polling: bool,
    notified: bool,
}

/// Starts polling `fut` for suspended `task` at `seq`.
pub(crate) fn start(fut: BoxedFuture, task: Arc<Task>, seq: u64, in_flight: Arc<AtomicUsize>) {
    in_flight.fetch_add(1, Ordering::AcqRel);
    let job = Arc::new(FutureJob {
        state: Mutex::new(JobState {
            fut: Some(fut),
            polling: false,
            notified: false,
        }),
        task,
        seq,
        in_flight,
    });
    job.run();
}

impl FutureJob {
    fn lock(&self) -> std::sync::MutexGuard<'_, JobState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        g.polling = true;
        drop(g);
        let waker = Waker::from(self.clone());
        loop {
            let mut cx = Context::from_waker(&waker);
            let polled = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
            let out = match polled {
                Ok(Poll::Ready(d)) => d,
                Err(_) => Delivery::Fault(FaultKind::Panicked),
                Ok(Poll::Pending) => {
                    let mut g = self.lock();
                    if g.notified {
                        g.notified = false;
                        continue;
                    }
                    g.fut = Some(fut);
                    g.polling = false;
                    return;
                }
            };
            self.lock().polling = false;
            drop(fut);
            let _ = self.task.wake(self.seq, out);
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return;
        }
    }
}

impl Drop for FutureJob {
    fn drop(&mut self) {
        // Every waker is gone and the future never completed: it never will.
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if st.fut.take().is_some() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
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
