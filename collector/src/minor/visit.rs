//! The evacuator's slot visitor: what a minor collection does with each slot of an
//! object it scans (evacuating young referents, resolving and moving byrefs, and
//! recording weak slots and ephemerons whose fate waits for the end of the copy).

use super::evacuate::Ev;
use crate::scan::{ByrefSlot, EphemeronSlot, RefSlot, SlotVisitor, WeakSlot};
use contgc_heap::ObjectRef;

/// A slot visitor over the evacuator. `CHECK_TO`: the slot may already hold a
/// to-space address (root slots, which an embedder may report twice; task members and
/// remembered objects, to be safe); the drain loop's slots never do, since they were
/// copied from nursery objects, which never refer to the to-space (it held no live
/// object before this collection). `TRACK`: record in `young` whether the referent
/// stays young (for old objects and task members, whose filing depends on it).
pub(super) struct Visit<'e, 'a, const CHECK_TO: bool, const TRACK: bool, const PAR: bool>(
    pub Ev<'e, 'a, PAR>,
);

impl<const CHECK_TO: bool, const TRACK: bool, const PAR: bool> SlotVisitor
    for Visit<'_, '_, CHECK_TO, TRACK, PAR>
{
    /// Evacuates a young referent and updates the slot.
    #[inline(always)]
    fn visit_ref(&mut self, slot: RefSlot<'_>) {
        let ev = &mut self.0;
        let v = slot.load();
        if ev.hot.is_young(v) {
            let n = ev.evacuate::<CHECK_TO>(v);
            slot.store(n);
            if TRACK {
                ev.hot.young |= ev.hot.is_young(n);
            }
        }
    }

    /// Resolves the byref if needed and moves it with its base.
    #[inline(always)]
    fn visit_byref(&mut self, slot: ByrefSlot<'_>) {
        let young = self.0.update_byref::<CHECK_TO>(slot);
        if TRACK {
            self.0.hot.young |= young;
        }
    }

    /// The value is traced once the key is known to live: an old key (minor
    /// collections free no old object) or a young one already copied. Otherwise the
    /// pair waits for the fix-point (`ephemeron_fixpoint`); an old object holding one
    /// stays remembered.
    #[inline(always)]
    fn visit_ephemeron(&mut self, slot: EphemeronSlot<'_>) {
        let k = slot.key().load();
        let live = if k == 0 {
            None
        } else if !self.0.hot.is_young(k) {
            Some(k)
        } else {
            self.0.live_young_key(k)
        };
        match live {
            Some(k) => {
                if k != slot.key().load() {
                    slot.key().store(k);
                }
                if TRACK {
                    self.0.hot.young |= self.0.hot.is_young(k);
                }
                self.visit_ref(slot.value());
            }
            None if k == 0 && slot.value().load() == 0 => {}
            None => {
                self.0.cold.ephemerons.push(slot.addr());
                if TRACK {
                    self.0.hot.young = true;
                }
            }
        }
    }

    /// Not traced: a young referent is recorded and settled after the copy (moved if
    /// it survived, null if not). An old object holding one stays remembered, since
    /// its referent may stay young.
    #[inline(always)]
    fn visit_weak(&mut self, slot: WeakSlot<'_>) {
        if self.0.hot.is_young(slot.load()) {
            self.0.cold.weak.push(slot.addr());
            if TRACK {
                self.0.hot.young = true;
            }
        }
    }
}

/// Where the young object `v` (held weakly: by a weak slot or handle, or as an
/// ephemeron key) is now: its copy if it has been copied, itself if it is a to-space
/// address already, else 0 (not copied: dead once the copy is complete). Run before
/// the nursery flips, while forwarding headers are intact.
#[inline]
pub(super) fn settled_young(v: usize, to_start: usize, to_end: usize) -> usize {
    if v.wrapping_sub(to_start) < to_end - to_start {
        return v;
    }
    // Relaxed is enough: only the copy's address is used, never its contents (which
    // another GC worker may still be writing; reading them needs `header_acquire`).
    // SAFETY: `v` is a young object's address held weakly since before this
    // collection: its header, or the forwarding header left in its place, is still
    // there (the from-space and eden are not reused before the flip).
    let h = unsafe { ObjectRef::from_addr(v).expect("non-null").header() };
    if h.is_forwarded() {
        h.forwarding_address()
    } else {
        0
    }
}
