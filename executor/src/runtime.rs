//! The current-thread runtime: the executor run on the embedder's own thread and
//! mutator, when the embedder calls [`Runtime::run`] or [`Runtime::block_on`].

use crate::cx::{Cx, Step};
use crate::local_queue::LocalQueue;
use crate::scheduler::{call, register_parked, run_job, run_next, Called, Core};
use crate::spawner::Spawner;
use crate::task::{JoinHandle, TaskOutput};
use contgc_collector::{DescriptorError, Heap, Mutator, Scope};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Why a run of a current-thread runtime stopped before its goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stalled {
    /// Tasks alive (suspended) when it stopped.
    pub tasks: usize,
}

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} task(s) wait on events only another thread can cause (no task is ready, no timer is set, no Rust future is pending)",
            self.tasks
        )
    }
}

impl std::error::Error for Stalled {}

/// A current-thread async2 runtime: tasks run on the calling thread, on the mutator
/// given to [`run`](Runtime::run) or [`block_on`](Runtime::block_on), with the
/// embedder's state `E` in their context.
///
/// Frame types of its tasks are registered for context [`Cx<E>`]. Other threads can
/// spawn through a [`Spawner`] and wake tasks (completions, channels, Rust futures);
/// what they queue runs at the next `run`.
///
/// Every method that takes a [`Mutator`] panics unless it is a mutator of the heap
/// the runtime was made for, before it touches any task.
///
/// Dropping a runtime with tasks that have not ended drops what they hold but does not
/// end them: their [`JoinHandle`]s never get a result (`wait` would block forever,
/// the handle as a future never completes, and its `state` stays what it was, such as
/// `Queued` or `Ready`). Run the runtime until
/// [`run`](Runtime::run) returns `Ok`, or cancel the tasks and run it, before
/// dropping it.
///
/// ```
/// use contgc_executor::{Runtime, Step};
/// use contgc_continuation::Value;
/// use contgc_collector::{Config, Heap};
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let mut rt = Runtime::new(&heap, ()).unwrap();
/// let mut m = heap.mutator();
/// let out = rt
///     .block_on(&mut m, |_s, _cx| Step::Return(Value::Data(42)))
///     .unwrap();
/// assert_eq!(out.unwrap().data(), Some(42));
/// ```
pub struct Runtime<E: 'static> {
    core: Arc<Core<E>>,
    cx: Cx<E>,
}

impl<E: 'static> fmt::Debug for Runtime<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("live_tasks", &self.core.live.load(Ordering::Relaxed))
            .finish()
    }
}

impl<E: 'static> Runtime<E> {
    /// A runtime for `heap`, with the embedder's state `state`. Registers the
    /// executor's frame type (the await sentinel) and fault type with the heap.
    pub fn new(heap: &Heap, state: E) -> Result<Runtime<E>, DescriptorError> {
        let core = Core::new(heap, false)?;
        let cx = Cx::new(
            state,
            core.clone(),
            0,
            LocalQueue::Single(Default::default()),
        );
        Ok(Runtime { core, cx })
    }

    /// The embedder's state.
    pub fn state(&mut self) -> &mut E {
        self.cx.state()
    }

    /// A handle that spawns onto this runtime from any thread.
    pub fn spawner(&self) -> Spawner<E> {
        Spawner::new(self.core.clone())
    }

    /// The fault kind of `exception`, if it is one of this executor's faults (for
    /// code outside tasks, such as a task's [`TaskError::Threw`](crate::TaskError)).
    pub fn fault_kind<'s>(
        &self,
        s: &mut Scope<'s>,
        exception: contgc_collector::Local<'s>,
    ) -> Option<crate::FaultKind> {
        self.core.types.fault_kind(s, exception)
    }

    /// Tasks spawned and not ended.
    pub fn live_tasks(&self) -> usize {
        self.core.live.load(Ordering::Acquire)
    }

    /// Spawns a task; it starts at the next [`run`](Runtime::run).
    pub fn spawn<F>(&mut self, entry: F) -> JoinHandle
    where
        F: for<'s> FnOnce(&mut Scope<'s>, &mut Cx<E>) -> Step<'s> + Send + 'static,
    {
        let (task, job) = self.core.new_task(Box::new(entry), None);
        self.cx.local.push(job);
        JoinHandle { task }
    }

    /// Runs `entry` as a task (its entry runs now, on `m`, until its first
    /// suspension) and then runs the runtime until that task ends; returns its
    /// outcome. The task starts with no task-local context, and what it sets is not
    /// seen here after it returns. Other tasks run meanwhile.
    ///
    /// Returns [`Stalled`] if the task is still suspended when nothing can make
    /// progress on this thread (see [`run`](Runtime::run)); the task goes on at a
    /// later `run`.
    pub fn block_on<F>(&mut self, m: &mut Mutator, entry: F) -> Result<TaskOutput, Stalled>
    where
        F: for<'s> FnOnce(&mut Scope<'s>, &mut Cx<E>) -> Step<'s> + Send + 'static,
    {
        let h = self.start(m, entry);
        let r = self.run_until(m, || h.is_finished());
        self.unpark_all(m);
        r?;
        Ok(h.result().expect("finished"))
    }

    /// The entry thunk: runs `entry` as a task now, on `m`, until it first suspends
    /// (or ends), and returns its handle; the rest runs at a later
    /// [`run`](Runtime::run). The task starts with no task-local context, and what it
    /// sets is not seen by the caller.
    ///
    /// ```
    /// use contgc_collector::{Config, Heap};
    /// use contgc_continuation::Value;
    /// use contgc_executor::{Runtime, Step, TaskState};
    ///
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut rt = Runtime::new(&heap, ()).unwrap();
    /// let mut m = heap.mutator();
    /// let h = rt.start(&mut m, |_s, _cx| Step::Return(Value::Data(1)));
    /// assert_eq!(h.state(), TaskState::Completed); // it ran to its end already
    /// ```
    pub fn start<F>(&mut self, m: &mut Mutator, entry: F) -> JoinHandle
    where
        F: for<'s> FnOnce(&mut Scope<'s>, &mut Cx<E>) -> Step<'s> + Send + 'static,
    {
        self.check_heap(m);
        let (task, job) = self.core.new_task(Box::new(entry), None);
        let h = JoinHandle { task };
        m.scope(|s| run_job(s, &mut self.cx, job));
        self.unpark_all(m);
        h
    }

    /// The entry thunk's fast path: calls `entry` now, on `m`, as an async2 function
    /// called from synchronous code. If it returns or throws without suspending, that
    /// is the outcome and no task was ever made (no allocation by the executor: a
    /// returned reference or a thrown exception is held by a new `Persistent`); if it
    /// suspends, it goes on as a task (made at that point, or earlier if frame code
    /// asks for [`TaskCx::task_id`](crate::TaskCx::task_id)), and `call` returns its
    /// handle, to be run by a later [`run`](Runtime::run).
    ///
    /// Unlike [`start`](Runtime::start), the entry need not be `Send` or `'static`: it
    /// runs before `call` returns. The function starts with no task-local context, and
    /// what it sets is not seen by the caller. A panic in it is
    /// [`TaskError::Panicked`](crate::TaskError::Panicked).
    ///
    /// ```
    /// use contgc_collector::{Config, Heap};
    /// use contgc_continuation::Value;
    /// use contgc_executor::{Called, Runtime, Step, TaskResult};
    ///
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let mut rt = Runtime::new(&heap, ()).unwrap();
    /// let mut m = heap.mutator();
    /// let x = 41;
    /// match rt.call(&mut m, |_s, _cx| Step::Return(Value::Data(x + 1))) {
    ///     Called::Done(out) => assert!(matches!(out, Ok(TaskResult::Data(42)))),
    ///     Called::Suspended(_) => unreachable!("it returned at once"),
    /// }
    /// // A function that suspends becomes a task.
    /// let Called::Suspended(h) = rt.call(&mut m, |s, cx| cx.yield_now(s)) else {
    ///     panic!("a yield suspends")
    /// };
    /// rt.run(&mut m).unwrap();
    /// assert!(matches!(h.result(), Some(Ok(TaskResult::Unit))));
    /// ```
    pub fn call<F>(&mut self, m: &mut Mutator, entry: F) -> Called
    where
        F: for<'s> FnOnce(&mut Scope<'s>, &mut Cx<E>) -> Step<'s>,
    {
        self.check_heap(m);
        let cx = &mut self.cx;
        let out = m.scope(|s| call(s, cx, entry));
        if matches!(out, Called::Suspended(_)) {
            self.unpark_all(m);
        }
        out
    }

    /// Panics unless `m` is a mutator of this runtime's heap: checked before any job
    /// is taken, so that a wrong mutator leaves every task as it was.
    fn check_heap(&self, m: &Mutator) {
        let (ours, given) = (self.core.heap.id(), m.heap_id());
        assert!(
            ours == given,
            "contgc: this runtime runs on heap #{ours}, but the mutator given belongs to heap #{given}"
        );
    }

    /// Re-registers the chains of yielded tasks parked on `m`, before a run returns:
    /// the next run may be given another mutator.
    fn unpark_all(&mut self, m: &mut Mutator) {
        if !self.cx.local.is_empty() {
            m.scope(|s| register_parked(s, &mut self.cx));
        }
    }

    /// Runs tasks on `m` until every task has ended. Parks (in the state collections
    /// count as stopped) while the only pending events are timers, Rust futures or
    /// wakes from other threads; returns [`Stalled`] when tasks are left that nothing
    /// on this thread can wake (no task ready, no timer set, no Rust future pending):
    /// they wait on completions or channels that only another thread could complete.
    ///
    /// Between jobs it runs the heap's pending finalizers on this thread
    /// (`Mutator::run_pending_finalizers`), as does [`block_on`](Runtime::block_on). A
    /// cleanup that panics ends the run with its panic; the runtime stays usable (its
    /// tasks are as a return would leave them), and the cleanups queued after the
    /// panicking one run at the next look.
    pub fn run(&mut self, m: &mut Mutator) -> Result<(), Stalled> {
        let core = self.core.clone();
        let r = self.run_until(m, || core.live.load(Ordering::Acquire) == 0);
        self.unpark_all(m);
        r
    }

    /// Runs at most `max` jobs (task starts and resumptions), firing due timers and
    /// polling the Rust futures that wait for the executor first; returns how many
    /// ran. A way to interleave the runtime with an embedder's
    /// own event loop.
    pub fn run_jobs(&mut self, m: &mut Mutator, max: usize) -> usize {
        self.check_heap(m);
        self.core.timers.fire_due();
        let futures = &self.core.futures;
        if futures.has_repolls() {
            // Rust futures waiting for the executor's poll (see `future_interop`).
            m.blocking(|| futures.poll_again());
        }
        let mut n = 0;
        while n < max {
            let Some(job) = self.core.find_job(&mut self.cx) else {
                break;
            };
            m.scope(|s| run_job(s, &mut self.cx, job));
            n += 1;
        }
        self.unpark_all(m);
        n
    }

    /// Runs every job that is ready (and every timer that is due) until none is, then
    /// returns. A task that yields is ready again at once, so this does not return
    /// while one keeps yielding: use [`run_jobs`](Runtime::run_jobs) for a bound.
    pub fn run_ready(&mut self, m: &mut Mutator) {
        self.check_heap(m);
        while run_next(&self.core, m, &mut self.cx) {}
        self.unpark_all(m);
    }

    fn run_until(&mut self, m: &mut Mutator, done: impl Fn() -> bool) -> Result<(), Stalled> {
        self.check_heap(m);
        loop {
            if m.has_pending_finalizers() {
                let run = std::panic::AssertUnwindSafe(|| m.run_pending_finalizers());
                if let Err(panic) = std::panic::catch_unwind(run) {
                    // The cleanup's panic is the caller's, but the runtime stays whole:
                    // the chains parked on `m` are registered again first, as when a
                    // run returns, so that a later run (on any mutator) resumes them.
                    self.unpark_all(m);
                    std::panic::resume_unwind(panic);
                }
            }
            if done() {
                return Ok(());
            }
            if run_next(&self.core, m, &mut self.cx) || done() {
                continue;
            }
            self.core.timers.drop_stale();
            let timeout = self.core.timers.until_next();
            if timeout.is_none() && self.core.futures.in_flight() == 0 {
                if self.core.has_work(&self.cx) {
                    continue;
                }
                return Err(Stalled {
                    tasks: self.core.live.load(Ordering::Acquire),
                });
            }
            let (core, cx) = (&self.core, &self.cx);
            // Without a timer, parked only while a Rust future is in flight: the last
            // one to leave wakes the parker (`FutureJob::leave`), and this looks again
            // (to report `Stalled`).
            let wait = || !core.has_work(cx) && (timeout.is_some() || core.futures.in_flight() > 0);
            m.blocking(|| core.parker.park(wait, timeout));
        }
    }
}

impl<E: 'static> Drop for Runtime<E> {
    fn drop(&mut self) {
        self.core.shut_down.store(true, Ordering::Release);
        // Queued jobs hold task roots and handles: drop them here.
        while self.core.find_job(&mut self.cx).is_some() {}
        // And queued polls their futures (see `FutureShared::clear`).
        self.core.futures.clear();
    }
}
