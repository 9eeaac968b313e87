//! The words every continuation object starts with, as the object model knows them.
//!
//! A type registered with [`TypeDescriptor::as_continuation`](crate::TypeDescriptor::as_continuation)
//! begins its payload with three private words that only the continuation crate
//! writes: `next` (a traced reference to the caller's continuation, or null), the
//! resume code address, and the suspension state (`u32`) with the flags word (`u32`).
//! The collector reads them only to verify chains (it never interprets the resume
//! word); the continuation crate builds its layout on these offsets.

/// Payload offset of `next`: the caller's continuation (a private reference), or 0.
pub const NEXT_OFFSET: usize = 0;
/// Payload offset of the resume code address (0 until the frame is captured).
pub const RESUME_OFFSET: usize = 8;
/// Payload offset of the suspension state (`u32`).
pub const STATE_OFFSET: usize = 16;
/// Payload offset of the flags word (`u32`).
pub const FLAGS_OFFSET: usize = 20;
/// Bytes of the prefix; the frame's own slots follow it.
pub const PREFIX_BYTES: usize = 24;

/// Flags bit: the continuation has been consumed by a resumption and not captured
/// into since (resumption is one-shot). A registered suspended task's chain never
/// holds a consumed continuation.
pub const FLAG_RESUMED: u32 = 1 << 3;
/// Flags bit: the continuation has been linked into a chain since it was captured.
pub const FLAG_LINKED: u32 = 1 << 4;
