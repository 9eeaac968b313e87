//! contgc-roots: everything outside the heap that keeps objects alive.
//!
//! What an embedder sees of this crate:
//!
//! - [`Persistent`]: a strong root the embedder creates (through a mutator's scope) and
//!   drops, which follows its object when the collector moves it;
//! - [`RootProvider`]: the trait through which an embedder reports its own roots (an
//!   interpreter's operand stack, say) to every collection and has them updated when
//!   objects move, with [`RootVisitor`] and [`RootProviderId`];
//! - [`TaskRoot`]: a suspended task, held by whatever will resume it: the head of a
//!   continuation chain, or a [`Tasklet`] (frames captured off the heap); and
//!   [`RootMode`], how a minor collection finds the suspended tasks it must visit.
//!
//! Suspended-task roots are kept in groups that age, so that a minor collection skips
//! the groups whose members refer only to old objects: it reads the groups' ages, eight
//! to a machine word, and visits only young groups (`docs/DESIGN.md` in the
//! repository describes the scheme and its invariant).
//!
//! The tables behind these roots (the handle table, the scoped-root stack behind a
//! mutator's locals, the registry of providers, the suspended-task registry) are the
//! collector's: it visits and updates their slots while the world is stopped. They sit
//! behind the `internal` path, which is not part of the API.
//!
//! This crate stores root slots and lets the collector visit them; it never reads or
//! moves objects itself. Every slot holds 0 (empty) or the address of an object header.

#![warn(missing_docs)]

mod handles;
mod provider;
mod shadow_stack;
mod task_groups;
mod tasklet;
mod weak_handles;

pub use handles::Persistent;
pub use provider::{RootProvider, RootProviderId, RootVisitor};
pub use task_groups::{Member, RootMode, TaskRoot};
pub use tasklet::Tasklet;
pub use weak_handles::{Finalizer, WeakHandle};

/// Collector-internal: the tables behind the roots.
///
/// Everything here is used by `contgc-collector`, which visits and updates the slots
/// while the world is stopped and keeps the ownership rules of task groups (a group is
/// filled only by the mutator that acquired it). It is not part of this crate's API and
/// may change at any time; embedders use the `contgc` library, which does not export it.
#[doc(hidden)]
pub mod internal {
    pub use crate::handles::{HandleTable, HANDLES_PER_BLOCK};
    pub use crate::provider::RootProviders;
    pub use crate::shadow_stack::ShadowStack;
    pub use crate::task_groups::{
        GroupFull, Inspector, LocatorCache, MemberVisitor, TaskRegistry, AGE_OLD, AGE_YOUNG,
        GROUP_SIZE,
    };
    pub use crate::weak_handles::{Cleanup, WeakTable};
}
