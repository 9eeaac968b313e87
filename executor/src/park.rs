//! Parking idle workers, and waking them when work arrives.
//!
//! The protocol (model-checked with loom in `loom_models`): a worker that
//! found no work takes the lock, announces itself in `sleepers`, checks for work once
//! more and only then waits on the condition variable (which releases the lock). A
//! producer makes its work visible first, then reads `sleepers` with a
//! read-modify-write, and if anyone sleeps, notifies under the lock. Both sides update
//! `sleepers` by read-modify-writes, which are totally ordered and each reads the one
//! before: either the producer's comes second and sees the sleeper, and its
//! notification reaches the waiting worker (it cannot fall between the check and the
//! wait, which the lock makes one step), or the worker's comes second, synchronises
//! with the producer's, and its check sees the work. (No reasoning about `SeqCst`
//! loads is needed, which loom could not check.) The worker parks inside `Mutator::blocking`, the state a
//! collection counts as stopped, so an idle worker never delays a collection.

use crate::sync::{AtomicUsize, Condvar, Mutex};
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

/// Idle workers' meeting point.
#[derive(Debug, Default)]
pub struct Parker {
    /// Who waits on the condition variable, and how many notifications were sent
    /// to them and not yet taken: a producer does not notify again while every
    /// waiter has one coming, since each woken worker looks for all the work there
    /// is before it parks again.
    lock: Mutex<Waiters>,
    cv: Condvar,
    sleepers: AtomicUsize,
}

#[derive(Debug, Default)]
struct Waiters {
    waiting: usize,
    notified: usize,
}

impl Parker {
    /// A parker with no sleepers.
    pub fn new() -> Parker {
        Parker::default()
    }

    /// Parks the calling thread unless `idle()` turns false (checked after the
    /// announcement), for at most `timeout` if given. May return spuriously: callers
    /// look for work again.
    pub fn park(&self, idle: impl Fn() -> bool, timeout: Option<Duration>) {
        let g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.sleepers.fetch_add(1, SeqCst);
        if idle() {
            let mut g = g;
            g.waiting += 1;
            let mut g = match timeout {
                #[cfg(not(loom))]
                Some(t) => {
                    self.cv
                        .wait_timeout(g, t)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                #[cfg(loom)]
                Some(_) => self.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                None => self.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
            };
            // Woken (or timed out): this worker searches now; one notification fewer
            // is on its way.
            g.waiting -= 1;
            g.notified = g.notified.saturating_sub(1).min(g.waiting);
        } else {
            drop(g);
        }
        self.sleepers.fetch_sub(1, SeqCst);
    }

    /// The sleepers, read with a read-modify-write: it reads the latest value of the
    /// counter, so either it sees a sleeper's increment, or that increment reads from
    /// it and the sleeper's check (after its increment) sees the work made visible
    /// before this read.
    fn sleepers(&self) -> usize {
        self.sleepers.fetch_add(0, SeqCst)
    }

    /// Wakes one parked worker, if any, after the caller made work visible.
    pub fn notify_one(&self) {
        if self.sleepers() > 0 {
            let mut w = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            // Skipped only while every waiter has a notification coming (a system
            // call saved per spawn in a burst of spawns).
            if w.notified < w.waiting {
                w.notified += 1;
                self.cv.notify_one();
            }
        }
    }

    /// Wakes one parked worker if one seems to be parked (a relaxed read, no
    /// read-modify-write): for work the caller will run itself if nobody takes it,
    /// where a missed notification costs nothing.
    pub fn notify_one_if_parked(&self) {
        if self.sleepers.load(std::sync::atomic::Ordering::Relaxed) > 0 {
            self.notify_one();
        }
    }

    /// Wakes every parked worker (shutdown, a new earliest timer, a task's end).
    pub fn notify_all(&self) {
        if self.sleepers() > 0 {
            let mut w = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            w.notified = w.waiting;
            self.cv.notify_all();
        }
    }
}
