//! The synchronisation primitives of the protocols between threads (task states,
//! completions, channels, parking), from `std` normally and from `loom` when they are
//! model-checked (`RUSTFLAGS="--cfg loom"`, see `loom_models`). Id counters, timers
//! and the Rust-future poll state stay `std`: no model runs them.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicUsize;
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicUsize;
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
