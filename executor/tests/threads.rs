//! The multi-threaded executor under load: 4 workers x 10,000 tasks suspending and
//! resuming (yields and timers) with objects and byrefs in their frames, GC-stress and
//! the verifier on; every task's result is checked.

mod common;

use common::{expected, heap, looper, vm};
use contgc_executor::{Executor, Shutdown, TaskState};

#[test]
fn four_workers_ten_thousand_tasks() {
    let tasks: u64 = std::env::var("CONTGC_EXEC_STRESS_TASKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let heap = heap(Some(97));
    let vm = vm(&heap);
    let ex = Executor::new(&heap, 4, move |_| vm).unwrap();
    // A cheap deterministic mix: rounds 0..12, yields or 1..40 us timers.
    let shape = |t: u64| {
        let x = t.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
        (x % 13, if x.is_multiple_of(3) { 1 + x % 40 } else { 0 })
    };
    let hs: Vec<_> = (0..tasks)
        .map(|t| {
            let (n, op) = shape(t);
            ex.spawn(move |s, cx| looper(s, cx, n, op)).unwrap()
        })
        .collect();
    for (t, h) in hs.iter().enumerate() {
        let (n, _) = shape(t as u64);
        assert_eq!(h.wait().unwrap().data(), Some(expected(n)), "task {t}");
        assert_eq!(h.state(), TaskState::Completed);
    }
    assert_eq!(ex.live_tasks(), 0);
    ex.shutdown(Shutdown::Drain);
    let st = heap.stats();
    assert!(
        st.minor_collections > 10,
        "GC-stress collected {} times",
        st.minor_collections
    );
}

#[test]
fn any_thread_spawns_and_cancel_shutdown_ends_every_task() {
    let heap = heap(Some(31));
    let vm = vm(&heap);
    let ex = Executor::new(&heap, 2, move |_| vm).unwrap();
    let sp = ex.spawner();
    let spawned: Vec<_> = std::thread::scope(|sc| {
        let ts: Vec<_> = (0..4)
            .map(|_| {
                let sp = sp.clone();
                // Tasks that would sleep for an hour, 3 times.
                sc.spawn(move || {
                    (0..50)
                        .map(|_| sp.spawn(|s, cx| looper(s, cx, 3, 3_600_000_000)).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        ts.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });
    ex.shutdown(Shutdown::Cancel);
    for h in &spawned {
        assert_eq!(h.state(), TaskState::Cancelled);
    }
}

/// The workers run the heap's pending finalizers between jobs: a cleanup queued by a
/// collection on another thread has run once a worker has run a job after it (here,
/// by the time the shutdown has joined the workers), and a cleanup that panics does
/// not stop the worker or the ones queued after it.
#[test]
fn workers_run_pending_finalizers_between_jobs() {
    use contgc_collector::{CollectionKind, TypeDescriptor};
    use contgc_continuation::Value;
    use contgc_executor::Step;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let heap = heap(None);
    let obj = heap
        .register_type(&TypeDescriptor::fixed("Native", 8))
        .unwrap();
    let ex = Executor::new(&heap, 2, |_| ()).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let mut m = heap.mutator();
    m.scope(|s| {
        for i in 0..3 {
            let o = s.alloc(obj).unwrap();
            let r = ran.clone();
            s.register_finalizer(o, move || {
                assert_ne!(i, 1, "cleanup 1 panics");
                r.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    m.collect(CollectionKind::Minor);
    assert_eq!(m.pending_finalizers(), 3);
    drop(m);
    let h = ex.spawn(|_s, _cx| Step::Return(Value::Data(1))).unwrap();
    assert_eq!(h.wait().unwrap().data(), Some(1));
    ex.shutdown(Shutdown::Drain);
    assert_eq!(
        ran.load(Ordering::Relaxed),
        2,
        "the two that do not panic ran"
    );
    assert_eq!(heap.mutator().pending_finalizers(), 0);
}
