//! contgc-bench: the benchmarks the `contgc` command-line tool runs (see `src/main.rs`
//! and `docs/BENCHMARKS.md`): [`suspended_tasks`] (the main job), [`heap_bench`],
//! [`suspend_bench`] and [`executor_bench`] (the async2 executor against tokio and boxed
//! Rust futures). Also used by the workspace-level tests (`tests/`) and the
//! criterion benchmarks (`benches/`).
//!
//! This package is not published and is not what an embedder depends on: that is the
//! `contgc` library (`contgc/`), which this package uses like any embedder would.

#![warn(missing_docs)]

// The benchmark modules name the library's items through the crate root
// (`crate::Heap`, ...), as they did when they lived in the library itself.
use contgc::*;

pub mod charts;
pub mod executor_bench;
pub mod heap_bench;
pub(crate) mod local_executor;
pub mod microbench;
pub mod suspend_bench;
pub mod suspended_tasks;
