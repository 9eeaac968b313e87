//! Loom model checks of the GC workers' work pool (`work_pool::WorkPool`): the
//! hand-off of packets between workers and the protocol that ends a parallel phase.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p contgc-collector --test loom_work_pool --release`.
//!
//! Each model runs workers that follow the discipline of the major collection's
//! markers: a private stack, work items that produce more work (a small tree, item
//! `i` having children `2i + 1` and `2i + 2`), the older half of the stack shared
//! whenever the pool reports an idle worker, and `take` only with an empty stack. It
//! checks that:
//!
//! * every item is processed exactly once (nothing lost in a hand-off, nothing
//!   processed twice);
//! * every worker returns (loom fails a model whose threads all block: no lost
//!   wake-up, no deadlock at the end of the phase), and only once all the work is done;
//! * `take` keeps returning `None` once the phase is over.

#![cfg(loom)]

use contgc_collector::internal::WorkPool;
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::Ordering::Relaxed;

/// One worker's life, as `major::Marker::work`: take a packet, work through it
/// (sharing when asked), until the pool says the phase is over.
fn worker(pool: &WorkPool<usize>, done: &[AtomicUsize], items: usize) {
    let mut stack = Vec::new();
    while let Some(packet) = pool.take() {
        stack.extend(packet);
        while let Some(i) = stack.pop() {
            done[i].fetch_add(1, Relaxed);
            for child in [2 * i + 1, 2 * i + 2] {
                if child < items {
                    stack.push(child);
                }
            }
            if stack.len() >= 2 && pool.wants_work() {
                let rest = stack.split_off(stack.len() / 2);
                pool.share(std::mem::replace(&mut stack, rest));
            }
        }
    }
    // Once over, always over.
    assert!(pool.take().is_none());
}

/// Runs `workers` workers (the last on the model's main thread) over a tree of
/// `items` items whose root packets are `roots`; checks every item was done once.
fn model(workers: usize, items: usize, roots: Vec<Vec<usize>>, preemptions: usize) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b.check(move || {
        let pool = Arc::new(WorkPool::new(workers, roots.clone()));
        let done: Arc<Vec<AtomicUsize>> =
            Arc::new((0..items).map(|_| AtomicUsize::new(0)).collect());
        let helpers: Vec<_> = (1..workers)
            .map(|_| {
                let (pool, done) = (pool.clone(), done.clone());
                thread::spawn(move || worker(&pool, &done, items))
            })
            .collect();
        worker(&pool, &done, items);
        for h in helpers {
            h.join().unwrap();
        }
        for (i, d) in done.iter().enumerate() {
            let want = usize::from(reachable(&roots, i));
            assert_eq!(
                d.load(Relaxed),
                want,
                "item {i} processed {} times",
                d.load(Relaxed)
            );
        }
    });
}

/// True if item `i` lies under one of the root items.
fn reachable(roots: &[Vec<usize>], mut i: usize) -> bool {
    loop {
        if roots.iter().flatten().any(|&r| r == i) {
            return true;
        }
        if i == 0 {
            return false;
        }
        i = (i - 1) / 2;
    }
}

/// Two workers, one root: the second has nothing until the first shares.
#[test]
fn two_workers_one_root() {
    model(2, 5, vec![vec![0]], 3);
}

/// Two workers, the work split into two packets up front (as the roots are).
#[test]
fn two_workers_two_packets() {
    model(2, 7, vec![vec![1], vec![2]], 3);
}

/// Three workers and a tree too small to give each some: the idle ones must still
/// see the end.
#[test]
fn three_workers_little_work() {
    model(3, 3, vec![vec![0]], 2);
}

/// No work at all: the phase ends at once for everyone.
#[test]
fn no_work() {
    model(3, 0, Vec::new(), 3);
}
