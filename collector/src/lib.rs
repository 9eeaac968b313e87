//! contgc-collector: the generational collector and the mutator API.
//!
//! This crate owns collection: the stop-the-world handshake (`safepoint.rs`), the
//! minor collection that evacuates the nursery (`minor/`, its copy on several GC
//! workers when it has much to promote), the major mark-sweep collection (on several
//! GC workers; `work_pool.rs` and `gc_threads.rs` for both), the write barrier and remembered set, byref
//! resolution, weak references, ephemerons, finalization and pins, the visiting of
//! suspended-task roots, the policy that chooses between collections, pause
//! statistics and the heap verifier. It exposes [`Heap`] (shared by threads) and
//! [`Mutator`] (one per thread), with a safe API ([`Scope`], [`Local`], field tokens
//! and object views, typed allocation of [`Plain`] values, suspended tasks in
//! [`tasks`]) for the common embedding path and a documented `unsafe` raw layer on
//! [`Mutator`] for code generators.
//!
//! It must never let safe code hand the collector an address that is not a live object
//! of its heap, and never unwind out of a stopped world (a panic there aborts).
//!
//! # Generational barrier: object logging, not a card table
//! The write barrier logs *objects*: an old object carries an `UNLOGGED` header bit;
//! the first reference store into it clears the bit and appends the object to the
//! mutator's remembered-set log; later stores see the bit clear and do nothing more.
//! Young objects are born with the bit clear, so stores into them cost one load and a
//! not-taken branch. We chose this over a card table because a minor collection then
//! costs O(remembered objects), never O(old generation): a card table must be scanned
//! in full (or its dirty cards tracked in a second structure) and its cards' objects
//! found through the object-start map. A written large array is rescanned in full;
//! card marking for large arrays can be added where that matters.
//!
//! The collector never depends on the continuation crate and never scans
//! conservatively: every reference it follows is named by a type descriptor or handed
//! over by a root source.

#![warn(missing_docs)]

mod byrefs;
mod chain_check;
mod collection;
pub mod config;
pub mod error;
mod fields;
mod gc_threads;
mod heap;
mod major;
mod minor;
pub mod mutator;
mod pins;
mod safepoint;
mod scan;
pub mod scope;
mod spaces;
pub mod stats;
mod sync;
pub mod tasks;
pub mod typed;
mod verify;
mod work_pool;

pub use config::{Config, ConfigBuilder, ConfigError, ContinuationPlacement, MAX_GC_WORKERS};
pub use contgc_heap::{
    DescriptorError, ObjectRef, TagScheme, TypeAttachment, TypeDescriptor, TypeId,
};
pub use contgc_roots::{
    Finalizer, Persistent, RootMode, RootProvider, RootProviderId, RootVisitor, TaskRoot, Tasklet,
    WeakHandle,
};
pub use error::{AllocError, ByrefError, HeapError, PinError, TaggedError};
pub use fields::{DataField, FieldError, RefField};
pub use heap::{Heap, WeakHeap};
pub use mutator::{Mutator, ParkedMutator};
pub use scope::{Byref, Local, NestedScope, ObjView, ObjViewMut, Pinned, Scope, Tagged};
pub use stats::{
    Census, CollectionKind, HeapStats, LiveHeap, PauseParts, PauseRecord, PauseSummary,
};
pub use tasks::{Parked, Resumed, TaskletWord};
pub use typed::{Plain, Typed};

/// Collector-internal: the stop-the-world handshake and the GC workers' work pool,
/// exported only for this crate's loom model checks (`tests/loom_safepoint.rs`,
/// `tests/loom_work_pool.rs`). Not part of the API.
#[doc(hidden)]
pub mod internal {
    pub use crate::gc_threads::GcThreads;
    pub use crate::safepoint::{Rendezvous, WorldStopped};
    pub use crate::work_pool::{Packet, WorkPool};
}
