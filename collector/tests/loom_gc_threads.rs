//! Loom model checks of the GC helper threads (`gc_threads::GcThreads`): publishing a
//! parallel phase's job to parked helpers, waiting for them, and stopping them.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p contgc-collector --test loom_gc_threads --release`.
//!
//! Each model starts helpers, runs phases with different numbers of workers, and
//! drops the pool. It checks that:
//!
//! * in every phase each worker index below the phase's size runs the job exactly
//!   once, and no other index runs it;
//! * `run` returns only after every participant has returned from the job (each
//!   participant's effect is visible to the caller when `run` returns);
//! * dropping the pool stops every helper (loom fails a model that ends with a thread
//!   still blocked, and one that deadlocks).

#![cfg(loom)]

use contgc_collector::internal::GcThreads;
use loom::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;

/// Runs `phases` (worker counts) on a pool started for `most` workers; checks each
/// phase's participants.
fn model(most: usize, phases: &'static [usize], preemptions: usize) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b.check(move || {
        let pool = GcThreads::new();
        assert_eq!(pool.start(most), most);
        for &n in phases {
            let ran: Vec<AtomicUsize> = (0..most).map(|_| AtomicUsize::new(0)).collect();
            let out = pool.run(n, |i| {
                ran[i].fetch_add(1, Relaxed);
                i
            });
            assert_eq!(out, (0..n).collect::<Vec<_>>());
            for (i, r) in ran.iter().enumerate() {
                assert_eq!(
                    r.load(Relaxed),
                    usize::from(i < n),
                    "worker {i} in a phase of {n}"
                );
            }
        }
        drop(pool);
    });
}

/// One helper, two phases: the helper must see the second phase's epoch.
#[test]
fn one_helper_two_phases() {
    model(2, &[2, 2], 3);
}

/// Two helpers, a phase that leaves one of them out, then one with both.
#[test]
fn a_helper_left_out_of_a_phase() {
    model(3, &[2, 3], 2);
}

/// Helpers started but never given a phase: dropping the pool still stops them.
#[test]
fn helpers_stopped_without_a_phase() {
    model(3, &[], 3);
}
