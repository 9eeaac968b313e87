//! Pinned objects: objects native code holds the address of, which must neither move
//! nor die while pinned.
//!
//! Old-space and large objects never move (the old generation is swept, not
//! compacted), so pinning an object makes sure it is old: a young object is promoted
//! by a minor collection run for the purpose (`Mutator::pin_raw`), and its address is
//! stable from then on. The table counts the pins of each object (by its address,
//! which no longer changes) and hands every pinned object to each collection as a
//! root, so a pinned object stays alive while pinned. The verifier checks, through the
//! roots, that each entry is a live object; `tests/pins.rs` that it never moves.

use crate::error::PinError;
use crate::sync::lock;
use std::collections::HashMap;
use std::sync::Mutex;

/// The pin counts of one heap's objects (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct PinTable {
    pins: Mutex<HashMap<usize, u32>>,
}

impl PinTable {
    /// Adds a pin to the (old or large) object at `addr`; returns its pin count.
    pub(crate) fn add(&self, addr: usize) -> u32 {
        let mut p = lock(&self.pins);
        let n = p.entry(addr).or_insert(0);
        *n = n.checked_add(1).expect("contgc: pin count overflow");
        *n
    }

    /// Removes a pin from the object at `addr`; refused if it has none.
    pub(crate) fn remove(&self, addr: usize) -> Result<u32, PinError> {
        let mut p = lock(&self.pins);
        let Some(n) = p.get_mut(&addr) else {
            return Err(PinError::NotPinned { addr });
        };
        *n -= 1;
        let left = *n;
        if left == 0 {
            p.remove(&addr);
        }
        Ok(left)
    }

    /// The pins the object at `addr` has.
    pub(crate) fn count(&self, addr: usize) -> u32 {
        lock(&self.pins).get(&addr).copied().unwrap_or(0)
    }

    /// Hands every pinned object to `f` as a root slot. Pinned objects never move, so
    /// `f` must leave the slot as it is (checked in debug builds).
    pub(crate) fn for_each_root(&self, f: &mut dyn FnMut(&mut usize)) {
        for &addr in lock(&self.pins).keys() {
            let mut slot = addr;
            f(&mut slot);
            debug_assert_eq!(slot, addr, "a pinned object moved");
        }
    }
}
