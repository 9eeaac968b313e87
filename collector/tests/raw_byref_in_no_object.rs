//! A raw byref into the heap's memory but into no object makes the next collection
//! abort with a clear message, in debug and release builds alike. The abort is
//! observed from a child process running this same test.

use contgc_collector::{CollectionKind, Config, Heap, TypeDescriptor};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

const CHILD: &str = "CONTGC_RAW_BYREF_CHILD";
const TEST: &str = "a_raw_byref_into_the_heap_but_no_object_aborts_the_next_collection";

/// What the child does: captures a byref to `holder + 8192`, which lies in the
/// holder's allocation buffer but past every object (the buffer's unused tail becomes
/// a filler), and collects.
fn child(kind: CollectionKind) {
    let heap = Heap::new(Config::default()).unwrap();
    let holder = heap
        .register_type(&TypeDescriptor::fixed("Holder", 24).with_byrefs(&[0]))
        .unwrap();
    let mut m = heap.mutator();
    let h = m.alloc_raw(holder).unwrap();
    assert!(m.is_heap_address(h.addr() + 8192));
    // SAFETY (deliberately broken): `h` is live and 0 its byref slot, but the address
    // is in no object.
    unsafe {
        m.push_root(Some(h));
        m.store_byref(h, 0, h.addr() + 8192);
    }
    m.collect(kind);
    unreachable!("the collection must abort");
}

#[test]
fn a_raw_byref_into_the_heap_but_no_object_aborts_the_next_collection() {
    if let Ok(kind) = std::env::var(CHILD) {
        child(match kind.as_str() {
            "major" => CollectionKind::Major,
            _ => CollectionKind::Minor,
        });
        return;
    }
    for kind in ["minor", "major"] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([TEST, "--exact", "--nocapture", "--test-threads", "1"])
            .env(CHILD, kind)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(6),
            "SIGABRT expected; stderr: {stderr}"
        );
        assert!(
            stderr.contains("lies in this heap's memory but in no object"),
            "{kind}: {stderr}"
        );
    }
}
