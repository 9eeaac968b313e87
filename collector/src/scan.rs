//! The object-scanning core: the one place that knows which words of an object the
//! collector must look at, and how each kind of slot is read and written.
//!
//! Minor evacuation, major marking and the heap verifier all scan objects through
//! [`scan_object`], handing it a [`SlotVisitor`]; suspended-task members and root
//! slots reach the same visitors through [`RefSlot::from_mut`] and
//! [`ByrefSlot::from_mut`]. This follows mmtk-core's `Scanning::scan_object` over a
//! slot visitor, with its `Slot` abstraction: a slot is *where* a reference lives, and
//! the visitor decides what to do with it (evacuate and update, mark, check).
//!
//! Slot kinds today:
//! - [`RefSlot`]: one word holding null or the address of an object's header;
//! - [`ByrefSlot`]: two words `<address, base>` (see `contgc_heap::byref`): an
//!   interior address and what the collector knows of its base object;
//! - [`WeakSlot`]: one word like a reference slot, which does not keep its referent
//!   alive: phases record it while tracing and settle it once liveness is known
//!   (null if the referent died, its new address if it moved);
//! - [`TaggedSlot`]: one word that holds a reference or an immediate, as the type's
//!   `TagScheme` says; a reference in it is a reference slot's, in its encoding;
//! - [`EphemeronSlot`]: two words, a key held weakly and a value held only while the
//!   key lives. Phases trace the value once the key is known to live, keep the pairs
//!   whose key is not known yet until their transitive closure reaches a fix-point,
//!   and clear the pairs whose key died.
//!
//! A new slot kind (a tagged value, a weak reference) is added here: a slot type, a
//! method on [`SlotVisitor`] (without a default, so every collector phase must decide
//! what it does with it) and its enumeration in [`scan_object`].
//!
//! The visitor is a type parameter, so each phase gets its own monomorphised, inlined
//! copy of the scanning loop: no dynamic dispatch per slot.
//!
//! The minor collection's hot loops read types through [`TypeSummaries`]: a dense
//! table, indexed by type index, of what they need per object in 16 bytes (the fixed
//! size, the size class, the promotion age, and how to scan: not at all, through a
//! bitmap of reference words, or through [`scan_object`]). [`scan_summarized`] is
//! [`scan_object`] with that bitmap fast path; both hand the same slots, in the same
//! order, to the visitor.

use contgc_heap::byref::{self as byref_slot, ByrefState};
use contgc_heap::size_classes::{class_of, MAX_SMALL_OBJECT};
use contgc_heap::{Header, ObjectRef, SizeKind, TagScheme, TypeInfo};
use std::marker::PhantomData;
use std::sync::Arc;

/// A root scan: calls the visitor it is given with every root slot.
pub(crate) type RootScan<'a> = dyn FnMut(&mut dyn FnMut(&mut usize)) + 'a;

/// Size of the (non-forwarded) object with header `h`.
#[inline]
pub(crate) fn object_size(types: &[Arc<TypeInfo>], h: Header) -> usize {
    types[h.type_index() as usize]
        .object_size(h.len())
        .expect("allocated objects have a valid size")
}

/// Asks the processor to bring the cache line at `addr` into its caches: a hint only.
/// A prefetch never faults and reads nothing architecturally, so any address (null,
/// stale, outside the heap) is harmless. Does nothing off x86-64.
#[inline(always)]
pub(crate) fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch has no precondition: it reads nothing architecturally and
    // never faults, whatever the address; SSE is part of x86-64.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// A reference slot: one word, null or the start of an object. `'a` bounds how long
/// the slot may be used (the scan of its object, or the borrow it was made from).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RefSlot<'a>(*mut usize, PhantomData<&'a mut usize>);

impl<'a> RefSlot<'a> {
    /// The reference slot at payload byte `offset` of `obj`.
    #[inline(always)]
    fn at(obj: ObjectRef, offset: usize) -> RefSlot<'a> {
        RefSlot(obj.payload().wrapping_add(offset).cast(), PhantomData)
    }

    /// A reference slot outside the heap (a root, a suspended-task member).
    #[inline(always)]
    pub(crate) fn from_mut(slot: &'a mut usize) -> RefSlot<'a> {
        RefSlot(slot, PhantomData)
    }

    /// The slot's address (for diagnostics).
    #[inline(always)]
    pub(crate) fn addr(self) -> usize {
        self.0 as usize
    }

    /// Reads the slot.
    #[inline(always)]
    pub(crate) fn load(self) -> usize {
        // SAFETY: a `RefSlot` is made only by `scan_object` from a live object's
        // descriptor (the caller has exclusive access during the scan) or from a
        // `&mut usize` it borrows: a valid, aligned word.
        unsafe { self.0.read() }
    }

    /// Writes the slot.
    #[inline(always)]
    pub(crate) fn store(self, value: usize) {
        // SAFETY: as for `load`; the collector has exclusive access to every slot
        // while the world is stopped.
        unsafe { self.0.write(value) }
    }
}

/// A byref slot: the two words `<address, base>` of `contgc_heap::byref`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ByrefSlot<'a>(*mut usize, PhantomData<&'a mut [usize; 2]>);

impl<'a> ByrefSlot<'a> {
    /// The byref slot whose address word is at payload byte `offset` of `obj`.
    #[inline(always)]
    fn at(obj: ObjectRef, offset: usize) -> ByrefSlot<'a> {
        ByrefSlot(obj.payload().wrapping_add(offset).cast(), PhantomData)
    }

    /// A byref slot outside the heap (a tasklet's).
    #[inline(always)]
    pub(crate) fn from_mut(slot: &'a mut [usize; 2]) -> ByrefSlot<'a> {
        ByrefSlot(slot.as_mut_ptr(), PhantomData)
    }

    /// The address of the slot's first word (for diagnostics).
    #[inline(always)]
    pub(crate) fn addr(self) -> usize {
        self.0 as usize
    }

    /// Reads and decodes both words.
    #[inline(always)]
    pub(crate) fn load(self) -> ByrefState {
        // SAFETY: made from a descriptor's byref slot of a live object or from a
        // `&mut [usize; 2]` (see `RefSlot::load`): two readable, aligned words.
        unsafe { byref_slot::load(self.0) }
    }

    /// Writes both words.
    #[inline(always)]
    pub(crate) fn store(self, addr: usize, base: usize) {
        // SAFETY: as for `load`, and the collector has exclusive access to the slot
        // while the world is stopped.
        unsafe { byref_slot::store(self.0, addr, base) }
    }
}

/// A weak reference slot: one word, null or the start of an object that this slot
/// does not keep alive. Unlike the other slots it may be kept past the scan of its
/// object: a phase records it (see [`WeakSlot::addr`]) and settles it with
/// [`settle_weak`] once the transitive closure is complete.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WeakSlot<'a>(RefSlot<'a>);

impl<'a> WeakSlot<'a> {
    /// The weak slot at payload byte `offset` of `obj`.
    #[inline(always)]
    fn at(obj: ObjectRef, offset: usize) -> WeakSlot<'a> {
        WeakSlot(RefSlot::at(obj, offset))
    }

    /// The slot's address: a word inside a live object, to be recorded and settled
    /// later with [`settle_weak`].
    #[inline(always)]
    pub(crate) fn addr(self) -> usize {
        self.0.addr()
    }

    /// Reads the slot.
    #[inline(always)]
    pub(crate) fn load(self) -> usize {
        self.0.load()
    }

    /// The same word seen as a reference slot, for phases that check a weak slot as
    /// they check a reference (the verifier: after a collection both hold null or a
    /// live object).
    #[inline(always)]
    pub(crate) fn as_ref_slot(self) -> RefSlot<'a> {
        self.0
    }
}

/// Settles the weak slot recorded at `addr`: `f` maps its referent (non-null) to the
/// referent's address after the collection, or 0 if it died; the slot is rewritten
/// only if that differs.
///
/// # Safety
/// `addr` must be the [`WeakSlot::addr`] of a weak slot of an object that is live and
/// has not moved since it was recorded, and the world must be stopped.
#[inline(always)]
pub(crate) unsafe fn settle_weak(addr: usize, f: impl FnOnce(usize) -> usize) {
    let p = addr as *mut usize;
    // SAFETY: guaranteed by the caller: an aligned word inside a live object that the
    // collector owns while the world is stopped.
    let v = unsafe { p.read() };
    if v != 0 {
        let n = f(v);
        if n != v {
            // SAFETY: as above.
            unsafe { p.write(n) };
        }
    }
}

/// A tagged value slot: one word, a reference (in `scheme`'s encoding) or an
/// immediate the collector never interprets.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TaggedSlot<'a>(*mut usize, TagScheme, PhantomData<&'a mut usize>);

impl<'a> TaggedSlot<'a> {
    /// The tagged slot at payload byte `offset` of `obj`, of a type whose scheme is
    /// `scheme`.
    #[inline(always)]
    fn at(obj: ObjectRef, offset: usize, scheme: TagScheme) -> TaggedSlot<'a> {
        TaggedSlot(
            obj.payload().wrapping_add(offset).cast(),
            scheme,
            PhantomData,
        )
    }

    /// The slot's address (for diagnostics).
    #[inline(always)]
    pub(crate) fn addr(self) -> usize {
        self.0 as usize
    }

    /// The address the slot refers to, or `None` if it holds an immediate.
    #[inline(always)]
    pub(crate) fn load_ref(self) -> Option<usize> {
        // SAFETY: made by `scan_object` from a live object's descriptor; the caller
        // has exclusive access to it during the scan (see `RefSlot::load`).
        self.1.decode(unsafe { self.0.read() } as u64)
    }

    /// Makes the slot refer to the object at `addr` (it held a reference).
    #[inline(always)]
    pub(crate) fn store_ref(self, addr: usize) {
        // SAFETY: as for `load_ref`; the collector has exclusive access to every slot
        // while the world is stopped.
        unsafe { self.0.write(self.1.encode(addr) as usize) }
    }
}

/// An ephemeron slot: two words, `[key, value]`, each null or the start of an object.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EphemeronSlot<'a>(*mut usize, PhantomData<&'a mut [usize; 2]>);

impl<'a> EphemeronSlot<'a> {
    /// The ephemeron slot whose key is at payload byte `offset` of `obj`.
    #[inline(always)]
    fn at(obj: ObjectRef, offset: usize) -> EphemeronSlot<'a> {
        EphemeronSlot(obj.payload().wrapping_add(offset).cast(), PhantomData)
    }

    /// The slot recorded at `addr` (its [`addr`](Self::addr)).
    ///
    /// # Safety
    /// `addr` must be the address of an ephemeron slot of an object that is live and
    /// has not moved since it was recorded, and the world must be stopped.
    #[inline(always)]
    pub(crate) unsafe fn from_addr(addr: usize) -> EphemeronSlot<'a> {
        EphemeronSlot(addr as *mut usize, PhantomData)
    }

    /// The slot's address: the key word's.
    #[inline(always)]
    pub(crate) fn addr(self) -> usize {
        self.0 as usize
    }

    /// The key word as a reference slot.
    #[inline(always)]
    pub(crate) fn key(self) -> RefSlot<'a> {
        RefSlot(self.0, PhantomData)
    }

    /// The value word as a reference slot.
    #[inline(always)]
    pub(crate) fn value(self) -> RefSlot<'a> {
        RefSlot(self.0.wrapping_add(1), PhantomData)
    }

    /// Sets both words to null: the key died.
    #[inline(always)]
    pub(crate) fn clear(self) {
        self.key().store(0);
        self.value().store(0);
    }
}

/// What a collector phase does with each slot of a scanned object.
pub(crate) trait SlotVisitor {
    /// A reference slot (possibly null).
    fn visit_ref(&mut self, slot: RefSlot<'_>);
    /// A byref slot (possibly null).
    fn visit_byref(&mut self, slot: ByrefSlot<'_>);
    /// A weak reference slot (possibly null): must not keep its referent alive.
    fn visit_weak(&mut self, slot: WeakSlot<'_>);
    /// An ephemeron slot: the key must not keep anything alive, and the value must be
    /// traced only once the key is known to live.
    fn visit_ephemeron(&mut self, slot: EphemeronSlot<'_>);
    /// A tagged value slot. One rule for every phase: when it holds a reference, it
    /// is a reference slot, so the reference goes through [`visit_ref`](Self::visit_ref)
    /// (decoded into a word of its own, re-encoded if the phase changed it); an
    /// immediate is left alone.
    #[inline(always)]
    fn visit_tagged(&mut self, slot: TaggedSlot<'_>) {
        if let Some(addr) = slot.load_ref() {
            let mut word = addr;
            self.visit_ref(RefSlot::from_mut(&mut word));
            if word != addr {
                slot.store_ref(word);
            }
        }
    }
}

/// Hands every slot of `obj`, an object of type `ty` with `len` elements, to `v`:
/// the fixed part's reference slots, then its byref slots, its weak slots, its
/// tagged slots and its ephemeron slots (each in increasing offset order), then each
/// element's, element by element.
///
/// # Safety
/// `obj` must be a live, non-forwarded object of type `ty` with `len` elements, to
/// which the caller has exclusive access (the world is stopped) for the whole scan.
#[inline(always)]
pub(crate) unsafe fn scan_object<V: SlotVisitor>(
    ty: &TypeInfo,
    obj: ObjectRef,
    len: u32,
    v: &mut V,
) {
    // Plain loops over the descriptor's slot lists (no closures), so that the
    // visitor's code is inlined here.
    for &off in ty.refs() {
        v.visit_ref(RefSlot::at(obj, off as usize));
    }
    for &off in ty.byrefs() {
        v.visit_byref(ByrefSlot::at(obj, off as usize));
    }
    for &off in ty.weak() {
        v.visit_weak(WeakSlot::at(obj, off as usize));
    }
    let scheme = ty.tag_scheme();
    if let Some(scheme) = scheme {
        for &off in ty.tagged() {
            v.visit_tagged(TaggedSlot::at(obj, off as usize, scheme));
        }
    }
    for &off in ty.ephemerons() {
        v.visit_ephemeron(EphemeronSlot::at(obj, off as usize));
    }
    if let SizeKind::Variable { base, elem } = ty.size_kind() {
        let (refs, byrefs, weak) = (ty.elem_refs(), ty.elem_byrefs(), ty.elem_weak());
        let (tagged, ephemerons) = (ty.elem_tagged(), ty.elem_ephemerons());
        if refs.is_empty()
            && byrefs.is_empty()
            && weak.is_empty()
            && tagged.is_empty()
            && ephemerons.is_empty()
        {
            return;
        }
        let (base, elem) = (base as usize, elem as usize);
        for i in 0..len as usize {
            let start = base + i * elem;
            for &off in refs {
                v.visit_ref(RefSlot::at(obj, start + off as usize));
            }
            for &off in byrefs {
                v.visit_byref(ByrefSlot::at(obj, start + off as usize));
            }
            for &off in weak {
                v.visit_weak(WeakSlot::at(obj, start + off as usize));
            }
            if let Some(scheme) = scheme {
                for &off in tagged {
                    v.visit_tagged(TaggedSlot::at(obj, start + off as usize, scheme));
                }
            }
            for &off in ephemerons {
                v.visit_ephemeron(EphemeronSlot::at(obj, start + off as usize));
            }
        }
    }
}

/// How objects of a type are scanned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ScanHow {
    /// No reference or byref slot: nothing to scan.
    #[default]
    Skip,
    /// A fixed-size type whose slots are references in its first 64 payload words:
    /// the bits of [`TypeSummary::ref_mask`].
    Mask,
    /// Anything else: [`scan_object`] over the descriptor's slot lists.
    Full,
}

/// What the collector's hot loops need of one type (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TypeSummary {
    /// For [`ScanHow::Mask`]: bit `w` set if payload word `w` is a reference slot.
    pub ref_mask: u64,
    /// The object size of a small fixed-size type; 0 for other types (variable-size
    /// objects and fillers take their size from their header).
    pub size: u32,
    /// Minor collections an object survives before it is promoted: the type's
    /// promotion age, else the heap's.
    pub promotion_age: u8,
    /// The old-space size class of `size` (when `size` is not 0).
    pub class: u8,
    /// How to scan the type's objects.
    pub how: ScanHow,
}

impl TypeSummary {
    fn of(ty: &TypeInfo, default_age: u8) -> TypeSummary {
        let fixed = match ty.size_kind() {
            SizeKind::Fixed { .. } => ty
                .object_size(0)
                .filter(|&s| s <= MAX_SMALL_OBJECT)
                .map(|s| s as u32),
            _ => None,
        };
        let mask_ok = fixed.is_some()
            && !ty.has_byrefs()
            && !ty.has_weak()
            && !ty.has_tagged()
            && !ty.has_ephemerons()
            && ty.refs().iter().all(|&off| off % 8 == 0 && off / 8 < 64);
        let how = if !ty.needs_scan() {
            ScanHow::Skip
        } else if mask_ok {
            ScanHow::Mask
        } else {
            ScanHow::Full
        };
        TypeSummary {
            ref_mask: if how == ScanHow::Mask {
                ty.refs().iter().fold(0, |m, &off| m | 1 << (off / 8))
            } else {
                0
            },
            size: fixed.unwrap_or(0),
            promotion_age: ty.promotion_age().unwrap_or(default_age),
            class: fixed.map_or(0, |s| class_of(s as usize) as u8),
            how,
        }
    }
}

/// The summaries of a heap's types, by type index; extended as types are registered
/// (types are never removed or changed), so keeping it current costs O(new types).
#[derive(Debug)]
pub(crate) struct TypeSummaries {
    table: Vec<TypeSummary>,
    default_age: u8,
}

impl TypeSummaries {
    /// An empty table for a heap whose default promotion age is `default_age`.
    pub(crate) fn new(default_age: u8) -> Self {
        TypeSummaries {
            table: Vec::new(),
            default_age,
        }
    }

    /// Summarises the types registered since the last call.
    pub(crate) fn update(&mut self, types: &[Arc<TypeInfo>]) {
        let age = self.default_age;
        let known = self.table.len();
        self.table.extend(
            types[known.min(types.len())..]
                .iter()
                .map(|t| TypeSummary::of(t, age)),
        );
    }

    /// The summaries by type index, as of the last [`update`](Self::update).
    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[TypeSummary] {
        &self.table
    }
}

/// Hands every slot of `obj` to `v`, as [`scan_object`] does (the same slots in the
/// same order), through the bitmap of `sum` when it has one.
///
/// # Safety
/// As for [`scan_object`]: `obj` is a live, non-forwarded object with header `h`,
/// `sum` is the summary of its type and `ty` the type, and the caller has exclusive
/// access to it for the whole scan.
#[inline(always)]
pub(crate) unsafe fn scan_summarized<V: SlotVisitor>(
    sum: &TypeSummary,
    types: &[Arc<TypeInfo>],
    obj: ObjectRef,
    h: Header,
    v: &mut V,
) {
    match sum.how {
        ScanHow::Skip => {}
        // SAFETY: guaranteed by the caller.
        ScanHow::Mask => unsafe { scan_mask(sum.ref_mask, obj, v) },
        // SAFETY: guaranteed by the caller.
        ScanHow::Full => unsafe { scan_object(&types[h.type_index() as usize], obj, h.len(), v) },
    }
}

/// Hands the reference slots of `obj` named by `mask` (bit `w`: payload word `w`) to
/// `v`, in increasing offset order: the [`ScanHow::Mask`] case of
/// [`scan_summarized`].
///
/// # Safety
/// As for [`scan_summarized`], with `mask` the [`TypeSummary::ref_mask`] of `obj`'s
/// type, whose summary says [`ScanHow::Mask`].
#[inline(always)]
pub(crate) unsafe fn scan_mask<V: SlotVisitor>(mask: u64, obj: ObjectRef, v: &mut V) {
    let mut m = mask;
    while m != 0 {
        let w = m.trailing_zeros() as usize;
        m &= m - 1;
        v.visit_ref(RefSlot::at(obj, w * 8));
    }
}
