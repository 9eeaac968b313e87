//! The heap verifier: checks docs/DESIGN.md's invariants 1-6 over the whole heap.
//!
//! 1. Every reference slot (in objects and roots) holds null or the start of a live
//!    object.
//! 2. Every old->young reference is remembered: its source object is in the
//!    remembered set, with its `UNLOGGED` bit clear.
//! 3. No forwarding pointer is left behind (nor a mark bit, in a header or in the
//!    old space's mark map).
//! 4. Every byref is null, external, or resolved, and a resolved byref's base is a live
//!    object whose extent contains the byref's address (an old object whose byref base
//!    is young is remembered, as for references). An external byref's address lies
//!    in no object.
//! 5. Every suspended-task group (in aged mode, every member) whose age says old refers
//!    to no young object.
//!
//! 6. Every registered heap task's continuation chain is finite, holds only captured,
//!    resumable continuations (none consumed) and ends at null (`chain_check.rs`).
//!
//! Continuations (types marked as such) must form well-formed chains: `next` is null
//! or another continuation.
//!
//! It also checks the spaces' own bookkeeping: headers name registered types, fillers
//! only pad the nursery, young objects are never `UNLOGGED`, remembered objects are old
//! and listed once, every other old object has its barrier armed (`UNLOGGED`), and the
//! old and large spaces' byte counters agree with a walk of their objects.
//! It runs after every collection when the configuration asks for it
//! ([`Config::verify_after_gc`](crate::Config::verify_after_gc)).
//!
//! # Cost
//! One linear pass over the old generation and two over the nursery's used part (which
//! the minor collection has just written, so it is in cache), with no allocation per
//! object. Where objects start is recorded in side bitmaps, one bit per heap word, for
//! eden's and the from-space's used parts and for the old space's blocks (allocated
//! once per verification). The nursery is indexed first; then each old object is
//! checked (header, barrier, byte count) and handed to the scanning core (`scan.rs`)
//! with a checking visitor, which tests a slot's target with one bitmap probe. A slot
//! whose target lies further on in the old space (not indexed yet) is put on a list
//! and tested once the walk is over; so are old objects' byrefs (rare) and
//! continuation links that point forward. Large objects are looked up in the
//! large-object space's own index. The remembered set is checked through a sorted copy
//! (binary search, needed only for old objects whose barrier is off). Roots and task
//! members are checked against the same bitmaps.

use crate::chain_check::check_task_chain;
use crate::scan::{
    self, ByrefSlot, EphemeronSlot, RefSlot, RootScan, SlotVisitor, TaggedSlot, WeakSlot,
};
use crate::spaces::Spaces;
use contgc_heap::byref::ByrefState;
use contgc_heap::header::{FORWARDED, MARK, UNLOGGED};
use contgc_heap::types::{FILLER_TYPE_INDEX, FREE_TYPE_INDEX};
use contgc_heap::{Header, ObjectRef, TypeInfo, HEADER_SIZE};
use contgc_roots::internal::{MemberVisitor, TaskRegistry, AGE_OLD};
use std::sync::Arc;

mod slot_checks;
use slot_checks::{bad_next, bad_ref, space_name, SlotCheck, TaskCheck};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Space {
    Young,
    Old,
    Large,
}

/// Bytes of heap one bitmap word covers (64 words of 8 bytes).
const WORD_SPAN: usize = 64 * 8;

/// Where objects start in one address range: one bit per 8-byte heap word.
struct Starts {
    base: usize,
    words: Vec<u64>,
}

impl Starts {
    /// A bitmap for `[start, end)`.
    fn covering(start: usize, end: usize) -> Starts {
        let base = start & !(WORD_SPAN - 1);
        Starts {
            base,
            words: vec![0; end.saturating_sub(base).div_ceil(WORD_SPAN)],
        }
    }

    /// An empty bitmap that grows as starts are inserted (in increasing order, as a
    /// space walk yields them; `room` is a hint of the bytes they will span).
    fn growing(room: usize) -> Starts {
        Starts {
            base: 0,
            words: Vec::with_capacity(room / WORD_SPAN + 1),
        }
    }

    #[inline(always)]
    fn insert(&mut self, addr: usize) {
        let off = addr.wrapping_sub(self.base);
        match self.words.get_mut(off / WORD_SPAN) {
            Some(w) => *w |= 1 << ((off / 8) % 64),
            None => self.insert_outside(addr),
        }
    }

    /// Inserts a start outside the bitmap's words: the first one, one below the base
    /// (walks yield increasing addresses, so this is not expected; it keeps the bitmap
    /// correct if one does not), or one past the end (growing by at least as much
    /// again, so that this is rare).
    #[cold]
    #[inline(never)]
    fn insert_outside(&mut self, addr: usize) {
        if self.words.is_empty() {
            self.base = addr & !(WORD_SPAN - 1);
        } else if addr < self.base {
            let base = addr & !(WORD_SPAN - 1);
            let extra = (self.base - base) / WORD_SPAN;
            self.words.splice(0..0, std::iter::repeat_n(0, extra));
            self.base = base;
        }
        let w = (addr - self.base) / WORD_SPAN;
        if w >= self.words.len() {
            self.words.resize((w + 1).max(2 * self.words.len()), 0);
        }
        self.insert(addr);
    }

    #[inline]
    fn contains(&self, addr: usize) -> bool {
        let off = addr.wrapping_sub(self.base);
        off.is_multiple_of(8)
            && self
                .words
                .get(off / WORD_SPAN)
                .is_some_and(|w| w >> ((off / 8) % 64) & 1 != 0)
    }

    /// The last start at or below `addr`.
    fn at_or_before(&self, addr: usize) -> Option<usize> {
        let off = addr.checked_sub(self.base)?;
        if self.words.is_empty() {
            return None;
        }
        let (mut w, mut mask) = match off / WORD_SPAN {
            w if w < self.words.len() => (w, u64::MAX >> (63 - (off / 8) % 64)),
            _ => (self.words.len() - 1, u64::MAX),
        };
        loop {
            let bits = self.words[w] & mask;
            if bits != 0 {
                return Some(self.base + w * WORD_SPAN + (63 - bits.leading_zeros() as usize) * 8);
            }
            if w == 0 {
                return None;
            }
            w -= 1;
            mask = u64::MAX;
        }
    }
}

/// What the verifier needs of a type on its hot paths, packed (one table per
/// verification, indexed by type index).
#[derive(Clone, Copy, Default)]
struct TypeSummary {
    /// Object size of a fixed-size type (header included); 0 for variable sizes.
    size: u32,
    flags: u8,
}

const REGISTERED: u8 = 1;
const SCAN: u8 = 2;
const CONTINUATION: u8 = 4;
const FILLER: u8 = 8;

fn summaries(types: &[Arc<TypeInfo>]) -> Vec<TypeSummary> {
    types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let i = i as u32;
            let fixed = matches!(t.size_kind(), contgc_heap::SizeKind::Fixed { .. });
            let mut flags = 0;
            if i != FREE_TYPE_INDEX {
                flags |= REGISTERED;
            }
            if i == FILLER_TYPE_INDEX {
                flags |= FILLER;
            }
            if t.needs_scan() {
                flags |= SCAN;
            }
            if t.is_continuation() {
                flags |= CONTINUATION;
            }
            let size = match t.object_size(0) {
                Some(size) if fixed && i != FILLER_TYPE_INDEX => size as u32,
                _ => 0,
            };
            TypeSummary { size, flags }
        })
        .collect()
}

/// A check that has to wait until the old space is indexed.
#[derive(Clone, Copy, Debug)]
enum Pending {
    /// Reference slot `slot` of old object `src` holds `target`, an old-space address
    /// the walk had not reached.
    Ref {
        src: usize,
        slot: usize,
        target: usize,
    },
    /// Byref slot `slot` of old or large object `src`.
    Byref { src: usize, slot: usize },
    /// Continuation `src` has `next` = `target`, not indexed yet.
    Next { src: usize, target: usize },
}

/// Where objects start (as far as the walks have come) and what the checks need.
struct Index<'a> {
    sp: &'a Spaces,
    types: &'a [Arc<TypeInfo>],
    summaries: Vec<TypeSummary>,
    eden: Starts,
    from: Starts,
    old: Starts,
    /// The remembered set, sorted.
    remembered: Vec<usize>,
}

/// Checks the heap; returns a description of the first broken invariant.
pub(crate) fn verify(
    sp: &Spaces,
    types: &[Arc<TypeInfo>],
    roots: &mut RootScan<'_>,
    tasks: &TaskRegistry,
    young_garbage: bool,
) -> Result<(), String> {
    let (eden_start, eden_top) = sp.nursery.eden_range();
    let (from_start, from_top) = sp.nursery.from_range();
    let mut remembered = sp.remset.clone();
    remembered.sort_unstable();
    let mut ix = Index {
        sp,
        types,
        summaries: summaries(types),
        eden: Starts::covering(eden_start, eden_top),
        from: Starts::covering(from_start, from_top),
        old: Starts::growing(sp.old.committed_bytes()),
        remembered,
    };
    let mut pending = Vec::new();
    ix.index_nursery()?;
    if !sp.old.marks_are_clear() {
        return Err("invariant 3: a mark is left in the old space's mark map".to_owned());
    }
    let old_bytes = ix.walk_old(&mut pending)?;
    let large_bytes = ix.walk_large(&mut pending)?;
    if old_bytes != sp.old.cell_bytes() || large_bytes != sp.los.bytes() {
        return Err(format!(
            "byte counters drifted: old {} counted, {old_bytes} walked; large {} counted, {large_bytes} walked",
            sp.old.cell_bytes(),
            sp.los.bytes()
        ));
    }
    ix.check_remembered_set()?;
    // After a major collection that could not evacuate the nursery, eden still holds
    // dead objects whose referents may have been swept: only their headers are
    // checked then.
    if !young_garbage {
        ix.check_nursery_objects(&mut pending)?;
    }
    for p in pending {
        ix.check_pending(p)?;
    }
    ix.check_roots(roots)?;
    ix.check_tasks(tasks)
}

impl Index<'_> {
    /// Size of the object with header `h` (0 for an unregistered type).
    #[inline(always)]
    fn size(&self, h: Header) -> usize {
        match self.summaries.get(h.type_index() as usize) {
            Some(t) if t.size != 0 => t.size as usize,
            Some(_) => self.types[h.type_index() as usize]
                .object_size(h.len())
                .unwrap_or(0),
            None => 0,
        }
    }

    /// The fast test of [`check_header`](Self::check_header): true if it would pass.
    #[inline(always)]
    fn header_ok(&self, h: Header, space: Space) -> bool {
        let Some(t) = self.summaries.get(h.type_index() as usize) else {
            return false;
        };
        let (bad_bits, bad_flags) = match space {
            Space::Young => (FORWARDED | MARK | UNLOGGED, 0),
            _ => (FORWARDED | MARK, FILLER),
        };
        h.bits() & bad_bits == 0 && t.flags & (REGISTERED | bad_flags) == REGISTERED
    }

    #[cold]
    #[inline(never)]
    fn check_header(&self, addr: usize, h: Header, space: Space) -> Result<(), String> {
        if h.is_forwarded() {
            return Err(format!(
                "invariant 3: object {addr:#x} ({space:?}) is forwarded to {:#x}",
                h.forwarding_address()
            ));
        }
        let ti = h.type_index();
        if ti == FREE_TYPE_INDEX || ti as usize >= self.types.len() {
            return Err(format!(
                "object {addr:#x} ({space:?}) has bad type index {ti}"
            ));
        }
        if ti == FILLER_TYPE_INDEX && space != Space::Young {
            return Err(format!("filler object at {addr:#x} outside the nursery"));
        }
        if h.is_marked() {
            return Err(format!(
                "invariant 3: object {addr:#x} ({space:?}) is still marked"
            ));
        }
        if space == Space::Young && h.is_unlogged() {
            return Err(format!("young object {addr:#x} is UNLOGGED"));
        }
        Ok(())
    }

    fn is_remembered(&self, addr: usize) -> bool {
        self.remembered.binary_search(&addr).is_ok()
    }

    /// True if old or large object `obj` may refer to young objects: it is remembered,
    /// with its barrier off.
    fn may_refer_young(&self, obj: usize) -> bool {
        // SAFETY: a live object; the world is stopped.
        let now = unsafe { ObjectRef::from_addr(obj).expect("non-null").header() };
        !now.is_unlogged() && self.is_remembered(obj)
    }

    /// Checks an old or large object's header and barrier: it is armed unless the
    /// object is remembered. Returns the object's size, or 0 (saying why in `err`).
    #[inline(always)]
    fn check_old(&self, addr: usize, h: Header, space: Space, err: &mut Option<String>) -> usize {
        if let Some(t) = self.summaries.get(h.type_index() as usize) {
            if h.bits() & (FORWARDED | MARK) == 0
                && t.flags & (REGISTERED | FILLER) == REGISTERED
                && (h.is_unlogged() || self.is_remembered(addr))
            {
                if t.size != 0 {
                    return t.size as usize;
                }
                match self.types[h.type_index() as usize].object_size(h.len()) {
                    Some(size) => return size,
                    None => {
                        *err = Some(format!("object {addr:#x} has an invalid size"));
                        return 0;
                    }
                }
            }
        }
        *err = Some(self.old_error(addr, h, space));
        0
    }

    #[cold]
    #[inline(never)]
    fn old_error(&self, addr: usize, h: Header, space: Space) -> String {
        match self.check_header(addr, h, space) {
            Err(e) => e,
            Ok(()) => format!(
                "old object {addr:#x} is neither remembered nor UNLOGGED: its barrier is disarmed"
            ),
        }
    }

    /// Walks eden's and the from-space's used parts, checking headers and recording
    /// the starts of objects other than fillers.
    fn index_nursery(&mut self) -> Result<(), String> {
        for young in [true, false] {
            let (start, top) = if young {
                self.sp.nursery.eden_range()
            } else {
                self.sp.nursery.from_range()
            };
            let mut starts = std::mem::replace(
                if young {
                    &mut self.eden
                } else {
                    &mut self.from
                },
                Starts::growing(0),
            );
            let walked = self.index_range(start, top, &mut starts);
            *(if young {
                &mut self.eden
            } else {
                &mut self.from
            }) = starts;
            walked?;
        }
        Ok(())
    }

    fn index_range(&self, start: usize, top: usize, starts: &mut Starts) -> Result<(), String> {
        let mut at = start;
        while at < top {
            let obj = ObjectRef::from_addr(at).expect("non-null");
            // SAFETY: the nursery ranges are walkable after a collection; each step
            // lands on a header because sizes come from checked headers.
            let h = unsafe { obj.header() };
            if !self.header_ok(h, Space::Young) {
                self.check_header(at, h, Space::Young)?;
            }
            if h.type_index() != FILLER_TYPE_INDEX {
                starts.insert(at);
            }
            let size = match self.summaries[h.type_index() as usize].size {
                0 => self.types[h.type_index() as usize]
                    .object_size(h.len())
                    .ok_or_else(|| format!("object {at:#x} has an invalid size"))?,
                size => size as usize,
            };
            at += size;
        }
        if at != top {
            return Err(format!("nursery walk overran its top {top:#x}"));
        }
        Ok(())
    }

    /// The one pass over the old space: headers, barriers, object starts, bytes, and
    /// every object's slots. Returns the bytes of the cells walked.
    fn walk_old(&mut self, pending: &mut Vec<Pending>) -> Result<usize, String> {
        let sp = self.sp;
        let mut err = None;
        let mut bytes = 0;
        sp.old.for_each_object(|obj, h| {
            if err.is_some() {
                return;
            }
            let size = self.check_old(obj.addr(), h, Space::Old, &mut err);
            if size == 0 {
                return;
            }
            // The space counts the cells' bytes (see `OldSpace::cell_bytes`).
            let Some(cell) = contgc_heap::cell_size(size) else {
                err = Some(format!(
                    "old object {:#x} has a large size, {size}",
                    obj.addr()
                ));
                return;
            };
            bytes += cell;
            self.old.insert(obj.addr());
            self.check_object(obj, h, Space::Old, pending, &mut err);
        });
        err.map_or(Ok(bytes), Err)
    }

    /// Large objects: headers, barriers, bytes and slots. Returns the bytes walked.
    fn walk_large(&self, pending: &mut Vec<Pending>) -> Result<usize, String> {
        let mut err = None;
        let mut bytes = 0;
        self.sp.los.for_each_object(|obj, h| {
            if err.is_some() {
                return;
            }
            let size = self.check_old(obj.addr(), h, Space::Large, &mut err);
            if size == 0 {
                return;
            }
            bytes += size;
            self.check_object(obj, h, Space::Large, pending, &mut err);
        });
        err.map_or(Ok(bytes), Err)
    }

    /// The slots of the nursery's objects (indexed by the first walk).
    fn check_nursery_objects(&self, pending: &mut Vec<Pending>) -> Result<(), String> {
        let mut err = None;
        for (start, top) in [self.sp.nursery.eden_range(), self.sp.nursery.from_range()] {
            let mut at = start;
            while at < top {
                let obj = ObjectRef::from_addr(at).expect("non-null");
                // SAFETY: walked and checked by `index_nursery`.
                let h = unsafe { obj.header() };
                if !self.check_object(obj, h, Space::Young, pending, &mut err) {
                    return err.map_or(Ok(()), Err);
                }
                at += self.size(h);
            }
        }
        Ok(())
    }

    /// The space of the object starting at `addr`, if an object (other than a filler)
    /// starts there and has been indexed. Each bitmap covers addresses of its own
    /// space only, so the probes need no range test first.
    #[inline(always)]
    fn space_of(&self, addr: usize) -> Option<Space> {
        if self.old.contains(addr) {
            Some(Space::Old)
        } else if self.eden.contains(addr) || self.from.contains(addr) {
            Some(Space::Young)
        } else if self.sp.nursery.contains(addr) || self.sp.old.contains(addr) {
            None
        } else {
            self.sp.los.is_object(addr).then_some(Space::Large)
        }
    }

    /// Checks `obj`'s slots and continuation link; on failure, says why in `err`.
    #[inline(always)]
    fn check_object(
        &self,
        obj: ObjectRef,
        h: Header,
        space: Space,
        pending: &mut Vec<Pending>,
        err: &mut Option<String>,
    ) -> bool {
        let ti = h.type_index() as usize;
        let flags = self.summaries[ti].flags;
        if flags & SCAN != 0 {
            let mut c = SlotCheck {
                ix: self,
                obj,
                space,
                pending,
                err: None,
            };
            // SAFETY: a live object whose header was checked; the world is stopped.
            unsafe { scan::scan_object(&self.types[ti], obj, h.len(), &mut c) };
            if c.err.is_some() {
                *err = c.err;
                return false;
            }
        }
        flags & CONTINUATION == 0 || self.check_next(obj, pending, err)
    }

    /// A continuation's `next` is null or a continuation.
    #[inline(never)]
    fn check_next(
        &self,
        obj: ObjectRef,
        pending: &mut Vec<Pending>,
        err: &mut Option<String>,
    ) -> bool {
        // SAFETY: a live continuation; payload word 0 is its `next` reference.
        let next = unsafe { obj.load_slot(0) };
        if next == 0 || self.is_continuation(next) {
            return true;
        }
        if self.sp.old.contains(next) && !self.old.contains(next) {
            pending.push(Pending::Next {
                src: obj.addr(),
                target: next,
            });
            return true;
        }
        *err = Some(bad_next(obj.addr(), next));
        false
    }

    fn is_continuation(&self, addr: usize) -> bool {
        self.space_of(addr).is_some() && {
            // SAFETY: an object start found in the index.
            let h = unsafe { ObjectRef::from_addr(addr).expect("non-null").header() };
            self.summaries
                .get(h.type_index() as usize)
                .is_some_and(|t| t.flags & CONTINUATION != 0)
        }
    }

    /// The object whose extent (header included) contains `addr`, if any.
    fn object_containing(&self, addr: usize) -> Option<usize> {
        let start = if self.sp.nursery.contains(addr) {
            let (from_start, from_top) = self.sp.nursery.from_range();
            let starts = if (from_start..from_top).contains(&addr) {
                &self.from
            } else {
                &self.eden
            };
            starts.at_or_before(addr)?
        } else if self.sp.old.contains(addr) {
            self.sp.old.object_start(addr)?.addr()
        } else {
            self.sp.los.object_start(addr)?.addr()
        };
        // SAFETY: `start` is an object start found in this verification's index or
        // the spaces' own object-start maps.
        let h = unsafe { ObjectRef::from_addr(start)?.header() };
        (addr < start + self.size(h)).then_some(start)
    }

    /// Checks a byref's state (`what` names its holder in messages); returns the base
    /// of a resolved byref.
    fn check_byref(
        &self,
        state: ByrefState,
        what: &dyn Fn() -> String,
    ) -> Result<Option<(usize, Space)>, String> {
        match state {
            ByrefState::Null => Ok(None),
            ByrefState::External { addr } => match self.object_containing(addr) {
                Some(o) => Err(format!(
                    "invariant 4: {} says external but {addr:#x} lies in object {o:#x}",
                    what()
                )),
                None => Ok(None),
            },
            ByrefState::Unresolved { addr } => Err(format!(
                "invariant 4: {} to {addr:#x} was not resolved",
                what()
            )),
            ByrefState::Resolved { addr, base } => {
                let Some(space) = self.space_of(base) else {
                    return Err(format!(
                        "invariant 4: {} has base {base:#x}, not an object",
                        what()
                    ));
                };
                // SAFETY: an object start found in the index.
                let h = unsafe { ObjectRef::from_addr(base).expect("non-null").header() };
                let size = self.size(h);
                if addr < base + HEADER_SIZE || addr >= base + size {
                    return Err(format!(
                        "invariant 4: {} address {addr:#x} lies outside its base {base:#x} of {size} bytes",
                        what()
                    ));
                }
                Ok(Some((base, space)))
            }
        }
    }

    /// Checks the byref (in state `state`) at `slot` of object `src` (in `space`),
    /// with every space indexed.
    fn check_object_byref(
        &self,
        src: usize,
        space: Space,
        slot: usize,
        state: ByrefState,
    ) -> Result<(), String> {
        let what = || {
            // SAFETY: `src` is a live object whose header was checked.
            let h = unsafe { ObjectRef::from_addr(src).expect("non-null").header() };
            format!(
                "{} object {src:#x} ({}) byref +{}",
                space_name(space),
                self.types[h.type_index() as usize].name(),
                slot - (src + HEADER_SIZE)
            )
        };
        match self.check_byref(state, &what)? {
            Some((base, Space::Young)) if space != Space::Young && !self.may_refer_young(src) => {
                Err(format!(
                    "invariant 2: {} has young base {base:#x} but is not remembered",
                    what()
                ))
            }
            _ => Ok(()),
        }
    }

    fn check_pending(&self, p: Pending) -> Result<(), String> {
        match p {
            Pending::Ref { src, slot, target } => {
                if self.old.contains(target) {
                    Ok(())
                } else {
                    Err(bad_ref(self, src, Space::Old, slot, target, false))
                }
            }
            Pending::Byref { src, slot } => {
                let space = if self.sp.old.contains(src) {
                    Space::Old
                } else {
                    Space::Large
                };
                // SAFETY: `slot` is a byref slot of live object `src` (its descriptor
                // says so); the world is stopped.
                let state = unsafe { contgc_heap::byref::load(slot as *const usize) };
                self.check_object_byref(src, space, slot, state)
            }
            Pending::Next { src, target } => {
                if self.is_continuation(target) {
                    Ok(())
                } else {
                    Err(bad_next(src, target))
                }
            }
        }
    }

    fn check_remembered_set(&self) -> Result<(), String> {
        for &r in &self.sp.remset {
            match self.space_of(r) {
                Some(Space::Old | Space::Large) => {}
                other => {
                    return Err(format!(
                        "remembered entry {r:#x} is not a live old object ({other:?})"
                    ))
                }
            }
        }
        if self.remembered.windows(2).any(|w| w[0] == w[1]) {
            return Err("the remembered set holds an object twice".into());
        }
        Ok(())
    }

    fn check_roots(&self, roots: &mut RootScan<'_>) -> Result<(), String> {
        let mut bad_root = None;
        roots(&mut |slot: &mut usize| {
            if bad_root.is_none() && self.space_of(*slot).is_none() {
                bad_root = Some(*slot);
            }
        });
        match bad_root {
            Some(r) => Err(format!("invariant 1: a root holds {r:#x}, not an object")),
            None => Ok(()),
        }
    }

    fn check_tasks(&self, tasks: &TaskRegistry) -> Result<(), String> {
        let mut check = TaskCheck {
            ix: self,
            old: false,
            err: None,
        };
        // SAFETY: the world is stopped; the checker changes no slot.
        unsafe {
            tasks.inspect(&mut |age, visit_members| {
                check.old = age == AGE_OLD;
                visit_members(&mut check);
            })
        };
        check.err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests;
