//! The major collection's marking phase.
//!
//! Marks every object reachable from the roots (including every suspended task, of
//! whatever age), young and old, by setting `MARK` in its header, with an explicit
//! mark stack in the collection's scratch arena (no native recursion, so a
//! million-long linked list marks like any other graph). Objects do not move while
//! marking; the collection then sweeps the old spaces and clears the marks left on
//! young objects (see `collection.rs`).

use crate::byrefs::Resolver;
use crate::scan::{self, ByrefSlot, RefSlot, RootScan, SlotVisitor};
use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;
use contgc_heap::byref::EXTERNAL;
use contgc_heap::header::MARK;
use contgc_heap::internal::{LargeObjectSpace, Nursery, OldSpace};
use contgc_heap::{ObjectRef, TypeInfo};
use contgc_roots::internal::{MemberVisitor, TaskRegistry};
use std::sync::Arc;

/// What marking found.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MarkOutcome {
    pub byrefs_resolved: usize,
    /// Time spent building the nursery index for byref resolution.
    pub byref_index: std::time::Duration,
}

struct Marker<'a> {
    types: &'a [Arc<TypeInfo>],
    nursery: &'a Nursery,
    old: &'a OldSpace,
    los: &'a LargeObjectSpace,
    stack: BumpVec<'a, usize>,
    resolver: Resolver<'a>,
}

impl Marker<'_> {
    fn mark(&mut self, addr: usize) {
        let obj = ObjectRef::from_addr(addr).expect("non-null");
        // SAFETY: by invariant 1 every root and reference slot holds null (filtered
        // out by the callers) or the start of a live object; the world is stopped.
        let h = unsafe { obj.header() };
        if h.is_marked() {
            return;
        }
        // SAFETY: as above.
        unsafe { obj.set_header(h.with(MARK)) };
        if self.types[h.type_index() as usize].needs_scan() {
            self.stack.push(addr);
        }
    }

    /// Resolves the byref at `slot` if needed and returns its base (or EXTERNAL/0).
    fn byref_base(&mut self, slot: ByrefSlot<'_>) -> usize {
        let (addr, base) = self
            .resolver
            .settle(slot.load(), self.nursery, self.old, self.los);
        if base != 0 {
            // Objects do not move while marking.
            slot.store(addr, base);
        }
        base
    }

    fn drain(&mut self) {
        let types = self.types;
        while let Some(addr) = self.stack.pop() {
            let obj = ObjectRef::from_addr(addr).expect("non-null");
            // SAFETY: a marked live object.
            let h = unsafe { obj.header() };
            let ty = &types[h.type_index() as usize];
            // SAFETY: as above; the world is stopped, so the collector owns it.
            unsafe { scan::scan_object(ty, obj, h.len(), self) };
        }
    }
}

impl SlotVisitor for Marker<'_> {
    #[inline(always)]
    fn visit_ref(&mut self, slot: RefSlot<'_>) {
        let v = slot.load();
        if v != 0 {
            self.mark(v);
        }
    }

    #[inline(always)]
    fn visit_byref(&mut self, slot: ByrefSlot<'_>) {
        let base = self.byref_base(slot);
        if base != 0 && base != EXTERNAL {
            self.mark(base);
        }
    }
}

impl MemberVisitor for Marker<'_> {
    fn reference(&mut self, slot: &mut usize) -> bool {
        self.visit_ref(RefSlot::from_mut(slot));
        false
    }

    fn byref(&mut self, slot: &mut [usize; 2]) -> bool {
        self.visit_byref(ByrefSlot::from_mut(slot));
        false
    }
}

/// Marks everything reachable from `roots` and the suspended tasks through references
/// and byref bases, resolving unresolved byrefs on the way.
///
/// The world must be stopped, every allocation buffer retired, and no object may be
/// marked when this starts.
pub(crate) fn mark(
    types: &[Arc<TypeInfo>],
    nursery: &Nursery,
    old: &OldSpace,
    los: &LargeObjectSpace,
    roots: &mut RootScan<'_>,
    tasks: &TaskRegistry,
    scratch: &Bump,
) -> MarkOutcome {
    let mut m = Marker {
        types,
        nursery,
        old,
        los,
        stack: BumpVec::new_in(scratch),
        resolver: Resolver::new(types),
    };
    roots(&mut |slot: &mut usize| m.visit_ref(RefSlot::from_mut(slot)));
    // SAFETY: the world is stopped; marking rewrites no reference slot.
    unsafe { tasks.visit(false, &mut m) };
    m.drain();
    MarkOutcome {
        byrefs_resolved: m.resolver.resolved,
        byref_index: m.resolver.index_time,
    }
}
