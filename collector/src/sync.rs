//! The synchronisation primitives of the stop-the-world protocol, from `std` normally
//! and from `loom` when the protocol is model-checked (`RUSTFLAGS="--cfg loom"`).
//!
//! Only the protocols' own state (`safepoint::Rendezvous`, `work_pool::WorkPool`,
//! `gc_threads::GcThreads`) switches to loom; the
//! heap's other locks stay `std` mutexes, and [`lock`] accepts both.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

/// Thread spawning: `std`'s threads, and loom's under `cfg(loom)`.
pub(crate) mod thread {
    #[cfg(loom)]
    pub(crate) use loom::thread::JoinHandle;
    #[cfg(not(loom))]
    pub(crate) use std::thread::JoinHandle;

    /// Starts a thread named `name` running `f`, or `None` if the system refuses.
    #[cfg(not(loom))]
    pub(crate) fn spawn_named(
        name: String,
        f: impl FnOnce() + Send + 'static,
    ) -> Option<JoinHandle<()>> {
        std::thread::Builder::new().name(name).spawn(f).ok()
    }

    /// Starts a model thread running `f` (loom threads have no names).
    #[cfg(loom)]
    pub(crate) fn spawn_named(
        _name: String,
        f: impl FnOnce() + Send + 'static,
    ) -> Option<JoinHandle<()>> {
        Some(loom::thread::spawn(f))
    }
}

/// A mutex that [`lock`] can take: `std`'s, and loom's under `cfg(loom)`.
pub(crate) trait Lock {
    /// The guard the mutex hands out.
    type Guard<'a>
    where
        Self: 'a;

    /// Locks, ignoring poisoning.
    fn lock_unpoisoned(&self) -> Self::Guard<'_>;
}

impl<T> Lock for std::sync::Mutex<T> {
    type Guard<'a>
        = std::sync::MutexGuard<'a, T>
    where
        T: 'a;

    fn lock_unpoisoned(&self) -> Self::Guard<'_> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(loom)]
impl<T> Lock for loom::sync::Mutex<T> {
    type Guard<'a>
        = loom::sync::MutexGuard<'a, T>
    where
        T: 'a;

    fn lock_unpoisoned(&self) -> Self::Guard<'_> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Locks `m`, ignoring poisoning: the protocol's state stays consistent across a
/// panicking holder because every critical section is a few field updates.
pub(crate) fn lock<L: Lock>(m: &L) -> L::Guard<'_> {
    m.lock_unpoisoned()
}
