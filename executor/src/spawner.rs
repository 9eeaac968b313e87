//! Spawning from any thread.

use crate::cx::{Cx, Step};
use crate::scheduler::Core;
use crate::task::JoinHandle;
use contgc_collector::Scope;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Why a spawn was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpawnError {
    /// The executor has been shut down (or the runtime dropped).
    ShutDown,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the executor is shut down")
    }
}

impl std::error::Error for SpawnError {}

/// A handle that spawns tasks onto an executor (or a current-thread runtime) from any
/// thread; `Clone + Send + Sync`. Spawning needs no mutator: the entry function runs
/// later, on a worker.
pub struct Spawner<E: 'static> {
    core: Arc<Core<E>>,
}

impl<E: 'static> Clone for Spawner<E> {
    fn clone(&self) -> Self {
        Spawner {
            core: self.core.clone(),
        }
    }
}

impl<E: 'static> fmt::Debug for Spawner<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spawner").finish_non_exhaustive()
    }
}

impl<E: 'static> Spawner<E> {
    pub(crate) fn new(core: Arc<Core<E>>) -> Spawner<E> {
        Spawner { core }
    }

    /// Spawns a task (queued on the global run queue). Refused once the executor is
    /// shut down.
    pub fn spawn<F>(&self, entry: F) -> Result<JoinHandle, SpawnError>
    where
        F: for<'s> FnOnce(&mut Scope<'s>, &mut Cx<E>) -> Step<'s> + Send + 'static,
    {
        // Counted live before the shutdown flag is read, both read-modify-writes (as
        // the flag's setting and the workers' read of the count, see `Executor::stop`
        // and `worker`): either this sees the shutdown and refuses, or the workers
        // see the task and stay to run it. (Read first, a spawn between the workers'
        // last look and their exit was accepted and never ran. Plain sequentially
        // consistent loads would do too; loom checks only this form,
        // `loom_models::an_accepted_spawn_is_never_left_behind_by_a_shutdown`.)
        self.core.live.fetch_add(1, Ordering::AcqRel);
        if self.core.shut_down.fetch_or(false, Ordering::AcqRel) {
            if self.core.live.fetch_sub(1, Ordering::AcqRel) == 1 {
                // A worker that saw this spawn's count may wait for it: look again.
                self.core.parker.notify_all();
            }
            return Err(SpawnError::ShutDown);
        }
        let (task, job) = self.core.new_task_counted(Box::new(entry), None);
        self.core.inject(job);
        Ok(JoinHandle { task })
    }
}
