//! The byref slot format.
//!
//! A byref slot is two words: the **address** (an interior pointer, usable directly by
//! mutator code) followed by its **base** word, which says what the collector knows
//! about the address:
//!
//! | base word        | meaning                                                        |
//! |------------------|----------------------------------------------------------------|
//! | 0 ([`UNRESOLVED`]) | captured raw: the next collection finds the base object     |
//! | 1 ([`EXTERNAL`])   | not heap memory: kept as it is (the embedder's responsibility)|
//! | an object        | resolved: the address is `base + (address - base)`; the base is |
//! |                  | traced like a reference, and when it moves the address moves   |
//! |                  | with it                                                        |
//!
//! An address of 0 is a null byref (its base word is ignored). Capturing a byref costs
//! two stores (address, and 0 for the base word) plus the write barrier; resolving it
//! costs one object-start lookup, once.

use core::sync::atomic::{AtomicUsize, Ordering};

/// Bytes a byref slot occupies.
pub const BYREF_SLOT_BYTES: usize = 16;
/// Base word of a byref the collector has not resolved yet.
pub const UNRESOLVED: usize = 0;
/// Base word of a byref to memory the heap does not own.
pub const EXTERNAL: usize = 1;

/// A decoded byref slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByrefState {
    /// Address 0.
    Null,
    /// Captured raw, not resolved yet.
    Unresolved {
        /// The interior address.
        addr: usize,
    },
    /// Memory outside the heap.
    External {
        /// The address.
        addr: usize,
    },
    /// Resolved to a base object.
    Resolved {
        /// The interior address.
        addr: usize,
        /// The base object's header address.
        base: usize,
    },
}

impl ByrefState {
    /// Decodes the two words of a slot.
    #[inline]
    pub fn decode(addr: usize, base: usize) -> ByrefState {
        match (addr, base) {
            (0, _) => ByrefState::Null,
            (addr, UNRESOLVED) => ByrefState::Unresolved { addr },
            (addr, EXTERNAL) => ByrefState::External { addr },
            (addr, base) => ByrefState::Resolved { addr, base },
        }
    }
}

/// Reads the byref slot at `slot` (its address word).
///
/// # Safety
/// `slot` must point at a byref slot of a live object.
#[inline]
pub unsafe fn load(slot: *const usize) -> ByrefState {
    // SAFETY: the caller guarantees two readable, aligned words; relaxed atomic loads
    // let mutator threads race benignly (a torn pair is only ever bounds-checked).
    unsafe {
        let a = &*(slot as *const AtomicUsize);
        let b = &*(slot.add(1) as *const AtomicUsize);
        ByrefState::decode(a.load(Ordering::Relaxed), b.load(Ordering::Relaxed))
    }
}

/// Writes the byref slot at `slot`.
///
/// # Safety
/// `slot` must point at a byref slot of a live object the caller may write; the
/// caller is responsible for the write barrier.
#[inline]
pub unsafe fn store(slot: *mut usize, addr: usize, base: usize) {
    // SAFETY: the caller guarantees two writable, aligned words.
    unsafe {
        (*(slot as *const AtomicUsize)).store(addr, Ordering::Relaxed);
        (*(slot.add(1) as *const AtomicUsize)).store(base, Ordering::Relaxed);
    }
}
