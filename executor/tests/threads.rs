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
