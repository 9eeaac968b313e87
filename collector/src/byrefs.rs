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
//!
//! # An address in the heap but in no object
//! A raw capture ([`Mutator::store_byref`](crate::Mutator::store_byref),
//! `store_resolved_byref`, a tasklet's `push_byref`) promises that its address is 0,
//! inside a live object's payload, or outside every space of the heap. An address that
//! lies in the heap's memory but in no object (a header word, a free cell, the unused
//! part of eden, padding) breaks that promise, and no base can be found for it: the
//! collection that meets it aborts the process with a message naming the address, in
//! debug and release builds alike. Keeping it as an external byref would leave an
//! address into the heap that no collection updates, and that later objects would
//! overlap.
//!
//! A byref stored as external (the safe API refuses heap addresses) whose memory has
//! since become heap memory (freed, then reused for a large object) is resolved if it
//! now lies inside an object, and otherwise stays external: it was outside the heap
//! when it was stored, so the capture broke no promise.

use crate::scan::object_size;
use contgc_heap::byref::{ByrefState, EXTERNAL};
use contgc_heap::internal::{LargeObjectSpace, Nursery, NurseryIndex, OldSpace};
use contgc_heap::types::FILLER_TYPE_INDEX;
use contgc_heap::{ObjectRef, TypeInfo, HEADER_SIZE};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The nursery's object-start index of one collection phase, built at most once, by
/// whichever resolver needs it first (GC workers share it), with the time it took.
pub(crate) type SharedIndex = OnceLock<(NurseryIndex, Duration)>;

/// The old space as byref resolution sees it: the collector's own reference, or a
/// parallel minor collection's shared one (see `minor`).
pub(crate) trait OldLookup {
    /// True if `addr` lies in the old space's region.
    fn contains(&self, addr: usize) -> bool;
    /// The allocated cell containing `addr` (see [`OldSpace::object_start`]).
    fn object_start(&self, addr: usize) -> Option<usize>;
}

impl OldLookup for OldSpace {
    fn contains(&self, addr: usize) -> bool {
        OldSpace::contains(self, addr)
    }
    fn object_start(&self, addr: usize) -> Option<usize> {
        OldSpace::object_start(self, addr).map(|o| o.addr())
    }
}

/// What a collection resolves byrefs against. Each GC worker has its own; the nursery
/// index is shared.
pub(crate) struct Resolver<'a> {
    pub types: &'a [Arc<TypeInfo>],
    index: &'a SharedIndex,
    pub resolved: usize,
    /// Time this resolver spent building the shared index (two clock reads, once per
    /// phase at most, by one resolver).
    pub index_time: Duration,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(types: &'a [Arc<TypeInfo>], index: &'a SharedIndex) -> Self {
        Resolver {
            types,
            index,
            resolved: 0,
            index_time: Duration::ZERO,
        }
    }

    /// The base object of the heap object containing `addr`, [`EXTERNAL`] if no space
    /// of this heap owns `addr`, or `None` if a space owns it but no object's payload
    /// contains it.
    pub(crate) fn resolve(
        &mut self,
        addr: usize,
        nursery: &Nursery,
        old: &impl OldLookup,
        los: &LargeObjectSpace,
    ) -> Option<usize> {
        self.resolved += 1;
        let types = self.types;
        let base = if nursery.contains(addr) {
            let mut built = None;
            let (index, _) = self.index.get_or_init(|| {
                let started = Instant::now();
                // Collections resolve with every buffer retired and the world
                // stopped; objects already evacuated are forwarded, and their size is
                // read from their copy. Headers are read atomically, so GC workers
                // marking or copying meanwhile do not race.
                // SAFETY: as just said.
                let index = unsafe {
                    NurseryIndex::build(nursery, |o| {
                        // Acquire: another GC worker may have just copied it.
                        let mut h = o.header_acquire();
                        if h.is_forwarded() {
                            h = ObjectRef::from_addr(h.forwarding_address())
                                .expect("non-null")
                                .header();
                        }
                        (object_size(types, h), h.type_index() != FILLER_TYPE_INDEX)
                    })
                };
                let took = started.elapsed();
                built = Some(took);
                (index, took)
            });
            if let Some(took) = built {
                self.index_time += took;
            }
            index.object_start(addr)
        } else if old.contains(addr) {
            old.object_start(addr)
        } else if let Some(o) = los.object_start(addr) {
            Some(o.addr())
        } else {
            return Some(EXTERNAL);
        };
        base.filter(|&b| addr >= b + HEADER_SIZE && addr < b + size_at(types, b))
    }
}

/// A raw capture broke its precondition (see the module documentation): there is no
/// base to keep alive or to move the address with. The world is stopped; abort.
#[cold]
#[inline(never)]
fn no_object(addr: usize) -> ! {
    eprintln!(
        "contgc: a byref to {addr:#x} lies in this heap's memory but in no object (a raw \
         capture, such as Mutator::store_byref, broke its precondition); aborting"
    );
    std::process::abort()
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
        old: &impl OldLookup,
        los: &LargeObjectSpace,
    ) -> (usize, usize) {
        match state {
            ByrefState::Null => (0, 0),
            ByrefState::External { addr } => {
                let owned = nursery.contains(addr)
                    || old.contains(addr)
                    || los.object_start(addr).is_some();
                if owned {
                    // Memory that became the heap's since: resolved if it is in an
                    // object now, kept as it is otherwise.
                    (
                        addr,
                        self.resolve(addr, nursery, old, los).unwrap_or(EXTERNAL),
                    )
                } else {
                    (addr, EXTERNAL)
                }
            }
            ByrefState::Unresolved { addr } => (addr, self.resolve_raw(addr, nursery, old, los)),
            ByrefState::Resolved { addr, base } => {
                let inside = addr >= base + HEADER_SIZE && addr < base + size_at(self.types, base);
                if inside {
                    (addr, base)
                } else {
                    (addr, self.resolve_raw(addr, nursery, old, los))
                }
            }
        }
    }

    /// Resolves an address a raw capture stored; aborts if it lies in the heap but in
    /// no object.
    fn resolve_raw(
        &mut self,
        addr: usize,
        nursery: &Nursery,
        old: &impl OldLookup,
        los: &LargeObjectSpace,
    ) -> usize {
        match self.resolve(addr, nursery, old, los) {
            Some(base) => base,
            None => no_object(addr),
        }
    }
}

/// Size of the object at `addr`, following a forwarding header.
fn size_at(types: &[Arc<TypeInfo>], addr: usize) -> usize {
    let obj = ObjectRef::from_addr(addr).expect("non-null");
    // Acquire: another GC worker may have just copied it.
    // SAFETY: `addr` is an object start found in an object-start map; the world is
    // stopped.
    let mut h = unsafe { obj.header_acquire() };
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
