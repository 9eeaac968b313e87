//! Byref resolution: turning a raw interior address captured by the mutator into
//! `<base object, offset>` (see `contgc_heap::byref` for the slot format).
//!
//! A collection resolves each unresolved byref it meets while scanning an object
//! (minor: live young objects and remembered old ones; major: every marked object),
//! which is every unresolved byref there is: capture writes go through the write
//! barrier, so an old object holding one is remembered. Resolution is one lookup in
//! the object-start map of the space the address is in: O(1) in the old space's block
//! table, O(log n) among large objects, and in the nursery through a
//! [`NurseryIndex`] built by at most one linear walk per collection, the first time a
//! byref into the nursery needs it. Nothing walks the old generation or every
//! suspended task. Once resolved, a byref costs what a reference costs.

use crate::scan::object_size;
use crate::spaces::owns;
use contgc_heap::byref::{ByrefState, EXTERNAL};
use contgc_heap::types::FILLER_TYPE_INDEX;
use contgc_heap::{
    LargeObjectSpace, Nursery, NurseryIndex, ObjectRef, OldSpace, TypeInfo, HEADER_SIZE,
};
use std::sync::Arc;

/// What a collection resolves byrefs against.
pub(crate) struct Resolver<'a> {
    pub types: &'a [Arc<TypeInfo>],
    pub index: Option<NurseryIndex>,
    pub resolved: usize,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(types: &'a [Arc<TypeInfo>]) -> Self {
        Resolver {
            types,
            index: None,
            resolved: 0,
        }
    }

    /// The base object of the heap object containing `addr`, or [`EXTERNAL`] if no
    /// space of this heap owns `addr`. An address inside a space but in no object (a
    /// broken raw-layer contract) is also kept as external; debug builds panic.
    pub(crate) fn resolve(
        &mut self,
        addr: usize,
        nursery: &Nursery,
        old: &OldSpace,
        los: &LargeObjectSpace,
    ) -> usize {
        self.resolved += 1;
        let types = self.types;
        let base = if nursery.contains(addr) {
            let index = self.index.get_or_insert_with(|| {
                // SAFETY: collections resolve with every buffer retired and the
                // world stopped; objects already evacuated are forwarded, and their
                // size is read from their copy.
                unsafe {
                    NurseryIndex::build(nursery, |o| {
                        let mut h = o.header();
                        if h.is_forwarded() {
                            h = ObjectRef::from_addr(h.forwarding_address())
                                .expect("non-null")
                                .header();
                        }
                        (object_size(types, h), h.type_index() != FILLER_TYPE_INDEX)
                    })
                }
            });
            index.object_start(addr)
        } else if old.contains(addr) {
            old.object_start(addr).map(|o| o.addr())
        } else if let Some(o) = los.object_start(addr) {
            Some(o.addr())
        } else {
            return EXTERNAL;
        };
        match base {
            Some(b) if addr >= b + HEADER_SIZE && addr < b + size_at(types, b) => b,
            _ => {
                debug_assert!(false, "byref {addr:#x} lies in the heap but in no object");
                EXTERNAL
            }
        }
    }
}

impl Resolver<'_> {
    /// Settles a byref slot's state into `(address, base)`: base 0 for a null byref,
    /// [`EXTERNAL`] for memory outside the heap, else the base object. Raw captures are
    /// resolved; so is a slot whose two words disagree (two threads wrote it at once,
    /// each word from a different store) or that says external about a heap address:
    /// the address is the truth, the base is found again.
    pub(crate) fn settle(
        &mut self,
        state: ByrefState,
        nursery: &Nursery,
        old: &OldSpace,
        los: &LargeObjectSpace,
    ) -> (usize, usize) {
        match state {
            ByrefState::Null => (0, 0),
            ByrefState::External { addr } => {
                if owns(nursery, old, los, addr) {
                    (addr, self.resolve(addr, nursery, old, los))
                } else {
                    (addr, EXTERNAL)
                }
            }
            ByrefState::Unresolved { addr } => (addr, self.resolve(addr, nursery, old, los)),
            ByrefState::Resolved { addr, base } => {
                let inside = addr >= base + HEADER_SIZE && addr < base + size_at(self.types, base);
                if inside {
                    (addr, base)
                } else {
                    (addr, self.resolve(addr, nursery, old, los))
                }
            }
        }
    }
}

/// Size of the object at `addr`, following a forwarding header.
fn size_at(types: &[Arc<TypeInfo>], addr: usize) -> usize {
    let obj = ObjectRef::from_addr(addr).expect("non-null");
    // SAFETY: `addr` is an object start found in an object-start map; the world is
    // stopped.
    let mut h = unsafe { obj.header() };
    if h.is_forwarded() {
        // SAFETY: a forwarding address is the start of the object's copy.
        h = unsafe {
            ObjectRef::from_addr(h.forwarding_address())
                .expect("non-null")
                .header()
        };
    }
    object_size(types, h)
}
