//! The verifier's check of the continuation chains that suspended tasks hold.
//!
//! A registered heap task's chain runs from its head (the leaf) through `next` to the
//! root frame. It must be: only continuations; each captured (a resume word); none
//! consumed (resumption is one-shot, so a consumed frame on a registered chain would
//! run twice, or is a caller left behind by a frame that suspended without it); and
//! finite (no cycle). The walk reads the object model's continuation prefix
//! ([`contgc_heap::continuation_prefix`]) and allocates nothing.

use contgc_heap::continuation_prefix::{FLAGS_OFFSET, FLAG_RESUMED, NEXT_OFFSET, RESUME_OFFSET};
use contgc_heap::ObjectRef;

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
    let (mut fast, mut slow) = (head, head);
    let mut depth = 0u64;
    while fast != 0 {
        if !is_continuation(fast) {
            return Err(format!(
                "a suspended task's chain (head {head:#x}) reaches {fast:#x} at depth {depth}, \
                 which is not a continuation"
            ));
        }
        let k = ObjectRef::from_addr(fast).expect("non-null");
        // SAFETY: `k` is a live continuation (the caller's guarantee for addresses
        // `is_continuation` accepts); the prefix words are plain words.
        let (resume, flags, next) = unsafe {
            (
                k.load_slot(RESUME_OFFSET),
                k.load_u32(FLAGS_OFFSET),
                k.load_slot(NEXT_OFFSET),
            )
        };
        if resume == 0 {
            return Err(format!(
                "a suspended task's chain (head {head:#x}) holds {fast:#x} at depth {depth}, \
                 which was never captured"
            ));
        }
        if flags & FLAG_RESUMED != 0 {
            return Err(format!(
                "a suspended task's chain (head {head:#x}) holds {fast:#x} at depth {depth}, \
                 which was already resumed (a frame would run twice, or its callee \
                 suspended without it: an orphaned caller)"
            ));
        }
        fast = next;
        depth += 1;
        if depth.is_multiple_of(2) {
            // SAFETY: `slow` trails `fast` over continuations already checked.
            slow = unsafe {
                ObjectRef::from_addr(slow)
                    .expect("non-null")
                    .load_slot(NEXT_OFFSET)
            };
            if slow == fast && fast != 0 {
                return Err(format!(
                    "a suspended task's chain (head {head:#x}) has a cycle through {fast:#x}"
                ));
            }
        }
    }
    Ok(())
}
