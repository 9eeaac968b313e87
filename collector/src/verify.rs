//! The heap verifier: checks DESIGN.md's invariants 1-5 over the whole heap.
//!
//! 1. Every reference slot (in objects and roots) holds null or the start of a live
//!    object.
//! 2. Every old->young reference is remembered: its source object is in the
//!    remembered set, with its `UNLOGGED` bit clear.
//! 3. No forwarding pointer is left behind (nor a mark bit).
//! 4. Every byref is null, external, or resolved, and a resolved byref's base is a live
//!    object whose extent contains the byref's address (an old object whose byref base
//!    is young is remembered, as for references).
//!
//! 5. Every suspended-task group (in aged mode, every member) whose age says old refers
//!    to no young object.
//!
//! Continuations (types marked as such) must form well-formed chains: `next` is null
//! or another continuation.
//!
//! It also checks the spaces' own bookkeeping: headers name registered types, fillers
//! only pad the nursery, young objects are never `UNLOGGED`, remembered objects are old
//! and listed once, every other old object has its barrier armed (`UNLOGGED`), and the
//! old and large spaces' byte counters agree with a walk of their objects.
//! It costs O(heap) and runs after every collection when the configuration asks for it.

use crate::scan::RootScan;
use crate::spaces::Spaces;
use contgc_heap::byref::{self as byref_slot, ByrefState};
use contgc_heap::types::{FILLER_TYPE_INDEX, FREE_TYPE_INDEX};
use contgc_heap::{Header, ObjectRef, TypeInfo};
use contgc_roots::task_groups::AGE_OLD;
use contgc_roots::{MemberVisitor, TaskRegistry};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Space {
    Young,
    Old,
    Large,
}

/// Checks the heap; returns a description of the first broken invariant.
pub(crate) fn verify(
    sp: &Spaces,
    types: &[Arc<TypeInfo>],
    roots: &mut RootScan<'_>,
    tasks: &TaskRegistry,
    young_garbage: bool,
) -> Result<(), String> {
    let mut objects: HashMap<usize, (Header, Space)> = HashMap::new();
    let mut err: Option<String> = None;
    let check_header = |addr: usize, h: Header, space: Space| -> Result<(), String> {
        if h.is_forwarded() {
            return Err(format!(
                "invariant 3: object {addr:#x} ({space:?}) is forwarded to {:#x}",
                h.forwarding_address()
            ));
        }
        let ti = h.type_index();
        if ti == FREE_TYPE_INDEX || ti as usize >= types.len() {
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
    };
    for (start, top) in [sp.nursery.eden_range(), sp.nursery.from_range()] {
        let mut at = start;
        while at < top {
            let obj = ObjectRef::from_addr(at).expect("non-null");
            // SAFETY: the nursery ranges are walkable after a collection; each step
            // lands on a header because sizes come from checked headers.
            let h = unsafe { obj.header() };
            check_header(at, h, Space::Young)?;
            objects.insert(at, (h, Space::Young));
            at += types[h.type_index() as usize]
                .object_size(h.len())
                .ok_or_else(|| format!("object {at:#x} has an invalid size"))?;
        }
        if at != top {
            return Err(format!("nursery walk overran its top {top:#x}"));
        }
    }
    sp.old.for_each_object(|obj, h| {
        if err.is_none() {
            err = check_header(obj.addr(), h, Space::Old).err();
        }
        objects.insert(obj.addr(), (h, Space::Old));
    });
    sp.los.for_each_object(|obj, h| {
        if err.is_none() {
            err = check_header(obj.addr(), h, Space::Large).err();
        }
        objects.insert(obj.addr(), (h, Space::Large));
    });
    if let Some(e) = err {
        return Err(e);
    }
    let is_object = |v: usize| {
        objects
            .get(&v)
            .is_some_and(|(h, _)| h.type_index() != FILLER_TYPE_INDEX)
    };

    let remembered: HashSet<usize> = sp.remset.iter().copied().collect();
    for &r in &sp.remset {
        match objects.get(&r) {
            Some((_, Space::Old | Space::Large)) => {}
            other => {
                return Err(format!(
                    "remembered entry {r:#x} is not a live old object ({other:?})"
                ))
            }
        }
    }
    if remembered.len() != sp.remset.len() {
        return Err("the remembered set holds an object twice".into());
    }
    // The write barrier is armed on every old object outside the remembered set, and
    // the spaces' byte counters agree with a walk of their objects.
    let (mut old_bytes, mut large_bytes) = (0, 0);
    for (&addr, &(h, space)) in &objects {
        if space == Space::Young {
            continue;
        }
        if !h.is_unlogged() && !remembered.contains(&addr) {
            return Err(format!(
                "old object {addr:#x} is neither remembered nor UNLOGGED: its barrier is disarmed"
            ));
        }
        let size = types[h.type_index() as usize]
            .object_size(h.len())
            .unwrap_or(0);
        match space {
            Space::Old => old_bytes += size,
            _ => large_bytes += size,
        }
    }
    if old_bytes != sp.old.object_bytes() || large_bytes != sp.los.bytes() {
        return Err(format!(
            "byte counters drifted: old {} counted, {old_bytes} walked; large {} counted, {large_bytes} walked",
            sp.old.object_bytes(),
            sp.los.bytes()
        ));
    }

    for (&addr, &(h, space)) in &objects {
        if h.type_index() == FILLER_TYPE_INDEX {
            continue;
        }
        // After a major collection that could not evacuate the nursery, eden still
        // holds dead objects whose referents may have been swept: only headers are
        // checked there.
        if young_garbage && space == Space::Young {
            continue;
        }
        let ty = &types[h.type_index() as usize];
        let obj = ObjectRef::from_addr(addr).expect("non-null");
        let mut bad = None;
        ty.for_each_ref_offset(h.len(), |off| {
            if bad.is_some() {
                return;
            }
            // SAFETY: a live object's reference slot, per its descriptor.
            let v = unsafe { obj.load_slot(off) };
            if v == 0 {
                return;
            }
            if !is_object(v) {
                bad = Some(format!(
                    "invariant 1: {} object {addr:#x} ({}) slot +{off} holds {v:#x}, not an object",
                    space_name(space),
                    ty.name()
                ));
                return;
            }
            let target_young = objects[&v].1 == Space::Young;
            if space != Space::Young && target_young {
                // SAFETY: as above.
                let now = unsafe { obj.header() };
                if !remembered.contains(&addr) || now.is_unlogged() {
                    bad = Some(format!(
                        "invariant 2: old object {addr:#x} ({}) slot +{off} refers to young {v:#x} but is not remembered",
                        ty.name()
                    ));
                }
            }
        });
        if let Some(b) = bad {
            return Err(b);
        }
        ty.for_each_byref_offset(h.len(), |off| {
            if bad.is_some() {
                return;
            }
            let slot = obj.payload().wrapping_add(off) as *const usize;
            // SAFETY: a live object's byref slot, per its descriptor.
            let (a, base) = match unsafe { byref_slot::load(slot) } {
                ByrefState::Null => return,
                ByrefState::External { addr: to } => {
                    if sp.contains(to) {
                        bad = Some(format!(
                            "invariant 4: object {addr:#x} ({}) byref +{off} says external but {to:#x} is heap memory",
                            ty.name()
                        ));
                    }
                    return;
                }
                ByrefState::Unresolved { addr: to } => {
                    bad = Some(format!(
                        "invariant 4: {} object {addr:#x} ({}) byref +{off} to {to:#x} was not resolved",
                        space_name(space),
                        ty.name()
                    ));
                    return;
                }
                ByrefState::Resolved { addr, base } => (addr, base),
            };
            let Some(&(bh, bspace)) = objects.get(&base).filter(|_| is_object(base)) else {
                bad = Some(format!(
                    "invariant 4: object {addr:#x} ({}) byref +{off} has base {base:#x}, not an object",
                    ty.name()
                ));
                return;
            };
            let size = types[bh.type_index() as usize]
                .object_size(bh.len())
                .unwrap_or(0);
            if a < base + 8 || a >= base + size {
                bad = Some(format!(
                    "invariant 4: object {addr:#x} ({}) byref +{off} address {a:#x} lies outside its base {base:#x} of {size} bytes",
                    ty.name()
                ));
                return;
            }
            // SAFETY: as above.
            let now = unsafe { obj.header() };
            if space != Space::Young
                && bspace == Space::Young
                && (!remembered.contains(&addr) || now.is_unlogged())
            {
                bad = Some(format!(
                    "invariant 2: old object {addr:#x} ({}) byref +{off} has young base {base:#x} but is not remembered",
                    ty.name()
                ));
            }
        });
        if let Some(b) = bad {
            return Err(b);
        }
    }

    check_chains(&objects, types, young_garbage)?;

    let mut bad_root = None;
    roots(&mut |slot: &mut usize| {
        if bad_root.is_none() && !is_object(*slot) {
            bad_root = Some(*slot);
        }
    });
    if let Some(r) = bad_root {
        return Err(format!("invariant 1: a root holds {r:#x}, not an object"));
    }

    let mut check = TaskCheck {
        sp,
        objects: &objects,
        types,
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
    if let Some(e) = check.err {
        return Err(e);
    }
    Ok(())
}

/// Checks suspended-task members: invariant 1 (every reference is an object), 4
/// (byrefs), and 5 (a member whose age says old refers to no young object).
struct TaskCheck<'a> {
    sp: &'a Spaces,
    objects: &'a HashMap<usize, (Header, Space)>,
    types: &'a [Arc<TypeInfo>],
    old: bool,
    err: Option<String>,
}

impl TaskCheck<'_> {
    fn target(&mut self, what: &str, v: usize) {
        match self.objects.get(&v) {
            Some((h, _)) if h.type_index() == FILLER_TYPE_INDEX => {
                self.err = Some(format!(
                    "invariant 1: a suspended task's {what} is a filler"
                ));
            }
            None => {
                self.err = Some(format!(
                    "invariant 1: a suspended task's {what} holds {v:#x}, not an object"
                ))
            }
            Some((_, Space::Young)) if self.old => {
                self.err = Some(format!(
                    "invariant 5: a suspended task aged old has a {what} to young {v:#x}"
                ))
            }
            Some(_) => {}
        }
    }
}

impl MemberVisitor for TaskCheck<'_> {
    fn reference(&mut self, slot: &mut usize) -> bool {
        if self.err.is_none() {
            self.target("reference", *slot);
        }
        false
    }

    fn byref(&mut self, slot: &mut [usize; 2]) -> bool {
        if self.err.is_some() {
            return false;
        }
        match ByrefState::decode(slot[0], slot[1]) {
            ByrefState::Null => {}
            ByrefState::External { addr } => {
                if self.sp.contains(addr) {
                    self.err = Some(format!(
                        "invariant 4: a suspended task's byref says external but {addr:#x} is heap memory"
                    ));
                }
            }
            ByrefState::Unresolved { addr } => {
                self.err = Some(format!(
                    "invariant 4: a suspended task's byref to {addr:#x} was not resolved"
                ))
            }
            ByrefState::Resolved { addr, base } => {
                self.target("byref base", base);
                if self.err.is_none() {
                    let h = self.objects[&base].0;
                    let size = self.types[h.type_index() as usize]
                        .object_size(h.len())
                        .unwrap_or(0);
                    if addr < base + 8 || addr >= base + size {
                        self.err = Some(format!(
                            "invariant 4: a suspended task's byref {addr:#x} lies outside its base {base:#x}"
                        ));
                    }
                }
            }
        }
        false
    }
}

/// Continuation chains: `next` (a private reference only the continuation crate
/// writes, through checked paths) is null or another continuation. A chain that loops
/// back on itself is the embedder's logic error (linking one frame twice), not heap
/// corruption, so it is not reported.
fn check_chains(
    objects: &HashMap<usize, (Header, Space)>,
    types: &[Arc<TypeInfo>],
    young_garbage: bool,
) -> Result<(), String> {
    let is_cont = |a: usize| {
        objects
            .get(&a)
            .is_some_and(|(h, _)| types[h.type_index() as usize].is_continuation())
    };
    for (&at, &(_, space)) in objects {
        if !is_cont(at) || (young_garbage && space == Space::Young) {
            continue;
        }
        // SAFETY: a live continuation; payload word 0 is its `next` reference.
        let next = unsafe { ObjectRef::from_addr(at).expect("non-null").load_slot(0) };
        if next != 0 && !is_cont(next) {
            return Err(format!(
                "continuation {at:#x} has next {next:#x}, which is not a continuation"
            ));
        }
    }
    Ok(())
}

fn space_name(s: Space) -> &'static str {
    match s {
        Space::Young => "young",
        Space::Old => "old",
        Space::Large => "large",
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
