//! What a suspended task waits on: the awaiter a frame called before suspending, and
//! its registration once the chain has been handed over.
//!
//! An awaiter ([`TaskCx::sleep`](crate::TaskCx::sleep), `recv`, ...) does not register
//! anything: it checks whether it can complete at once (then the frame goes on without
//! suspending), and otherwise records a `Wait` in the task context and returns a
//! chain holding only the sentinel. Registration happens when the whole chain has
//! reached the worker and the task's state says `Suspended` with that await's
//! sequence number: a wake can then find the task, and a wake for any other sequence
//! number is refused. An await whose chain never reaches the worker (the frame threw
//! or returned instead) is dropped with no effect.

use crate::channel::{Chan, Sender};
use crate::completion::CompletionInner;
use crate::future_interop::FutureShared;
use crate::task::{Delivery, Task, TaskId, Wakes};
use crate::timers::Timers;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

/// What a suspended task waits on ([`TaskState::Suspended`](crate::TaskState)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitOn {
    /// A yield: it is ready again at once, behind the tasks queued before it.
    Yield,
    /// A timer.
    Timer {
        /// When it fires.
        deadline: Instant,
    },
    /// A [`Completion`](crate::Completion) (its id).
    Completion(u64),
    /// Room in a channel (its id) to send into.
    ChannelSend(u64),
    /// A message from a channel (its id).
    ChannelRecv(u64),
    /// Another task's end.
    Join(TaskId),
    /// A Rust [`Future`].
    Future,
}

/// A boxed Rust future whose output has been mapped to what the sentinel delivers.
pub(crate) type BoxedFuture = Pin<Box<dyn Future<Output = Delivery> + Send>>;

/// An await recorded by an awaiter, registered once the task is suspended.
pub(crate) enum Wait {
    Yield,
    Timer(Instant),
    Completion(Arc<CompletionInner>),
    Send(Sender, Delivery),
    Recv(Arc<Chan>),
    Join(Arc<Task>),
    Future(BoxedFuture),
}

impl Wait {
    pub(crate) fn on(&self) -> WaitOn {
        match self {
            Wait::Yield => WaitOn::Yield,
            Wait::Timer(at) => WaitOn::Timer { deadline: *at },
            Wait::Completion(c) => WaitOn::Completion(c.id),
            Wait::Send(c, _) => WaitOn::ChannelSend(c.id()),
            Wait::Recv(c) => WaitOn::ChannelRecv(c.id),
            Wait::Join(t) => WaitOn::Join(t.id),
            Wait::Future(_) => WaitOn::Future,
        }
    }

    /// Hands suspended `task` (at `seq`) to what it waits on; that may wake it at once
    /// (the awaited event happened since the awaiter looked).
    pub(crate) fn register(
        self,
        task: &Arc<Task>,
        seq: u64,
        timers: &Timers,
        futures: &Arc<FutureShared>,
        local: Wakes<'_>,
    ) {
        match self {
            Wait::Yield => {
                let _ = task.wake_to(seq, Delivery::Unit, local);
            }
            Wait::Timer(at) => timers.add(at, task.clone(), seq),
            Wait::Completion(c) => c.add_waiter(task.clone(), seq),
            Wait::Send(tx, msg) => tx.register(task.clone(), seq, msg, local),
            Wait::Recv(c) => c.register_receiver(task.clone(), seq, local),
            Wait::Join(t) => t.add_joiner(task.clone(), seq),
            Wait::Future(f) => crate::future_interop::start(f, task.clone(), seq, futures.clone()),
        }
    }
}
