//! Loom model checks of the stop-the-world handshake (`safepoint::Rendezvous`).
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p contgc-collector --test loom_safepoint --release`.
//!
//! Each model has a few threads acting as mutators that follow the same discipline as
//! `Mutator` (attach, poll/park at safepoints, detach around native sections, collect
//! with `while begin_collection().is_none() {}`), and checks:
//!
//! * mutual exclusion: while a thread holds a `WorldStopped` proof no other thread is
//!   in running heap code. This is checked twice: with an occupancy word updated by
//!   relaxed read-modify-writes (one location, so the check is exact and adds no
//!   happens-before edges), and with loom `UnsafeCell`s standing in for the heap: each
//!   mutator writes its own local state (as `MutatorLocal`), every collection writes
//!   every mutator's local state and a collection count that mutators read, and loom
//!   reports any pair of accesses the protocol itself does not order;
//! * exactly-once collections: every `collect` runs exactly one collection of its own,
//!   a `None` from `begin_collection` means another thread's collection finished
//!   meanwhile, and the number of collections is the number of `collect` calls;
//! * no deadlock or lost wake-up (loom fails a model whose threads all block), and a
//!   balanced running count at the end (a fresh mutator can stop the world alone);
//! * a mutator parked on one thread and resumed on another (`Mutator::park`, a
//!   hand-off) holds up no collection meanwhile.

#![cfg(loom)]

use contgc_collector::internal::Rendezvous;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// Set in [`World::occupancy`] while a thread holds a `WorldStopped` proof; the low
/// bits count threads in running heap code.
const COLLECTOR: usize = 1 << 20;

/// Mutator slots: at most three mutators per model plus the final check's.
const SLOTS: usize = 4;

/// A mutator's local state (plain memory, so loom checks every access for races).
#[derive(Default)]
struct Local {
    /// Written by the mutator while it runs.
    writes: usize,
    /// Written by every collection (as the collector retires buffers and updates
    /// shadow stacks).
    visits: usize,
}

struct World {
    rv: Rendezvous,
    occupancy: AtomicUsize,
    /// Written by collectors only, read by running mutators.
    collections: UnsafeCell<usize>,
    locals: [UnsafeCell<Local>; SLOTS],
}

// SAFETY: the cells are only accessed by a thread that is running (or collecting) under
// the protocol, which is exactly what the models check; loom reports any access the
// protocol fails to order.
unsafe impl Sync for World {}

impl World {
    fn new() -> Arc<World> {
        Arc::new(World {
            rv: Rendezvous::new(),
            occupancy: AtomicUsize::new(0),
            collections: UnsafeCell::new(0),
            locals: std::array::from_fn(|_| UnsafeCell::new(Local::default())),
        })
    }

    fn collections(&self) -> usize {
        // SAFETY: loom's UnsafeCell access; the model checks that no other
        // thread accesses the cell at the same time.
        self.collections.with(|c| unsafe { *c })
    }

    /// Writes of every mutator (call once every mutator has gone).
    fn mutator_writes(&self) -> usize {
        self.locals
            .iter()
            // SAFETY: loom's UnsafeCell access; the model checks that no other
            // thread accesses the cell at the same time.
            .map(|l| l.with(|l| unsafe { (*l).writes }))
            .sum()
    }

    /// The collector's work: every mutator's local state, then the count.
    fn collect_garbage(&self) {
        for l in &self.locals {
            // SAFETY: loom's UnsafeCell access; the model checks that no other
            // thread accesses the cell at the same time.
            l.with_mut(|l| unsafe { (*l).visits += 1 });
        }
        // SAFETY: loom's UnsafeCell access; the model checks that no other
        // thread accesses the cell at the same time.
        self.collections.with_mut(|c| unsafe { *c += 1 });
    }
}

/// One mutator thread's view, mirroring `contgc_collector::Mutator`.
struct M {
    w: Arc<World>,
    /// Index of this mutator's local state.
    slot: usize,
    /// Collections this mutator ran itself.
    collected: usize,
}

impl M {
    /// `Heap::mutator`: attach, then run.
    fn attach(w: &Arc<World>, slot: usize) -> M {
        w.rv.attach();
        let m = M {
            w: Arc::clone(w),
            slot,
            collected: 0,
        };
        m.enter();
        m
    }

    /// Starts running heap code.
    fn enter(&self) {
        let prev = self.w.occupancy.fetch_add(1, Relaxed);
        assert_eq!(
            prev & COLLECTOR,
            0,
            "a mutator runs while another thread holds WorldStopped"
        );
    }

    /// Stops running heap code (just before handing control to the protocol).
    fn leave(&self) {
        self.w.occupancy.fetch_sub(1, Relaxed);
    }

    /// Touches the heap.
    fn work(&self) {
        // SAFETY: loom's UnsafeCell access; the model checks that no other
        // thread accesses the cell at the same time.
        self.w.locals[self.slot].with_mut(|l| unsafe { (*l).writes += 1 });
    }

    /// `Mutator::safepoint`.
    fn safepoint(&self) {
        if self.w.rv.poll() {
            self.leave();
            self.w.rv.park();
            self.enter();
        }
    }

    /// `Mutator::blocking` around a section that does not touch the heap.
    fn blocking(&self, f: impl FnOnce()) {
        self.leave();
        self.w.rv.detach();
        f();
        self.w.rv.attach();
        self.enter();
    }

    /// `Mutator::park`: stops counting; the mutator may now move to another thread.
    fn park(self) -> M {
        self.leave();
        self.w.rv.detach();
        self
    }

    /// `ParkedMutator::resume`, on the thread that received the mutator.
    fn resume(self) -> M {
        self.w.rv.attach();
        self.enter();
        self
    }

    /// `Mutator::run_collection`: true if this call collected.
    fn try_collect(&mut self) -> bool {
        let before = self.w.collections();
        self.leave();
        match self.w.rv.begin_collection() {
            Some(world) => {
                let prev = self.w.occupancy.fetch_or(COLLECTOR, Relaxed);
                assert_eq!(prev, 0, "WorldStopped while others run or collect");
                self.w.collect_garbage();
                self.w.occupancy.fetch_and(!COLLECTOR, Relaxed);
                self.w.rv.end_collection(world);
                self.enter();
                assert_eq!(self.w.collections(), before + 1);
                self.collected += 1;
                true
            }
            None => {
                self.enter();
                assert!(
                    self.w.collections() > before,
                    "begin_collection returned None but no other collection ran"
                );
                false
            }
        }
    }

    /// `Mutator::collect`: exactly one collection of this call's own.
    fn collect(&mut self) {
        let before = self.collected;
        while !self.try_collect() {}
        assert_eq!(self.collected, before + 1);
    }

    /// Dropping the mutator.
    fn detach(self) -> usize {
        self.leave();
        self.w.rv.detach();
        self.collected
    }
}

/// After every thread detached: nothing runs, and the running count is balanced, so a
/// fresh mutator stops the world alone and at once.
fn check_quiescent(w: &Arc<World>) {
    assert_eq!(w.occupancy.load(Relaxed), 0);
    let mut m = M::attach(w, SLOTS - 1);
    let before = w.collections();
    assert!(m.try_collect(), "a lone mutator must be able to collect");
    assert_eq!(w.collections(), before + 1);
    m.detach();
}

/// Checks `f` under every interleaving with at most `preemption_bound` preemptions
/// (all interleavings if `None`), and reports how many were explored. Setting
/// `LOOM_MAX_PREEMPTIONS` overrides the bound of every model (for deeper, slower runs).
fn model(preemption_bound: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&runs);
    let mut b = loom::model::Builder::new();
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        b.preemption_bound = preemption_bound;
    }
    let preemption_bound = b.preemption_bound;
    b.check(move || {
        counted.fetch_add(1, Relaxed);
        f();
    });
    eprintln!(
        "explored {} interleavings (preemption bound {preemption_bound:?})",
        runs.load(Relaxed)
    );
}

#[test]
fn two_threads_collect_concurrently_each_exactly_once() {
    model(None, || {
        let w = World::new();
        let t = {
            let w = Arc::clone(&w);
            thread::spawn(move || {
                let mut m = M::attach(&w, 2);
                m.work();
                m.collect();
                m.work();
                m.detach()
            })
        };
        let mut m = M::attach(&w, 0);
        m.work();
        m.collect();
        m.work();
        let mine = m.detach();
        let theirs = t.join().unwrap();
        assert_eq!((mine, theirs), (1, 1));
        assert_eq!(w.collections(), 2);
        assert_eq!(w.mutator_writes(), 4);
        check_quiescent(&w);
    });
}

#[test]
fn collector_and_a_mutator_polling_at_safepoints() {
    model(None, || {
        let w = World::new();
        // Attached before the spawn, so the collector must wait for it to park or go.
        let m2 = M::attach(&w, 1);
        let t = thread::spawn(move || {
            for _ in 0..2 {
                m2.work();
                m2.safepoint();
            }
            m2.work();
            m2.detach()
        });
        let mut m = M::attach(&w, 0);
        m.collect();
        m.work();
        assert_eq!(m.detach(), 1);
        assert_eq!(t.join().unwrap(), 0);
        assert_eq!(w.collections(), 1);
        assert_eq!(w.mutator_writes(), 4);
        check_quiescent(&w);
    });
}

#[test]
fn collections_proceed_while_a_mutator_is_native() {
    model(Some(6), || {
        let w = World::new();
        let m2 = M::attach(&w, 1);
        let t = thread::spawn(move || {
            m2.work();
            m2.blocking(thread::yield_now);
            m2.work();
            m2.safepoint();
            m2.work();
            m2.detach()
        });
        let mut m = M::attach(&w, 0);
        m.collect();
        m.work();
        m.collect();
        assert_eq!(m.detach(), 2);
        assert_eq!(t.join().unwrap(), 0);
        assert_eq!(w.collections(), 2);
        assert_eq!(w.mutator_writes(), 4);
        check_quiescent(&w);
    });
}

#[test]
fn attach_and_detach_race_with_a_collection() {
    model(Some(6), || {
        let w = World::new();
        let t = {
            let w = Arc::clone(&w);
            thread::spawn(move || {
                // Attaches fresh (possibly during the collection), works, goes away.
                let m = M::attach(&w, 1);
                m.work();
                m.detach();
                let m = M::attach(&w, 1);
                m.work();
                m.detach()
            })
        };
        let mut m = M::attach(&w, 0);
        m.work();
        m.collect();
        m.work();
        assert_eq!(m.detach(), 1);
        assert_eq!(t.join().unwrap(), 0);
        assert_eq!(w.collections(), 1);
        assert_eq!(w.mutator_writes(), 4);
        check_quiescent(&w);
    });
}

#[test]
fn a_mutator_parked_for_a_hand_off_does_not_hold_up_a_collection() {
    // The mutator parks on this thread and resumes on another (the spawn is the
    // hand-off), while this thread collects: the collection must not wait for it, and
    // the resumed mutator's work must be ordered against the collection's.
    model(Some(4), || {
        let w = World::new();
        let m2 = M::attach(&w, 1);
        m2.work();
        let parked = m2.park();
        let t = thread::spawn(move || {
            let m2 = parked.resume();
            m2.work();
            m2.safepoint();
            m2.work();
            m2.detach()
        });
        let mut m = M::attach(&w, 0);
        m.collect();
        m.work();
        assert_eq!(m.detach(), 1);
        assert_eq!(t.join().unwrap(), 0);
        assert_eq!(w.collections(), 1);
        assert_eq!(w.mutator_writes(), 4);
        check_quiescent(&w);
    });
}

#[test]
fn collection_waits_for_a_parked_mutator_that_was_requested_earlier() {
    // A mutator may see a stale `requested` (from a collection that has ended) and
    // park while no collection runs, or miss a new one; both must be harmless.
    model(Some(6), || {
        let w = World::new();
        let m2 = M::attach(&w, 1);
        let t = thread::spawn(move || {
            for _ in 0..3 {
                m2.safepoint();
                m2.work();
            }
            m2.detach()
        });
        let mut m = M::attach(&w, 0);
        m.collect();
        m.safepoint();
        m.collect();
        assert_eq!(m.detach(), 2);
        assert_eq!(t.join().unwrap(), 0);
        assert_eq!(w.collections(), 2);
        check_quiescent(&w);
    });
}

#[test]
fn three_threads_two_collectors_and_a_polling_mutator() {
    model(Some(3), || {
        let w = World::new();
        let poller = M::attach(&w, 1);
        let p = thread::spawn(move || {
            for _ in 0..2 {
                poller.work();
                poller.safepoint();
            }
            poller.detach()
        });
        let c = {
            let w = Arc::clone(&w);
            thread::spawn(move || {
                let mut m = M::attach(&w, 2);
                m.collect();
                m.work();
                m.detach()
            })
        };
        let mut m = M::attach(&w, 0);
        m.work();
        m.collect();
        assert_eq!(m.detach(), 1);
        assert_eq!(c.join().unwrap(), 1);
        assert_eq!(p.join().unwrap(), 0);
        assert_eq!(w.collections(), 2);
        assert_eq!(w.mutator_writes(), 4);
        check_quiescent(&w);
    });
}

#[test]
fn three_threads_collector_native_mutator_and_late_attacher() {
    model(Some(3), || {
        let w = World::new();
        let native = M::attach(&w, 1);
        let n = thread::spawn(move || {
            native.work();
            native.blocking(|| {});
            native.work();
            native.detach()
        });
        let late = {
            let w = Arc::clone(&w);
            thread::spawn(move || {
                let mut m = M::attach(&w, 2);
                m.work();
                m.safepoint();
                m.collect();
                m.detach()
            })
        };
        let mut m = M::attach(&w, 0);
        m.collect();
        m.work();
        assert_eq!(m.detach(), 1);
        assert_eq!(late.join().unwrap(), 1);
        assert_eq!(n.join().unwrap(), 0);
        assert_eq!(w.collections(), 2);
        assert_eq!(w.mutator_writes(), 4);
        check_quiescent(&w);
    });
}

// Liveness. In the models above every thread ends by detaching, and `detach` wakes
// every waiter, which would hide a lost wake-up or a `park` that does not let the
// collector in. Here the threads keep running after the collection (spinning at
// safepoints, or joining while attached), so only the protocol's own notifications can
// make progress; a thread left waiting shows up as a deadlock or as a model that never
// ends (loom's branch limit).

#[test]
fn parked_mutator_lets_the_collector_in_and_is_released_by_end_collection() {
    model(Some(6), || {
        let w = World::new();
        let done = Arc::new(AtomicBool::new(false));
        let m2 = M::attach(&w, 1);
        let t = {
            let done = Arc::clone(&done);
            thread::spawn(move || {
                // Never detaches before the collection has ended: the collector can
                // only get in through `park`.
                while !done.load(Acquire) {
                    m2.safepoint();
                    m2.work();
                    thread::yield_now();
                }
                m2.detach()
            })
        };
        let mut m = M::attach(&w, 0);
        m.collect();
        done.store(true, Release);
        // Joins while still attached: nothing but `end_collection` wakes the parker.
        assert_eq!(t.join().unwrap(), 0);
        m.work();
        assert_eq!(m.detach(), 1);
        assert_eq!(w.collections(), 1);
        check_quiescent(&w);
    });
}

#[test]
fn attach_waiting_for_a_collection_is_released_by_end_collection() {
    model(None, || {
        let w = World::new();
        let t = {
            let w = Arc::clone(&w);
            thread::spawn(move || {
                let m = M::attach(&w, 1);
                m.work();
                m.blocking(|| {});
                m.work();
                m.detach()
            })
        };
        let mut m = M::attach(&w, 0);
        m.collect();
        assert_eq!(t.join().unwrap(), 0);
        m.work();
        assert_eq!(m.detach(), 1);
        assert_eq!(w.collections(), 1);
        check_quiescent(&w);
    });
}

#[test]
fn losing_collector_is_released_by_end_collection() {
    model(Some(6), || {
        let w = World::new();
        let done = Arc::new(AtomicBool::new(false));
        let mut m2 = M::attach(&w, 1);
        let t = {
            let done = Arc::clone(&done);
            thread::spawn(move || {
                m2.collect();
                m2.work();
                done.store(true, Release);
                m2.detach()
            })
        };
        let mut m = M::attach(&w, 0);
        m.collect();
        // Keeps running (spinning at safepoints, which park only for a collection
        // in progress) until the other thread's `collect` has returned.
        while !done.load(Acquire) {
            m.safepoint();
            thread::yield_now();
        }
        m.work();
        assert_eq!(m.detach(), 1);
        assert_eq!(t.join().unwrap(), 1);
        assert_eq!(w.collections(), 2);
        check_quiescent(&w);
    });
}
