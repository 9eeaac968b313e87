//! The verifier's check of the continuation chains that suspended tasks hold.
//!
//! A registered heap task's chain runs from its head (the leaf) through `next` to the
//! root frame. It must be: only continuations; each captured (its flags word has the
//! `CAPTURED` bit, which the first capture sets and nothing clears: a continuation
//! that was allocated and never captured has the allocator's zero flags); none
//! consumed (resumption is one-shot, so a consumed frame on a registered chain would
//! run twice, or is a caller left behind by a frame that suspended without it); and
//! finite (no cycle). The walk reads the object model's continuation prefix
//! ([`contgc_heap::continuation_prefix`]) and allocates nothing.

use contgc_heap::continuation_prefix::{
    follow_chain, ChainEnd, FLAGS_OFFSET, FLAG_CAPTURED, FLAG_RESUMED,
};
use contgc_heap::ObjectRef;
use std::ops::ControlFlow;

/// Checks the chain starting at continuation `head`; `is_continuation(addr)` says
/// whether `addr` is a live continuation object. Returns a description of the first
/// fault.
///
/// # Safety
/// The world must be stopped, and every address `is_continuation` accepts must be a
/// live continuation whose prefix words can be read.
pub(crate) unsafe fn check_task_chain(
    head: usize,
    is_continuation: &dyn Fn(usize) -> bool,
) -> Result<(), String> {
    let mut depth = 0u64;
    let step = |k: usize| {
        let at = depth;
        depth += 1;
        if !is_continuation(k) {
            return ControlFlow::Break(format!(
                "reaches {k:#x} at depth {at}, which is not a continuation"
            ));
        }
        let obj = ObjectRef::from_addr(k).expect("non-null");
        // SAFETY: `obj` is a live continuation (the caller's guarantee for addresses
        // `is_continuation` accepts); the flags word is a plain word of its prefix.
        let flags = unsafe { obj.load_u32(FLAGS_OFFSET) };
        if flags & FLAG_CAPTURED == 0 {
            return ControlFlow::Break(format!(
                "holds {k:#x} at depth {at}, which was never captured"
            ));
        }
        if flags & FLAG_RESUMED != 0 {
            return ControlFlow::Break(format!(
                "holds {k:#x} at depth {at}, which is not resumable: already resumed (a \
                 frame would run twice, or its callee suspended without it: an orphaned \
                 caller), or left mid-capture (a `Capture` begun on it and never finished)"
            ));
        }
        ControlFlow::Continue(())
    };
    // SAFETY: `step` passes only live continuations (checked with `is_continuation`);
    // the world is stopped.
    match unsafe { follow_chain(head, step) } {
        ChainEnd::Null => Ok(()),
        ChainEnd::Cycle => Err(format!(
            "a suspended task's chain (head {head:#x}) has a cycle"
        )),
        ChainEnd::Stopped(e) => Err(format!("a suspended task's chain (head {head:#x}) {e}")),
    }
}
