//! The verifier's slot checks: what it checks for each slot of a heap object
//! ([`SlotCheck`]: invariants 1, 2 and 4) and of a suspended task ([`TaskCheck`]:
//! invariants 1, 4 and 5), with the messages for what they find.

use super::*;

pub(super) fn space_name(s: Space) -> &'static str {
    match s {
        Space::Young => "young",
        Space::Old => "old",
        Space::Large => "large",
    }
}

/// The message for reference slot `slot` of `src` holding `t`: not an object
/// (invariant 1), or young while `src` is not remembered (invariant 2, if `young`).
#[cold]
#[inline(never)]
pub(super) fn bad_ref(
    ix: &Index<'_>,
    src: usize,
    space: Space,
    slot: usize,
    t: usize,
    young: bool,
) -> String {
    // SAFETY: `src` is a live object whose header was checked.
    let h = unsafe { ObjectRef::from_addr(src).expect("non-null").header() };
    let name = ix.types[h.type_index() as usize].name();
    let off = slot - (src + HEADER_SIZE);
    if young {
        format!(
            "invariant 2: old object {src:#x} ({name}) slot +{off} refers to young {t:#x} but is not remembered"
        )
    } else {
        format!(
            "invariant 1: {} object {src:#x} ({name}) slot +{off} holds {t:#x}, not an object",
            space_name(space)
        )
    }
}

#[cold]
#[inline(never)]
pub(super) fn bad_next(src: usize, next: usize) -> String {
    format!("continuation {src:#x} has next {next:#x}, which is not a continuation")
}

/// Checks the slots of one object: invariant 1 (references are objects), 2 (an old
/// object referring to a young one is remembered) and 4 (byrefs). Old-space targets
/// the walk has not reached yet, and old objects' byrefs, are left on `pending`.
pub(super) struct SlotCheck<'v, 'a> {
    pub(super) ix: &'v Index<'a>,
    pub(super) obj: ObjectRef,
    pub(super) space: Space,
    pub(super) pending: &'v mut Vec<Pending>,
    pub(super) err: Option<String>,
}

impl SlotCheck<'_, '_> {
    /// `t` is no indexed object: an old-space address the walk has not reached yet is
    /// checked later, anything else breaks invariant 1.
    #[cold]
    #[inline(never)]
    fn not_indexed(&mut self, slot: usize, t: usize) {
        if self.ix.sp.old.contains(t) {
            self.pending.push(Pending::Ref {
                src: self.obj.addr(),
                slot,
                target: t,
            })
        } else {
            self.bad_ref(slot, t, false)
        }
    }

    #[cold]
    #[inline(never)]
    fn bad_ref(&mut self, slot: usize, t: usize, young: bool) {
        if self.err.is_none() {
            self.err = Some(bad_ref(
                self.ix,
                self.obj.addr(),
                self.space,
                slot,
                t,
                young,
            ));
        }
    }

    /// Checks reference `t` (not 0), held by the slot at address `slot`.
    #[inline(always)]
    fn check_ref(&mut self, slot: usize, t: usize) {
        match self.ix.space_of(t) {
            Some(Space::Old | Space::Large) => {}
            Some(Space::Young) => {
                if self.space != Space::Young && !self.ix.may_refer_young(self.obj.addr()) {
                    self.bad_ref(slot, t, true);
                }
            }
            None => self.not_indexed(slot, t),
        }
    }
}

impl SlotVisitor for SlotCheck<'_, '_> {
    #[inline(always)]
    fn visit_ref(&mut self, slot: RefSlot<'_>) {
        let t = slot.load();
        if t != 0 {
            self.check_ref(slot.addr(), t);
        }
    }

    /// A tagged slot holding a reference is checked as a reference slot, under its
    /// own address.
    #[inline(always)]
    fn visit_tagged(&mut self, slot: TaggedSlot<'_>) {
        if let Some(t) = slot.load_ref() {
            self.check_ref(slot.addr(), t);
        }
    }

    /// After a collection a weak slot holds null or a live object, and an old object
    /// whose weak slot refers to a young one is remembered: checked as a reference.
    #[inline(always)]
    fn visit_weak(&mut self, slot: WeakSlot<'_>) {
        self.visit_ref(slot.as_ref_slot());
    }

    /// After a collection an ephemeron's key and value each hold null or a live
    /// object: checked as two references.
    #[inline(always)]
    fn visit_ephemeron(&mut self, slot: EphemeronSlot<'_>) {
        self.visit_ref(slot.key());
        self.visit_ref(slot.value());
    }

    /// Byrefs are rare: checked out of line.
    #[inline(never)]
    fn visit_byref(&mut self, slot: ByrefSlot<'_>) {
        if self.space == Space::Young {
            if self.err.is_none() {
                let r = self.ix.check_object_byref(
                    self.obj.addr(),
                    Space::Young,
                    slot.addr(),
                    slot.load(),
                );
                self.err = r.err();
            }
        } else {
            self.pending.push(Pending::Byref {
                src: self.obj.addr(),
                slot: slot.addr(),
            });
        }
    }
}

/// Checks suspended-task members: invariant 1 (every reference is an object), 4
/// (byrefs), and 5 (a member whose age says old refers to no young object).
pub(super) struct TaskCheck<'v, 'a> {
    pub(super) ix: &'v Index<'a>,
    pub(super) old: bool,
    pub(super) err: Option<String>,
}

impl TaskCheck<'_, '_> {
    fn target(&mut self, what: &str, t: usize) {
        match self.ix.space_of(t) {
            None => {
                self.err = Some(format!(
                    "invariant 1: a suspended task's {what} holds {t:#x}, not an object"
                ))
            }
            Some(Space::Young) if self.old => {
                self.err = Some(format!(
                    "invariant 5: a suspended task aged old has a {what} to young {t:#x}"
                ))
            }
            Some(_) => {}
        }
    }
}

impl MemberVisitor for TaskCheck<'_, '_> {
    fn reference(&mut self, slot: &mut usize) -> bool {
        if self.err.is_none() {
            self.target("reference", *slot);
        }
        false
    }

    fn chain_head(&mut self, slot: &mut usize) -> bool {
        if self.err.is_none() {
            self.target("chain head", *slot);
        }
        if self.err.is_none() && self.ix.is_continuation(*slot) {
            let is_continuation = |a: usize| self.ix.is_continuation(a);
            // SAFETY: the world is stopped, and `is_continuation` accepts only object
            // starts found in the index whose type is a continuation type.
            if let Err(e) = unsafe { check_task_chain(*slot, &is_continuation) } {
                self.err = Some(format!("invariant 6: {e}"));
            }
        }
        false
    }

    fn byref(&mut self, slot: &mut [usize; 2]) -> bool {
        if self.err.is_some() {
            return false;
        }
        let state = ByrefSlot::from_mut(slot).load();
        match self
            .ix
            .check_byref(state, &|| "a suspended task's byref".to_owned())
        {
            Err(e) => self.err = Some(e),
            Ok(Some((base, _))) => self.target("byref base", base),
            Ok(None) => {}
        }
        false
    }
}
