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
        if self.core.shut_down.load(Ordering::Acquire) {
            return Err(SpawnError::ShutDown);
        }
        let (task, job) = self.core.new_task(Box::new(entry), None);
        self.core.inject(job);
        Ok(JoinHandle { task })
    }
}
