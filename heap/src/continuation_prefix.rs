//! The words every continuation object starts with, as the object model knows them.
//!
//! A type registered with [`TypeDescriptor::as_continuation`](crate::TypeDescriptor::as_continuation)
//! begins its payload with two private words that only the continuation crate
//! writes: `next` (a traced reference to the caller's continuation, or null), and the
//! suspension state (`u32`) with the flags word (`u32`). There is no code pointer: the
//! code that resumes a frame belongs to its frame type (found from the type index in
//! the object's header). The collector reads the prefix only to verify chains; the
//! continuation crate builds its layout on these offsets.

/// Payload offset of `next`: the caller's continuation (a private reference), or 0.
pub const NEXT_OFFSET: usize = 0;
/// Payload offset of the suspension state (`u32`).
pub const STATE_OFFSET: usize = 8;
/// Payload offset of the flags word (`u32`); 0 until the frame is first captured.
pub const FLAGS_OFFSET: usize = 12;
/// Bytes of the prefix; the frame's own slots follow it.
pub const PREFIX_BYTES: usize = 16;

/// Flags bit: the continuation has been consumed by a resumption and not captured
/// into since (resumption is one-shot). A registered suspended task's chain never
/// holds a consumed continuation.
pub const FLAG_RESUMED: u32 = 1 << 3;
/// Flags bit: the continuation has been linked into a chain since it was captured.
pub const FLAG_LINKED: u32 = 1 << 4;
/// Flags bit: the continuation has been captured into at least once. Set by the
/// first capture and never cleared; a continuation without it was allocated and
/// never captured (its flags word is still the allocator's zero), so it has no
/// suspension point to resume at.
pub const FLAG_CAPTURED: u32 = 1 << 6;

/// How [`follow_chain`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainEnd<B> {
    /// It reached a null `next`.
    Null,
    /// The chain loops: `next` came back to a continuation already visited.
    Cycle,
    /// The step function stopped it with this value.
    Stopped(B),
}

/// Follows a continuation chain from `head` through `next`, calling `step` with each
/// continuation's address before reading its `next`, and detecting a cycle with the
/// tortoise-and-hare method (no allocation, O(length) steps). `step` vets each address
/// (and may stop the walk); only addresses it lets pass are read.
///
/// # Safety
/// Every address `step` returns `Continue` for must be a live continuation whose
/// prefix can be read, and nothing may write the chain during the walk.
pub unsafe fn follow_chain<B>(
    head: usize,
    mut step: impl FnMut(usize) -> core::ops::ControlFlow<B>,
) -> ChainEnd<B> {
    let (mut fast, mut slow) = (head, head);
    let mut steps = 0u64;
    while fast != 0 {
        if let core::ops::ControlFlow::Break(b) = step(fast) {
            return ChainEnd::Stopped(b);
        }
        // SAFETY: `step` let `fast` pass: a live continuation (the caller's guarantee).
        fast = unsafe { next_of(fast) };
        steps += 1;
        if steps.is_multiple_of(2) {
            // SAFETY: `slow` trails `fast` over continuations `step` already passed.
            slow = unsafe { next_of(slow) };
            if slow == fast && fast != 0 {
                return ChainEnd::Cycle;
            }
        }
    }
    ChainEnd::Null
}

/// The `next` word of the continuation at `addr`.
///
/// # Safety
/// `addr` must be a live continuation.
#[inline(always)]
unsafe fn next_of(addr: usize) -> usize {
    let k = crate::ObjectRef::from_addr(addr).expect("non-null");
    // SAFETY: the caller's guarantee; NEXT_OFFSET is an aligned word of the payload.
    unsafe { k.load_slot(NEXT_OFFSET) }
}
