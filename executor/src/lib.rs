//! contgc-executor: an async2 executor on contgc's mutator API.
//!
//! Tasks are continuation chains ([`contgc_continuation`]) plus a completion. A task's
//! entry function runs once, from synchronous code; when it awaits something that
//! cannot complete at once, every frame on the way up captures its state into its
//! continuation and links itself under the chain the awaiter returned ([`Step`]), and
//! the worker hands the chain (held as a group-aged suspended-task root) to what the
//! task waits on. When that event happens, the task is queued, and a worker resumes
//! its chain through the dispatcher, from the leaf awaiter's *sentinel* continuation,
//! which delivers the awaited value. See docs/DESIGN.md ("The executor").
//!
//! This crate owns:
//! - tasks and [`JoinHandle`]s (id, [`TaskState`], result or exception, cancellation;
//!   a handle is a Rust [`Future`](std::future::Future) too) — [`task`];
//! - the frame context [`Cx`] and its awaiters ([`TaskCx`]): yield, sleep, one-shot
//!   [`Completion`]s, bounded [`channel()`]s, join, Rust futures — [`mod@cx`];
//! - schedulers: the current-thread [`Runtime`] and the multi-threaded [`Executor`]
//!   (work stealing over crossbeam-deque, parked idle workers) — [`runtime`],
//!   [`multi_thread`], [`park`];
//! - timers (no Rust runtime needed) and Rust future interop — [`future_interop`].
//!
//! It never touches collector internals: it uses the safe mutator API only, and
//! contains no `unsafe` code. It never runs frame code inside a collection, and an idle
//! worker never delays one.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod channel;
pub mod completion;
pub mod cx;
pub mod future_interop;
mod local_queue;
pub mod multi_thread;
pub mod park;
pub mod runtime;
mod scheduler;
pub mod spawner;
mod sync;
pub mod task;
mod task_list;
mod timers;
pub mod wait;

#[cfg(all(test, loom))]
mod loom_models;

pub use channel::{channel, Receiver, Sender, TryError};
pub use completion::{Completion, CompletionError};
pub use cx::{Cx, FaultKind, Step, TaskCx};
pub use future_interop::{FutureOutput, FutureValue};
pub use multi_thread::{Executor, Shutdown};
pub use runtime::{Runtime, Stalled};
pub use scheduler::Called;
pub use spawner::{SpawnError, Spawner};
pub use task::{JoinHandle, TaskError, TaskId, TaskOutput, TaskResult, TaskState};
pub use wait::WaitOn;
