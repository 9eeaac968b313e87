//! contgc-heap: the object model and the memory the collector manages.
//!
//! What an embedder (or a code generator using the raw layer) sees of this crate is the
//! object model:
//!
//! - [`object`]: [`ObjectRef`], the address of an object's [`Header`] word, which is
//!   followed by the payload; [`header`] documents the header word bit by bit;
//! - [`descriptor`]: the [`TypeDescriptor`]s embedders register (name, fixed or
//!   variable size, reference, byref and private slots), validated into a
//!   [`TypeInfo`]; [`types`]: the [`TypeId`] a registration returns;
//! - [`byref`]: the two-word byref slot format;
//! - [`size_classes`]: the cell sizes of the old space ([`cell_size`]: what an old
//!   object occupies, and what the heap's statistics count), and [`MAX_SMALL_OBJECT`],
//!   above which objects are large.
//!
//! The spaces objects live in (the nursery with its object-start index, the
//! size-segregated old space with its side mark map and its blocks faulted in ahead of
//! promotion, the large-object space) and the type table are the
//! collector's: their methods assume the collector's protocol (a stopped world, retired
//! allocation buffers, marks set by a major collection), so they sit behind the
//! `internal` path, which is not part of the API and may change at any time.
//! `docs/DESIGN.md` in the repository describes them.
//!
//! This crate knows nothing about roots, barriers or collection policy (those are
//! `contgc-roots` and `contgc-collector`). It must never hold a pointer into the heap
//! across a collection on its own behalf, and never interpret a word as a reference
//! unless a type descriptor says it is one: scanning is precise.

#![warn(missing_docs)]

pub mod byref;
pub mod continuation_prefix;
pub mod descriptor;
pub mod header;
mod large_objects;
mod nursery;
mod nursery_index;
pub mod object;
mod old_space;
mod region;
pub mod size_classes;
mod type_table;
pub mod types;

pub use descriptor::{
    DescriptorError, SizeKind, SlotKind, TagScheme, TypeAttachment, TypeDescriptor, TypeInfo,
};
pub use header::Header;
pub use object::{ObjectRef, HEADER_SIZE};
pub use size_classes::{cell_size, MAX_SMALL_OBJECT};
pub use types::TypeId;

/// Collector-internal: the spaces and the type table.
///
/// Everything here is used by `contgc-collector` and assumes the collector's protocol
/// (the world stopped where a method says so, every allocation buffer retired before a
/// walk, marks set only by a major collection). It is not part of this crate's API and
/// may change at any time; embedders use the `contgc` library, which does not export it.
#[doc(hidden)]
pub mod internal {
    pub use crate::large_objects::LargeObjectSpace;
    pub use crate::nursery::Nursery;
    pub use crate::nursery_index::NurseryIndex;
    pub use crate::old_space::{
        BlockReservation, OldSpace, PromotionBuffers, SweepOutcome, BLOCK_SIZE,
    };
    pub use crate::type_table::TypeTable;
}

/// Every object is aligned to, and sized in multiples of, this many bytes (8).
pub const ALIGN: usize = 8;

/// The largest object (header included) the heap accepts: 1 GiB (2^30 =
/// 1,073,741,824 bytes).
pub const MAX_OBJECT_BYTES: usize = 1 << 30;

/// The smallest object, header included: 16 bytes, room for a header and a free-list
/// link.
pub const MIN_OBJECT_BYTES: usize = 16;

/// Rounds `n` up to a multiple of [`ALIGN`].
#[inline(always)]
pub const fn align_up(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}
