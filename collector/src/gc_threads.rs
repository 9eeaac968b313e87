//! The threads of parallel collection phases: the heap's parked helpers
//! ([`GcThreads`]), for minor collections and a major collection's sweep, and threads
//! started for one phase ([`run_fresh`]), for a major collection's marking.
//!
//! Starting a thread and joining it costs 25-50 µs on the machines this is measured
//! on, as much as a whole minor collection of 10,000 survivors; waking a parked one
//! costs a condition-variable signal. So a minor collection's helpers are started the
//! first time one wants them, kept parked between collections, and stopped when the
//! heap is dropped. A parallel phase ([`GcThreads::run`]) hands one
//! job to the first `workers - 1` helpers, runs it as worker 0 on the calling thread,
//! and returns once every helper that took part has returned from it.
//!
//! # Protocol
//! All state is under one lock. A phase publishes the job, the number of helpers that
//! take part and a new epoch, and wakes every helper; a helper runs the job once per
//! epoch it sees (if its index is among the participants), then counts itself out. The
//! phase waits until the count is zero and only then withdraws the job, so no helper
//! can call the job after `run` returns, which is what lets the job borrow the
//! caller's stack (see the `SAFETY` comment in `run`). `tests/loom_gc_threads.rs`
//! model-checks it: every participant runs each job exactly once, `run` returns only
//! after they have, and dropping the pool stops every helper.
//!
//! A panic in a job aborts the process: the other workers would wait for the
//! panicking one with the world stopped, and the job's borrows must not end early.

use crate::safepoint::AbortOnUnwind;
use crate::sync::{lock, thread, Condvar, Mutex};
use std::sync::Arc;

/// A GC worker's abort guard (see the module documentation).
const WORKER: AbortOnUnwind = AbortOnUnwind("a GC worker");

/// A job with its lifetime erased: only dereferenced while the `run` call that
/// published it is waiting for it (see the module documentation).
#[derive(Clone, Copy)]
struct Job(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the pointee is `Sync`, so calling it from another thread is sound; its
// lifetime is kept by `GcThreads::run` (see there).
unsafe impl Send for Job {}

struct State {
    /// Bumped by every phase; a helper runs the job once per epoch.
    epoch: u64,
    job: Option<Job>,
    /// Helpers `1..=helpers` take part in the current phase.
    helpers: usize,
    /// Participants that have not yet returned from the job.
    running: usize,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a phase starts or the pool shuts down.
    start: Condvar,
    /// Signalled when the last participant of a phase returns.
    finished: Condvar,
}

/// The heap's GC helper threads (see the module documentation).
pub struct GcThreads {
    shared: Arc<Shared>,
    /// The helpers started so far (helper `i + 1` at index `i`); also serialises
    /// phases.
    helpers: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl GcThreads {
    /// A pool with no helper started yet.
    pub fn new() -> Self {
        GcThreads {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    epoch: 0,
                    job: None,
                    helpers: 0,
                    running: 0,
                    shutdown: false,
                }),
                start: Condvar::new(),
                finished: Condvar::new(),
            }),
            helpers: Mutex::new(Vec::new()),
        }
    }

    /// Starts helper threads until `workers - 1` exist (or the system refuses more),
    /// and returns how many workers a phase can have now: `workers`, or fewer if
    /// threads could not be started, never less than 1. A parallel phase sizes its
    /// work pool by this before [`run`](Self::run).
    pub fn start(&self, workers: usize) -> usize {
        let mut helpers = lock(&self.helpers);
        while helpers.len() + 1 < workers {
            let shared = Arc::clone(&self.shared);
            let index = helpers.len() + 1;
            match thread::spawn_named(format!("contgc-gc-{index}"), move || helper(&shared, index))
            {
                Some(h) => helpers.push(h),
                None => break,
            }
        }
        workers.min(helpers.len() + 1).max(1)
    }

    /// Runs `work(i)` for every worker `i` in `0..n`, worker 0 on the calling thread
    /// and the others on helper threads, and returns the results by worker once every
    /// call has returned. `n` must not exceed what [`start`](Self::start) returned.
    pub fn run<R: Send>(&self, n: usize, work: impl Fn(usize) -> R + Sync) -> Vec<R> {
        let helpers = lock(&self.helpers);
        assert!(
            n >= 1 && n <= helpers.len() + 1,
            "a phase has at most the workers `start` granted"
        );
        let results: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
        let job = |i: usize| {
            let r = work(i);
            *lock(&results[i]) = Some(r);
        };
        if n > 1 {
            let job: &(dyn Fn(usize) + Sync) = &job;
            // Only the lifetime is changed. The job is withdrawn below before this
            // function returns, after every participant has counted itself out, which
            // each does only after its call has returned; a helper reads the job only
            // under the lock, while it is published. A panic anywhere in between
            // aborts the process (`AbortOnUnwind`), so this frame cannot be left early
            // while a helper may still call the job.
            // SAFETY: as just said.
            let job: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(job) };
            let mut s = lock(&self.shared.state);
            s.epoch += 1;
            s.job = Some(Job(job));
            s.helpers = n - 1;
            s.running = n - 1;
            drop(s);
            self.shared.start.notify_all();
        }
        {
            let _guard = WORKER;
            job(0);
            if n > 1 {
                let mut s = lock(&self.shared.state);
                while s.running > 0 {
                    s = self
                        .shared
                        .finished
                        .wait(s)
                        .unwrap_or_else(|e| e.into_inner());
                }
                s.job = None;
            }
        }
        drop(helpers);
        results
            .into_iter()
            .map(|r| {
                r.into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .expect("every worker ran")
            })
            .collect()
    }
}

/// Runs `work(i)` for every worker `i` in `0..workers`, worker 0 on the calling thread
/// and the others on threads started for this call and joined before it returns, and
/// returns the results by worker. A thread that cannot be started aborts the process
/// (the other workers would wait for it with the world stopped).
///
/// For a major collection's marking, which takes milliseconds: measured on the main
/// job's heap (alternating builds, six pairs), its marking took 9.4-10.8 ms on fresh
/// threads and 10.3-12.8 ms on the parked helpers of [`GcThreads`], for reasons not
/// found (the helpers run on the other core, and start within 0.1 ms); starting a
/// thread costs 25-50 µs, which only a minor collection's phase notices.
pub fn run_fresh<R: Send>(workers: usize, work: impl Fn(usize) -> R + Sync) -> Vec<R> {
    if workers <= 1 {
        return vec![work(0)];
    }
    let work = &work;
    let _guard = WORKER;
    std::thread::scope(|sc| {
        let helpers: Vec<_> = (1..workers)
            .map(|i| {
                std::thread::Builder::new()
                    .name(format!("contgc-gc-{i}"))
                    .spawn_scoped(sc, move || {
                        let _guard = WORKER;
                        work(i)
                    })
                    .expect("contgc: could not start a GC worker thread")
            })
            .collect();
        let mut out = vec![work(0)];
        for h in helpers {
            out.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        out
    })
}

impl Default for GcThreads {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for GcThreads {
    fn drop(&mut self) {
        lock(&self.shared.state).shutdown = true;
        self.shared.start.notify_all();
        for h in std::mem::take(&mut *lock(&self.helpers)) {
            // A helper never panics (it would have aborted the process).
            let _ = h.join();
        }
    }
}

/// A helper thread's life: wait for a phase it takes part in, run the job, count
/// itself out; return at shutdown.
fn helper(shared: &Shared, index: usize) {
    let _guard = WORKER;
    let mut seen = 0;
    let mut s = lock(&shared.state);
    loop {
        if s.shutdown {
            return;
        }
        if s.epoch != seen {
            seen = s.epoch;
            if index <= s.helpers {
                let job = s.job.expect("a phase's job is published with its epoch");
                drop(s);
                // SAFETY: the job is published and `run` waits for this call to
                // return before withdrawing it (see there).
                unsafe { (*job.0)(index) };
                s = lock(&shared.state);
                s.running -= 1;
                if s.running == 0 {
                    shared.finished.notify_all();
                }
                continue;
            }
        }
        s = shared.start.wait(s).unwrap_or_else(|e| e.into_inner());
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn fresh_threads_run_every_worker_once() {
        let count = AtomicUsize::new(0);
        let out = run_fresh(3, |i| {
            count.fetch_add(1, Ordering::Relaxed);
            i + 1
        });
        assert_eq!(out, vec![1, 2, 3]);
        assert_eq!(count.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn every_worker_runs_each_phase_once_and_helpers_are_reused() {
        let pool = GcThreads::new();
        for workers in [1, 3, 2, 4, 1] {
            assert_eq!(pool.start(workers), workers);
            let count = AtomicUsize::new(0);
            let out = pool.run(workers, |i| {
                count.fetch_add(1, Ordering::Relaxed);
                i * 10
            });
            assert_eq!(out, (0..workers).map(|i| i * 10).collect::<Vec<_>>());
            assert_eq!(count.load(Ordering::Relaxed), workers);
        }
        assert_eq!(lock(&pool.helpers).len(), 3, "helpers are started once");
    }

    #[test]
    fn a_job_may_borrow_the_callers_stack() {
        let pool = GcThreads::new();
        assert_eq!(pool.start(2), 2);
        let data: Vec<usize> = (0..1000).collect();
        let sums = pool.run(2, |i| data.iter().skip(i).step_by(2).sum::<usize>());
        assert_eq!(sums.iter().sum::<usize>(), 999 * 1000 / 2);
    }
}
