//! contgc: a generational tracing garbage collector whose collector understands
//! suspended asynchronous work.
//!
//! This is the library an embedder depends on. It exports the embedding API:
//!
//! - the heap and its threads: [`Heap`] (shared), [`Mutator`] (one per thread),
//!   [`Config`] and its builder, [`RootMode`] and [`ContinuationPlacement`];
//! - types: [`TypeDescriptor`] (with [`SizeKind`] and [`SlotKind`]) registered into a
//!   [`TypeId`], and typed allocation of [`Plain`] values through [`Typed`];
//! - the safe object API: [`Scope`] and its [`Local`]s, [`Byref`]s, [`Persistent`]
//!   handles;
//! - roots the embedder owns: [`RootProvider`] (with [`RootVisitor`] and
//!   [`RootProviderId`]) and suspended tasks ([`TaskRoot`], [`Resumed`],
//!   [`TaskletWord`]);
//! - errors ([`AllocError`], [`ByrefError`], [`ConfigError`], [`DescriptorError`],
//!   [`HeapError`]) and statistics ([`HeapStats`], [`PauseRecord`] with its [`PauseParts`], [`PauseSummary`],
//!   [`Census`], [`CollectionKind`]);
//! - [`continuation`]: suspended frames as heap objects, capture and chain dispatch;
//! - [`executor`]: the async2 executor on top: tasks and join handles, awaiters
//!   (yield, sleep, completions, channels, join, Rust futures), task-local context, a
//!   current-thread runtime and a multi-threaded work-stealing executor;
//! - [`raw`]: what the documented `unsafe` raw layer on [`Mutator`] works with
//!   ([`ObjectRef`], the header word, the byref slot format, [`raw::Tasklet`]), for
//!   code generators.
//!
//! The items are defined in the workspace's inner crates and re-exported here, so
//! their documentation (examples included) names them by those crates:
//! `contgc_collector::Heap` is [`Heap`], `contgc_continuation::Capture` is
//! [`continuation::Capture`], `contgc_executor::Runtime` is [`executor::Runtime`].
//! Depending on `contgc` alone is enough; write `contgc::...` for those paths.
//!
//! The spaces, the root tables and the collection machinery are not exported: their
//! methods assume the collector's protocol (a stopped world, retired allocation
//! buffers, marks set by a major collection), which only the collector keeps. The
//! benchmarks and the `contgc` command-line tool are the workspace's root package,
//! `contgc-bench`.
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

pub use contgc_collector::{
    AllocError, Byref, ByrefError, Census, CollectionKind, Config, ConfigBuilder, ConfigError,
    ContinuationPlacement, DataField, DescriptorError, FieldError, Finalizer, Heap, HeapError,
    HeapStats, LiveHeap, Local, Mutator, NestedScope, ObjView, ObjViewMut, ObjectRef, Parked,
    ParkedMutator, PauseParts, PauseRecord, PauseSummary, Persistent, PinError, Pinned, Plain,
    RefField, Resumed, RootMode, RootProvider, RootProviderId, RootVisitor, Scope, TagScheme,
    Tagged, TaggedError, TaskRoot, TaskletWord, TypeAttachment, TypeDescriptor, TypeId, Typed,
    WeakHandle, WeakHeap, MAX_GC_WORKERS,
};
pub use contgc_heap::{cell_size, SizeKind, SlotKind, MAX_OBJECT_BYTES, MAX_SMALL_OBJECT};

pub mod continuation {
    //! Suspended async frames as heap objects: [`FrameLayout`]s registered as
    //! [`FrameType`]s, [`Capture`] of a frame's live state into its continuation, chains
    //! built with [`Suspension`] and resumed by [`resume_chain`] (or [`resume_chain_with`],
    //! which hands frame code a context of the embedder's type); [`layout`] gives the
    //! continuation's fixed offsets for generated code.

    // The continuation crate is embedding API throughout: all of it is exported.
    pub use contgc_continuation::*;
}

pub mod executor {
    //! The async2 executor: tasks are continuation chains plus a completion.
    //! [`Runtime`] runs them on the calling thread, [`Executor`] on worker threads;
    //! frame code reaches its task through [`Cx`] (awaiters, task-local context,
    //! spawning) and awaits return a [`Step`]. Everything public in the
    //! `contgc-executor` crate is re-exported here; its crate documentation (how tasks,
    //! awaits and wakes work) is on the `contgc_executor` page of the workspace's
    //! documentation (`cargo doc --workspace`).

    pub use contgc_executor::*;
}

pub mod raw {
    //! The raw layer: what code generators using the `unsafe` methods of [`Mutator`](crate::Mutator)
    //! (`alloc_raw`, `store_ref`, `load_ref`, `store_byref`, `write_barrier`, `push_root`,
    //! `suspend_task_raw`, ...) work with. The rules are in the rustdoc of those methods;
    //! the continuation layout's offsets are in
    //! [`continuation::layout`](crate::continuation::layout).
    //!
    //! - [`ObjectRef`]: the address of an object's header word, with `unsafe` accessors;
    //! - [`header`]: the header word's bits (a write barrier inlined into generated code
    //!   tests [`header::UNLOGGED`]);
    //! - [`byref`]: the two-word byref slot format;
    //! - [`TypeInfo`]: a validated descriptor, as
    //!   [`TypeDescriptor::validate`](crate::TypeDescriptor::validate) returns it;
    //! - [`Tasklet`] (frames captured off the heap, for `suspend_tasklet_raw`) and
    //!   [`Member`] (what `TaskRoot::take` gives back).
    pub use contgc_heap::descriptor::FieldCheck;
    pub use contgc_heap::{
        align_up, byref, header, Header, ObjectRef, TypeInfo, ALIGN, HEADER_SIZE, MIN_OBJECT_BYTES,
    };
    pub use contgc_roots::{Member, Tasklet};
}

#[cfg(test)]
mod tests {
    use super::continuation::{Frame, FrameLayout, Outcome, Value, MAX_PAYLOAD_BYTES};
    use super::{Config, DescriptorError, Heap};

    fn done<'s>(_: &mut Frame<'_, 's>) -> Outcome<'s> {
        Outcome::Return(Value::Unit)
    }

    #[test]
    fn the_continuation_size_limit_is_the_one_register_enforces() {
        let heap = Heap::new(Config::default()).unwrap();
        // 16 bytes of fixed fields (`next`, state and flags), then the data.
        let data = (MAX_PAYLOAD_BYTES - 16) as u32;
        let ft = FrameLayout::new("Largest")
            .data_bytes(data)
            .register(&heap, done);
        assert_eq!(ft.unwrap().object_size(), MAX_PAYLOAD_BYTES + 8);
        let err = FrameLayout::new("TooLarge")
            .data_bytes(data + 1)
            .register(&heap, done)
            .unwrap_err();
        assert_eq!(
            err,
            DescriptorError::TooLarge {
                size: MAX_PAYLOAD_BYTES as u64 + 8,
                max: MAX_PAYLOAD_BYTES as u64
            }
        );
    }
}

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
