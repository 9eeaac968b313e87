//! Loom model check of the forwarding race of a parallel minor collection
//! (`minor::evacuate::install_shared`): GC workers that reach the same young object at
//! once each copy it into their own memory and then try to install the forwarding
//! header with one compare-and-swap.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p contgc-collector --test loom_forwarding --release`.
//!
//! The collector's code works on raw heap words, which loom cannot watch, so this is a
//! model of it, step for step: the object's header is an atomic word, its payload and
//! each worker's copy are loom cells (loom reports any access to them that is not
//! ordered by the protocol, as it would be a data race). The model checks that:
//!
//! * exactly one worker's swap wins, and every worker ends up with the winner's copy;
//! * the payload of the source is only ever read, by any number of workers at once;
//! * a worker that loses can reuse its copy's memory at once (nobody else reads it);
//! * anyone who reads the header with acquire ordering and finds it forwarded (the
//!   byref resolver's nursery index does, while workers copy) sees the winner's copy
//!   complete: its header and payload.

#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicU64;
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// A forwarding header: the copy's number (a stand-in for its address) with bit 0 set.
const FORWARDED: u64 = 1;
/// The source object's header, and the header every copy gets (its age one more).
const HEADER: u64 = 0x10;
const COPY_HEADER: u64 = 0x20;
const PAYLOAD: u64 = 0xabcd;

/// A young object: an atomic header word and a payload word.
struct Object {
    header: AtomicU64,
    payload: UnsafeCell<u64>,
}

/// A worker's copy buffer: the memory it copies into.
struct Copy {
    header: UnsafeCell<u64>,
    payload: UnsafeCell<u64>,
}

/// What `install_shared` does after the worker has read `h` (not forwarded): copy the
/// payload, write the copy's header, then swap the source header from `h` to the
/// forwarding header. Returns the number of the copy that won.
fn evacuate(src: &Object, copies: &[Copy], me: u64) -> u64 {
    let h = src.header.load(Relaxed);
    if h & FORWARDED != 0 {
        return h >> 1;
    }
    let mine = &copies[me as usize];
    // SAFETY: loom's cell pointers are valid; loom itself checks that the accesses
    // are ordered (the point of this model), here and below.
    let p = src.payload.with(|p| unsafe { *p });
    // SAFETY: as above.
    mine.payload.with_mut(|d| unsafe { *d = p });
    // SAFETY: as above.
    mine.header.with_mut(|d| unsafe { *d = COPY_HEADER });
    match src
        .header
        .compare_exchange(h, (me << 1) | FORWARDED, AcqRel, Acquire)
    {
        Ok(_) => me,
        Err(now) => {
            assert!(now & FORWARDED != 0, "only forwarding changes the header");
            // Lost: the copy's memory goes back to the buffer, to be reused at once.
            // SAFETY: as above.
            mine.header.with_mut(|d| unsafe { *d = 0 });
            now >> 1
        }
    }
}

/// Reads the header with acquire ordering and, if it forwards, the copy it names, as
/// the nursery index does while workers copy.
fn observe(src: &Object, copies: &[Copy]) {
    let h = src.header.load(Acquire);
    if h & FORWARDED != 0 {
        let c = &copies[(h >> 1) as usize];
        // SAFETY: as in `evacuate`.
        assert_eq!(c.header.with(|p| unsafe { *p }), COPY_HEADER);
        // SAFETY: as in `evacuate`.
        assert_eq!(c.payload.with(|p| unsafe { *p }), PAYLOAD);
    }
}

fn model(workers: u64, observer: bool) {
    loom::model(move || {
        let src = Arc::new(Object {
            header: AtomicU64::new(HEADER),
            payload: UnsafeCell::new(PAYLOAD),
        });
        let copies: Arc<Vec<Copy>> = Arc::new(
            (0..workers)
                .map(|_| Copy {
                    header: UnsafeCell::new(0),
                    payload: UnsafeCell::new(0),
                })
                .collect(),
        );
        let helpers: Vec<_> = (1..workers)
            .map(|me| {
                let (src, copies) = (src.clone(), copies.clone());
                thread::spawn(move || evacuate(&src, &copies, me))
            })
            .collect();
        let watcher = observer.then(|| {
            let (src, copies) = (src.clone(), copies.clone());
            thread::spawn(move || observe(&src, &copies))
        });
        let mut winners = vec![evacuate(&src, &copies, 0)];
        winners.extend(helpers.into_iter().map(|h| h.join().unwrap()));
        if let Some(w) = watcher {
            w.join().unwrap();
        }
        assert!(winners.iter().all(|&w| w == winners[0]), "{winners:?}");
        let h = src.header.load(Relaxed);
        assert_eq!(h, (winners[0] << 1) | FORWARDED);
        observe(&src, &copies);
    });
}

/// Two workers race for one object.
#[test]
fn two_workers_copy_one_object_once() {
    model(2, false);
}

/// Two workers race while a third thread follows the forwarding header.
#[test]
fn a_reader_of_the_forwarding_header_sees_the_whole_copy() {
    model(2, true);
}

/// Three workers race.
#[test]
fn three_workers_copy_one_object_once() {
    model(3, false);
}
