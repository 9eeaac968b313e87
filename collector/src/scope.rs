//! The safe embedding API: scopes and their locals.
//!
//! A [`Scope`] is opened on a mutator with [`Mutator::scope`]; every object it hands
//! out is a [`Local`], an index into the mutator's shadow stack that the collector
//! updates when the object moves. Nested scopes ([`Scope::scope`],
//! [`Scope::scope_escape`]) release their locals when they close.
//!
//! # Branded locals
//! Every scope has a *brand*: the lifetime `'s` in `Scope<'s>` and `Local<'s>`. The
//! closure a scope runs is generic over it (`for<'s> FnOnce(&mut Scope<'s>)`), so the
//! compiler knows nothing about one scope's brand inside another's, and a scope only
//! accepts locals of its own brand or of the scopes it is nested in. This is checked
//! at compile time, costs nothing at run time, and rules out, in safe code:
//! - using a local of one mutator (or heap) in a scope of another mutator;
//! - using a local after its scope (top-level or nested) has closed;
//! - keeping a local past its scope in a variable, a return value or another thread.
//!
//! A nested scope is handed to its closure as a [`NestedScope<'i, 's>`](NestedScope):
//! a `Scope<'i>` (through `Deref`) that also records that the outer brand `'s`
//! outlives `'i`, which is what lets the outer scope's `Local<'s>` be used as a
//! `Local<'i>` inside it. Functions that take `&mut Scope<'i>` accept it by deref
//! coercion.
//!
//! Field accesses are checked against the type's descriptor: reference slots are read
//! and written only as references (with the write barrier), data only as data, and
//! nothing outside the payload. Every other kind of word (byref, weak, tagged,
//! ephemeron, private) is reached only through its own accessors, never as data: the
//! data accessors and data field tokens refuse it. A violation panics with the type
//! and offset named.

use crate::error::{AllocError, ByrefError, PinError, TaggedError};
use crate::fields::{DataField, RefField};
use crate::heap::HeapInner;
use crate::mutator::Mutator;
use crate::stats::{Census, CollectionKind, HeapStats};
use contgc_heap::byref::{self as byref_slot, ByrefState};
use contgc_heap::descriptor::FieldCheck;
use contgc_heap::{Header, ObjectRef, SlotKind, TagScheme, TypeId};
use contgc_roots::{Finalizer, Persistent, WeakHandle};
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

mod object_lifetime;
mod special_slots;
mod views;

pub use object_lifetime::Pinned;
pub use special_slots::Tagged;
pub use views::{ObjView, ObjViewMut};

/// A scoped reference to an object, valid while its [`Scope`] is open; `'s` is the
/// scope's brand (see the [module documentation](self)).
///
/// A local is a copyable index into its mutator's scoped roots; the collector updates
/// the slot when the object moves, so a local stays valid across allocations and
/// collections until its scope closes. The compiler stops every other use; the
/// compile-fail tests in `collector/tests/ui/` pin each case to its exact error. For
/// example, a local cannot leave its (nested) scope:
///
/// ```compile_fail,E0521
/// # use contgc_collector::{Config, Heap, TypeDescriptor};
/// # let heap = Heap::new(Config::default()).unwrap();
/// # let t = heap.register_type(&TypeDescriptor::fixed("T", 8)).unwrap();
/// let mut m = heap.mutator();
/// m.scope(|s| {
///     let mut leaked = None;
///     s.scope(|inner| leaked = Some(inner.alloc(t).unwrap())); // error: escapes
///     s.read_u64(leaked.unwrap(), 0);
/// });
/// ```
///
/// and a local of one mutator is not accepted by another mutator's scope:
///
/// ```compile_fail,E0521
/// # use contgc_collector::{Config, Heap, TypeDescriptor};
/// # let heap = Heap::new(Config::default()).unwrap();
/// # let t = heap.register_type(&TypeDescriptor::fixed("T", 8)).unwrap();
/// let (mut m1, mut m2) = (heap.mutator(), heap.mutator());
/// m1.scope(|s1| {
///     let a = s1.alloc(t).unwrap();
///     m2.scope(|s2| s2.read_u64(a, 0)); // error: `a` has another scope's brand
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Local<'s> {
    /// The shadow-stack slot's index plus one: never zero, so that an
    /// `Option<Local>` takes four bytes and the values frame code returns through
    /// every caller (a `Step`, a `Suspension`) stay small enough for registers.
    index: std::num::NonZeroU32,
    // Covariant: a local of an enclosing scope can be used in a nested one.
    _brand: PhantomData<&'s ()>,
}

impl Local<'_> {
    /// The shadow-stack slot.
    #[inline(always)]
    fn slot(self) -> u32 {
        self.index.get() - 1
    }
}

/// An open scope on a mutator; see the [module documentation](self).
///
/// `Scope<'s>` is invariant in its brand `'s`, so a scope cannot be viewed as a scope
/// of a shorter brand (which would let it accept locals of unrelated scopes).
pub struct Scope<'s> {
    m: &'s mut Mutator,
    base: usize,
    _brand: PhantomData<fn(&'s ()) -> &'s ()>,
}

/// A scope nested in a scope of brand `'o`: a [`Scope<'i>`](Scope) (use it through
/// `Deref`) whose type records that `'o` outlives `'i`, so locals of the outer scope
/// are accepted inside it. Its own locals are released when it closes.
///
/// Method calls go through `DerefMut`, so a call whose argument uses the scope again
/// (`i.write_u64(a, 0, i.read_u64(b, 0))`) needs the value in a variable first, or
/// the nested scope rebound as a plain scope: `let i: &mut Scope<'_> = i;` (the outer
/// locals stay usable: the bound is known for the whole closure body).
pub struct NestedScope<'i, 'o> {
    inner: Scope<'i>,
    _outer: PhantomData<&'i &'o ()>,
}

impl<'i> Deref for NestedScope<'i, '_> {
    type Target = Scope<'i>;
    #[inline(always)]
    fn deref(&self) -> &Scope<'i> {
        &self.inner
    }
}

impl<'i> DerefMut for NestedScope<'i, '_> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut Scope<'i> {
        &mut self.inner
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        // SAFETY: this scope is closing: the locals above its base are its own and
        // those of scopes nested in it, which have closed.
        unsafe { self.m.truncate_roots(self.base) };
    }
}

impl Mutator {
    /// Opens a scope; its locals are released when `f` returns (or unwinds). The
    /// closure is generic over the scope's brand `'s`, so nothing it returns can hold
    /// a `Local<'s>`; keep objects past a scope with [`Scope::persist`].
    ///
    /// ```
    /// use contgc_collector::{Config, Heap, TypeDescriptor};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let pair = heap.register_type(&TypeDescriptor::fixed("Pair", 16).with_refs(&[0, 8])).unwrap();
    /// let mut m = heap.mutator();
    /// let total = m.scope(|s| {
    ///     let p = s.alloc(pair)?;
    ///     let q = s.alloc(pair)?;
    ///     s.set_ref(p, 8, Some(q));
    ///     Ok::<_, contgc_collector::AllocError>(s.get_ref(p, 8).is_some())
    /// });
    /// assert_eq!(total, Ok(true));
    /// ```
    pub fn scope<R>(&mut self, f: impl for<'s> FnOnce(&mut Scope<'s>) -> R) -> R {
        let mut s = Scope::open(self);
        f(&mut s)
    }
}

impl<'s> Scope<'s> {
    fn open(m: &'s mut Mutator) -> Scope<'s> {
        let base = m.roots_len();
        Scope {
            m,
            base,
            _brand: PhantomData,
        }
    }

    fn nested(&mut self) -> NestedScope<'_, 's> {
        NestedScope {
            inner: Scope::open(&mut *self.m),
            _outer: PhantomData,
        }
    }

    /// Opens a nested scope; its locals are released when `f` returns. Locals of this
    /// scope (and of the scopes it is nested in) can be used inside it; the nested
    /// scope's own locals cannot leave it.
    ///
    /// ```
    /// # use contgc_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default()).unwrap();
    /// # let t = heap.register_type(&TypeDescriptor::fixed("T", 8)).unwrap();
    /// # let mut m = heap.mutator();
    /// m.scope(|s| {
    ///     let a = s.alloc(t).unwrap();
    ///     s.write_u64(a, 0, 7);
    ///     let doubled = s.scope(|i| {
    ///         let tmp = i.alloc(t).unwrap(); // released when the closure returns
    ///         let v = i.read_u64(a, 0) * 2; // `a`, a local of the outer scope
    ///         i.write_u64(tmp, 0, v);
    ///         i.read_u64(tmp, 0)
    ///     });
    ///     assert_eq!(doubled, 14);
    /// });
    /// ```
    pub fn scope<R>(&mut self, f: impl for<'i> FnOnce(&mut NestedScope<'i, 's>) -> R) -> R {
        let mut inner = self.nested();
        f(&mut inner)
    }

    /// Opens a nested scope whose result, one local (or none), survives into this
    /// scope: the way to build a structure in a loop or recursion without keeping every
    /// intermediate local alive.
    ///
    /// ```
    /// # use contgc_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default()).unwrap();
    /// # let node = heap.register_type(&TypeDescriptor::fixed("Node", 8).with_refs(&[0])).unwrap();
    /// # let mut m = heap.mutator();
    /// m.scope(|s| {
    ///     let mut list = None;
    ///     for _ in 0..1000 {
    ///         list = s.scope_escape(|i| {
    ///             let n = i.alloc(node).unwrap();
    ///             i.set_ref(n, 0, list);
    ///             Some(n)
    ///         });
    ///     }
    ///     assert!(list.is_some());
    /// });
    /// ```
    pub fn scope_escape(
        &mut self,
        f: impl for<'i> FnOnce(&mut NestedScope<'i, 's>) -> Option<Local<'i>>,
    ) -> Option<Local<'s>> {
        let base = self.m.roots_len();
        let escaped = {
            let mut inner = self.nested();
            let l = f(&mut inner);
            l.map(|l| inner.raw(l))
            // `inner` closes here and releases its locals.
        };
        debug_assert_eq!(self.m.roots_len(), base);
        // The escaped object takes the first slot above the inner scope's base, which
        // belongs to this (outer) scope.
        escaped.map(|obj| self.push(obj))
    }

    /// Opens a nested scope whose result carries `N` locals (or none) into this scope,
    /// beside a value `R` that holds no local: [`scope_escape`](Self::scope_escape)
    /// for structures built from several locals (a chain's head and tail, say).
    ///
    /// ```
    /// # use contgc_collector::{Config, Heap, TypeDescriptor};
    /// # let heap = Heap::new(Config::default()).unwrap();
    /// # let node = heap.register_type(&TypeDescriptor::fixed("Node", 8).with_refs(&[0])).unwrap();
    /// # let mut m = heap.mutator();
    /// m.scope(|s| {
    ///     let (len, [first, last]) = s.scope_escape_with(|i| {
    ///         let a = i.alloc(node).unwrap();
    ///         let b = i.alloc(node).unwrap();
    ///         i.set_ref(a, 0, Some(b));
    ///         (2, [Some(a), Some(b)])
    ///     });
    ///     assert_eq!(len, 2);
    ///     let next = s.get_ref(first.unwrap(), 0).unwrap();
    ///     assert!(s.same(next, last.unwrap()));
    /// });
    /// ```
    pub fn scope_escape_with<R, const N: usize>(
        &mut self,
        f: impl for<'i> FnOnce(&mut NestedScope<'i, 's>) -> (R, [Option<Local<'i>>; N]),
    ) -> (R, [Option<Local<'s>>; N]) {
        let base = self.m.roots_len();
        let (r, escaped) = {
            let mut inner = self.nested();
            let (r, ls) = f(&mut inner);
            (r, ls.map(|l| l.map(|l| inner.raw(l))))
            // `inner` closes here and releases its locals.
        };
        debug_assert_eq!(self.m.roots_len(), base);
        // No allocation since the addresses were read: they are current. Each becomes
        // a local of this scope of its own (distinct locals even for one object).
        (r, escaped.map(|o| o.map(|obj| self.push(obj))))
    }

    #[inline(always)]
    fn push(&mut self, obj: ObjectRef) -> Local<'s> {
        let slot = self.m.local().shadow.push(obj.addr());
        Local {
            index: std::num::NonZeroU32::new(slot.wrapping_add(1))
                .expect("contgc: more than u32::MAX - 1 locals"),
            _brand: PhantomData,
        }
    }

    /// The object's current address. It stays valid only until the next allocation,
    /// safepoint or collection; prefer locals.
    #[inline(always)]
    pub fn raw(&self, l: Local<'s>) -> ObjectRef {
        ObjectRef::from_addr(self.m.local_ref().shadow.get(l.slot())).expect("locals are non-null")
    }

    /// Makes a local from a raw address.
    ///
    /// # Safety
    /// `obj` must be a live object of this heap, obtained since the last allocation,
    /// safepoint or collection.
    #[inline]
    pub unsafe fn from_raw(&mut self, obj: ObjectRef) -> Local<'s> {
        self.push(obj)
    }

    /// Makes local `l` hold `obj`; with `None` (locals are never null) leaves it
    /// unchanged and returns false.
    ///
    /// # Safety
    /// `obj` must be a live object of this heap, obtained since the last allocation,
    /// safepoint or collection.
    #[inline]
    pub unsafe fn set_raw(&mut self, l: Local<'s>, obj: Option<ObjectRef>) -> bool {
        match obj {
            Some(o) => {
                self.m.local().shadow.set(l.slot(), o.addr());
                true
            }
            None => false,
        }
    }

    /// Allocates a zero-filled object of a fixed-size type.
    ///
    /// Panics if `ty` belongs to another heap or has a variable size.
    #[inline]
    pub fn alloc(&mut self, ty: TypeId) -> Result<Local<'s>, AllocError> {
        let obj = self.m.alloc_raw(ty)?;
        Ok(self.push(obj))
    }

    /// Allocates a zero-filled object of a variable-size type with `len` elements.
    pub fn alloc_array(&mut self, ty: TypeId, len: u32) -> Result<Local<'s>, AllocError> {
        let obj = self.m.alloc_array_raw(ty, len)?;
        Ok(self.push(obj))
    }

    /// A second local for the same object (to be overwritten with
    /// [`load_into`](Self::load_into) while walking a structure).
    #[inline]
    pub fn dup(&mut self, l: Local<'s>) -> Local<'s> {
        let o = self.raw(l);
        self.push(o)
    }

    #[inline]
    fn header(&self, l: Local<'s>) -> Header {
        // SAFETY: locals hold live objects of this heap (the collector keeps them).
        unsafe { self.raw(l).header() }
    }

    #[inline]
    fn check_slot(&mut self, l: Local<'s>, offset: usize, want: SlotKind) -> ObjectRef {
        let obj = self.raw(l);
        // SAFETY: locals hold live objects of this heap.
        let h = unsafe { obj.header() };
        let info = self.m.type_info(h.type_index());
        let ok = match want {
            SlotKind::Ref => info.is_ref_slot(offset, h.len()),
            _ => offset.is_multiple_of(8) && info.slot_kind(offset, h.len()) == Some(want),
        };
        if !ok {
            let kind = info.slot_kind(offset, h.len());
            let name = info.name().to_owned();
            slot_mismatch(&name, offset, want, kind);
        }
        obj
    }

    /// Checks that `offset..offset + width` is plain data inside `l`'s payload and that
    /// `offset` is a multiple of `align`; returns the object.
    #[inline]
    fn check_data(&mut self, l: Local<'s>, offset: usize, width: usize, align: usize) -> ObjectRef {
        let obj = self.raw(l);
        // SAFETY: locals hold live objects of this heap.
        let h = unsafe { obj.header() };
        let info = self.m.type_info(h.type_index());
        match info.check_data(offset, width, h.len()) {
            FieldCheck::Ok if offset.is_multiple_of(align) => obj,
            FieldCheck::Ok => misaligned(info.name(), offset, align),
            other => {
                let name = info.name().to_owned();
                data_mismatch(&name, offset, width, other)
            }
        }
    }

    /// Reads reference slot `offset` of `obj`.
    pub fn get_ref(&mut self, obj: Local<'s>, offset: usize) -> Option<Local<'s>> {
        let o = self.check_slot(obj, offset, SlotKind::Ref);
        // SAFETY: checked to be a reference slot of a live object.
        let v = unsafe { o.load_slot(offset) };
        ObjectRef::from_addr(v).map(|v| self.push(v))
    }

    /// Makes local `dst` hold the object `src` holds.
    pub fn set_local(&mut self, dst: Local<'s>, src: Local<'s>) {
        let o = self.raw(src);
        self.m.local().shadow.set(dst.slot(), o.addr());
    }

    /// Overwrites local `dst` with the object in reference slot `offset` of `obj`, if
    /// that slot is not null; returns whether it was not null. Walks a structure
    /// without growing the scope.
    pub fn load_into(&mut self, dst: Local<'s>, obj: Local<'s>, offset: usize) -> bool {
        let o = self.check_slot(obj, offset, SlotKind::Ref);
        // SAFETY: checked to be a reference slot of a live object.
        let v = unsafe { o.load_slot(offset) };
        if v != 0 {
            self.m.local().shadow.set(dst.slot(), v);
        }
        v != 0
    }

    /// Stores `value` (or null) into reference slot `offset` of `obj`, through the
    /// write barrier.
    pub fn set_ref(&mut self, obj: Local<'s>, offset: usize, value: Option<Local<'s>>) {
        let o = self.check_slot(obj, offset, SlotKind::Ref);
        let v = value.map(|v| self.raw(v));
        // SAFETY: checked reference slot of a live object; `v` is a live object of
        // this heap (a local of this mutator).
        unsafe { self.m.store_ref(o, offset, v) };
    }

    fn byref_slot(&mut self, obj: Local<'s>, slot: usize) -> Result<ObjectRef, ByrefError> {
        let o = self.raw(obj);
        // SAFETY: locals hold live objects of this heap.
        let h = unsafe { o.header() };
        let info = self.m.type_info(h.type_index());
        if info.is_byref_slot(slot, h.len()) {
            Ok(o)
        } else {
            Err(ByrefError::NotAByrefSlot {
                offset: slot,
                type_name: info.name().to_owned(),
            })
        }
    }

    /// Captures a byref to payload byte `target_offset` of `target` into byref slot
    /// `slot` of `obj`. Refused if `slot` is not a byref slot or the offset lies past
    /// the end of the target's payload. The safe API knows the base, so the byref is
    /// stored resolved; raw captures ([`Mutator::store_byref`]) are resolved by the
    /// next collection.
    pub fn set_byref(
        &mut self,
        obj: Local<'s>,
        slot: usize,
        target: Local<'s>,
        target_offset: usize,
    ) -> Result<(), ByrefError> {
        let o = self.byref_slot(obj, slot)?;
        let t = self.raw(target);
        // SAFETY: locals hold live objects of this heap.
        let th = unsafe { t.header() };
        let payload = self
            .m
            .type_info(th.type_index())
            .payload_size(th.len())
            .unwrap_or(0);
        if target_offset >= payload {
            return Err(ByrefError::OutOfBounds {
                offset: target_offset,
                payload,
            });
        }
        let addr = t.payload() as usize + target_offset;
        // SAFETY: checked byref slot of a live object; `addr` lies in `t`'s payload.
        unsafe { self.m.store_resolved_byref(o, slot, addr, t) };
        Ok(())
    }

    /// Captures a byref to memory outside the heap (kept as it is by the collector;
    /// keeping it valid is the embedder's responsibility). Refused if `addr` lies in
    /// the heap.
    pub fn set_byref_external(
        &mut self,
        obj: Local<'s>,
        slot: usize,
        addr: usize,
    ) -> Result<(), ByrefError> {
        let o = self.byref_slot(obj, slot)?;
        if self.m.is_heap_address(addr) {
            return Err(ByrefError::InsideHeap { addr });
        }
        let base = if addr == 0 { 0 } else { byref_slot::EXTERNAL };
        let p = o.payload().wrapping_add(slot) as *mut usize;
        // SAFETY: checked byref slot of a live object; an external byref keeps no
        // object alive, so no barrier is needed.
        unsafe { byref_slot::store(p, addr, base) };
        Ok(())
    }

    /// Reads byref slot `slot` of `obj`.
    pub fn byref(&mut self, obj: Local<'s>, slot: usize) -> Result<Byref<'s>, ByrefError> {
        let o = self.byref_slot(obj, slot)?;
        let p = o.payload().wrapping_add(slot) as *const usize;
        // SAFETY: checked byref slot of a live object.
        let state = unsafe { byref_slot::load(p) };
        // SAFETY: the state was just read from a live object of this heap.
        Ok(unsafe { self.byref_from_state(state) })
    }

    /// The safe view of a byref slot's state, rooting a resolved byref's base.
    ///
    /// # Safety
    /// `state` must have been read, since the last allocation, safepoint or
    /// collection, from a byref slot of a live object (or tasklet) of this heap.
    pub(crate) unsafe fn byref_from_state(&mut self, state: ByrefState) -> Byref<'s> {
        match state {
            ByrefState::Null => Byref::Null,
            ByrefState::External { addr } => Byref::External(addr),
            ByrefState::Unresolved { addr } => Byref::Unresolved(addr),
            ByrefState::Resolved { addr, base } => {
                let b = ObjectRef::from_addr(base).expect("non-null");
                // SAFETY: a resolved byref's base is a live object of this heap.
                let h = unsafe { b.header() };
                let payload = self
                    .m
                    .type_info(h.type_index())
                    .payload_size(h.len())
                    .unwrap_or(0);
                match addr.checked_sub(b.payload() as usize) {
                    Some(offset) if offset < payload => Byref::Heap {
                        base: self.push(b),
                        offset,
                    },
                    // The two words disagree (two threads stored the slot at once):
                    // only the address is meaningful until the next collection.
                    _ => Byref::Unresolved(addr),
                }
            }
        }
    }

    fn through_byref(&mut self, obj: Local<'s>, slot: usize, width: usize) -> (ObjectRef, usize) {
        match self.byref(obj, slot) {
            Ok(Byref::Heap { base, offset }) => {
                (self.check_data(base, offset, width, width), offset)
            }
            Ok(other) => {
                panic!("contgc: byref at offset {slot} is {other:?}, not a resolved heap byref")
            }
            Err(e) => panic!("contgc: {e}"),
        }
    }

    /// Reads a `u64` through the resolved heap byref in slot `slot` of `obj` (checked
    /// against the base object's layout like any data read). Panics if the byref is
    /// not a resolved heap byref.
    pub fn read_u64_via(&mut self, obj: Local<'s>, slot: usize) -> u64 {
        let (o, off) = self.through_byref(obj, slot, 8);
        // SAFETY: checked to be aligned data bytes inside the base's payload.
        unsafe { o.load_u64(off) }
    }

    /// Writes a `u64` through the resolved heap byref in slot `slot` of `obj`.
    pub fn write_u64_via(&mut self, obj: Local<'s>, slot: usize, value: u64) {
        let (o, off) = self.through_byref(obj, slot, 8);
        // SAFETY: checked to be aligned data bytes inside the base's payload.
        unsafe { o.store_u64(off, value) }
    }

    /// True if both locals hold the same object.
    #[inline]
    pub fn same(&self, a: Local<'s>, b: Local<'s>) -> bool {
        self.raw(a) == self.raw(b)
    }

    /// Element count of a variable-size object (0 for fixed-size ones).
    #[inline]
    pub fn len(&self, obj: Local<'s>) -> u32 {
        self.header(obj).len()
    }

    /// The type index of the object (as in [`TypeId::index`]).
    #[inline]
    pub fn type_index(&self, obj: Local<'s>) -> u32 {
        self.header(obj).type_index()
    }

    /// Copies `dst.len()` payload bytes from `offset` into `dst`.
    pub fn read_bytes(&mut self, obj: Local<'s>, offset: usize, dst: &mut [u8]) {
        let o = self.check_data(obj, offset, dst.len(), 1);
        // SAFETY: checked to be data bytes inside the payload.
        unsafe { o.copy_out(offset, dst) };
    }

    /// Copies `src` into the payload at `offset`.
    pub fn write_bytes(&mut self, obj: Local<'s>, offset: usize, src: &[u8]) {
        let o = self.check_data(obj, offset, src.len(), 1);
        // SAFETY: checked to be data bytes inside the payload.
        unsafe { o.copy_in(offset, src) };
    }

    /// Persists the object: the handle keeps it alive beyond this scope.
    pub fn persist(&mut self, obj: Local<'s>) -> Persistent {
        let o = self.raw(obj);
        // SAFETY: `o` is a live object of this heap (a local), read just now.
        unsafe { self.m.heap.handles.create(o) }
    }

    /// A local for the object a persistent handle holds. Panics if the handle belongs
    /// to another heap.
    pub fn get_persistent(&mut self, p: &Persistent) -> Local<'s> {
        self.m.check_heap_of("persistent handle", p.heap_id());
        self.push(p.get())
    }

    /// Makes a persistent handle hold `obj`. Panics if the handle belongs to another
    /// heap.
    pub fn set_persistent(&mut self, p: &Persistent, obj: Local<'s>) {
        self.m.check_heap_of("persistent handle", p.heap_id());
        // SAFETY: the handle belongs to this heap (checked) and the object is a live
        // local, read just now.
        unsafe { p.set(self.raw(obj)) };
    }

    /// See [`Mutator::safepoint`].
    pub fn safepoint(&mut self) {
        self.m.safepoint();
    }

    /// See [`Mutator::collect`]: collects, and returns the record of what ran.
    pub fn collect(&mut self, kind: CollectionKind) -> crate::stats::PauseRecord {
        self.m.collect(kind)
    }

    /// The mutator this scope is open on, for its raw layer.
    ///
    /// # Safety
    /// The mutator must not be replaced or moved out through the returned reference
    /// (`std::mem::swap`, `replace`, `take`) while this scope is open: the scope's
    /// locals index the mutator's scoped roots. Everything done through the raw layer
    /// follows that layer's own rules (see [`crate::mutator`]).
    #[inline(always)]
    pub unsafe fn mutator(&mut self) -> &mut Mutator {
        self.m
    }

    /// The heap this scope's mutator belongs to.
    pub fn heap(&self) -> crate::Heap {
        self.m.heap()
    }

    /// Panics if `ty` was registered with another heap (see [`Mutator::check_type`]).
    #[inline(always)]
    pub fn check_type(&self, ty: TypeId) {
        self.m.check_type(ty)
    }

    /// The number of scoped roots on this mutator (this scope's locals, those of the
    /// scopes it is nested in, and raw roots): a diagnostic, e.g. to check that a loop
    /// does not pile up locals.
    #[inline]
    pub fn roots_len(&self) -> usize {
        self.m.roots_len()
    }

    /// True if `addr` lies in memory this heap manages (see
    /// [`Mutator::is_heap_address`]).
    pub fn is_heap_address(&self, addr: usize) -> bool {
        self.m.is_heap_address(addr)
    }

    /// The id of this scope's heap.
    #[inline]
    pub fn heap_id(&self) -> u32 {
        self.m.heap_id()
    }

    /// See [`Mutator::stats`].
    pub fn stats(&self) -> HeapStats {
        self.m.stats()
    }

    /// See [`Mutator::census`].
    pub fn census(&mut self) -> Census {
        self.m.census()
    }

    /// See [`Mutator::blocking`]: runs `f` with this mutator counted as stopped, so
    /// collections can run meanwhile (and move this scope's objects; its locals follow).
    pub fn blocking<R>(&mut self, f: impl FnOnce() -> R) -> R {
        self.m.blocking(f)
    }

    /// True if type `index` of this heap is a continuation layout. Panics if no such
    /// type is registered.
    #[inline]
    pub fn is_continuation_type(&mut self, index: u32) -> bool {
        self.m.is_continuation_type(index)
    }

    /// See [`Mutator::type_name`]: the name of type `index` of this heap, if registered.
    pub fn type_name(&mut self, index: u32) -> Option<&str> {
        self.m.type_name(index)
    }

    /// See [`Mutator::type_attachment`]: the data attached to type `index` of this heap
    /// at registration, if any.
    #[inline]
    pub fn type_attachment(&mut self, index: u32) -> Option<&(dyn std::any::Any + Send + Sync)> {
        self.m.type_attachment(index)
    }

    pub(crate) fn mutator_ref(&self) -> &Mutator {
        self.m
    }

    /// Payload bytes of the object.
    pub fn payload_size(&mut self, obj: Local<'s>) -> usize {
        let h = self.header(obj);
        self.m
            .type_info(h.type_index())
            .payload_size(h.len())
            .unwrap_or(0)
    }
}

/// What a byref slot holds, as seen through the safe API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Byref<'s> {
    /// No byref.
    Null,
    /// Memory outside the heap.
    External(usize),
    /// A raw capture the next collection will resolve.
    Unresolved(usize),
    /// Payload byte `offset` of `base`.
    Heap {
        /// The object the byref points into.
        base: Local<'s>,
        /// Payload offset inside it.
        offset: usize,
    },
}

macro_rules! scalar_access {
    ($($read:ident $write:ident $t:ty, $w:literal, $from:expr, $to:expr, $load:ident, $store:ident;)*) => {
        impl<'s> Scope<'s> {
            $(
                #[doc = concat!("Reads a `", stringify!($t), "` at payload byte `offset`, which must be a multiple of ", stringify!($w), " (native endian).")]
                pub fn $read(&mut self, obj: Local<'s>, offset: usize) -> $t {
                    let o = self.check_data(obj, offset, $w, $w);
                    // SAFETY: checked to be aligned data bytes inside the payload.
                    $from(unsafe { o.$load(offset) })
                }
                #[doc = concat!("Writes a `", stringify!($t), "` at payload byte `offset`, which must be a multiple of ", stringify!($w), " (native endian).")]
                pub fn $write(&mut self, obj: Local<'s>, offset: usize, value: $t) {
                    let o = self.check_data(obj, offset, $w, $w);
                    // SAFETY: checked to be aligned data bytes inside the payload.
                    unsafe { o.$store(offset, $to(value)) }
                }
            )*
        }
    };
}

scalar_access! {
    read_u32 write_u32 u32, 4, |v| v, |v| v, load_u32, store_u32;
    read_u64 write_u64 u64, 8, |v| v, |v| v, load_u64, store_u64;
    read_i64 write_i64 i64, 8, |v: u64| v as i64, |v: i64| v as u64, load_u64, store_u64;
    read_f64 write_f64 f64, 8, f64::from_bits, f64::to_bits, load_u64, store_u64;
}

impl<'s> Scope<'s> {
    /// Reads the byte at payload byte `offset`.
    pub fn read_u8(&mut self, obj: Local<'s>, offset: usize) -> u8 {
        let mut b = [0u8];
        self.read_bytes(obj, offset, &mut b);
        b[0]
    }

    /// Writes the byte at payload byte `offset`.
    pub fn write_u8(&mut self, obj: Local<'s>, offset: usize, value: u8) {
        self.write_bytes(obj, offset, &[value]);
    }
}

#[cold]
#[inline(never)]
fn misaligned(name: &str, offset: usize, align: usize) -> ! {
    panic!("contgc: offset {offset} into a {name} is not a multiple of {align}")
}

#[cold]
#[inline(never)]
fn slot_mismatch(name: &str, offset: usize, want: SlotKind, got: Option<SlotKind>) -> ! {
    match got {
        None => panic!("contgc: offset {offset} is outside the payload of a {name}"),
        // Inside a slot of the wanted kind but not at its start: an ephemeron's value
        // word, a byref's base word, or an offset that is not a multiple of 8.
        Some(k) if k == want => panic!(
            "contgc: offset {offset} of a {name} lies inside a {want:?} slot but does not \
             start one (give the slot's first word's offset)"
        ),
        Some(k) => {
            panic!("contgc: offset {offset} of a {name} is not a {want:?} slot (it holds {k:?})")
        }
    }
}

#[cold]
#[inline(never)]
fn data_mismatch(name: &str, offset: usize, width: usize, c: FieldCheck) -> ! {
    match c {
        FieldCheck::OutOfBounds { payload } => panic!(
            "contgc: bytes {offset}..{} are outside the {payload}-byte payload of a {name}",
            offset.saturating_add(width)
        ),
        FieldCheck::OverlapsSlot { offset: at, kind } => panic!(
            "contgc: bytes {offset}..{} of a {name} overlap its {kind:?} slot at {at}",
            offset + width
        ),
        FieldCheck::Ok => unreachable!(),
    }
}
