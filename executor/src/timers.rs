//! Timers: a deadline-ordered heap of suspended tasks, fired by the workers.
//!
//! No timer thread and no Rust runtime: a worker fires the due timers between jobs,
//! and an idle worker parks until the earliest deadline. `earliest` lets workers skip
//! the lock (and the clock) while no timer is set.

use crate::task::{Delivery, Task};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Entry {
    at: Instant,
    seq: u64,
    task: Arc<Task>,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Reversed: the heap's top is the earliest deadline.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// The timers of one executor.
pub(crate) struct Timers {
    heap: Mutex<BinaryHeap<Entry>>,
    /// The earliest deadline in nanoseconds since `epoch`, `u64::MAX` when none.
    earliest: AtomicU64,
    epoch: Instant,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            heap: Mutex::new(BinaryHeap::new()),
            earliest: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch)
            .as_nanos()
            .min(u64::MAX as u128 - 1) as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BinaryHeap<Entry>> {
        self.heap.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets a timer that wakes `task` at suspension `seq` at `at`.
    pub(crate) fn add(&self, at: Instant, task: Arc<Task>, seq: u64) {
        let mut h = self.lock();
        h.push(Entry { at, seq, task });
        let n = self.nanos(h.peek().expect("just pushed").at);
        self.earliest.store(n, AtomicOrdering::Release);
    }

    /// Drops the timers at the top of the heap whose task no longer waits for them
    /// (cancelled, or woken otherwise since), until the earliest one left is live, so
    /// that [`until_next`](Self::until_next) names a deadline someone waits for: an
    /// idle runtime parks until then, or reports `Stalled` if none is left. Called by
    /// idle workers, which have time for the task locks it takes.
    pub(crate) fn drop_stale(&self) {
        loop {
            // The top is looked at, and checked without the heap's lock (the task's
            // lock is taken with the heap's lock elsewhere in the other order), but
            // left in the heap meanwhile: a live timer never leaves it, so a worker
            // firing timers or computing its park timeout at the same time sees it.
            let (at, seq, task) = match self.lock().peek() {
                Some(top) => (top.at, top.seq, top.task.clone()),
                None => return,
            };
            if task.waits_at(seq) {
                return;
            }
            let stale = {
                let mut h = self.lock();
                let same = h
                    .peek()
                    .is_some_and(|e| e.at == at && e.seq == seq && Arc::ptr_eq(&e.task, &task));
                let stale = same.then(|| h.pop());
                let n = h.peek().map_or(u64::MAX, |e| self.nanos(e.at));
                self.earliest.store(n, AtomicOrdering::Release);
                stale
            };
            // Dropped outside the lock (it may hold the task's last reference).
            drop(stale);
        }
    }

    /// True if a timer is set.
    pub(crate) fn any(&self) -> bool {
        self.earliest.load(AtomicOrdering::Acquire) != u64::MAX
    }

    /// Time until the earliest deadline (zero if due), if a timer is set.
    pub(crate) fn until_next(&self) -> Option<Duration> {
        let e = self.earliest.load(AtomicOrdering::Acquire);
        (e != u64::MAX).then(|| {
            Duration::from_nanos(e).saturating_sub(Instant::now().duration_since(self.epoch))
        })
    }

    /// Wakes the tasks whose timers are due; returns how many timers fired (stale
    /// ones, whose task was cancelled meanwhile, included).
    pub(crate) fn fire_due(&self) -> usize {
        if !self.any() {
            return 0;
        }
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut h = self.lock();
            while h.peek().is_some_and(|e| e.at <= now) {
                due.push(h.pop().expect("peeked"));
            }
            let n = h.peek().map_or(u64::MAX, |e| self.nanos(e.at));
            self.earliest.store(n, AtomicOrdering::Release);
        }
        let fired = due.len();
        for e in due {
            let _ = e.task.wake(e.seq, Delivery::Unit);
        }
        fired
    }
}
