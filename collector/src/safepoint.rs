//! The stop-the-world handshake between mutator threads.
//!
//! Each mutator is in one of three states: *running* (may touch the heap), *parked*
//! at a safepoint, or *native* (blocked or in code that does not touch the heap). Only
//! running mutators are counted. A thread that wants to collect:
//!
//! 1. sets `collecting` and the `requested` flag, and stops counting itself;
//! 2. waits until the running count is 0: every other mutator is parked or native;
//! 3. collects, with exclusive access to every mutator's local state;
//! 4. clears `collecting` and `requested` and wakes everyone.
//!
//! A running mutator polls `requested` at safepoints (one relaxed load); when it is set
//! it parks: stops counting itself, and waits for the collection to end. Leaving native
//! state, or attaching a new mutator, waits for any collection in progress to end.
//! A second thread asking to collect while a collection is running parks instead, and
//! is told it did not collect (it then rechecks whether it still needs to).
//!
//! Threads that wait (parked mutators, a collector waiting for the others, a mutator
//! attaching during a collection) are counted, and state changes wake the waiters only
//! if there are any: restarting a world in which no other mutator waits costs no
//! wake-up system call.
//!
//! Invariant: while `collecting` is true and `running == 0`, no mutator other than the
//! collector touches the heap or its own local state. All state changes happen under
//! the mutex, which orders the mutators' heap writes before the collector's reads and
//! the collector's writes before the mutators resume. The protocol is model-checked
//! with loom (`tests/loom_safepoint.rs` in this crate).

use crate::sync::{lock, AtomicBool, Condvar, Mutex, Ordering};

/// Aborts the process if dropped while unwinding: a panic with the world stopped would
/// leave the heap half-collected (objects half-forwarded, marks half-set) and every
/// other mutator parked, or leave other GC workers waiting for the panicking one.
/// `what` names what panicked, for the message.
pub(crate) struct AbortOnUnwind(pub &'static str);

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "contgc: panic in {}; the heap cannot be recovered, aborting",
                self.0
            );
            std::process::abort();
        }
    }
}

#[derive(Debug, Default)]
struct State {
    running: usize,
    collecting: bool,
    /// Threads waiting on the condition variable (so that restarting a world nobody
    /// waits in costs no wake-up call).
    waiting: usize,
}

/// The rendezvous point of one heap's mutators.
#[derive(Debug, Default)]
pub struct Rendezvous {
    state: Mutex<State>,
    cv: Condvar,
    requested: AtomicBool,
    /// Unit tests: when the last world restart finished.
    #[cfg(test)]
    restarted: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Proof that the caller is the collector and the world is stopped; give it back to
/// [`Rendezvous::end_collection`].
#[derive(Debug)]
#[must_use]
pub struct WorldStopped(());

impl Rendezvous {
    /// A rendezvous with no mutators.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits on the condition variable until `until` holds.
    fn wait_until<'a>(
        &self,
        mut s: crate::sync::MutexGuard<'a, State>,
        until: impl Fn(&State) -> bool,
    ) -> crate::sync::MutexGuard<'a, State> {
        while !until(&s) {
            s.waiting += 1;
            s = self.cv.wait(s).unwrap_or_else(|e| e.into_inner());
            s.waiting -= 1;
        }
        s
    }

    /// Wakes every waiting thread, if there is one. Called after changing the state,
    /// with the lock released; `waiting` was read under the lock, and a thread that
    /// starts waiting later sees the new state first.
    fn wake(&self, waiting: usize) {
        if waiting > 0 {
            self.cv.notify_all();
        }
    }

    /// A new mutator starts running (waits for a collection in progress to end).
    pub fn attach(&self) {
        let s = lock(&self.state);
        let mut s = self.wait_until(s, |s| !s.collecting);
        s.running += 1;
    }

    /// A running mutator stops counting (it is going away, or entering native state).
    pub fn detach(&self) {
        let mut s = lock(&self.state);
        s.running -= 1;
        let waiting = s.waiting;
        drop(s);
        self.wake(waiting);
    }

    /// True if a collection wants this mutator to park.
    #[inline(always)]
    pub fn poll(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Parks the calling running mutator until no collection is in progress.
    pub fn park(&self) {
        let mut s = lock(&self.state);
        if !s.collecting {
            return;
        }
        s.running -= 1;
        self.wake(s.waiting);
        let mut s = self.wait_until(s, |s| !s.collecting);
        s.running += 1;
    }

    /// Stops the world for the calling running mutator. Returns `None` (after parking
    /// through it) if another thread's collection was in progress.
    pub fn begin_collection(&self) -> Option<WorldStopped> {
        let mut s = lock(&self.state);
        if s.collecting {
            s.running -= 1;
            self.wake(s.waiting);
            let mut s = self.wait_until(s, |s| !s.collecting);
            s.running += 1;
            return None;
        }
        s.collecting = true;
        self.requested.store(true, Ordering::Relaxed);
        s.running -= 1;
        drop(self.wait_until(s, |s| s.running == 0));
        Some(WorldStopped(()))
    }

    /// Restarts the world: every parked mutator is released and woken.
    pub fn end_collection(&self, _proof: WorldStopped) {
        let mut s = lock(&self.state);
        s.collecting = false;
        self.requested.store(false, Ordering::Relaxed);
        s.running += 1;
        let waiting = s.waiting;
        drop(s);
        self.wake(waiting);
        #[cfg(test)]
        {
            *lock(&self.restarted) = Some(std::time::Instant::now());
        }
    }

    /// Unit tests: when the last world restart finished.
    #[cfg(test)]
    pub(crate) fn restarted_at(&self) -> Option<std::time::Instant> {
        *lock(&self.restarted)
    }
}
