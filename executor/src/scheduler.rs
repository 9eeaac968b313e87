//! The scheduler core shared by both runtimes: run queues, the job loop of a worker,
//! and what happens when a task's chain comes back to the worker.
//!
//! Jobs: `Start` runs a task's entry function (the thunk from synchronous code into
//! async2 code); `Resume` takes a woken task's chain out of the suspended-task
//! registry and resumes it from its sentinel through the dispatcher. Each job runs in
//! a scope of its own on the worker's mutator, under `catch_unwind`: a panic in frame
//! code faults that task only.
//!
//! Queues: each worker has a local FIFO deque (tasks it spawns and yields); wakes from
//! anywhere else go through the global injector. An idle worker takes a batch from the
//! injector, then steals from the other workers, then fires due timers, then parks
//! (see [`Parker`](crate::park::Parker)).

use crate::cx::{Cx, FaultKind, Step};
use crate::future_interop::FutureShared;
use crate::local_queue::LocalQueue;
use crate::park::Parker;
use crate::task::JoinHandle;
use crate::task::{
    Delivery, Held, Schedule, State, Task, TaskError, TaskId, TaskOutput, TaskResult,
};
use crate::task_list::TaskList;
use crate::timers::Timers;
use crate::wait::Wait;
use contgc_collector::{
    DescriptorError, Heap, Local, Mutator, Persistent, Scope, TypeDescriptor, TypeId,
};
use contgc_continuation::{
    async_stack, resume_chain_cached, ChainOutcome, Continuation, FrameLayout, FrameType, Value,
};
use crossbeam_deque::{Injector, Steal, Stealer};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

/// A task's entry function: its first run, from synchronous code.
pub(crate) type Entry<E> =
    Box<dyn for<'s> FnOnce(&mut Scope<'s>, &mut Cx<E>) -> Step<'s> + Send + 'static>;

/// A unit of work for a worker.
pub(crate) enum Job<E> {
    Start {
        task: Arc<Task>,
        entry: Entry<E>,
        context: Option<Persistent>,
    },
    Resume(Arc<Task>),
}

/// The executor's own heap types.
pub(crate) struct Types<E> {
    /// The leaf awaiter: one reference (the task-local context), 8 data bytes (the
    /// await's sequence number).
    pub(crate) sentinel: FrameType<Cx<E>>,
    /// Fault exceptions: 8 data bytes, the [`FaultKind`] code.
    fault: TypeId,
}

impl<E: 'static> Types<E> {
    fn register(heap: &Heap) -> Result<Types<E>, DescriptorError> {
        Ok(Types {
            sentinel: FrameLayout::new("contgc.Await")
                .refs(1)
                .data_bytes(8)
                .register_with_context::<Cx<E>>(heap, crate::cx::sentinel_resume::<E>)?,
            fault: heap.register_type(&TypeDescriptor::fixed("contgc.Fault", 8))?,
        })
    }

    pub(crate) fn fault<'s>(&self, s: &mut Scope<'s>, kind: FaultKind) -> Local<'s> {
        let e = s
            .alloc(self.fault)
            .expect("contgc executor: out of memory allocating a fault exception");
        s.write_u64(e, 0, kind as u64);
        e
    }

    pub(crate) fn fault_kind<'s>(&self, s: &mut Scope<'s>, e: Local<'s>) -> Option<FaultKind> {
        if s.type_index(e) != self.fault.index() || s.heap_id() != self.fault.heap_id() {
            return None;
        }
        FaultKind::from_code(s.read_u64(e, 0))
    }
}

/// State shared by an executor's workers and handles.
pub(crate) struct Core<E> {
    pub(crate) heap: Heap,
    pub(crate) injector: Injector<Job<E>>,
    /// The workers' deques (multi-threaded executor only).
    pub(crate) stealers: OnceLock<Vec<Stealer<Job<E>>>>,
    pub(crate) parker: Parker,
    pub(crate) timers: Timers,
    /// Tasks spawned and not ended.
    pub(crate) live: AtomicUsize,
    next_id: AtomicU64,
    pub(crate) shut_down: AtomicBool,
    /// A cancelling shutdown has begun: tasks created from now on start cancelled,
    /// and every suspension is cancelled at once (so handlers that await again
    /// cannot keep the shutdown waiting on events nobody will cause).
    pub(crate) cancelling: AtomicBool,
    /// Rust futures being awaited (the current-thread runtime parks while any is),
    /// and those to poll again between jobs.
    pub(crate) futures: Arc<FutureShared>,
    /// Every task not ended, for `Shutdown::Cancel` (the multi-threaded executor's;
    /// a current-thread runtime has no such shutdown and keeps no list).
    tasks: Option<TaskList>,
    pub(crate) types: Types<E>,
    me: Weak<Core<E>>,
}

impl<E: 'static> Core<E> {
    /// `list_tasks`: keep the list of live tasks a cancelling shutdown needs.
    pub(crate) fn new(heap: &Heap, list_tasks: bool) -> Result<Arc<Core<E>>, DescriptorError> {
        let types = Types::register(heap)?;
        Ok(Arc::new_cyclic(|me| Core {
            heap: heap.clone(),
            injector: Injector::new(),
            stealers: OnceLock::new(),
            parker: Parker::new(),
            timers: Timers::new(),
            live: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            shut_down: AtomicBool::new(false),
            cancelling: AtomicBool::new(false),
            futures: FutureShared::new(),
            tasks: list_tasks.then(TaskList::new),
            types,
            me: me.clone(),
        }))
    }

    /// A new task and the job that starts it.
    pub(crate) fn new_task(
        &self,
        entry: Entry<E>,
        context: Option<Persistent>,
    ) -> (Arc<Task>, Job<E>) {
        self.live.fetch_add(1, Ordering::Relaxed);
        self.new_task_counted(entry, context)
    }

    /// [`new_task`](Self::new_task) for a task already counted in `live`.
    pub(crate) fn new_task_counted(
        &self,
        entry: Entry<E>,
        context: Option<Persistent>,
    ) -> (Arc<Task>, Job<E>) {
        let id = TaskId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let me: Weak<dyn Schedule> = self.me.clone();
        let task = match &self.tasks {
            Some(list) => list.insert(|slot| Task::new(id, slot, me)),
            None => Task::new(id, usize::MAX, me),
        };
        // Checked after the task is in the list: either `cancel_all` (which sets the
        // flag first) finds it there, or this sees the flag.
        if self.cancelling.load(Ordering::SeqCst) {
            task.cancel();
        }
        let job = Job::Start {
            task: task.clone(),
            entry,
            context,
        };
        (task, job)
    }

    /// A task that is running already (made by [`call`] once its function needs one).
    pub(crate) fn new_running_task(&self) -> Arc<Task> {
        let entry: Entry<E> = Box::new(|_, _| Step::Return(Value::Unit));
        let (task, _job) = self.new_task(entry, None);
        task.lock().state = State::Running;
        task
    }

    /// Cancels every task not ended, and every task created or suspending from now on.
    pub(crate) fn cancel_all(&self) {
        self.cancelling.store(true, Ordering::SeqCst);
        let tasks = self.tasks.as_ref().map(TaskList::all).unwrap_or_default();
        for t in tasks {
            t.cancel();
        }
    }

    /// Queues a job from outside the workers.
    pub(crate) fn inject(&self, job: Job<E>) {
        self.injector.push(job);
        self.parker.notify_one();
    }

    /// The next job for the worker whose context is `cx`: its own deque first, then
    /// the injector, then the other workers' deques.
    pub(crate) fn find_job(&self, cx: &mut Cx<E>) -> Option<Job<E>> {
        // Now and then the injector first, so that tasks woken from other threads are
        // not starved by local work that keeps coming back (tasks that yield).
        cx.tick = cx.tick.wrapping_add(1);
        if cx.tick.is_multiple_of(61) {
            if let Steal::Success(j) = cx.local.take_from_injector(&self.injector) {
                return Some(j);
            }
        }
        // The worker's own (yielded) tasks and its deque take turns, so that neither
        // starves the other when both keep being refilled.
        if cx.tick & 1 == 0 {
            if let Some(j) = cx.own.pop_front() {
                return Some(j);
            }
        }
        if let Some(j) = cx.local.pop() {
            return Some(j);
        }
        if let Some(j) = cx.own.pop_front() {
            return Some(j);
        }
        loop {
            match cx.local.take_from_injector(&self.injector) {
                Steal::Success(j) => return Some(j),
                Steal::Empty => break,
                Steal::Retry => continue,
            }
        }
        for st in self.stealers.get().map_or(&[][..], |v| &v[..]) {
            loop {
                match cx.local.steal_from(st) {
                    Steal::Success(j) => return Some(j),
                    Steal::Empty => break,
                    Steal::Retry => continue,
                }
            }
        }
        None
    }

    /// True if any queue the worker could take from holds a job.
    pub(crate) fn has_work(&self, cx: &Cx<E>) -> bool {
        self.futures.has_repolls()
            || !cx.local.is_empty()
            || !cx.own.is_empty()
            || !self.injector.is_empty()
            || self
                .stealers
                .get()
                .is_some_and(|v| v.iter().any(|s| !s.is_empty()))
    }
}

impl<E: 'static> Schedule for Core<E> {
    fn schedule(&self, task: Arc<Task>) {
        self.inject(Job::Resume(task));
    }

    fn notify(&self) {
        self.parker.notify_one();
    }
}

/// One step of a worker's loop: runs the next job (with due timers fired and a
/// safepoint taken every 64 looks for work), or else fires due timers. False if there
/// was nothing to do: the worker is idle.
pub(crate) fn run_next<E: 'static>(core: &Core<E>, m: &mut Mutator, cx: &mut Cx<E>) -> bool {
    // Rust futures that woke themselves while polled: polled again here, with the
    // mutator in native state (a poll needs none, and a slow one must not hold up a
    // collection).
    let repolled = core.futures.has_repolls() && m.blocking(|| core.futures.poll_again()) > 0;
    if let Some(job) = core.find_job(cx) {
        m.scope(|s| run_job(s, cx, job));
        if cx.tick.is_multiple_of(64) {
            core.timers.fire_due();
            m.safepoint();
        }
        return true;
    }
    core.timers.fire_due() > 0 || repolled
}

/// Runs one job on the worker whose context is `cx`.
pub(crate) fn run_job<'s, E: 'static>(s: &mut Scope<'s>, cx: &mut Cx<E>, job: Job<E>) {
    match job {
        Job::Start {
            task,
            entry,
            context,
        } => {
            {
                let mut g = task.lock();
                if g.cancel {
                    drop(g);
                    end(cx, &task, Err(TaskError::Cancelled(None)));
                    return;
                }
                g.state = State::Running;
            }
            cx.current = Some(task);
            cx.context = context;
            cx.pending = None;
            let r = catch_unwind(AssertUnwindSafe(|| entry(s, cx)));
            started(s, cx, r);
        }
        Job::Resume(task) => {
            let (root, delivery) = {
                let mut g = task.lock();
                match std::mem::replace(&mut g.state, State::Running) {
                    State::Ready { root, delivery } => (root, delivery),
                    other => {
                        // Not ready (cannot happen: only a wake queues a resume).
                        g.state = other;
                        return;
                    }
                }
            };
            let leaf = match root {
                Held::Root(root) => s
                    .resume_task(root)
                    .into_heap()
                    .expect("the executor registers heap chains only"),
                Held::Parked(p) => match s.try_unpark(p) {
                    Some(l) => l,
                    None => {
                        // Parked on another mutator (cannot happen: a runtime
                        // re-registers its parked chains before a run returns).
                        let msg = "the task's chain was parked on another mutator";
                        end(cx, &task, Err(TaskError::Dispatch(msg.into())));
                        return;
                    }
                },
            };
            let leaf = Continuation::from_local(s, leaf)
                .expect("a registered chain's leaf is its sentinel");
            cx.current = Some(task);
            cx.pending = None;
            match delivery {
                // A sentinel-less yield: the leaf is the frame itself.
                Delivery::Yielded(context) => cx.context = context,
                d => {
                    cx.context = None;
                    cx.delivery = Some(d);
                }
            }
            let r = catch_unwind(AssertUnwindSafe(|| {
                {
                    // Moved out (a pointer) while the context is lent to the frames.
                    let mut cache = cx.frame_types.take().unwrap_or_default();
                    let r = resume_chain_cached(s, leaf, cx, &mut cache);
                    cx.frame_types = Some(cache);
                    r.map_err(|e| e.describe(s))
                }
            }));
            cx.delivery = None;
            settle(s, cx, r, Some(leaf));
        }
    }
}

/// What follows the first run of a task's entry function (`cx.current` is the task).
fn started<'s, E: 'static>(s: &mut Scope<'s>, cx: &mut Cx<E>, r: std::thread::Result<Step<'s>>) {
    if let Ok(Step::Suspend(chain)) = &r {
        if chain.head().is_none() && matches!(cx.pending, Some((0, Wait::Yield))) {
            // The entry yielded before capturing any frame: what is left of the task
            // is to return, after the tasks ready now.
            cx.pending = None;
            let task = cx.current.take().expect("the running task");
            let context = cx.context.take();
            task.lock().state = State::Queued;
            let entry: Entry<E> = Box::new(|_, _| Step::Return(Value::Unit));
            cx.local.push(Job::Start {
                task,
                entry,
                context,
            });
            return;
        }
    }
    let r = r.map(|step| {
        Ok(match step {
            Step::Return(v) => ChainOutcome::Completed(v),
            Step::Throw(e) => ChainOutcome::Threw(e),
            Step::Suspend(chain) => match chain.head() {
                Some(h) => ChainOutcome::Suspended(h),
                None => {
                    return Err(String::from(
                        "an entry function suspended with an empty chain",
                    ))
                }
            },
        })
    });
    settle(s, cx, r, None);
}

/// What [`Runtime::call`](crate::Runtime::call) returns.
#[derive(Debug)]
pub enum Called {
    /// The function returned or threw without suspending: no task was made.
    Done(TaskOutput),
    /// The function suspended: it goes on as this task.
    Suspended(JoinHandle),
}

/// Runs `entry` as the start of a task that is made only if it suspends (or asks for
/// its id); see [`Runtime::call`](crate::Runtime::call).
pub(crate) fn call<'s, E: 'static, F>(s: &mut Scope<'s>, cx: &mut Cx<E>, entry: F) -> Called
where
    F: FnOnce(&mut Scope<'s>, &mut Cx<E>) -> Step<'s>,
{
    cx.current = None;
    cx.context = None;
    cx.pending = None;
    cx.in_call = true;
    let r = catch_unwind(AssertUnwindSafe(|| entry(s, cx)));
    cx.in_call = false;
    if cx.current.is_none() {
        let out = match &r {
            Ok(Step::Return(v)) => Some(Ok(match *v {
                Value::Unit => TaskResult::Unit,
                Value::Data(x) => TaskResult::Data(x),
                Value::Ref(r) => TaskResult::Ref(r.map(|r| s.persist(r))),
            })),
            // Nothing can have cancelled a task no handle names yet: an exception is
            // the function's own.
            Ok(Step::Throw(e)) => Some(Err(TaskError::Threw(s.persist(*e)))),
            Ok(Step::Suspend(_)) => None,
            Err(panic) => Some(Err(TaskError::Panicked(panic_message(&**panic)))),
        };
        if let Some(out) = out {
            cx.pending = None;
            cx.context = None;
            return Called::Done(out);
        }
        cx.current = Some(cx.core.new_running_task());
    }
    let h = JoinHandle {
        task: cx.current.clone().expect("made above"),
    };
    started(s, cx, r);
    // A task made for its id that then returned at once has ended already.
    match h.result() {
        Some(out) => Called::Done(out),
        None => Called::Suspended(h),
    }
}

type Ran<'s> = std::thread::Result<Result<ChainOutcome<'s>, String>>;

/// What follows a run of `task`'s frames.
///
/// `leaf` is the chain's leaf as it was resumed (none for a start): when an exception
/// ends the task, the chain from it is the exception's async stack.
fn settle<'s, E: 'static>(
    s: &mut Scope<'s>,
    cx: &mut Cx<E>,
    r: Ran<'s>,
    leaf: Option<Continuation<'s>>,
) {
    // The running task, lent to the context while its frames ran.
    let task = cx.current.take().expect("the running task");
    let out: TaskOutput = match r {
        Ok(Ok(ChainOutcome::Suspended(leaf))) => {
            return suspend(s, cx, task, leaf);
        }
        Ok(Ok(ChainOutcome::Completed(v))) => Ok(match v {
            Value::Unit => TaskResult::Unit,
            Value::Data(x) => TaskResult::Data(x),
            Value::Ref(r) => TaskResult::Ref(r.map(|r| s.persist(r))),
        }),
        Ok(Ok(ChainOutcome::Threw(e))) => {
            if let Some(leaf) = leaf {
                task.set_exception_stack(async_stack(s, leaf));
            }
            let p = s.persist(e);
            if cx.fault_kind(s, e) == Some(FaultKind::Cancelled) {
                Err(TaskError::Cancelled(Some(p)))
            } else {
                Err(TaskError::Threw(p))
            }
        }
        Ok(Err(msg)) => Err(TaskError::Dispatch(msg)),
        Err(panic) => Err(TaskError::Panicked(panic_message(&*panic))),
    };
    cx.pending = None;
    end(cx, &task, out);
}

fn end<E: 'static>(cx: &mut Cx<E>, task: &Arc<Task>, out: TaskOutput) {
    cx.current = None;
    cx.context = None;
    if let Some(list) = &cx.core.tasks {
        list.remove(task);
    }
    // Counted out before the end is published, so that whoever sees the task ended
    // (`JoinHandle::wait`, `is_finished`) sees it out of `live_tasks` too.
    let last = cx.core.live.fetch_sub(1, Ordering::AcqRel) == 1;
    task.finish(out);
    if last {
        cx.core.parker.notify_all();
    }
}

/// A task's chain came back suspended at `leaf`: hands it to what it awaits.
fn suspend<'s, E: 'static>(
    s: &mut Scope<'s>,
    cx: &mut Cx<E>,
    task: Arc<Task>,
    leaf: Continuation<'s>,
) {
    let pending = cx.pending.take();
    if let Some((0, Wait::Yield)) = pending {
        return yielded(s, cx, task, leaf);
    }
    let sentinel = cx.core.types.sentinel;
    let seq_off = sentinel.data_offset(0, 8);
    let ok = pending.as_ref().is_some_and(|(seq, _)| {
        s.type_index(leaf.local()) == sentinel.type_id().index()
            && s.read_u64(leaf.local(), seq_off) == *seq
    });
    let Some((seq, wait)) = pending.filter(|_| ok) else {
        let msg = "a frame suspended without its await's sentinel at the chain's leaf \
                   (suspend only with the chain an awaiter returned, with the frames linked under it)";
        end(cx, &task, Err(TaskError::Dispatch(msg.into())));
        return;
    };
    cx.current = None;
    cx.context = None;
    let root = s.suspend_task(leaf.local());
    let mut g = task.lock();
    if g.cancel || cx.core.cancelling.load(Ordering::Relaxed) {
        g.cancel = false;
        task.cancel_hint.store(false, Ordering::Relaxed);
        g.state = State::Ready {
            root: Held::Root(root),
            delivery: Delivery::Fault(FaultKind::Cancelled),
        };
        drop(g);
        cx.local.push(Job::Resume(task));
        return;
    }
    g.state = State::Suspended {
        root,
        seq,
        on: wait.on(),
    };
    drop(g);
    cx.register_wait(wait, &task, seq);
}

/// Re-registers the chains of the queued jobs that are parked on this mutator, so
/// that they can be resumed on any mutator: a current-thread runtime does this before a
/// run returns (its next run may be given another mutator).
pub(crate) fn register_parked<'s, E: 'static>(s: &mut Scope<'s>, cx: &mut Cx<E>) {
    let LocalQueue::Single(q) = &mut cx.local else {
        return;
    };
    for job in q.iter() {
        let Job::Resume(task) = job else { continue };
        let mut g = task.lock();
        match std::mem::replace(&mut g.state, State::Done) {
            State::Ready {
                root: Held::Parked(p),
                delivery,
            } => {
                let leaf = s.unpark(p);
                g.state = State::Ready {
                    root: Held::Root(s.suspend_task(leaf)),
                    delivery,
                };
            }
            other => g.state = other,
        }
    }
}

/// A task yielded without a sentinel: its leaf is the yielding frame. It is queued
/// at once, keeping its task-local context beside the chain. A cancellation requested
/// meanwhile cannot be thrown into the frame (no sentinel is there to throw it): it
/// stays requested, and the next await takes it.
fn yielded<'s, E: 'static>(
    s: &mut Scope<'s>,
    cx: &mut Cx<E>,
    task: Arc<Task>,
    leaf: Continuation<'s>,
) {
    cx.current = None;
    let context = cx.context.take();
    // Resumed by this worker: parked on its mutator (no registry round trip), queued
    // where no other worker takes it (the current-thread runtime's queue, or a
    // multi-threaded worker's own queue beside its stealable deque).
    task.lock().state = State::Ready {
        root: Held::Parked(s.park(leaf.local())),
        delivery: Delivery::Yielded(context),
    };
    match cx.local {
        LocalQueue::Single(_) => cx.local.push(Job::Resume(task)),
        LocalQueue::Shared(_) => cx.own.push_back(Job::Resume(task)),
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        String::from("(a panic without a message)")
    }
}
