//! The major collection's marking phase.
//!
//! Marks every object reachable from the roots (including every suspended task, of
//! whatever age), young and old, by setting `MARK` in its header, with an explicit
//! mark stack in the collection's scratch arena (no native recursion, so a
//! million-long linked list marks like any other graph). Objects do not move while
//! marking; the collection then sweeps the old spaces and clears the marks left on
//! young objects (see `collection.rs`).

use crate::byrefs::Resolver;
use crate::collection::RootScan;
use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;
use contgc_heap::byref::{self as byref_slot, EXTERNAL};
use contgc_heap::header::MARK;
use contgc_heap::internal::{LargeObjectSpace, Nursery, OldSpace};
use contgc_heap::{ObjectRef, TypeInfo};
use contgc_roots::internal::{MemberVisitor, TaskRegistry};
use std::sync::Arc;

/// What marking found.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MarkOutcome {
    pub byrefs_resolved: usize,
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
    fn byref_base(&mut self, slot: *mut usize) -> usize {
        // SAFETY: the callers pass byref slots of live objects or tasklets.
        let state = unsafe { byref_slot::load(slot) };
        let (addr, base) = self
            .resolver
            .settle(state, self.nursery, self.old, self.los);
        if base != 0 {
            // SAFETY: as above; objects do not move while marking.
            unsafe { byref_slot::store(slot, addr, base) };
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
            ty.for_each_ref_offset(h.len(), |off| {
                // SAFETY: the descriptor says `off` is a reference slot.
                let v = unsafe { obj.load_slot(off) };
                if v != 0 {
                    self.mark(v);
                }
            });
            ty.for_each_byref_offset(h.len(), |off| {
                let base = self.byref_base(obj.payload().wrapping_add(off) as *mut usize);
                if base != 0 && base != EXTERNAL {
                    self.mark(base);
                }
            });
        }
    }
}

impl MemberVisitor for Marker<'_> {
    fn reference(&mut self, slot: &mut usize) -> bool {
        self.mark(*slot);
        false
    }

    fn byref(&mut self, slot: &mut [usize; 2]) -> bool {
        let base = self.byref_base(slot.as_mut_ptr());
        if base != 0 && base != EXTERNAL {
            self.mark(base);
        }
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
    roots(&mut |slot: &mut usize| m.mark(*slot));
    // SAFETY: the world is stopped; marking rewrites no reference slot.
    unsafe { tasks.visit(false, &mut m) };
    m.drain();
    MarkOutcome {
        byrefs_resolved: m.resolver.resolved,
    }
}
