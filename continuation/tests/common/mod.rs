//! Set-up shared by the continuation crate's integration tests.

use contgc_collector::{Config, Heap};

/// A heap with a nursery of `nursery_bytes` and the verifier after every collection.
pub fn verified_heap(nursery_bytes: usize) -> Heap {
    Heap::new(
        Config::builder()
            .nursery_size(nursery_bytes)
            .verify_after_gc(true)
            .build()
            .unwrap(),
    )
    .unwrap()
}
