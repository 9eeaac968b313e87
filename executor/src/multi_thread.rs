//! The multi-threaded executor: N worker threads, each with its own mutator, taking
//! tasks from their own deques, the global injector and each other (work stealing).

use crate::cx::{Cx, Step};
use crate::local_queue::LocalQueue;
use crate::scheduler::{run_next, Core};
use crate::spawner::{SpawnError, Spawner};
use crate::task::JoinHandle;
use contgc_collector::{DescriptorError, Heap, Scope};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;

/// How [`Executor::shutdown`] ends the tasks left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Run every task to its end (new spawns are refused meanwhile).
    Drain,
    /// Cancel every task (each resumes with its cancellation exception and runs its
    /// handlers), then run them to their end. Tasks spawned meanwhile (by frame code)
    /// start cancelled, and every suspension meanwhile is cancelled at once: a handler
    /// that catches the cancellation and awaits again is cancelled again (one that
    /// does so in an endless loop keeps the shutdown running).
    Cancel,
}

/// A multi-threaded async2 executor: `workers` threads, each owning a
/// [`Mutator`](contgc_collector::Mutator) of the heap and its own embedder state `E`
/// (made by the factory given to [`Executor::new`]). A task may be resumed on any
/// worker. Idle workers park in the state collections count as stopped, so they never
/// delay a collection.
///
/// Between jobs, workers run the heap's pending finalizers
/// (`Mutator::run_pending_finalizers`), as the single-threaded [`Runtime`](crate::Runtime)
/// does: a cleanup runs on whichever worker looks first, never inside a job. A
/// cleanup that panics is abandoned (the panic hook reports it, as for any panic) and
/// the worker goes on with the cleanups queued after it.
///
/// ```
/// use contgc_executor::{Executor, Shutdown, Step};
/// use contgc_continuation::Value;
/// use contgc_collector::{Config, Heap};
///
/// let heap = Heap::new(Config::default()).unwrap();
/// let ex = Executor::new(&heap, 2, |_worker| ()).unwrap();
/// let h = ex.spawn(|_s, _cx| Step::Return(Value::Data(7))).unwrap();
/// assert_eq!(h.wait().unwrap().data(), Some(7)); // this thread holds no mutator
/// ex.shutdown(Shutdown::Drain);
/// ```
pub struct Executor<E: Send + 'static> {
    core: Arc<Core<E>>,
    threads: Vec<thread::JoinHandle<E>>,
}

impl<E: Send + 'static> fmt::Debug for Executor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Executor")
            .field("workers", &self.threads.len())
            .field("live_tasks", &self.core.live.load(Ordering::Relaxed))
            .finish()
    }
}

impl<E: Send + 'static> Executor<E> {
    /// Starts `workers` worker threads (at least 1) on `heap`; worker `i`'s state is
    /// `make_state(i)`, made on its thread.
    ///
    /// A task may be resumed on any worker, so what its frames find in the state must
    /// mean the same on every worker: register frame types (and other heap types) once,
    /// before, and copy them into each state. Types registered inside `make_state` would
    /// differ from worker to worker, and a frame resumed on another worker would be
    /// refused by the other worker's types (a panic naming both types).
    pub fn new(
        heap: &Heap,
        workers: usize,
        make_state: impl Fn(usize) -> E + Send + Sync + 'static,
    ) -> Result<Executor<E>, DescriptorError> {
        let core = Core::new(heap, true)?;
        let n = workers.max(1);
        let deques: Vec<_> = (0..n)
            .map(|_| crossbeam_deque::Worker::new_fifo())
            .collect();
        let _ = core
            .stealers
            .set(deques.iter().map(|d| d.stealer()).collect());
        let make_state = Arc::new(make_state);
        let threads = deques
            .into_iter()
            .enumerate()
            .map(|(i, deque)| {
                let core = core.clone();
                let make_state = make_state.clone();
                thread::Builder::new()
                    .name(format!("contgc-worker-{i}"))
                    .spawn(move || worker(core, i, deque, &*make_state))
                    .expect("contgc executor: cannot start a worker thread")
            })
            .collect();
        Ok(Executor { core, threads })
    }

    /// Spawns a task from any thread; refused once shut down.
    pub fn spawn<F>(&self, entry: F) -> Result<JoinHandle, SpawnError>
    where
        F: for<'s> FnOnce(&mut Scope<'s>, &mut Cx<E>) -> Step<'s> + Send + 'static,
    {
        self.spawner().spawn(entry)
    }

    /// A `Clone + Send + Sync` handle that spawns onto this executor.
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

    /// Stops the executor: refuses new spawns, ends the tasks left as `mode` says,
    /// stops the workers and returns their states. Blocks until then; call it from a
    /// thread that holds no running mutator of the heap (or inside
    /// [`Mutator::blocking`](contgc_collector::Mutator::blocking)): the workers'
    /// collections wait for every running mutator, so one held here would wait for
    /// this call, which waits for the workers. (Dropping the executor instead does not
    /// wait.)
    ///
    /// With [`Shutdown::Drain`], a task that waits on an event nobody will cause keeps
    /// the shutdown waiting; [`Shutdown::Cancel`] does not wait for such events.
    pub fn shutdown(mut self, mode: Shutdown) -> Vec<E> {
        self.stop(mode)
    }

    /// Refuses new spawns, starts ending the tasks as `mode` says and wakes the
    /// workers, which exit once no task is left.
    fn begin_stop(&self, mode: Shutdown) {
        // A read-modify-write, as the spawner's count and read (see `Spawner::spawn`).
        self.core.shut_down.swap(true, Ordering::AcqRel);
        if mode == Shutdown::Cancel {
            self.core.cancel_all();
        }
        self.core.parker.notify_all();
    }

    fn stop(&mut self, mode: Shutdown) -> Vec<E> {
        self.begin_stop(mode);
        let states = self
            .threads
            .drain(..)
            .map(|t| t.join().expect("contgc executor: a worker thread panicked"))
            .collect();
        // Polls still queued hold their futures (see `FutureShared::clear`).
        self.core.futures.clear();
        states
    }
}

/// Dropping an executor that was not [shut down](Executor::shutdown) cancels its tasks
/// as [`Shutdown::Cancel`] does, but does not wait for the workers: they end the tasks
/// and exit on their own, dropping their states. (Waiting would hang a thread that
/// drops the executor while it holds a running mutator of the heap: the workers'
/// collections wait for that mutator, which waits for them.) Use `shutdown` to wait
/// and get the states back.
impl<E: Send + 'static> Drop for Executor<E> {
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.begin_stop(Shutdown::Cancel);
        // Detached: each worker exits once no task is left (and the last one out
        // drops the polls still queued, see `worker`).
        self.threads.clear();
    }
}

/// A worker thread's loop: run jobs until the executor is shut down and no task is
/// left.
fn worker<E: 'static>(
    core: Arc<Core<E>>,
    index: usize,
    deque: crossbeam_deque::Worker<crate::scheduler::Job<E>>,
    make_state: &(dyn Fn(usize) -> E + Send + Sync),
) -> E {
    let mut m = core.heap.mutator();
    let mut cx = Cx::new(
        make_state(index),
        core.clone(),
        index as u64,
        LocalQueue::Shared(deque),
    );
    loop {
        if m.has_pending_finalizers() {
            let run = std::panic::AssertUnwindSafe(|| m.run_pending_finalizers());
            if std::panic::catch_unwind(run).is_err() {
                // A panicking cleanup is abandoned (the panic hook has reported it);
                // the ones queued after it run now.
                continue;
            }
        }
        if run_next(&core, &mut m, &mut cx) {
            continue;
        }
        let done =
            // The count read with a read-modify-write (see `Spawner::spawn`).
            || core.shut_down.load(Ordering::Acquire) && core.live.fetch_add(0, Ordering::AcqRel) == 0;
        if done() {
            break;
        }
        core.timers.drop_stale();
        let timeout = core.timers.until_next();
        let cxr = &cx;
        m.blocking(|| core.parker.park(|| !core.has_work(cxr) && !done(), timeout));
    }
    // Wake the other workers: they check `done` too.
    core.parker.notify_all();
    // No task is left, so no queued poll is needed: dropped here too, for an executor
    // dropped without waiting for its workers (see `FutureShared::clear`).
    core.futures.clear();
    cx.into_state()
}
