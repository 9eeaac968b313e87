//! Tasks: a continuation chain plus a completion.
//!
//! A task is created by a spawn, runs its entry function once, and from then on lives
//! as a suspended chain held by whatever it waits on, or as a job in a run queue, until
//! its root frame returns or throws. Its state machine (one mutex per task):
//!
//! ```text
//! Queued --start--> Running --suspend--> Suspended{seq} --wake(seq)--> Ready --run--> Running
//!                      |                       |                                       |
//!                      +----return/throw-------+-------------(cancel: Ready)-----------+--> Done
//! ```
//!
//! Every suspension has its own sequence number; a wake names the suspension it
//! completes and is refused for any other (a stale timer, a second completion of the
//! same await, a cancellation that came first). So a suspension is resumed at most
//! once: the one-shot rule of the dispatcher, kept by the executor as well.

use crate::future_interop::FutureHook;
use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::wait::WaitOn;
use contgc_collector::{Parked, TaskRoot};
use contgc_collector::{Persistent, Scope};
use contgc_continuation::{async_stack, AsyncStack, Continuation};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

/// A task's id, unique within its executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.0)
    }
}

/// What a task is doing, as seen from outside ([`JoinHandle::state`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Spawned, waiting in a run queue to start.
    Queued,
    /// Running on a worker (its frames are on a mutator's stack).
    Running,
    /// Suspended, waiting on the awaiter named.
    Suspended(WaitOn),
    /// Woken, waiting in a run queue to be resumed.
    Ready,
    /// The root frame returned.
    Completed,
    /// An exception (or a panic, or a dispatch error) left the root frame.
    Faulted,
    /// Ended by its cancellation exception.
    Cancelled,
}

/// The value a task's root frame returned, held outside any scope.
#[derive(Debug)]
pub enum TaskResult {
    /// Nothing.
    Unit,
    /// A `u64`.
    Data(u64),
    /// A reference (a handle that keeps the object alive), or null.
    Ref(Option<Persistent>),
}

impl TaskResult {
    /// The data word, if the task returned one.
    pub fn data(&self) -> Option<u64> {
        match self {
            TaskResult::Data(x) => Some(*x),
            _ => None,
        }
    }

    pub(crate) fn duplicate(&self) -> TaskResult {
        match self {
            TaskResult::Unit => TaskResult::Unit,
            TaskResult::Data(x) => TaskResult::Data(*x),
            TaskResult::Ref(p) => TaskResult::Ref(p.as_ref().map(Persistent::duplicate)),
        }
    }
}

/// How a task ended without a result.
#[derive(Debug)]
pub enum TaskError {
    /// An exception left its root frame unhandled (the exception object).
    Threw(Persistent),
    /// It ended by cancellation: its cancellation exception (none if it was cancelled
    /// before it started, so that no frame ran).
    Cancelled(Option<Persistent>),
    /// Frame code panicked; the panic's message. The panic does not propagate: the
    /// task's frames are dropped (garbage at the next collection) and the heap stays
    /// consistent.
    Panicked(String),
    /// The dispatcher refused the chain (a frame broke the suspension protocol); the
    /// error's description.
    Dispatch(String),
}

impl TaskError {
    pub(crate) fn duplicate(&self) -> TaskError {
        match self {
            TaskError::Threw(p) => TaskError::Threw(p.duplicate()),
            TaskError::Cancelled(p) => TaskError::Cancelled(p.as_ref().map(Persistent::duplicate)),
            TaskError::Panicked(m) => TaskError::Panicked(m.clone()),
            TaskError::Dispatch(m) => TaskError::Dispatch(m.clone()),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Threw(_) => write!(f, "the task threw an exception"),
            TaskError::Cancelled(_) => write!(f, "the task was cancelled"),
            TaskError::Panicked(m) => write!(f, "frame code panicked: {m}"),
            TaskError::Dispatch(m) => write!(f, "the dispatcher refused the task's chain: {m}"),
        }
    }
}

impl std::error::Error for TaskError {}

/// A task's outcome.
pub type TaskOutput = Result<TaskResult, TaskError>;

pub(crate) fn duplicate_output(o: &TaskOutput) -> TaskOutput {
    match o {
        Ok(r) => Ok(r.duplicate()),
        Err(e) => Err(e.duplicate()),
    }
}

/// What a wake hands to the task's leaf awaiter (the sentinel frame), to return or
/// throw into the frame that awaited.
#[derive(Debug)]
pub(crate) enum Delivery {
    Unit,
    Data(u64),
    Ref(Option<Persistent>),
    Throw(Persistent),
    Fault(crate::FaultKind),
    /// A yield without a sentinel: the leaf is the yielding frame itself, resumed
    /// directly, with the task-local context it had.
    Yielded(Option<Persistent>),
}

impl Delivery {
    /// A copy (with handles of its own).
    pub(crate) fn duplicate(&self) -> Delivery {
        match self {
            Delivery::Unit => Delivery::Unit,
            Delivery::Data(x) => Delivery::Data(*x),
            Delivery::Ref(p) => Delivery::Ref(p.as_ref().map(Persistent::duplicate)),
            Delivery::Throw(p) => Delivery::Throw(p.duplicate()),
            Delivery::Fault(k) => Delivery::Fault(*k),
            Delivery::Yielded(c) => Delivery::Yielded(c.as_ref().map(Persistent::duplicate)),
        }
    }

    /// What a joiner of a task that ended with `o` receives.
    pub(crate) fn of_output(o: &TaskOutput) -> Delivery {
        match o {
            Ok(TaskResult::Unit) => Delivery::Unit,
            Ok(TaskResult::Data(x)) => Delivery::Data(*x),
            Ok(TaskResult::Ref(p)) => Delivery::Ref(p.as_ref().map(Persistent::duplicate)),
            Err(TaskError::Threw(p)) | Err(TaskError::Cancelled(Some(p))) => {
                Delivery::Throw(p.duplicate())
            }
            Err(TaskError::Cancelled(None)) => Delivery::Fault(crate::FaultKind::Cancelled),
            Err(TaskError::Panicked(_)) => Delivery::Fault(crate::FaultKind::Panicked),
            Err(TaskError::Dispatch(_)) => Delivery::Fault(crate::FaultKind::Protocol),
        }
    }
}

/// Where a wake made by a worker's own frame code (or its registration of an
/// await) puts the task it wakes: the worker's list of woken tasks, which it queues
/// on its own deque (no global queue, no notification); `None` from anywhere else.
pub(crate) type Wakes<'a> = Option<&'a mut Vec<Arc<Task>>>;

/// Where a woken task goes: its scheduler's run queue.
pub(crate) trait Schedule: Send + Sync {
    /// Queues a task that became ready (its state is `Ready`).
    fn schedule(&self, task: Arc<Task>);
    /// Wakes a parked worker: work other than a task waits (a Rust future to poll
    /// again).
    fn notify(&self) {}
}

/// How a ready task's chain is kept until a worker resumes it.
pub(crate) enum Held {
    /// A suspended-task root (group-aged; any worker can take it).
    Root(TaskRoot),
    /// Parked on the mutator of the worker that will resume it (a yield on a
    /// current-thread runtime: no registry round trip).
    Parked(Parked),
}

pub(crate) enum State {
    Queued,
    Running,
    Suspended {
        root: TaskRoot,
        seq: u64,
        on: WaitOn,
    },
    Ready {
        root: Held,
        delivery: Delivery,
    },
    Done,
}

pub(crate) struct Inner {
    pub(crate) state: State,
    /// Cancellation was requested while the task could not take it at once (queued
    /// or running): it is cancelled at its next suspension (or before it starts).
    pub(crate) cancel: bool,
    /// Tasks awaiting this one (each with the suspension to wake).
    joiners: Vec<(Arc<Task>, u64)>,
    /// Rust futures awaiting this one (`JoinHandle` polled by another executor).
    wakers: Vec<Waker>,
    pub(crate) output: Option<TaskOutput>,
    /// The async stack of the exception that ended the task, if one did after a
    /// suspension.
    exception_stack: Option<AsyncStack>,
    /// Threads blocked in `JoinHandle::wait` (the end signals the condition variable
    /// only if there are any: a signal costs a system call).
    blocked: u32,
    /// The Rust future the task awaits at suspension `.0`, dropped at once if the task
    /// is cancelled there (`future_interop::abandon`).
    future: Option<(u64, FutureHook)>,
}

/// A task: its id, its scheduler and its state.
pub(crate) struct Task {
    pub(crate) id: TaskId,
    /// Its slot in the executor's list of live tasks (`TaskList`).
    pub(crate) slot: usize,
    /// Set with `Inner::cancel` (read without the lock by `yield_now`, which then
    /// suspends through a sentinel so that the cancellation can be thrown in).
    pub(crate) cancel_hint: AtomicBool,
    sched: Weak<dyn Schedule>,
    inner: Mutex<Inner>,
    /// Signalled when the task ends, for `JoinHandle::wait`.
    done: Condvar,
}

impl Task {
    pub(crate) fn new(id: TaskId, slot: usize, sched: Weak<dyn Schedule>) -> Arc<Task> {
        Arc::new(Task {
            id,
            slot,
            cancel_hint: AtomicBool::new(false),
            sched,
            inner: Mutex::new(Inner {
                state: State::Queued,
                cancel: false,
                joiners: Vec::new(),
                wakers: Vec::new(),
                output: None,
                exception_stack: None,
                blocked: 0,
                future: None,
            }),
            done: Condvar::new(),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Completes suspension `seq` with `delivery`: the task becomes ready and is
    /// queued. Refused (the delivery is handed back) if the task is not suspended at
    /// `seq` any more: woken already, cancelled, or suspended again since.
    pub(crate) fn wake(self: &Arc<Self>, seq: u64, delivery: Delivery) -> Result<(), Delivery> {
        self.wake_to(seq, delivery, None)
    }

    /// [`wake`](Self::wake), queueing the task on `local` (the waking worker's own
    /// list, which it queues locally) instead of its scheduler when given.
    pub(crate) fn wake_to(
        self: &Arc<Self>,
        seq: u64,
        delivery: Delivery,
        local: Wakes<'_>,
    ) -> Result<(), Delivery> {
        let mut g = self.lock();
        match std::mem::replace(&mut g.state, State::Done) {
            State::Suspended { root, seq: s, .. } if s == seq => {
                g.state = State::Ready {
                    root: Held::Root(root),
                    delivery,
                };
                drop(g);
                match local {
                    Some(v) => v.push(self.clone()),
                    // An executor that is gone drops the task (and its chain) here.
                    None => {
                        if let Some(sched) = self.sched.upgrade() {
                            sched.schedule(self.clone());
                        }
                    }
                }
                Ok(())
            }
            other => {
                g.state = other;
                Err(delivery)
            }
        }
    }

    /// Records the Rust future the task awaits at suspension `seq` (see
    /// `Inner::future`).
    pub(crate) fn hook_future(&self, seq: u64, hook: FutureHook) {
        self.lock().future = Some((seq, hook));
    }

    /// Wakes a parked worker of the task's executor (if it still exists).
    pub(crate) fn notify_scheduler(&self) {
        if let Some(sched) = self.sched.upgrade() {
            sched.notify();
        }
    }

    /// True if the task is still suspended at `seq` (for awaiters that drop stale
    /// waiters).
    pub(crate) fn waits_at(&self, seq: u64) -> bool {
        matches!(self.lock().state, State::Suspended { seq: s, .. } if s == seq)
    }

    /// Requests cancellation; see [`JoinHandle::cancel`].
    pub(crate) fn cancel(self: &Arc<Self>) -> bool {
        let mut g = self.lock();
        match std::mem::replace(&mut g.state, State::Done) {
            State::Suspended { root, seq, .. } => {
                g.state = State::Ready {
                    root: Held::Root(root),
                    delivery: Delivery::Fault(crate::FaultKind::Cancelled),
                };
                let future = g.future.take().filter(|(at, _)| *at == seq);
                drop(g);
                if let Some(sched) = self.sched.upgrade() {
                    sched.schedule(self.clone());
                }
                if let Some((_, hook)) = future {
                    // Its future will never be needed: dropped now, not at its next
                    // wake (which may never come), so that it stops counting as work
                    // in flight.
                    crate::future_interop::abandon(&hook);
                }
                true
            }
            State::Done => false,
            other => {
                g.state = other;
                g.cancel = true;
                self.cancel_hint.store(true, Ordering::Relaxed);
                true
            }
        }
    }

    /// Adds a joiner at suspension `seq` of `joiner`; if this task has ended, wakes it
    /// at once.
    pub(crate) fn add_joiner(&self, joiner: Arc<Task>, seq: u64) {
        let mut g = self.lock();
        if let Some(out) = &g.output {
            let d = Delivery::of_output(out);
            drop(g);
            let _ = joiner.wake(seq, d);
            return;
        }
        g.joiners.push((joiner, seq));
    }

    pub(crate) fn set_exception_stack(&self, st: AsyncStack) {
        self.lock().exception_stack = Some(st);
    }

    /// Records the task's end and wakes whoever awaits it.
    pub(crate) fn finish(&self, out: TaskOutput) {
        let mut g = self.lock();
        g.state = State::Done;
        if g.joiners.is_empty() && g.wakers.is_empty() && g.blocked == 0 {
            // Nobody waits (the common case): just record the outcome.
            g.output = Some(out);
            return;
        }
        let joiners = std::mem::take(&mut g.joiners);
        let wakers = std::mem::take(&mut g.wakers);
        let deliveries: Vec<Delivery> = joiners.iter().map(|_| Delivery::of_output(&out)).collect();
        g.output = Some(out);
        let blocked = g.blocked > 0;
        drop(g);
        if blocked {
            self.done.notify_all();
        }
        for ((t, seq), d) in joiners.into_iter().zip(deliveries) {
            let _ = t.wake(seq, d);
        }
        for w in wakers {
            w.wake();
        }
    }

    pub(crate) fn state(&self) -> TaskState {
        let g = self.lock();
        match &g.state {
            State::Queued => TaskState::Queued,
            State::Running => TaskState::Running,
            State::Suspended { on, .. } => TaskState::Suspended(on.clone()),
            State::Ready { .. } => TaskState::Ready,
            State::Done => match &g.output {
                Some(Ok(_)) => TaskState::Completed,
                Some(Err(TaskError::Cancelled(_))) => TaskState::Cancelled,
                _ => TaskState::Faulted,
            },
        }
    }
}

/// A handle to a spawned task: its id and state, its outcome once it ends, and
/// cancellation. Dropping it detaches the task (it runs on).
///
/// A `JoinHandle` is a [`Future`] too (`Output = TaskOutput`), so any Rust executor
/// (tokio, ...) can `.await` an async2 task; and [`JoinHandle::wait`] blocks a thread
/// until it ends.
pub struct JoinHandle {
    pub(crate) task: Arc<Task>,
}

impl fmt::Debug for JoinHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.task.id)
            .field("state", &self.task.state())
            .finish()
    }
}

impl JoinHandle {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.task.id
    }

    /// What the task is doing now; for a suspended task, what it waits on.
    pub fn state(&self) -> TaskState {
        self.task.state()
    }

    /// The logical async stack of the task while it is suspended (its frames' names
    /// and suspension points, leaf to root: the first frame is the await's sentinel,
    /// `contgc.Await`), read without resuming it; `None` unless it is suspended.
    /// `s` must be a scope of the task's heap (panics otherwise).
    pub fn async_stack(&self, s: &mut Scope<'_>) -> Option<AsyncStack> {
        let g = self.task.lock();
        let State::Suspended { root, .. } = &g.state else {
            return None;
        };
        let head = s.task_head(root)?;
        let leaf = Continuation::from_local(s, head)?;
        Some(async_stack(s, leaf))
    }

    /// The async stack of the exception that ended the task (a [`TaskError::Threw`]
    /// or [`TaskError::Cancelled`]): the frames of its chain as it was last resumed,
    /// leaf (the await's sentinel) to root, all consumed by then; the exception was
    /// thrown by one of them and unwound through the rest. `None` if the task did
    /// not end by an exception, or threw before it first suspended (no frame had
    /// been captured).
    pub fn exception_stack(&self) -> Option<AsyncStack> {
        self.task.lock().exception_stack.clone()
    }

    /// True once the task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.lock().output.is_some()
    }

    /// The task's outcome, once it has ended (each call gives its own handles).
    pub fn result(&self) -> Option<TaskOutput> {
        self.task.lock().output.as_ref().map(duplicate_output)
    }

    /// Requests cancellation. A suspended task is resumed at its leaf with a
    /// cancellation exception ([`FaultKind::Cancelled`](crate::FaultKind)): its
    /// handlers run, and it ends as [`TaskState::Cancelled`] if the exception leaves
    /// its root frame (a handler may catch it and go on). A running task is cancelled
    /// at its next suspension (its awaiter then throws the cancellation at once); a
    /// queued one ends without running. Returns false if the task had already ended.
    pub fn cancel(&self) -> bool {
        self.task.cancel()
    }

    /// Blocks the calling thread until the task ends; returns its outcome.
    ///
    /// The calling thread must not hold a running [`Mutator`](contgc_collector::Mutator)
    /// of the task's heap (a collection would wait for it forever): call it outside
    /// any mutator, or inside [`Mutator::blocking`](contgc_collector::Mutator::blocking).
    /// Never call it from frame code (await the task with
    /// [`TaskCx::join`](crate::TaskCx::join) instead), nor for a task of a current-thread
    /// [`Runtime`](crate::Runtime) that nobody is running.
    pub fn wait(&self) -> TaskOutput {
        let mut g = self.task.lock();
        while g.output.is_none() {
            g.blocked += 1;
            g = self.task.done.wait(g).unwrap_or_else(|e| e.into_inner());
            g.blocked -= 1;
        }
        duplicate_output(g.output.as_ref().expect("checked"))
    }
}

impl Future for JoinHandle {
    type Output = TaskOutput;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TaskOutput> {
        let mut g = self.task.lock();
        if let Some(out) = &g.output {
            return Poll::Ready(duplicate_output(out));
        }
        // A task has one handle, polled by one owner at a time: only the waker of the
        // latest poll is kept, as the `Future` contract asks (keeping every one grew
        // the list, and each poll's scan of it, with every poll by a new waker).
        match g.wakers.first() {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => {
                g.wakers.clear();
                g.wakers.push(cx.waker().clone());
            }
        }
        Poll::Pending
    }
}
