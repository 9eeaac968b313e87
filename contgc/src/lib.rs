//! contgc: a generational tracing garbage collector whose collector understands
//! suspended asynchronous work.
//!
//! This facade re-exports the member crates: [`heap`] (object model and spaces),
//! [`roots`] (handles, scoped roots, root providers, suspended-task groups),
//! [`collector`] (collection, barrier, byref resolution, mutator API) and
//! [`continuation`] (suspended frames as heap objects, chain dispatch). The most used
//! items are re-exported at the top level. The benchmarks and the `contgc`
//! command-line tool are the workspace's root package, `contgc-bench`.
//!
//! ```
//! use contgc::{CollectionKind, Config, Heap, TypeDescriptor};
//!
//! let heap = Heap::new(Config::default()).unwrap();
//! // A cons cell: a reference to the next cell, then a 64-bit value.
//! let cell = heap
//!     .register_type(&TypeDescriptor::fixed("Cell", 16).with_refs(&[0]))
//!     .unwrap();
//! let mut m = heap.mutator();
//! m.scope(|s| {
//!     let mut list = None;
//!     for i in 0..100u64 {
//!         list = s.scope_escape(|s| {
//!             let c = s.alloc(cell).unwrap();
//!             s.write_u64(c, 8, i);
//!             s.set_ref(c, 0, list);
//!             Some(c)
//!         });
//!     }
//!     s.collect(CollectionKind::Major); // objects move; locals follow them
//!     let head = list.unwrap();
//!     assert_eq!(s.read_u64(head, 8), 99);
//! });
//! ```

#![warn(missing_docs)]

pub use contgc_collector as collector;
pub use contgc_continuation as continuation;
pub use contgc_heap as heap;
pub use contgc_roots as roots;

pub use contgc_collector::{
    AllocError, CollectionKind, Config, ConfigBuilder, ConfigError, ContinuationPlacement,
    DescriptorError, Heap, HeapError, HeapStats, Local, Mutator, ObjectRef, PauseRecord,
    PauseSummary, Persistent, Plain, Resumed, RootMode, RootProvider, RootProviderId, RootVisitor,
    Scope, TaskRoot, TaskletWord, TypeDescriptor, TypeId, Typed,
};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
