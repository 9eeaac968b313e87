//! Errors the heap reports to its embedder.

use std::fmt;

/// An allocation the heap could not satisfy. The heap is unchanged and still usable:
/// free some objects (drop handles, clear references) and try again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// Even after a full collection the allocation would exceed the heap limit.
    HeapLimit {
        /// Bytes asked for.
        requested: usize,
        /// Bytes counted against the limit after the collection: old-generation blocks
        /// in use (live objects and the free cells among them) plus large objects.
        in_use: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The system allocator refused memory for a large object.
    System {
        /// Bytes asked for.
        requested: usize,
    },
    /// The object would be larger than any object the heap accepts.
    TooLarge {
        /// Bytes asked for (saturated on overflow).
        requested: usize,
        /// The largest object size accepted.
        max: usize,
    },
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::HeapLimit {
                requested,
                in_use,
                limit,
            } => write!(
                f,
                "out of memory: allocating {requested} bytes with {in_use} bytes of old blocks and large objects in use after a full collection would exceed the heap limit of {limit} bytes"
            ),
            AllocError::System { requested } => write!(
                f,
                "out of memory: the system refused {requested} bytes for a large object"
            ),
            AllocError::TooLarge { requested, max } => write!(
                f,
                "object of {requested} bytes exceeds the largest object size of {max} bytes"
            ),
        }
    }
}

impl std::error::Error for AllocError {}

/// Why a heap could not be created. (A configuration is checked when it is built,
/// by [`ConfigBuilder::build`](crate::ConfigBuilder::build), so a [`Config`](crate::Config)
/// is always valid.)
#[derive(Debug)]
pub enum HeapError {
    /// Address space could not be reserved.
    Reserve(std::io::Error),
}

impl fmt::Display for HeapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeapError::Reserve(e) => write!(f, "cannot reserve heap memory: {e}"),
        }
    }
}

impl std::error::Error for HeapError {}

/// A byref the heap refused to capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ByrefError {
    /// The slot written is not a byref slot of the object.
    NotAByrefSlot {
        /// Offset given.
        offset: usize,
        /// The object's type.
        type_name: String,
    },
    /// The target offset lies past the end of the target object's payload.
    OutOfBounds {
        /// Offset given.
        offset: usize,
        /// Payload bytes of the target.
        payload: usize,
    },
    /// An address given as external lies in the heap (capture it with its base object).
    InsideHeap {
        /// The address.
        addr: usize,
    },
}

impl fmt::Display for ByrefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ByrefError::NotAByrefSlot { offset, type_name } => {
                write!(f, "offset {offset} of a {type_name} is not a byref slot")
            }
            ByrefError::OutOfBounds { offset, payload } => write!(
                f,
                "byref offset {offset} lies past the end of a {payload}-byte payload"
            ),
            ByrefError::InsideHeap { addr } => write!(
                f,
                "address {addr:#x} lies in the heap; capture it with its base object"
            ),
        }
    }
}

impl std::error::Error for ByrefError {}

/// A tagged value the heap refused to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaggedError {
    /// An immediate whose bits say "reference" under the slot's tag scheme: stored, it
    /// would make the collector follow an arbitrary address. Store references as
    /// [`Tagged::Ref`](crate::Tagged::Ref).
    LooksLikeReference {
        /// The word given.
        word: u64,
    },
}

impl fmt::Display for TaggedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaggedError::LooksLikeReference { word } => write!(
                f,
                "immediate {word:#x} has the tag bits of a reference under the slot's tag scheme"
            ),
        }
    }
}

impl std::error::Error for TaggedError {}

/// A pin the heap refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinError {
    /// The young object could not be promoted (the old generation is full): it cannot
    /// be given a stable address.
    HeapFull,
    /// An unpin of an object that has no pin left.
    NotPinned {
        /// The object's address.
        addr: usize,
    },
}

impl fmt::Display for PinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinError::HeapFull => write!(
                f,
                "the young object could not be promoted to a place where it does not move: the heap is full"
            ),
            PinError::NotPinned { addr } => write!(f, "object {addr:#x} is not pinned"),
        }
    }
}

impl std::error::Error for PinError {}
