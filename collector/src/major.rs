//! The major collection's marking phase.
//!
//! Marks every object reachable from the roots, young and old, by setting `MARK` in
//! its header, with an explicit mark stack in the collection's scratch arena (no native
//! recursion, so a million-long linked list marks like any other graph). Objects do not
//! move while marking; the collection then sweeps the old spaces and clears the marks
//! left on young objects (see `collection.rs`).

use crate::byrefs::Resolver;
use crate::collection::RootScan;
use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;
use contgc_heap::byref::{self as byref_slot, ByrefState, EXTERNAL};
use contgc_heap::header::MARK;
use contgc_heap::{LargeObjectSpace, Nursery, ObjectRef, OldSpace, TypeInfo};
use std::sync::Arc;

/// What marking found.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MarkOutcome {
    pub byrefs_resolved: usize,
}

/// Marks everything reachable from `roots` through references and byref bases,
/// resolving unresolved byrefs on the way.
///
/// The world must be stopped, every allocation buffer retired, and no object may be
/// marked when this starts.
pub(crate) fn mark(
    types: &[Arc<TypeInfo>],
    nursery: &Nursery,
    old: &OldSpace,
    los: &LargeObjectSpace,
    roots: &mut RootScan<'_>,
    scratch: &Bump,
) -> MarkOutcome {
    let mut resolver = Resolver::new(types);
    let mut stack: BumpVec<'_, usize> = BumpVec::new_in(scratch);
    let visit = |addr: usize, stack: &mut BumpVec<'_, usize>| {
        let obj = ObjectRef::from_addr(addr).expect("non-null");
        // SAFETY: by invariant 1 every root and reference slot holds null (filtered
        // out by the callers) or the start of a live object; the world is stopped.
        let h = unsafe { obj.header() };
        if h.is_marked() {
            return;
        }
        // SAFETY: as above.
        unsafe { obj.set_header(h.with(MARK)) };
        if types[h.type_index() as usize].needs_scan() {
            stack.push(addr);
        }
    };
    roots(&mut |slot: &mut usize| visit(*slot, &mut stack));
    while let Some(addr) = stack.pop() {
        let obj = ObjectRef::from_addr(addr).expect("non-null");
        // SAFETY: a marked live object.
        let h = unsafe { obj.header() };
        let ty = &types[h.type_index() as usize];
        ty.for_each_ref_offset(h.len(), |off| {
            // SAFETY: the descriptor says `off` is a reference slot inside the object.
            let v = unsafe { obj.load_slot(off) };
            if v != 0 {
                visit(v, &mut stack);
            }
        });
        ty.for_each_byref_offset(h.len(), |off| {
            let slot = obj.payload().wrapping_add(off) as *mut usize;
            // SAFETY: the descriptor says `off` is a byref slot inside the object.
            let base = match unsafe { byref_slot::load(slot) } {
                ByrefState::Null | ByrefState::External { .. } => return,
                ByrefState::Resolved { base, .. } => base,
                ByrefState::Unresolved { addr } => {
                    let base = resolver.resolve(addr, nursery, old, los);
                    // SAFETY: as above; objects do not move while marking.
                    unsafe { byref_slot::store(slot, addr, base) };
                    base
                }
            };
            if base != EXTERNAL {
                visit(base, &mut stack);
            }
        });
    }
    MarkOutcome {
        byrefs_resolved: resolver.resolved,
    }
}
