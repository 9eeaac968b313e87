//! The slots a language runtime's objects hold besides strong references, through a
//! scope: weak reference slots, ephemerons (key and value) and tagged value slots.

use super::*;

/// What a tagged value slot holds (see [`Scope::get_tagged`]).
#[derive(Clone, Copy, Debug)]
pub enum Tagged<'s> {
    /// A reference.
    Ref(Local<'s>),
    /// An immediate: the word as stored, which the slot's tag scheme says is not a
    /// reference (null included).
    Imm(u64),
}

impl<'s> Scope<'s> {
    /// Reads weak reference slot `offset` of `obj` (see
    /// [`TypeDescriptor::with_weak_refs`](crate::TypeDescriptor::with_weak_refs)): its
    /// referent as a local of this scope, which keeps it alive from now on like any
    /// local, or `None` if the slot is null (stored as null, or cleared by a
    /// collection that found the referent dead). A referent is never handed out after
    /// it was found dead: the collection that finds it clears the slot before the world
    /// restarts.
    ///
    /// Panics if `offset` is not a weak reference slot of `obj`.
    ///
    /// ```
    /// use contgc_collector::{CollectionKind, Config, Heap, TypeDescriptor};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let cell = heap.register_type(&TypeDescriptor::fixed("WeakCell", 8).with_weak_refs(&[0])).unwrap();
    /// let obj = heap.register_type(&TypeDescriptor::fixed("Obj", 8)).unwrap();
    /// let mut m = heap.mutator();
    /// m.scope(|s| {
    ///     let w = s.alloc(cell).unwrap();
    ///     let kept = s.alloc(obj).unwrap();
    ///     s.set_weak(w, 0, Some(kept));
    ///     // Only the weak slot refers to this one.
    ///     s.scope(|i| {
    ///         let t = i.alloc(obj).unwrap();
    ///         i.set_weak(w, 0, Some(t));
    ///     });
    ///     s.collect(CollectionKind::Minor);
    ///     assert!(s.get_weak(w, 0).is_none(), "the referent died: the slot was cleared");
    ///     s.set_weak(w, 0, Some(kept));
    ///     s.collect(CollectionKind::Major);
    ///     let back = s.get_weak(w, 0).expect("alive: `kept` is a local");
    ///     assert!(s.same(back, kept));
    /// });
    /// ```
    pub fn get_weak(&mut self, obj: Local<'s>, offset: usize) -> Option<Local<'s>> {
        let o = self.check_slot(obj, offset, SlotKind::Weak);
        // SAFETY: checked to be a weak reference slot of a live object.
        let v = unsafe { o.load_slot(offset) };
        ObjectRef::from_addr(v).map(|v| self.push(v))
    }

    /// Stores `value` (or null) into weak reference slot `offset` of `obj`, through
    /// the write barrier. The slot does not keep `value` alive: once nothing but weak
    /// slots reaches it, the next collection that can free it (a minor collection for
    /// a young object, a major one for an old object) sets every weak slot that
    /// refers to it to null. While it lives, the slot follows it when it moves.
    ///
    /// Panics if `offset` is not a weak reference slot of `obj`.
    pub fn set_weak(&mut self, obj: Local<'s>, offset: usize, value: Option<Local<'s>>) {
        let o = self.check_slot(obj, offset, SlotKind::Weak);
        let v = value.map(|v| self.raw(v));
        // SAFETY: checked weak slot of a live object; `v` is a live object of this
        // heap (a local of this mutator).
        unsafe { self.m.store_weak(o, offset, v) };
    }

    /// Reads tagged value slot `offset` of `obj` (see
    /// [`TypeDescriptor::with_tagged`](crate::TypeDescriptor::with_tagged)): a
    /// reference, as a local of this scope, or the word itself if the type's tag
    /// scheme says it is an immediate (null included).
    ///
    /// Panics if `offset` is not a tagged slot of `obj`.
    ///
    /// ```
    /// use contgc_collector::{CollectionKind, Config, Heap, TagScheme, Tagged, TypeDescriptor};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// // An interpreter's value vector: small integers (low bit 1) or references.
    /// let values = heap
    ///     .register_type(&TypeDescriptor::array("Values", 0, 8).with_elem_tagged(&[0], TagScheme::LOW_BIT))
    ///     .unwrap();
    /// let string = heap.register_type(&TypeDescriptor::fixed("Str", 8)).unwrap();
    /// let mut m = heap.mutator();
    /// m.scope(|s| {
    ///     let v = s.alloc_array(values, 2).unwrap();
    ///     let int = |i: u64| Tagged::Imm((i << 1) | 1);
    ///     s.set_tagged(v, 0, int(21)).unwrap(); // unboxed: no allocation
    ///     let str = s.alloc(string).unwrap();
    ///     s.set_tagged(v, 8, Tagged::Ref(str)).unwrap();
    ///     assert!(s.set_tagged(v, 0, Tagged::Imm(0x1000)).is_err(), "an even word is a reference");
    ///     s.collect(CollectionKind::Major); // moves `str` and `v`; the integer stays as it is
    ///     assert!(matches!(s.get_tagged(v, 0), Tagged::Imm(w) if w >> 1 == 21));
    ///     assert!(matches!(s.get_tagged(v, 8), Tagged::Ref(r) if s.same(r, str)));
    /// });
    /// ```
    pub fn get_tagged(&mut self, obj: Local<'s>, offset: usize) -> Tagged<'s> {
        let (o, scheme) = self.tagged_slot(obj, offset);
        // SAFETY: checked to be a tagged slot of a live object.
        let w = unsafe { o.load_slot(offset) } as u64;
        match scheme.decode(w).and_then(ObjectRef::from_addr) {
            Some(r) => Tagged::Ref(self.push(r)),
            None => Tagged::Imm(w),
        }
    }

    /// Stores a tagged value into tagged slot `offset` of `obj`, through the write
    /// barrier: a reference in the type's encoding, or an immediate word as it is.
    /// Refuses an immediate whose tag bits say "reference"
    /// ([`TaggedError::LooksLikeReference`]), which the collector would follow.
    ///
    /// Panics if `offset` is not a tagged slot of `obj`.
    pub fn set_tagged(
        &mut self,
        obj: Local<'s>,
        offset: usize,
        value: Tagged<'s>,
    ) -> Result<(), TaggedError> {
        let (o, scheme) = self.tagged_slot(obj, offset);
        let word = match value {
            Tagged::Ref(r) => scheme.encode(self.raw(r).addr()),
            Tagged::Imm(w) if scheme.is_ref(w) => {
                return Err(TaggedError::LooksLikeReference { word: w })
            }
            Tagged::Imm(w) => w,
        };
        // SAFETY: checked tagged slot of a live object; the word is a reference to a
        // live local of this heap in the slot's encoding, or an immediate.
        unsafe { self.m.store_tagged(o, offset, word) };
        Ok(())
    }

    /// Reads ephemeron slot `offset` of `obj` (see
    /// [`TypeDescriptor::with_elem_ephemerons`](crate::TypeDescriptor::with_elem_ephemerons)):
    /// its key and value, as locals of this scope (which keep them alive from now on),
    /// each `None` if null. Once a collection found the key dead both are `None`.
    ///
    /// Panics if `offset` is not the start of an ephemeron slot of `obj`.
    ///
    /// ```
    /// use contgc_collector::{CollectionKind, Config, Heap, TypeDescriptor};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// // A weak map with room for 8 entries: key at 0, value at 8 of each element.
    /// let map = heap
    ///     .register_type(&TypeDescriptor::array("WeakMap", 0, 16).with_elem_ephemerons(&[0]))
    ///     .unwrap();
    /// let obj = heap.register_type(&TypeDescriptor::fixed("Obj", 8)).unwrap();
    /// let mut m = heap.mutator();
    /// m.scope(|s| {
    ///     let wm = s.alloc_array(map, 8).unwrap();
    ///     let key = s.alloc(obj).unwrap();
    ///     s.scope(|i| {
    ///         let value = i.alloc(obj).unwrap(); // only the entry refers to it
    ///         i.set_ephemeron(wm, 0, Some(key), Some(value));
    ///         let (dead_key, v2) = (i.alloc(obj).unwrap(), i.alloc(obj).unwrap());
    ///         i.set_ephemeron(wm, 16, Some(dead_key), Some(v2));
    ///     });
    ///     s.collect(CollectionKind::Major);
    ///     let (k, v) = s.get_ephemeron(wm, 0);
    ///     assert!(k.is_some_and(|k| s.same(k, key)) && v.is_some(), "the key lives: so does its value");
    ///     let (k, v) = s.get_ephemeron(wm, 16);
    ///     assert!(k.is_none() && v.is_none(), "the key died: the entry is cleared");
    /// });
    /// ```
    pub fn get_ephemeron(
        &mut self,
        obj: Local<'s>,
        offset: usize,
    ) -> (Option<Local<'s>>, Option<Local<'s>>) {
        let o = self.ephemeron_slot(obj, offset);
        // SAFETY: checked ephemeron slot (two reference-like words) of a live object.
        let (k, v) = unsafe { (o.load_slot(offset), o.load_slot(offset + 8)) };
        let k = ObjectRef::from_addr(k).map(|k| self.push(k));
        let v = ObjectRef::from_addr(v).map(|v| self.push(v));
        (k, v)
    }

    /// Stores `key` and `value` into ephemeron slot `offset` of `obj`, through the
    /// write barrier. The entry keeps `value` alive only while something other than
    /// ephemeron values keeps `key` alive; the collection that finds `key` dead clears
    /// both words (a `None` key holds nothing: its value is cleared by the next
    /// collection that scans the entry).
    ///
    /// Panics if `offset` is not the start of an ephemeron slot of `obj`.
    pub fn set_ephemeron(
        &mut self,
        obj: Local<'s>,
        offset: usize,
        key: Option<Local<'s>>,
        value: Option<Local<'s>>,
    ) {
        let o = self.ephemeron_slot(obj, offset);
        let (k, v) = (key.map(|k| self.raw(k)), value.map(|v| self.raw(v)));
        // SAFETY: checked ephemeron slot of a live object; `k` and `v` are null or
        // live objects of this heap (locals of this mutator).
        unsafe {
            o.store_slot(offset, k.map_or(0, |k| k.addr()));
            o.store_slot(offset + 8, v.map_or(0, |v| v.addr()));
            self.m.write_barrier(o);
        }
    }

    fn ephemeron_slot(&mut self, obj: Local<'s>, offset: usize) -> ObjectRef {
        let o = self.raw(obj);
        // SAFETY: locals hold live objects of this heap.
        let h = unsafe { o.header() };
        let info = self.m.type_info(h.type_index());
        if !info.is_ephemeron_slot(offset, h.len()) {
            let kind = info.slot_kind(offset, h.len());
            let name = info.name().to_owned();
            slot_mismatch(&name, offset, SlotKind::Ephemeron, kind);
        }
        o
    }

    fn tagged_slot(&mut self, obj: Local<'s>, offset: usize) -> (ObjectRef, TagScheme) {
        let o = self.check_slot(obj, offset, SlotKind::Tagged);
        // SAFETY: locals hold live objects of this heap.
        let h = unsafe { o.header() };
        let scheme = self
            .m
            .type_info(h.type_index())
            .tag_scheme()
            .expect("a type with tagged slots has a tag scheme");
        (o, scheme)
    }
}
