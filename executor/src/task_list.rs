//! The live tasks of an executor, so that a shutdown can cancel every one of them
//! (a suspended task is otherwise reachable only from what it waits on).
//!
//! Sharded slabs: a spawn takes a slot in one of a few shards (round robin), the task's
//! end frees it; each is one short uncontended lock and no hashing.

use crate::task::Task;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const SHARDS: usize = 8;

#[derive(Default)]
struct Shard {
    slots: Vec<Option<Arc<Task>>>,
    free: Vec<usize>,
}

pub(crate) struct TaskList {
    shards: [Mutex<Shard>; SHARDS],
    next: AtomicUsize,
}

impl TaskList {
    pub(crate) fn new() -> TaskList {
        TaskList {
            shards: Default::default(),
            next: AtomicUsize::new(0),
        }
    }

    fn shard(&self, i: usize) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds the task `make` builds for its slot.
    pub(crate) fn insert(&self, make: impl FnOnce(usize) -> Arc<Task>) -> Arc<Task> {
        let shard = self.next.fetch_add(1, Ordering::Relaxed) % SHARDS;
        let mut g = self.shard(shard);
        let index = g.free.pop().unwrap_or_else(|| {
            g.slots.push(None);
            g.slots.len() - 1
        });
        let task = make(index * SHARDS + shard);
        g.slots[index] = Some(task.clone());
        task
    }

    /// Removes an ended task.
    pub(crate) fn remove(&self, task: &Task) {
        let (index, shard) = (task.slot / SHARDS, task.slot % SHARDS);
        let mut g = self.shard(shard);
        if g.slots[index].take().is_some() {
            g.free.push(index);
        }
    }

    /// Every live task.
    pub(crate) fn all(&self) -> Vec<Arc<Task>> {
        (0..SHARDS)
            .flat_map(|i| {
                self.shard(i)
                    .slots
                    .iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
