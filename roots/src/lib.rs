//! contgc-roots: everything outside the heap that keeps objects alive.
//!
//! - [`handles`]: persistent handles, strong roots the embedder creates and drops,
//!   stored in blocks of slots;
//! - [`shadow_stack`]: scoped roots, the slots behind a mutator's short-lived locals;
//! - [`provider`]: the trait through which an embedder reports its own roots (an
//!   interpreter stack, say) and has them updated when objects move;
//! - [`task_groups`]: suspended-task roots (continuation chain heads and
//!   [`tasklet`]s), kept in groups that age so that a minor collection skips the
//!   suspended tasks that refer only to old objects.
//!
//! This crate stores root slots and lets the collector visit them; it never reads or
//! moves objects itself. Every slot holds 0 (empty) or the address of an object header.

#![warn(missing_docs)]

pub mod handles;
pub mod provider;
pub mod shadow_stack;
pub mod task_groups;
pub mod tasklet;

pub use handles::{HandleTable, Persistent};
pub use provider::{RootProvider, RootProviderId, RootProviders, RootVisitor};
pub use shadow_stack::ShadowStack;
pub use task_groups::{Member, MemberVisitor, RootMode, TaskRegistry, TaskRoot};
pub use tasklet::Tasklet;
