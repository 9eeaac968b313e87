//! The major collection's marking phase.
//!
//! Marks every object reachable from the roots, young and old, by setting `MARK` in
//! its header, with an explicit mark stack in the collection's scratch arena (no native
//! recursion, so a million-long linked list marks like any other graph). Objects do not
//! move while marking; the collection then sweeps the old spaces and clears the marks
//! left on young objects (see `collection.rs`).

use crate::collection::RootScan;
use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;
use contgc_heap::header::MARK;
use contgc_heap::{ObjectRef, TypeInfo};
use std::sync::Arc;

/// Marks everything reachable from `roots`; returns the number of objects marked.
///
/// The world must be stopped and no object may be marked when this starts.
pub(crate) fn mark(types: &[Arc<TypeInfo>], roots: &mut RootScan<'_>, scratch: &Bump) -> usize {
    let mut stack: BumpVec<'_, usize> = BumpVec::new_in(scratch);
    let mut marked = 0usize;
    let mut visit = |addr: usize, stack: &mut BumpVec<'_, usize>| {
        let obj = ObjectRef::from_addr(addr).expect("non-null");
        // SAFETY: by invariant 1 every root and reference slot holds null (filtered
        // out by the callers) or the start of a live object; the world is stopped.
        let h = unsafe { obj.header() };
        if h.is_marked() {
            return;
        }
        // SAFETY: as above.
        unsafe { obj.set_header(h.with(MARK)) };
        marked += 1;
        if types[h.type_index() as usize].has_refs() {
            stack.push(addr);
        }
    };
    roots(&mut |slot: &mut usize| visit(*slot, &mut stack));
    while let Some(addr) = stack.pop() {
        let obj = ObjectRef::from_addr(addr).expect("non-null");
        // SAFETY: a marked live object.
        let h = unsafe { obj.header() };
        types[h.type_index() as usize].for_each_ref_offset(h.len(), |off| {
            // SAFETY: the descriptor says `off` is a reference slot inside the object.
            let v = unsafe { obj.load_slot(off) };
            if v != 0 {
                visit(v, &mut stack);
            }
        });
    }
    marked
}
