//! A root provider that calls back into its heap from `visit_roots` (its stats, adding
//! or removing a provider, attaching a mutator...) used to hang the process: the
//! collection running it holds the heap's locks. Such a call now panics with a message
//! that says so, which aborts the process (a provider runs with the world stopped).
//! The abort is observed from a child process running this same test. Another heap's
//! methods stay usable from a provider.

use contgc_collector::{CollectionKind, Config, Heap, RootProvider, RootVisitor, WeakHeap};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

const CHILD: &str = "CONTGC_PROVIDER_CALL_CHILD";
const TEST: &str = "a_provider_calling_into_its_heap_aborts_with_a_clear_message";

/// Calls `call` on its heap (and `other`'s stats) once, from inside a collection.
struct Caller {
    heap: WeakHeap,
    other: Heap,
    call: String,
    done: bool,
}

// SAFETY: reports no slot at all.
unsafe impl RootProvider for Caller {
    fn visit_roots(&mut self, _visitor: &mut RootVisitor<'_>) {
        if self.done {
            return;
        }
        self.done = true;
        // Another heap's locks are not held: its methods work here.
        let _ = self.other.stats();
        let heap = self.heap.upgrade().expect("the heap is collecting");
        match self.call.as_str() {
            "stats" => drop(heap.stats()),
            "pauses" => drop(heap.pauses()),
            "remove" => heap.remove_root_provider_any(),
            "mutator" => drop(heap.mutator()),
            other => panic!("unknown call {other}"),
        }
    }
}

/// Removes some provider (the test only needs the call).
trait RemoveAny {
    fn remove_root_provider_any(&self);
}

impl RemoveAny for Heap {
    fn remove_root_provider_any(&self) {
        let id = self.add_root_provider(Box::new(Nothing));
        self.remove_root_provider(id);
    }
}

struct Nothing;

// SAFETY: reports no slot.
unsafe impl RootProvider for Nothing {
    fn visit_roots(&mut self, _visitor: &mut RootVisitor<'_>) {}
}

fn child(call: &str) {
    let heap = Heap::new(Config::builder().verify_after_gc(true).build().unwrap()).unwrap();
    let other = Heap::new(Config::default()).unwrap();
    heap.add_root_provider(Box::new(Caller {
        heap: heap.downgrade(),
        other,
        call: call.to_owned(),
        done: false,
    }));
    heap.mutator().collect(CollectionKind::Minor);
    unreachable!("the collection must abort");
}

#[test]
fn a_provider_calling_into_its_heap_aborts_with_a_clear_message() {
    if let Ok(call) = std::env::var(CHILD) {
        child(&call);
        return;
    }
    for (call, what) in [
        ("stats", "Heap::stats"),
        ("pauses", "Heap::pauses"),
        ("remove", "Heap::add_root_provider"),
        ("mutator", "Heap::mutator"),
    ] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([TEST, "--exact", "--nocapture", "--test-threads", "1"])
            .env(CHILD, call)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.signal(),
            Some(6),
            "{call}: SIGABRT expected; stderr: {stderr}"
        );
        assert!(
            stderr.contains(&format!("{what} called from a root provider's visit_roots")),
            "{call}: {stderr}"
        );
    }
}

/// Outside a provider the same calls work, on the same thread, between collections.
#[test]
fn the_same_calls_work_outside_a_provider() {
    let heap = Heap::new(Config::default()).unwrap();
    heap.mutator().collect(CollectionKind::Minor);
    assert_eq!(heap.stats().minor_collections, 1);
    assert_eq!(heap.pauses().len(), 1);
    heap.remove_root_provider_any();
    drop(heap.mutator());
}
