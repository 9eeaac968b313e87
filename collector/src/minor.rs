//! The minor collection: evacuates the nursery's live objects.
//!
//! Survivors younger than the promotion age are copied to the to-space; older ones (or
//! all of them once the to-space is full) are promoted into old-space cells. Work is
//! kept on explicit lists, never the native stack: the to-space itself is the queue of
//! copied survivors still to scan (Cheney's algorithm), and promoted objects wait on a
//! grey stack in the collection's scratch arena.
//!
//! The cost is O(roots + young suspended-task groups + remembered objects +
//! survivors): the old generation is never walked, nor are suspended tasks that refer
//! only to old objects (see `contgc_roots::task_groups`). Old objects that still refer to young ones afterwards (remembered objects
//! whose referents stayed in the to-space, and promoted objects in the same position)
//! form the new remembered set; every other scanned old object gets its `UNLOGGED` bit
//! back, so the write barrier logs it again the next time it is written.

use crate::byrefs::Resolver;
use crate::scan::{self, ByrefSlot, RefSlot, RootScan, SlotVisitor};
use crate::spaces::Spaces;
use bumpalo::collections::Vec as BumpVec;
use bumpalo::Bump;
use contgc_heap::byref::EXTERNAL;
use contgc_heap::header::{Header, MARK, UNLOGGED};
use contgc_heap::internal::{LargeObjectSpace, Nursery, OldSpace};
use contgc_heap::{ObjectRef, TypeInfo};
use contgc_roots::internal::{MemberVisitor, TaskRegistry};
use std::sync::Arc;

/// What a minor collection did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MinorOutcome {
    pub promoted_bytes: usize,
    pub survivors: usize,
    pub survivor_bytes: usize,
    pub byrefs_resolved: usize,
}

struct Evacuator<'a> {
    types: &'a [Arc<TypeInfo>],
    nursery: &'a mut Nursery,
    old: &'a mut OldSpace,
    los: &'a LargeObjectSpace,
    resolver: Resolver<'a>,
    young_start: usize,
    young_len: usize,
    promotion_age: u8,
    grey: BumpVec<'a, usize>,
    out: MinorOutcome,
    /// Set by the slot visitor when a slot it updated still refers to a young object
    /// (its base, for a byref); cleared before each object or task member.
    young: bool,
}

/// Runs a minor collection. `roots` must hand every root slot to the visitor it is
/// given; the spaces' remembered set is replaced by the new one.
///
/// The world must be stopped, every allocation buffer retired, and the old space must
/// have room for every nursery byte (the caller checks).
pub(crate) fn collect(
    types: &[Arc<TypeInfo>],
    spaces: &mut Spaces,
    promotion_age: u8,
    roots: &mut RootScan<'_>,
    tasks: &TaskRegistry,
    scratch: &Bump,
) -> MinorOutcome {
    let Spaces {
        nursery,
        old,
        los,
        remset,
        ..
    } = spaces;
    nursery.begin_evacuation();
    let (young_start, young_len) = nursery.bounds();
    let mut ev = Evacuator {
        types,
        nursery,
        old,
        los,
        resolver: Resolver::new(types),
        young_start,
        young_len,
        promotion_age,
        grey: BumpVec::new_in(scratch),
        out: MinorOutcome::default(),
        young: false,
    };
    roots(&mut |slot: &mut usize| ev.visit_ref(RefSlot::from_mut(slot)));
    // SAFETY: the world is stopped; the evacuator leaves every slot valid.
    unsafe { tasks.visit(true, &mut ev) };
    let remembered = std::mem::take(remset);
    for &addr in &remembered {
        let obj = ObjectRef::from_addr(addr).expect("remembered objects are non-null");
        ev.settle_old(obj, remset);
    }
    ev.drain(remset);
    ev.nursery.flip();
    ev.out.byrefs_resolved = ev.resolver.resolved;
    ev.out
}

impl SlotVisitor for Evacuator<'_> {
    /// Evacuates a young referent and updates the slot.
    #[inline(always)]
    fn visit_ref(&mut self, slot: RefSlot<'_>) {
        let v = slot.load();
        if self.is_young(v) {
            let n = self.evacuate(v);
            slot.store(n);
            self.young |= self.is_young(n);
        }
    }

    /// Resolves the byref if needed and moves it with its base.
    #[inline(always)]
    fn visit_byref(&mut self, slot: ByrefSlot<'_>) {
        let young = self.update_byref(slot);
        self.young |= young;
    }
}

impl MemberVisitor for Evacuator<'_> {
    fn reference(&mut self, slot: &mut usize) -> bool {
        self.young = false;
        self.visit_ref(RefSlot::from_mut(slot));
        self.young
    }

    fn byref(&mut self, slot: &mut [usize; 2]) -> bool {
        self.young = false;
        self.visit_byref(ByrefSlot::from_mut(slot));
        self.young
    }
}

impl Evacuator<'_> {
    #[inline(always)]
    fn is_young(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.young_start) < self.young_len
    }

    /// Copies a young object (once) and returns its new address.
    fn evacuate(&mut self, addr: usize) -> usize {
        // A slot visited twice (an embedder may report one root slot twice) already
        // holds a to-space copy: it has been evacuated.
        let (to_start, to_top) = self.nursery.to_range();
        if (to_start..to_top).contains(&addr) {
            return addr;
        }
        let obj = ObjectRef::from_addr(addr).expect("young addresses are non-null");
        // SAFETY: `addr` came from a root or reference slot, which by invariant 1 holds
        // the start of a live object; the world is stopped.
        let h = unsafe { obj.header() };
        if h.is_forwarded() {
            return h.forwarding_address();
        }
        let types = self.types;
        let ty = &types[h.type_index() as usize];
        let size = ty
            .object_size(h.len())
            .expect("allocated objects have a valid size");
        let age = h.age().saturating_add(1);
        let mut promoted = false;
        let mut dst = None;
        if age < ty.promotion_age().unwrap_or(self.promotion_age) {
            dst = self.nursery.survivor_alloc(size);
        }
        if dst.is_none() {
            dst = self.old.alloc(size);
            promoted = dst.is_some();
        }
        let dst = dst.or_else(|| self.nursery.survivor_alloc(size)).unwrap_or_else(|| {
            panic!("contgc: no room to evacuate a {size}-byte object (promotion reserve exhausted)")
        });
        // SAFETY: `dst` is a fresh cell or to-space range of `size` bytes, disjoint from
        // the source, which is a live object of `size` bytes.
        unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, dst as *mut u8, size) };
        let mut nh = h.with_age(age).without(MARK);
        if promoted {
            self.out.promoted_bytes += size;
            if ty.needs_scan() {
                self.grey.push(dst);
            } else {
                nh = nh.with(UNLOGGED);
            }
        }
        let new = ObjectRef::from_addr(dst).expect("non-null");
        // SAFETY: both are headers of objects we exclusively own during the collection.
        unsafe {
            new.set_header(nh);
            obj.set_header(Header::forwarding(dst));
        }
        self.out.survivors += 1;
        self.out.survivor_bytes += size;
        dst
    }

    /// Evacuates the young referents of `obj` (through reference slots and byref
    /// bases), resolving its unresolved byrefs; returns true if any referent stays
    /// young.
    #[inline]
    fn scan(&mut self, obj: ObjectRef) -> bool {
        // SAFETY: `obj` is a live, non-forwarded object (a survivor copy, a promoted
        // copy or a remembered old object).
        let h = unsafe { obj.header() };
        let types = self.types;
        let ty = &types[h.type_index() as usize];
        if !ty.needs_scan() {
            return false;
        }
        self.young = false;
        // SAFETY: as above; the world is stopped, so the collector owns the object.
        unsafe { scan::scan_object(ty, obj, h.len(), self) };
        self.young
    }

    /// Resolves the byref at `slot` if needed and moves it with its base; returns true
    /// if the base is (still) young.
    fn update_byref(&mut self, slot: ByrefSlot<'_>) -> bool {
        let (addr, base) = self
            .resolver
            .settle(slot.load(), self.nursery, self.old, self.los);
        if base == 0 {
            return false;
        }
        if base == EXTERNAL {
            slot.store(addr, EXTERNAL);
            return false;
        }
        let new_base = if self.is_young(base) {
            self.evacuate(base)
        } else {
            base
        };
        // The offset inside the base is kept (invariant 4).
        slot.store(new_base + (addr - base), new_base);
        self.is_young(new_base)
    }

    /// Scans an old object and files it: remembered if it still refers to young
    /// objects, otherwise unlogged.
    fn settle_old(&mut self, obj: ObjectRef, remset: &mut Vec<usize>) {
        if self.scan(obj) {
            remset.push(obj.addr());
        } else {
            // SAFETY: a live old object; the world is stopped.
            unsafe { obj.set_header(obj.header().with(UNLOGGED)) };
        }
    }

    /// Scans copied survivors and promoted objects until no work is left.
    fn drain(&mut self, remset: &mut Vec<usize>) {
        let mut scan = self.nursery.to_range().0;
        loop {
            while scan < self.nursery.to_range().1 {
                let obj = ObjectRef::from_addr(scan).expect("non-null");
                // SAFETY: the to-space below its top holds copied objects back to back.
                let h = unsafe { obj.header() };
                let size = self.types[h.type_index() as usize]
                    .object_size(h.len())
                    .expect("valid size");
                self.scan(obj);
                scan += size;
            }
            match self.grey.pop() {
                Some(p) => self.settle_old(ObjectRef::from_addr(p).expect("non-null"), remset),
                None => break,
            }
        }
    }
}
