//! contgc-continuation: suspended async frames as ordinary heap objects.
//!
//! In the async2 ("runtime handled tasks") model, an await that cannot complete makes
//! every frame on the way up capture its live state into a *continuation* and return;
//! a dispatcher later resumes the chain from the leaf. This crate owns that
//! representation:
//!
//! - [`layout`]: the continuation object, `{ next, state, flags, payload }` in one
//!   allocation, with fixed, documented offsets for generated code, and
//!   [`FrameType`]s (one per method, covering all its suspension points, with the
//!   method's resume function) registered with the heap as type descriptors;
//! - [`capture`]: writing a frame's live state (data, references, byrefs) into its
//!   continuation, reusing the continuation of a resumed frame, and linking a chain
//!   leaf -> root ([`Suspension`]);
//! - [`dispatch`]: resuming a chain, propagating each frame's result into the next
//!   continuation's result slot, and unwinding an exception to the next frame whose
//!   flags say it handles exceptions; resumption is one-shot;
//! - [`mod@async_stack`]: a chain's logical async stack (frame names and suspension
//!   points, leaf to root) for diagnostics.
//!
//! The collector never depends on this crate: it knows a continuation only through
//! its type descriptor (which words are references, which are byrefs, that slot 0 is
//! `next`). This crate never touches collector internals; it uses the mutator API.

#![warn(missing_docs)]

pub mod async_stack;
pub mod capture;
pub mod dispatch;
pub mod layout;

pub use async_stack::{async_stack, AsyncStack, StackEnd, StackFrame};
pub use capture::{Capture, Continuation, Suspension};
pub use dispatch::{
    resume_chain, resume_chain_cached, resume_chain_with, ChainOutcome, Frame, FrameTypeCache,
    Outcome, ResumeError, ResumeFn, Value,
};
pub use layout::{ContinuationFields, FrameLayout, FrameType, ResultKind, MAX_PAYLOAD_BYTES};
