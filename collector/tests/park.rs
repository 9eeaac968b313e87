//! A mutator parked for a hand-off between threads counts as stopped: collections on
//! other threads complete while it is in transit.

use contgc_collector::{CollectionKind, Config, Heap, ParkedMutator, TypeDescriptor};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

#[test]
fn a_collection_completes_while_a_parked_mutator_is_in_a_channel() {
    let heap = Heap::new(Config::builder().verify_after_gc(true).build().unwrap()).unwrap();
    let node = heap
        .register_type(&TypeDescriptor::fixed("Node", 16).with_refs(&[0]))
        .unwrap();
    let mut m = heap.mutator();
    // A raw root and a handle: both must survive, and follow their object, while the
    // mutator is parked.
    let (root, keep) = m.scope(|s| {
        let o = s.alloc(node).unwrap();
        s.write_u64(o, 8, 42);
        let keep = s.persist(o);
        (s.raw(o), keep)
    });
    // SAFETY: `root` was read from a live local since the last allocation.
    let ri = unsafe { m.push_root(Some(root)) };

    let (tx, rx) = mpsc::channel::<ParkedMutator>();
    tx.send(m.park()).unwrap(); // In transit: nobody receives it yet.

    let (done_tx, done_rx) = mpsc::channel();
    let a = {
        let heap = heap.clone();
        thread::spawn(move || {
            let mut ma = heap.mutator();
            let r = ma.collect(CollectionKind::Major);
            let r2 = ma.collect(CollectionKind::Minor);
            done_tx.send((r.kind, r2.kind)).unwrap();
        })
    };
    // A watchdog only: a running mutator in transit would make thread A's collection
    // wait forever, and the test should fail rather than hang.
    let kinds = done_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("thread A's collections completed while the mutator was parked");
    assert_eq!(kinds, (CollectionKind::Major, CollectionKind::Minor));
    a.join().unwrap();

    let b = thread::spawn(move || {
        let parked = rx.recv().unwrap();
        let mut m = parked.resume();
        let now = m.root(ri).expect("the raw root survived");
        assert_ne!(now, root, "the object moved while its mutator was parked");
        m.scope(|s| {
            let o = s.get_persistent(&keep);
            assert_eq!(s.raw(o), now);
            assert_eq!(s.read_u64(o, 8), 42);
        });
        m.collect(CollectionKind::Minor);
        m
    });
    let m = b.join().unwrap();
    drop(m);
    assert_eq!(heap.stats().major_collections, 1);
}

#[test]
fn a_parked_mutator_can_be_dropped_and_counts_stay_balanced() {
    let heap = Heap::new(Config::default()).unwrap();
    let parked = heap.mutator().park();
    assert_eq!(parked.heap_id(), heap.id());
    let mut m = heap.mutator();
    m.collect(CollectionKind::Minor);
    drop(parked);
    // A lone mutator collects at once: nothing is counted as running but itself.
    m.collect(CollectionKind::Major);
    let parked = m.park();
    let mut m2 = heap.mutator();
    m2.collect(CollectionKind::Minor);
    drop(m2);
    let mut m = parked.resume();
    m.collect(CollectionKind::Minor);
}
