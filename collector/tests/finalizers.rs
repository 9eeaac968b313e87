//! Finalizers (`Scope::register_finalizer`, `Mutator::run_pending_finalizers`): a
//! cleanup is queued by the collection that finds its object dead (minor for young,
//! major for old, with one or several GC workers), never runs inside a collection,
//! runs exactly once, can be cancelled before, and never runs while the object lives.
//! The verifier is on in every heap here.

use contgc_collector::{CollectionKind, Config, Heap, TypeDescriptor, TypeId};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

fn heap(workers: usize) -> (Heap, TypeId) {
    let h = Heap::new(
        Config::builder()
            .promotion_age(1)
            .gc_workers(workers)
            .parallel_threshold(0)
            .verify_after_gc(true)
            .build()
            .unwrap(),
    )
    .unwrap();
    let obj = h
        .register_type(&TypeDescriptor::fixed("Obj", 16).with_refs(&[0]))
        .unwrap();
    (h, obj)
}

fn counter() -> (Arc<AtomicUsize>, impl Fn() -> Box<dyn FnOnce() + Send>) {
    let n = Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    (n, move || {
        let m = m.clone();
        Box::new(move || {
            m.fetch_add(1, Relaxed);
        })
    })
}

#[test]
fn a_young_objects_cleanup_runs_once_after_the_minor_collection_that_frees_it() {
    let (h, obj) = heap(1);
    let (ran, make) = counter();
    let mut m = h.mutator();
    m.scope(|s| {
        let live = s.alloc(obj).unwrap();
        s.register_finalizer(live, make());
        s.scope(|i| {
            let dead = i.alloc(obj).unwrap();
            i.register_finalizer(dead, make());
            i.register_finalizer(dead, make()); // two on one object: both run
        });
        s.collect(CollectionKind::Minor);
        assert_eq!(ran.load(Relaxed), 0, "nothing runs inside a collection");
        assert_eq!(s.pending_finalizers(), 2);
        assert_eq!(s.run_pending_finalizers(), 2);
        assert_eq!(ran.load(Relaxed), 2);
        s.collect(CollectionKind::Major);
        assert_eq!(s.run_pending_finalizers(), 0, "the live object's stays");
    });
    // The scope ended: `live` is garbage now, and old (promoted).
    m.collect(CollectionKind::Minor);
    assert_eq!(
        m.run_pending_finalizers(),
        0,
        "minor collections do not free old objects"
    );
    m.collect(CollectionKind::Major);
    assert_eq!(m.run_pending_finalizers(), 1);
    assert_eq!(ran.load(Relaxed), 3);
    m.collect(CollectionKind::Major);
    assert_eq!(m.run_pending_finalizers(), 0, "exactly once");
}

#[test]
fn an_old_objects_cleanup_is_queued_by_a_major_collection_with_any_number_of_workers() {
    for workers in [1, 2, 4] {
        let (h, obj) = heap(workers);
        let (ran, make) = counter();
        let mut m = h.mutator();
        m.scope(|s| {
            s.scope(|i| {
                for _ in 0..500 {
                    let o = i.alloc(obj).unwrap();
                    i.register_finalizer(o, make());
                }
                i.collect(CollectionKind::Minor); // promoted, still held
            });
        });
        m.collect(CollectionKind::Minor);
        assert_eq!(m.run_pending_finalizers(), 0);
        m.collect(CollectionKind::Major);
        assert_eq!(m.run_pending_finalizers(), 500, "{workers} workers");
        assert_eq!(ran.load(Relaxed), 500);
    }
}

#[test]
fn a_cancelled_finalizer_never_runs_and_cancelling_late_says_so() {
    let (h, obj) = heap(1);
    let (ran, make) = counter();
    let mut m = h.mutator();
    let (cancelled, late) = m.scope(|s| {
        s.scope(|i| {
            let a = i.alloc(obj).unwrap();
            let b = i.alloc(obj).unwrap();
            (
                i.register_finalizer(a, make()),
                i.register_finalizer(b, make()),
            )
        })
    });
    assert!(cancelled.cancel());
    assert!(!cancelled.cancel(), "already cancelled");
    m.collect(CollectionKind::Minor);
    assert!(
        !late.cancel(),
        "its object was found dead: the cleanup is pending"
    );
    assert_eq!(m.run_pending_finalizers(), 1);
    assert_eq!(ran.load(Relaxed), 1);
    // A later registration reusing the cancelled one's slot is not cancelled by it.
    m.scope(|s| {
        let c = s.alloc(obj).unwrap();
        let _keep = s.register_finalizer(c, make());
        assert!(!cancelled.cancel());
    });
    m.collect(CollectionKind::Minor);
    assert_eq!(m.run_pending_finalizers(), 1);
}

#[test]
fn a_panicking_cleanup_leaves_the_rest_queued() {
    let (h, obj) = heap(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut m = h.mutator();
    m.scope(|s| {
        s.scope(|i| {
            for k in 0..3 {
                let o = i.alloc(obj).unwrap();
                let order = order.clone();
                i.register_finalizer(o, move || {
                    order.lock().unwrap().push(k);
                    if k == 1 {
                        panic!("cleanup {k} fails");
                    }
                });
            }
        });
    });
    m.collect(CollectionKind::Minor);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.run_pending_finalizers()));
    assert!(r.is_err());
    assert_eq!(m.pending_finalizers(), 1, "the one after the panic waits");
    assert_eq!(m.run_pending_finalizers(), 1);
    let mut got = order.lock().unwrap().clone();
    got.sort_unstable();
    assert_eq!(got, vec![0, 1, 2]);
}

/// Cancelling drops the cleanup outside the weak table's lock: a cleanup that owns a
/// weak handle of the same heap (whose drop takes that lock) used to deadlock
/// `cancel`.
#[test]
fn cancelling_a_cleanup_that_owns_a_weak_handle_returns() {
    let (h, obj) = heap(1);
    let mut m = h.mutator();
    m.scope(|s| {
        let a = s.alloc(obj).unwrap();
        let b = s.alloc(obj).unwrap();
        let w = s.weak_handle(b);
        let f = s.register_finalizer(a, move || drop(w));
        assert!(f.cancel());
        assert!(!f.cancel());
    });
}

/// A cleanup may use the heap through a mutator of its own, made from a `WeakHeap`:
/// its caller's mutator is in native state while it runs, so its collections do not
/// wait for that one. (They used to wait forever.) GC stress makes every few
/// allocations collect.
#[test]
fn a_cleanup_may_allocate_and_collect_through_its_own_mutator() {
    let h = Heap::new(
        Config::builder()
            .gc_stress(3)
            .verify_after_gc(true)
            .build()
            .unwrap(),
    )
    .unwrap();
    let obj = h
        .register_type(&TypeDescriptor::fixed("Obj", 16).with_refs(&[0]))
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let mut m = h.mutator();
    for _ in 0..3 {
        let (weak, done) = (h.downgrade(), done.clone());
        m.scope(|s| {
            let o = s.alloc(obj).unwrap();
            s.register_finalizer(o, move || {
                let heap = weak.upgrade().expect("the heap lives while cleanups run");
                let mut own = heap.mutator();
                own.scope(|s| {
                    for _ in 0..20 {
                        s.alloc(obj).unwrap();
                    }
                });
                own.collect(CollectionKind::Minor);
                own.collect(CollectionKind::Major);
                done.fetch_add(1, Relaxed);
            });
        });
    }
    m.collect(CollectionKind::Minor);
    assert_eq!(m.run_pending_finalizers(), 3);
    assert_eq!(done.load(Relaxed), 3);
}

/// A cleanup that holds a `WeakHeap` does not keep the heap alive: dropping the last
/// `Heap` and mutator frees it with the cleanup still registered (a captured `Heap`
/// would make a cycle through the heap's own finalizer table).
#[test]
fn a_cleanup_holding_a_weak_heap_lets_the_heap_be_dropped() {
    let (h, obj) = heap(2);
    let weak = h.downgrade();
    let ran = Arc::new(AtomicUsize::new(0));
    {
        let mut m = h.mutator();
        let (w, r) = (weak.clone(), ran.clone());
        m.scope(|s| {
            let o = s.alloc(obj).unwrap();
            s.register_finalizer(o, move || {
                let _ = w.upgrade();
                r.fetch_add(1, Relaxed);
            });
        });
    }
    drop(h);
    assert!(weak.upgrade().is_none(), "the heap was dropped");
    assert_eq!(
        ran.load(Relaxed),
        0,
        "queued or registered cleanups are dropped unrun"
    );
}
