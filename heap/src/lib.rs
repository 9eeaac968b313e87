//! contgc-heap: the object model and the memory the collector manages.
//!
//! This crate owns the layout of every managed object (a [`Header`] word followed by
//! its payload), the embedder's [`TypeDescriptor`]s and the table they are registered
//! in, and the three spaces objects live in:
//!
//! - [`nursery`]: eden plus two survivor semispaces in one reserved region, filled by
//!   bump-pointer allocation through thread-local buffers and evacuated by the minor GC;
//! - [`old_space`]: non-moving, size-segregated blocks, whose block table doubles as the
//!   object-start map (any interior address maps to its object in O(1));
//! - [`large_objects`]: big objects, allocated apart and never copied.
//!
//! It also owns the byref slot format ([`byref`]) and the nursery's object-start index
//! ([`nursery_index`]), built by one linear walk when a collection needs to resolve a
//! byref into the nursery.
//!
//! It knows nothing about roots, barriers or collection policy (those are
//! `contgc-roots` and `contgc-collector`). It must never hold a pointer into the heap
//! across a collection on its own behalf, and never interpret a word as a reference
//! unless a type descriptor says it is one: scanning is precise.

#![warn(missing_docs)]

pub mod byref;
pub mod continuation_prefix;
pub mod descriptor;
pub mod header;
pub mod large_objects;
pub mod nursery;
pub mod nursery_index;
pub mod object;
pub mod old_space;
mod region;
pub mod size_classes;
pub mod types;

pub use descriptor::{DescriptorError, SizeKind, SlotKind, TypeDescriptor, TypeInfo};
pub use header::Header;
pub use large_objects::LargeObjectSpace;
pub use nursery::Nursery;
pub use nursery_index::NurseryIndex;
pub use object::{ObjectRef, HEADER_SIZE};
pub use old_space::{OldSpace, BLOCK_SIZE};
pub use types::{TypeId, TypeTable, FILLER_TYPE_INDEX};

/// Every object is aligned to, and sized in multiples of, this many bytes.
pub const ALIGN: usize = 8;

/// The largest object (header included) the heap accepts, in bytes.
pub const MAX_OBJECT_BYTES: usize = 1 << 30;

/// The smallest object, header included: room for a header and a free-list link.
pub const MIN_OBJECT_BYTES: usize = 16;

/// Rounds `n` up to a multiple of [`ALIGN`].
#[inline(always)]
pub const fn align_up(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}
