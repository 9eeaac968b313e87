//! Multi-threaded use of one heap through the public API, with the verifier on.
//!
//! Several threads, each with its own mutator, build linked lists, publish them in a
//! shared old table reached through a persistent handle (so old-to-young references
//! cross threads' remembered sets), hand lists to a consumer over a channel that it
//! waits on in native state (`Mutator::blocking`), ask for minor and major collections
//! from different threads, and attach and detach mutators while collections run. Every
//! structure's contents are checked after the threads are done (and, for a thread's
//! own structures, along the way). Threads only synchronise through the heap's own
//! protocol, channels and joins: no sleeps, no timing assertions.
//!
//! Objects are only ever read by the thread that wrote them, or after a
//! synchronisation with that thread (a channel, a persistent handle's lock, a join),
//! so these tests are free of data races and can run under ThreadSanitizer.

use contgc::{CollectionKind, Config, ConfigBuilder, Heap, Local, Scope, TypeDescriptor, TypeId};
use std::sync::{mpsc, Barrier};
use std::thread;

/// Producer threads in the shared-table test.
const WORKERS: usize = 4;
/// Table slots per worker (a round stores into slot `round % SLOTS`).
const SLOTS: usize = 3;
/// Rounds per worker.
const ROUNDS: usize = 100;
/// Nodes per list.
const LEN: u64 = 150;

fn heap(config: ConfigBuilder) -> Heap {
    Heap::new(config.verify_after_gc(true).build().unwrap()).unwrap()
}

/// A list node: slot 0 is the next node, bytes 8..16 its value.
fn node_type(h: &Heap) -> TypeId {
    h.register_type(&TypeDescriptor::fixed("Node", 16).with_refs(&[0]))
        .unwrap()
}

/// An array of references.
fn table_type(h: &Heap, pretenured: bool) -> TypeId {
    h.register_type(
        &TypeDescriptor::array("Table", 0, 8)
            .with_elem_refs(&[0])
            .pretenured(pretenured),
    )
    .unwrap()
}

/// The value of node `i` of the list thread `t` built in round `r`.
fn value(t: usize, r: usize, i: u64) -> u64 {
    ((t as u64) << 48) | ((r as u64) << 24) | i
}

/// Allocates a node. The heaps here are far below their limit, so an error is a bug
/// (see `allocation_does_not_fail_spuriously_when_threads_contend_for_eden`).
fn alloc<'s>(s: &mut Scope<'s>, node: TypeId) -> Local<'s> {
    match s.alloc(node) {
        Ok(l) => l,
        Err(e) => panic!(
            "allocation failed in a nearly empty heap: {e} ({:?})",
            s.stats()
        ),
    }
}

/// Builds a list whose head holds `value(t, r, LEN - 1)` and whose last node holds
/// `value(t, r, 0)`, with some garbage in between, polling safepoints.
fn build_list<'s>(s: &mut Scope<'s>, node: TypeId, t: usize, r: usize) -> Local<'s> {
    let mut list = None;
    for i in 0..LEN {
        list = s.scope_escape(|s| {
            let garbage = alloc(s, node);
            s.write_u64(garbage, 8, u64::MAX);
            let n = alloc(s, node);
            s.write_u64(n, 8, value(t, r, i));
            s.set_ref(n, 0, list);
            Some(n)
        });
        if i % 32 == 0 {
            s.safepoint();
        }
    }
    list.unwrap()
}

/// Checks a list built by `build_list(.., t, r)`.
fn check_list<'s>(s: &mut Scope<'s>, head: Local<'s>, t: usize, r: usize) {
    s.scope(|s| {
        let cur = s.dup(head);
        let mut i = LEN;
        loop {
            i -= 1;
            assert_eq!(
                s.read_u64(cur, 8),
                value(t, r, i),
                "list of thread {t}, round {r}, node {i}"
            );
            if !s.load_into(cur, cur, 0) {
                break;
            }
        }
        assert_eq!(i, 0, "list of thread {t}, round {r} is too short");
    });
}

/// The last round below `ROUNDS` that stored into slot `j` of a worker.
fn last_round_in_slot(j: usize) -> usize {
    (0..ROUNDS).rev().find(|r| r % SLOTS == j).unwrap()
}

#[test]
fn threads_share_an_old_table_and_hand_lists_to_a_blocking_consumer() {
    let h = heap(
        Config::builder()
            .nursery_size(64 << 10)
            .tlab_size(4 << 10)
            .promotion_age(2),
    );
    let node = node_type(&h);
    let table_ty = table_type(&h, true);
    let table = {
        let mut m = h.mutator();
        m.scope(|s| {
            let t = s.alloc_array(table_ty, (WORKERS * SLOTS) as u32).unwrap();
            s.persist(t)
        })
        // The mutator goes away here: this thread must not stay attached while it
        // waits for the others below.
    };
    let (tx, rx) = mpsc::sync_channel::<(usize, usize, contgc::Persistent)>(2);
    // The workers start together (waiting in native state) so that they overlap.
    let start = Barrier::new(WORKERS);

    thread::scope(|sc| {
        // The consumer: waits for lists in native state, checks each one with its own
        // mutator, and keeps the last one it got from every producer.
        let consumer = sc.spawn({
            let h = h.clone();
            move || {
                let mut m = h.mutator();
                let mut received = 0;
                let mut kept = Vec::new();
                while let Some((t, r, list)) = m.blocking(|| rx.recv().ok()) {
                    m.scope(|s| {
                        let head = s.get_persistent(&list);
                        check_list(s, head, t, r);
                        // Allocate a little so the consumer's own buffer is in play.
                        let x = alloc(s, node);
                        s.write_u64(x, 8, 7);
                        s.safepoint();
                        assert_eq!(s.read_u64(x, 8), 7);
                    });
                    received += 1;
                    kept.retain(|(kt, _, _)| *kt != t);
                    kept.push((t, r, list));
                }
                // Every list is still intact after everyone else is gone.
                m.collect(CollectionKind::Major);
                m.scope(|s| {
                    for (t, r, list) in &kept {
                        let head = s.get_persistent(list);
                        check_list(s, head, *t, *r);
                    }
                });
                received
            }
        });

        for t in 0..WORKERS {
            let h = h.clone();
            let table = &table;
            let tx = tx.clone();
            let start = &start;
            sc.spawn(move || {
                let mut m = h.mutator();
                m.blocking(|| start.wait());
                for r in 0..ROUNDS {
                    let slot = (t * SLOTS + r % SLOTS) * 8;
                    let sent = m.scope(|s| {
                        let tab = s.get_persistent(table);
                        // The list this thread left in the slot SLOTS rounds ago is
                        // intact, however many collections ran since.
                        if let Some(old) = s.get_ref(tab, slot) {
                            check_list(s, old, t, r - SLOTS);
                        }
                        let list = build_list(s, node, t, r);
                        s.set_ref(tab, slot, Some(list));
                        check_list(s, list, t, r);
                        match (t, r % 8) {
                            (0, 3) => {
                                s.collect(CollectionKind::Minor);
                            }
                            (1, 5) => {
                                s.collect(CollectionKind::Major);
                            }
                            (2, _) => s.safepoint(),
                            _ => {}
                        }
                        check_list(s, list, t, r);
                        (r % 4 == t % 4).then(|| s.persist(list))
                    });
                    if let Some(p) = sent {
                        // A bounded channel: the send may block, so in native state.
                        m.blocking(|| tx.send((t, r, p))).unwrap();
                    }
                }
            });
        }
        drop(tx);
        let received = consumer.join().unwrap();
        assert_eq!(received, WORKERS * ROUNDS / 4);
    });

    // Everyone is gone: every slot of the table holds its worker's last list for it.
    let mut m = h.mutator();
    for kind in [CollectionKind::Minor, CollectionKind::Major] {
        m.collect(kind);
        m.scope(|s| {
            let tab = s.get_persistent(&table);
            assert_eq!(s.len(tab) as usize, WORKERS * SLOTS);
            for t in 0..WORKERS {
                for j in 0..SLOTS {
                    let head = s.get_ref(tab, (t * SLOTS + j) * 8).unwrap();
                    check_list(s, head, t, last_round_in_slot(j));
                }
            }
        });
    }
    let st = h.stats();
    assert!(st.minor_collections >= 5, "{st:?}");
    assert!(st.major_collections >= 2, "{st:?}");
}

#[test]
fn every_collect_call_from_every_thread_runs_one_collection() {
    const THREADS: usize = 4;
    const CALLS: usize = 12;
    // A nursery big enough that nothing here fills it: the only collections are the
    // explicit ones, so their number is known exactly.
    let h = heap(Config::builder().nursery_size(8 << 20).tlab_size(4 << 10));
    let node = node_type(&h);
    let start = Barrier::new(THREADS);
    thread::scope(|sc| {
        for t in 0..THREADS {
            let h = h.clone();
            let start = &start;
            sc.spawn(move || {
                let mut m = h.mutator();
                m.blocking(|| start.wait());
                m.scope(|s| {
                    let mine = build_list(s, node, t, 0);
                    for c in 0..CALLS {
                        let kind = if (c + t) % 3 == 0 {
                            CollectionKind::Major
                        } else {
                            CollectionKind::Minor
                        };
                        s.collect(kind);
                        check_list(s, mine, t, 0);
                        s.scope(|s| {
                            let tmp = build_list(s, node, t, c + 1);
                            s.safepoint();
                            check_list(s, tmp, t, c + 1);
                        });
                    }
                });
            });
        }
    });
    let st = h.stats();
    assert_eq!(
        st.minor_collections + st.major_collections,
        (THREADS * CALLS) as u64,
        "{st:?}"
    );
    assert!(
        st.major_collections >= (THREADS * CALLS / 3) as u64,
        "{st:?}"
    );
}

#[test]
fn mutators_attach_and_detach_while_other_threads_collect() {
    const THREADS: usize = 3;
    const ITERATIONS: usize = 60;
    let h = heap(
        Config::builder()
            .nursery_size(128 << 10)
            .tlab_size(4 << 10)
            .promotion_age(1),
    );
    let node = node_type(&h);
    let handles = thread::scope(|sc| {
        // A collector thread that keeps collecting while the others come and go.
        let collector = sc.spawn({
            let h = h.clone();
            move || {
                let mut m = h.mutator();
                for i in 0..ITERATIONS {
                    let kind = if i % 4 == 0 {
                        CollectionKind::Major
                    } else {
                        CollectionKind::Minor
                    };
                    m.collect(kind);
                    m.scope(|s| {
                        let l = build_list(s, node, THREADS, i);
                        check_list(s, l, THREADS, i);
                    });
                }
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let h = h.clone();
                sc.spawn(move || {
                    let mut kept = Vec::new();
                    for r in 0..ITERATIONS {
                        // A fresh mutator every round: attaching may wait for a
                        // collection, and dropping one leaves its buffer and its
                        // remembered objects to the heap.
                        let mut m = h.mutator();
                        let p = m.scope(|s| {
                            let l = build_list(s, node, t, r);
                            check_list(s, l, t, r);
                            s.persist(l)
                        });
                        if r % 3 == 0 {
                            m.blocking(|| ());
                            m.scope(|s| {
                                let l = s.get_persistent(&p);
                                check_list(s, l, t, r);
                            });
                        }
                        drop(m);
                        kept.push((t, r, p));
                    }
                    kept
                })
            })
            .collect();
        collector.join().unwrap();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(handles.len(), THREADS * ITERATIONS);
    let mut m = h.mutator();
    m.collect(CollectionKind::Major);
    m.scope(|s| {
        for (t, r, p) in &handles {
            let l = s.get_persistent(p);
            check_list(s, l, *t, *r);
        }
    });
    assert!(h.stats().major_collections >= (ITERATIONS / 4) as u64);
}

#[test]
fn gc_stress_with_several_threads() {
    const THREADS: usize = 3;
    // A collection every 200 allocations of any thread's mutator.
    let h = heap(
        Config::builder()
            .nursery_size(128 << 10)
            .gc_stress(200)
            .promotion_age(1),
    );
    let node = node_type(&h);
    let table_ty = table_type(&h, false);
    let table = h.mutator().scope(|s| {
        let t = s.alloc_array(table_ty, THREADS as u32).unwrap();
        s.persist(t)
    });
    thread::scope(|sc| {
        for t in 0..THREADS {
            let h = h.clone();
            let table = &table;
            sc.spawn(move || {
                let mut m = h.mutator();
                for r in 0..20 {
                    m.scope(|s| {
                        let l = build_list(s, node, t, r);
                        let tab = s.get_persistent(table);
                        s.set_ref(tab, t * 8, Some(l));
                        check_list(s, l, t, r);
                    });
                }
            });
        }
    });
    let mut m = h.mutator();
    m.scope(|s| {
        let tab = s.get_persistent(&table);
        for t in 0..THREADS {
            let l = s.get_ref(tab, t * 8).unwrap();
            check_list(s, l, t, 19);
        }
    });
    assert!(h.stats().minor_collections > 0);
}

/// Regression test: the allocation slow path gives up after three failed attempts to
/// get a buffer from eden, each followed by a collection, and reports `HeapLimit`. When
/// other threads refill eden between a collection and this thread's next attempt (or
/// this thread loses the race to collect), that happens with the old generation empty.
#[test]
fn allocation_does_not_fail_spuriously_when_threads_contend_for_eden() {
    let h = heap(Config::builder().nursery_size(64 << 10).tlab_size(4 << 10));
    let node = node_type(&h);
    let start = Barrier::new(8);
    thread::scope(|sc| {
        for _ in 0..8 {
            let h = h.clone();
            let start = &start;
            sc.spawn(move || {
                let mut m = h.mutator();
                m.blocking(|| start.wait());
                for _ in 0..200_000 {
                    m.scope(|s| {
                        alloc(s, node);
                    });
                }
            });
        }
    });
}
