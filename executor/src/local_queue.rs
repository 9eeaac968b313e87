//! A worker's own run queue: a plain FIFO for the current-thread runtime (nobody
//! steals from it), a crossbeam deque that other workers steal from for the
//! multi-threaded executor.

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use std::collections::VecDeque;

pub(crate) enum LocalQueue<T> {
    /// The current-thread runtime's queue.
    Single(VecDeque<T>),
    /// A multi-threaded worker's deque (its stealer is with the other workers).
    Shared(Worker<T>),
}

impl<T> LocalQueue<T> {
    #[inline]
    pub(crate) fn push(&mut self, job: T) {
        match self {
            LocalQueue::Single(q) => q.push_back(job),
            LocalQueue::Shared(w) => w.push(job),
        }
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<T> {
        match self {
            LocalQueue::Single(q) => q.pop_front(),
            LocalQueue::Shared(w) => w.pop(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            LocalQueue::Single(q) => q.len(),
            LocalQueue::Shared(w) => w.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes a job from `from` (a batch of them, when the queue can hold the rest).
    pub(crate) fn take_from_injector(&mut self, from: &Injector<T>) -> Steal<T> {
        match self {
            LocalQueue::Single(_) => from.steal(),
            LocalQueue::Shared(w) => from.steal_batch_and_pop(w),
        }
    }

    /// Steals a batch from another worker's deque (the multi-threaded executor only).
    pub(crate) fn steal_from(&mut self, from: &Stealer<T>) -> Steal<T> {
        match self {
            LocalQueue::Single(_) => from.steal(),
            LocalQueue::Shared(w) => from.steal_batch_and_pop(w),
        }
    }
}
