//! The logical async stack of a chain: what each suspended frame is and where it
//! waits, leaf to root, for diagnostics (an async stack trace) without the embedder
//! walking `next` itself.
//!
//! ```
//! use contgc_collector::{Config, Heap};
//! use contgc_continuation::{async_stack, Capture, Frame, FrameLayout, Outcome, Suspension, Value};
//!
//! fn done<'s>(_: &mut Frame<'_, 's>) -> Outcome<'s> {
//!     Outcome::Return(Value::Unit)
//! }
//! let heap = Heap::new(Config::default()).unwrap();
//! let leaf_ft = FrameLayout::new("ReadLine").register(&heap, done).unwrap();
//! let main_ft = FrameLayout::new("Main").register(&heap, done).unwrap();
//! let mut m = heap.mutator();
//! m.scope(|s| {
//!     let leaf = Capture::begin(s, &leaf_ft, None, 3).unwrap().finish();
//!     let main = Capture::begin(s, &main_ft, None, 1).unwrap().finish();
//!     let mut chain = Suspension::new();
//!     chain.push(s, leaf);
//!     chain.push(s, main);
//!     let stack = async_stack(s, leaf);
//!     assert_eq!(stack.to_string(), "at ReadLine (suspension point 3)\nat Main (suspension point 1)\n");
//! });
//! ```

use crate::capture::Continuation;
use crate::layout::{flags, FLAGS_OFFSET, STATE_OFFSET};
use contgc_collector::{ObjectRef, Scope};
use contgc_heap::continuation_prefix::{follow_chain, ChainEnd};
use std::fmt;
use std::ops::ControlFlow;

/// One frame of a logical async stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackFrame {
    /// The frame type's name (its `FrameLayout` name).
    pub name: String,
    /// The suspension point the frame waits at.
    pub state: u32,
    /// The continuation's type index (see [`Scope::type_name`]).
    pub type_index: u32,
    /// False if the frame was already resumed (consumed) and not captured into since:
    /// such a frame on a chain will not run again.
    pub resumable: bool,
}

/// How the walk of a chain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackEnd {
    /// At the root frame (`next` null).
    Root,
    /// The chain loops back to a frame already listed.
    Cycle,
    /// A `next` (or the leaf's local) does not hold a continuation.
    NotAContinuation,
}

/// A chain's frames, leaf first, and how the chain ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsyncStack {
    /// The frames, from the leaf (innermost, where the await is) to the root.
    pub frames: Vec<StackFrame>,
    /// Why the list ends.
    pub end: StackEnd,
}

impl fmt::Display for AsyncStack {
    /// One line per frame, `at NAME (suspension point N)`, leaf first; consumed frames
    /// and an abnormal end are said.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for fr in &self.frames {
            write!(f, "at {} (suspension point {})", fr.name, fr.state)?;
            if !fr.resumable {
                write!(f, " [already resumed]")?;
            }
            writeln!(f)?;
        }
        match self.end {
            StackEnd::Root => Ok(()),
            StackEnd::Cycle => writeln!(f, "... (the chain loops)"),
            StackEnd::NotAContinuation => writeln!(f, "... (next is not a continuation)"),
        }
    }
}

/// The logical async stack of the chain whose leaf is `leaf`: each frame's name and
/// suspension point, leaf to root. Reads the chain without changing or resuming it,
/// allocates no heap object, and ends cleanly at a cycle or a non-continuation.
///
/// After [`resume_chain`](crate::resume_chain) returns `Threw` or an error, the same
/// call on the leaf it was given shows the path the exception took: the frames it ran
/// or unwound through are listed as not resumable.
pub fn async_stack<'s>(scope: &mut Scope<'s>, leaf: Continuation<'s>) -> AsyncStack {
    let head = scope.raw(leaf.local()).addr();
    let mut frames = Vec::new();
    let step = |addr: usize| {
        let k = ObjectRef::from_addr(addr).expect("non-null");
        // SAFETY: `addr` is the leaf's current address or a `next` read from a live
        // continuation: a live object of this heap (nothing allocates on the heap
        // during this walk).
        let ti = unsafe { k.header() }.type_index();
        if !scope.is_continuation_type(ti) {
            return ControlFlow::Break(());
        }
        // SAFETY: a live continuation; STATE and FLAGS are its private words.
        let (state, fl) = unsafe { (k.load_u32(STATE_OFFSET), k.load_u32(FLAGS_OFFSET)) };
        frames.push(StackFrame {
            name: scope.type_name(ti).unwrap_or("?").to_owned(),
            state,
            type_index: ti,
            // Consumed, or never captured into (no suspension point), is not.
            resumable: fl & flags::RESUMED == 0 && fl & flags::CAPTURED != 0,
        });
        ControlFlow::Continue(())
    };
    // SAFETY: `step` lets pass only continuations (type checked), and the chain is not
    // written while it runs.
    let end = match unsafe { follow_chain(head, step) } {
        ChainEnd::Null => StackEnd::Root,
        ChainEnd::Cycle => StackEnd::Cycle,
        ChainEnd::Stopped(()) => StackEnd::NotAContinuation,
    };
    AsyncStack { frames, end }
}
