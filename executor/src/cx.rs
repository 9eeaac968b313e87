//! The context frame code runs with: the embedder's state and the task's awaiters.
//!
//! Every frame type of an executor's tasks is registered for context [`Cx<E>`]
//! (`FrameLayout::register_with_context::<Cx<E>>`), so a resume function reaches its
//! task through `Frame::ctx` / `Frame::scope_and_ctx`, and an entry function gets the
//! same context. [`Cx::split`] separates the embedder's state `E` from the task
//! context [`TaskCx`], whose awaiters return a [`Step`].
//!
//! # Awaiting
//! An awaiter either completes at once ([`Step::Return`] / [`Step::Throw`]: the frame
//! goes on, nothing was suspended), or returns [`Step::Suspend`] with a chain holding
//! one continuation: the *sentinel*, the leaf awaiter's frame. The frame then captures
//! its live state, links itself under the chain
//! ([`Capture::link`](contgc_continuation::Capture::link)) and returns the chain (as
//! `Outcome::Suspend(chain.head())` from a resume function, or `Step::Suspend(chain)`
//! from an entry function or a callee); its caller does the same, up to the task's
//! root. When the awaited event happens, the task is resumed from the sentinel, which
//! returns the awaited value into the awaiting frame's result slot, or throws the
//! awaited exception into it.
//!
//! A task awaits one thing at a time: an await started and then abandoned (the frame
//! returned or threw instead of suspending) has no effect, and a later await replaces
//! it. A chain that reaches the worker without the latest await's sentinel at its leaf
//! is refused (the task faults with [`TaskError::Dispatch`](crate::TaskError)).

use crate::channel::{Receiver, RecvNow, SendNow, Sender};
use crate::completion::Completion;
use crate::local_queue::LocalQueue;
use crate::scheduler::{Core, Job};
use crate::task::{Delivery, JoinHandle, Task, TaskId};
use crate::wait::Wait;
use crate::FutureValue;
use contgc_collector::{Local, NestedScope, Persistent, Scope};
use contgc_continuation::{Capture, Frame, FrameTypeCache, Outcome, Suspension, Value};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a frame, an entry function or an await stands: the async2 calling convention.
#[derive(Clone, Copy, Debug)]
pub enum Step<'s> {
    /// Returned a value (an await that completed at once returns the awaited value).
    Return(Value<'s>),
    /// Threw an exception object.
    Throw(Local<'s>),
    /// Suspended: the chain built so far (leaf first). Capture the calling frame, link
    /// it under the chain and pass the chain up.
    Suspend(Suspension<'s>),
}

impl<'s> Step<'s> {
    /// Runs `f` (a callee, say) in a nested scope, so that its temporary locals are
    /// released when it returns, and carries its step out: a returned reference, a
    /// thrown exception or the chain it suspended with survive into `s`.
    ///
    /// ```
    /// # use contgc_collector::{Config, Heap, Scope};
    /// # use contgc_continuation::Value;
    /// # use contgc_executor::{Cx, Runtime, Step};
    /// fn callee<'i>(i: &mut Scope<'i>, cx: &mut Cx<()>) -> Step<'i> {
    ///     cx.yield_now(i) // suspends: the chain leaves the nested scope
    /// }
    /// # let heap = Heap::new(Config::default()).unwrap();
    /// # let mut rt = Runtime::new(&heap, ()).unwrap();
    /// # let mut m = heap.mutator();
    /// let out = rt.block_on(&mut m, |s, cx| Step::nested(s, |i| callee(i, cx))).unwrap();
    /// assert!(out.is_ok());
    /// ```
    pub fn nested(
        s: &mut Scope<'s>,
        f: impl for<'i> FnOnce(&mut NestedScope<'i, 's>) -> Step<'i>,
    ) -> Step<'s> {
        #[derive(Clone, Copy)]
        enum Kind {
            Unit,
            Data(u64),
            Ref,
            Throw,
            Suspend,
        }
        let (kind, [a, b]) = s.scope_escape_with(|i| match f(i) {
            Step::Return(Value::Unit) => (Kind::Unit, [None, None]),
            Step::Return(Value::Data(x)) => (Kind::Data(x), [None, None]),
            Step::Return(Value::Ref(r)) => (Kind::Ref, [r, None]),
            Step::Throw(e) => (Kind::Throw, [Some(e), None]),
            Step::Suspend(chain) => (Kind::Suspend, chain.into_locals()),
        });
        match kind {
            Kind::Unit => Step::Return(Value::Unit),
            Kind::Data(x) => Step::Return(Value::Data(x)),
            Kind::Ref => Step::Return(Value::Ref(a)),
            Kind::Throw => Step::Throw(a.expect("escaped exception")),
            Kind::Suspend => Step::Suspend(
                Suspension::from_locals(s, a, b).expect("an escaped chain holds continuations"),
            ),
        }
    }

    /// The step as a resume function's outcome.
    pub fn into_outcome(self) -> Outcome<'s> {
        match self {
            Step::Return(v) => Outcome::Return(v),
            Step::Throw(e) => Outcome::Throw(e),
            Step::Suspend(chain) => Outcome::Suspend(chain.head().expect(
                "contgc executor: a resume function suspended without capturing its frame \
                 (link the frame under the chain its await returned)",
            )),
        }
    }
}

/// The kinds of exception the executor itself throws into frames. Each is a heap
/// object of the executor's `contgc.Fault` type; [`TaskCx::fault_kind`] tells them
/// from the embedder's exceptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum FaultKind {
    /// The task was cancelled ([`JoinHandle::cancel`]). A task that lets it leave its
    /// root frame ends as cancelled.
    Cancelled = 1,
    /// The channel's other side is gone.
    ChannelClosed = 2,
    /// Every handle of the awaited [`Completion`] was dropped before it was set.
    Abandoned = 3,
    /// The awaited task (or Rust future) panicked.
    Panicked = 4,
    /// The awaited task broke the suspension protocol (its chain was refused).
    Protocol = 5,
}

impl FaultKind {
    pub(crate) fn from_code(c: u64) -> Option<FaultKind> {
        Some(match c {
            1 => FaultKind::Cancelled,
            2 => FaultKind::ChannelClosed,
            3 => FaultKind::Abandoned,
            4 => FaultKind::Panicked,
            5 => FaultKind::Protocol,
            _ => return None,
        })
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::Cancelled => "the task was cancelled",
            FaultKind::ChannelClosed => "the channel is closed",
            FaultKind::Abandoned => "the completion was dropped before it was set",
            FaultKind::Panicked => "the awaited task or future panicked",
            FaultKind::Protocol => "the awaited task broke the suspension protocol",
        })
    }
}

/// The context of every frame of an executor's tasks: the embedder's state `E` (one
/// per worker thread) and the task context ([`TaskCx`], reached through `Deref`).
pub struct Cx<E> {
    state: E,
    task: TaskCx<E>,
}

impl<E> std::ops::Deref for Cx<E> {
    type Target = TaskCx<E>;
    fn deref(&self) -> &TaskCx<E> {
        &self.task
    }
}

impl<E> std::ops::DerefMut for Cx<E> {
    fn deref_mut(&mut self) -> &mut TaskCx<E> {
        &mut self.task
    }
}

impl<E> Cx<E> {
    pub(crate) fn new(
        state: E,
        core: Arc<Core<E>>,
        worker: u64,
        local: LocalQueue<Job<E>>,
    ) -> Cx<E> {
        Cx {
            state,
            task: TaskCx {
                core,
                current: None,
                pending: None,
                delivery: None,
                context: None,
                seq: 0,
                worker,
                local,
                woken: Vec::new(),
                frame_types: None,
                own: Default::default(),
                tick: 0,
                in_call: false,
            },
        }
    }

    /// The embedder's state.
    pub fn state(&mut self) -> &mut E {
        &mut self.state
    }

    /// The embedder's state and the task context, borrowed apart (to await on a
    /// channel held in the state, say).
    pub fn split(&mut self) -> (&mut E, &mut TaskCx<E>) {
        (&mut self.state, &mut self.task)
    }

    pub(crate) fn into_state(self) -> E {
        self.state
    }
}

/// The task context: the running task, its task-local context and its awaiters.
pub struct TaskCx<E> {
    pub(crate) core: Arc<Core<E>>,
    pub(crate) current: Option<Arc<Task>>,
    pub(crate) pending: Option<(u64, Wait)>,
    pub(crate) delivery: Option<Delivery>,
    /// The running task's task-local context object.
    pub(crate) context: Option<Persistent>,
    seq: u64,
    /// Mixed into every sequence number, so that numbers are unique per executor
    /// although each worker counts on its own.
    worker: u64,
    pub(crate) local: LocalQueue<Job<E>>,
    /// Tasks this worker's frame code woke, to queue on `local`.
    pub(crate) woken: Vec<Arc<Task>>,
    /// Yielded tasks of a multi-threaded worker, parked on its mutator: only this
    /// worker resumes them (not stealable).
    pub(crate) own: std::collections::VecDeque<Job<E>>,
    /// Jobs looked for (the injector is looked at first now and then).
    pub(crate) tick: u32,
    /// The frame types the dispatcher found on this worker.
    pub(crate) frame_types: Option<Box<FrameTypeCache<Cx<E>>>>,
    /// Frame code runs in [`Runtime::call`](crate::Runtime::call): its task is made
    /// only when something needs it (a suspension, or [`TaskCx::task_id`]).
    pub(crate) in_call: bool,
}

impl<E: 'static> TaskCx<E> {
    /// The running task's id. In [`Runtime::call`](crate::Runtime::call) this makes
    /// the task, which the call would otherwise make only if the function suspends.
    ///
    /// Panics outside a task (never the case in frame code).
    pub fn task_id(&mut self) -> TaskId {
        if self.current.is_none() && self.in_call {
            self.current = Some(self.core.new_running_task());
        }
        self.current
            .as_ref()
            .expect("contgc executor: no task is running")
            .id
    }

    /// True if the running task was asked to cancel: it will be at its next
    /// suspension; code that runs long without awaiting can check this and stop early.
    pub fn cancel_requested(&self) -> bool {
        self.current.as_ref().is_some_and(|t| t.lock().cancel)
    }

    /// Spawns a task on this executor (queued on this worker). It starts with the
    /// running task's task-local context; what either changes afterwards is not seen
    /// by the other (each task has its own context slot).
    pub fn spawn<F>(&mut self, entry: F) -> JoinHandle
    where
        F: for<'s> FnOnce(&mut Scope<'s>, &mut Cx<E>) -> Step<'s> + Send + 'static,
    {
        let context = self.context.as_ref().map(Persistent::duplicate);
        let (task, job) = self.core.new_task(Box::new(entry), context);
        self.local.push(job);
        JoinHandle { task }
    }

    /// The running task's task-local context object (the ExecutionContext analogue),
    /// if set. It flows with the task: a callee's change is seen by its caller after
    /// the callee returns, across suspensions and workers.
    pub fn context<'s>(&self, s: &mut Scope<'s>) -> Option<Local<'s>> {
        self.context.as_ref().map(|p| s.get_persistent(p))
    }

    /// Sets the running task's task-local context object (treat context objects as
    /// immutable and set a new one to change it, as AsyncLocal does, so that a task
    /// spawned earlier keeps what it started with).
    pub fn set_context<'s>(&mut self, s: &mut Scope<'s>, obj: Option<Local<'s>>) {
        match (obj, &self.context) {
            (Some(o), Some(p)) => s.set_persistent(p, o),
            (Some(o), None) => self.context = Some(s.persist(o)),
            (None, _) => self.context = None,
        }
    }

    /// A new exception object of the executor's fault type.
    pub fn fault<'s>(&self, s: &mut Scope<'s>, kind: FaultKind) -> Local<'s> {
        self.core.types.fault(s, kind)
    }

    /// The fault kind of `exception`, if it is one of the executor's faults.
    pub fn fault_kind<'s>(&self, s: &mut Scope<'s>, exception: Local<'s>) -> Option<FaultKind> {
        self.core.types.fault_kind(s, exception)
    }

    /// Hands suspended `task` (at `seq`) to what it waits on; tasks that this wakes
    /// (a yield, an event that happened meanwhile) go on this worker's queue.
    pub(crate) fn register_wait(&mut self, wait: Wait, task: &Arc<Task>, seq: u64) {
        wait.register(
            task,
            seq,
            &self.core.timers,
            &self.core.futures,
            Some(&mut self.woken),
        );
        self.queue_woken();
    }

    /// Queues the tasks this worker's frame code woke on its own deque. Other
    /// workers may steal them; a parked one is woken only when this worker has more
    /// queued than the one job it will take next (a task woken by the running one,
    /// as in a ping-pong, then runs here, without a wake-up system call for another
    /// worker and a steal).
    pub(crate) fn queue_woken(&mut self) {
        if self.woken.is_empty() {
            return;
        }
        for t in self.woken.drain(..) {
            self.local.push(Job::Resume(t));
        }
        if self.local.len() > 1 {
            self.core.parker.notify_one_if_parked();
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        (self.seq << 8) | self.worker
    }

    /// Records `wait` and returns the chain holding its sentinel.
    fn pend<'s>(&mut self, s: &mut Scope<'s>, wait: Wait) -> Step<'s> {
        let seq = self.next_seq();
        let ctx = self.context(s);
        let ft = self.core.types.sentinel;
        let mut c = Capture::begin(s, &ft, None, 0)
            .expect("contgc executor: out of memory allocating an await's sentinel");
        c.set_ref(0, ctx).set_u64(0, seq);
        let k = c.finish();
        let mut chain = Suspension::new();
        chain.push(s, k);
        self.pending = Some((seq, wait));
        Step::Suspend(chain)
    }

    /// What a delivery is to a frame that gets it at once.
    fn now<'s>(&self, s: &mut Scope<'s>, d: Delivery) -> Step<'s> {
        match d {
            Delivery::Unit => Step::Return(Value::Unit),
            Delivery::Data(x) => Step::Return(Value::Data(x)),
            Delivery::Ref(p) => Step::Return(Value::Ref(p.map(|p| s.get_persistent(&p)))),
            Delivery::Throw(p) => Step::Throw(s.get_persistent(&p)),
            Delivery::Fault(k) => Step::Throw(self.fault(s, k)),
            Delivery::Yielded(_) => Step::Return(Value::Unit),
        }
    }

    /// Yields: the task suspends and is queued behind the tasks that are ready now.
    ///
    /// A yield needs no sentinel: the chain it returns is empty, the yielding frame
    /// becomes the leaf and is resumed directly (its result slot holds nothing). Only
    /// when the task was asked to cancel does it suspend through a sentinel, so that
    /// the cancellation is thrown into the frame (a cancellation requested while the
    /// yield is on its way up is thrown at the next await).
    pub fn yield_now<'s>(&mut self, s: &mut Scope<'s>) -> Step<'s> {
        if self
            .current
            .as_ref()
            .is_some_and(|t| t.cancel_hint.load(std::sync::atomic::Ordering::Relaxed))
        {
            return self.pend(s, Wait::Yield);
        }
        self.pending = Some((0, Wait::Yield));
        Step::Suspend(Suspension::new())
    }

    /// Sleeps for `d` (a timer of the executor; no Rust runtime needed). A zero
    /// duration still suspends, like a yield that waits for the timers; one too long
    /// for the clock (`Duration::MAX`) sleeps until the task is cancelled.
    pub fn sleep<'s>(&mut self, s: &mut Scope<'s>, d: Duration) -> Step<'s> {
        let now = Instant::now();
        // A deadline past what `Instant` can hold (`Duration::MAX`, say) is a sleep
        // that never ends by itself: set as far ahead as the clock allows.
        let at = now.checked_add(d).unwrap_or_else(|| far_future(now));
        self.pend(s, Wait::Timer(at))
    }

    /// Awaits `c`: completes at once if it is set.
    pub fn await_completion<'s>(&mut self, s: &mut Scope<'s>, c: &Completion) -> Step<'s> {
        match c.inner().value() {
            Some(d) => self.now(s, d),
            None => self.pend(s, Wait::Completion(c.inner().clone())),
        }
    }

    /// Sends `v` on a channel: completes at once if the receiver waits or the buffer
    /// has room; throws [`FaultKind::ChannelClosed`] if the receiver is gone.
    pub fn send<'s>(&mut self, s: &mut Scope<'s>, tx: &Sender, v: Value<'s>) -> Step<'s> {
        let msg = match v {
            Value::Unit => Delivery::Unit,
            Value::Data(x) => Delivery::Data(x),
            Value::Ref(r) => Delivery::Ref(r.map(|r| s.persist(r))),
        };
        let sent = tx.chan().send_now(msg, Some(&mut self.woken));
        self.queue_woken();
        match sent {
            SendNow::Sent => Step::Return(Value::Unit),
            SendNow::Closed => Step::Throw(self.fault(s, FaultKind::ChannelClosed)),
            // The await holds a sender of its own, so the channel stays open until
            // the message is in it (frame code may drop its sender meanwhile).
            SendNow::Full(msg) => self.pend(s, Wait::Send(tx.clone(), msg)),
        }
    }

    /// Receives from a channel: completes at once with a buffered message; throws
    /// [`FaultKind::ChannelClosed`] once every sender is gone and the buffer is empty.
    pub fn recv<'s>(&mut self, s: &mut Scope<'s>, rx: &Receiver) -> Step<'s> {
        let got = rx.chan().recv_now(Some(&mut self.woken));
        self.queue_woken();
        match got {
            RecvNow::Got(d) => self.now(s, d),
            RecvNow::Closed => Step::Throw(self.fault(s, FaultKind::ChannelClosed)),
            RecvNow::Empty => self.pend(s, Wait::Recv(rx.chan().clone())),
        }
    }

    /// Awaits another task's end: returns its result or throws its exception (a
    /// [`FaultKind`] if it panicked, broke the protocol, or was cancelled before it
    /// ran). A task joining itself gets a [`FaultKind::Protocol`] exception at once
    /// (it would wait forever).
    pub fn join<'s>(&mut self, s: &mut Scope<'s>, h: &JoinHandle) -> Step<'s> {
        // Out of the lock before `now`, which may allocate (a fault) and so wait for
        // a collection, which waits for every mutator: one blocked on this lock
        // would never get there.
        let ended = h.task.lock().output.as_ref().map(Delivery::of_output);
        if let Some(d) = ended {
            return self.now(s, d);
        }
        if self
            .current
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(t, &h.task))
        {
            return Step::Throw(self.fault(s, FaultKind::Protocol));
        }
        self.pend(s, Wait::Join(h.task.clone()))
    }

    /// Awaits a Rust future (its output as [`FutureValue`] says): the task suspends,
    /// and the future's waker makes it runnable again (see the
    /// [`future_interop`](crate::future_interop) module). The future is polled
    /// outside any tokio runtime's context (unless the thread polling it entered
    /// one): one that needs it entered (tokio's timers, say) panics and throws
    /// [`FaultKind::Panicked`]. `tokio::time::sleep` panics already when it is
    /// created, in the caller's frame, before this is called. Spawn such work on a
    /// tokio runtime and await its `JoinHandle` instead.
    pub fn await_future<'s, F>(&mut self, s: &mut Scope<'s>, fut: F) -> Step<'s>
    where
        F: Future + Send + 'static,
        F::Output: FutureValue,
    {
        let fut = Box::pin(async move { Delivery::from(fut.await.into_delivery()) });
        self.pend(s, Wait::Future(fut))
    }
}

/// The sentinel's resume function: restores the task-local context captured with it
/// and returns (or throws) what the wake delivered.
pub(crate) fn sentinel_resume<'s, E: 'static>(f: &mut Frame<'_, 's, Cx<E>>) -> Outcome<'s> {
    let ft = f.frame_type();
    let ctx = f.get_ref(ft, 0);
    let (s, cx) = f.scope_and_ctx();
    cx.set_context(s, ctx);
    match cx.delivery.take() {
        Some(d) => cx.now(s, d).into_outcome(),
        // Only the executor resumes a task; a sentinel chain resumed by hand gets no
        // delivery.
        None => Outcome::Throw(cx.fault(s, FaultKind::Protocol)),
    }
}

/// The latest instant after `now` that `Instant` can hold, to within a factor of two
/// (from a thousand years on down): a deadline no sleep outlives.
fn far_future(now: Instant) -> Instant {
    let mut ahead = Duration::from_secs(1000 * 365 * 24 * 3600);
    loop {
        if let Some(t) = now.checked_add(ahead) {
            return t;
        }
        ahead /= 2;
    }
}
