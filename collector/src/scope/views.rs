//! Field tokens and object views on a scope: reads and writes that check only the
//! object's type index against the token's (see [`Heap::data_field`](crate::Heap::data_field)),
//! and views that read an object's address once and borrow the scope, so that nothing
//! can collect while they live.

use super::*;

impl<'s> Scope<'s> {
    /// Reads the data word `field` names (see [`Heap::data_field`](crate::Heap::data_field)):
    /// checks only that `obj` is of the field's type.
    ///
    /// Panics if `obj` is not of the type the field was made for.
    #[inline(always)]
    pub fn get(&mut self, obj: Local<'s>, field: DataField) -> u64 {
        let o = self.of_field_type(obj, field.heap, field.type_index);
        // SAFETY: `o` is of the field's type, whose fixed part has an 8-aligned data
        // word at the field's offset (checked when the field was made); types never
        // change.
        unsafe { o.load_u64(field.offset) }
    }

    /// Writes the data word `field` names (see [`get`](Self::get)).
    #[inline(always)]
    pub fn put(&mut self, obj: Local<'s>, field: DataField, value: u64) {
        let o = self.of_field_type(obj, field.heap, field.type_index);
        // SAFETY: as in `get`.
        unsafe { o.store_u64(field.offset, value) }
    }

    /// Reads the reference slot `field` names (see
    /// [`Heap::ref_field`](crate::Heap::ref_field)), as a local of this scope.
    ///
    /// Panics if `obj` is not of the type the field was made for.
    #[inline(always)]
    pub fn get_field(&mut self, obj: Local<'s>, field: RefField) -> Option<Local<'s>> {
        let o = self.of_field_type(obj, field.heap, field.type_index);
        // SAFETY: `o` is of the field's type, whose fixed part has a reference slot at
        // the field's offset (checked when the field was made).
        let v = unsafe { o.load_slot(field.offset) };
        ObjectRef::from_addr(v).map(|v| self.push(v))
    }

    /// Overwrites local `dst` with the object in the reference slot `field` names, if
    /// that slot is not null; returns whether it was not null. Like
    /// [`load_into`](Self::load_into), it pushes no local: an interpreter keeps a fixed
    /// set of locals as its registers and loads into them, so its shadow stack does not
    /// grow with the instructions it runs, with no nested scope per instruction.
    ///
    /// Panics if `obj` is not of the type the field was made for.
    #[inline(always)]
    pub fn load_field_into(&mut self, dst: Local<'s>, obj: Local<'s>, field: RefField) -> bool {
        let o = self.of_field_type(obj, field.heap, field.type_index);
        // SAFETY: as in `get_field`.
        let v = unsafe { o.load_slot(field.offset) };
        if v != 0 {
            self.m.local().shadow.set(dst.slot(), v);
        }
        v != 0
    }

    /// Stores into the reference slot `field` names, through the write barrier.
    ///
    /// Panics if `obj` is not of the type the field was made for.
    #[inline(always)]
    pub fn set_field(&mut self, obj: Local<'s>, field: RefField, value: Option<Local<'s>>) {
        let o = self.of_field_type(obj, field.heap, field.type_index);
        let v = value.map(|v| self.raw(v));
        // SAFETY: a reference slot of a live object (as in `get_field`); `v` is a live
        // object of this heap (a local of this mutator).
        unsafe { self.m.store_ref(o, field.offset, v) };
    }

    /// A view of `obj` for reading fields through tokens at the raw layer's speed: its
    /// address, read once, and its type, so that [`ObjView::get`] compares two words
    /// and loads. The view borrows the scope, so nothing that could collect (and move
    /// the object) can run while it lives.
    ///
    /// ```
    /// use contgc_collector::{Config, Heap, TypeDescriptor};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let point = heap.register_type(&TypeDescriptor::fixed("Point", 16)).unwrap();
    /// let (x, y) = (heap.data_field(point, 0).unwrap(), heap.data_field(point, 8).unwrap());
    /// let mut m = heap.mutator();
    /// m.scope(|s| {
    ///     let p = s.alloc(point).unwrap();
    ///     let mut w = s.view_mut(p);
    ///     w.put(x, 3);
    ///     w.put(y, 4);
    ///     let v = s.view(p);
    ///     assert_eq!(v.get(x) * v.get(x) + v.get(y) * v.get(y), 25);
    /// });
    /// ```
    #[inline(always)]
    pub fn view(&self, obj: Local<'s>) -> ObjView<'_> {
        let o = self.raw(obj);
        ObjView {
            obj: o,
            // SAFETY: locals hold live objects of this heap.
            type_index: unsafe { o.header() }.type_index(),
            heap: self.m.heap_id(),
            _scope: PhantomData,
        }
    }

    /// A view of `obj` for writing fields through tokens (see [`view`](Self::view)):
    /// [`ObjViewMut::put`] and [`ObjViewMut::set_field`] (with the write barrier).
    #[inline(always)]
    pub fn view_mut(&mut self, obj: Local<'s>) -> ObjViewMut<'_, 's> {
        let o = self.raw(obj);
        let roots = self.m.local_ref().shadow.slots();
        ObjViewMut {
            obj: o,
            // SAFETY: locals hold live objects of this heap.
            type_index: unsafe { o.header() }.type_index(),
            heap: self.m.heap_id(),
            roots: roots.as_ptr(),
            roots_len: roots.len(),
            m: self.m,
            _brand: PhantomData,
        }
    }

    /// `obj`, checked to be of type `type_index` of heap `heap` (a field token's).
    #[inline(always)]
    fn of_field_type(&self, obj: Local<'s>, heap: u32, type_index: u32) -> ObjectRef {
        let o = self.raw(obj);
        // SAFETY: locals hold live objects of this heap.
        let h = unsafe { o.header() };
        if h.type_index() != type_index || heap != self.m.heap_id() {
            self.wrong_field_type(o, heap, type_index);
        }
        o
    }

    #[cold]
    #[inline(never)]
    fn wrong_field_type(&self, o: ObjectRef, heap: u32, type_index: u32) -> ! {
        if heap != self.m.heap_id() {
            panic!(
                "contgc: a field token of heap {heap} used on heap {}",
                self.m.heap_id()
            );
        }
        // SAFETY: a live local's object.
        let got = unsafe { o.header() }.type_index();
        panic!("contgc: a field token of type index {type_index} used on an object of type index {got}")
    }
}

/// A view of one object for token reads (see [`Scope::view`]).
#[derive(Clone, Copy, Debug)]
pub struct ObjView<'v> {
    obj: ObjectRef,
    type_index: u32,
    heap: u32,
    _scope: PhantomData<&'v ()>,
}

impl<'v> ObjView<'v> {
    /// Reads the data word `field` names. Panics if the object is not of the field's
    /// type.
    #[inline(always)]
    pub fn get(&self, field: DataField) -> u64 {
        if field.type_index != self.type_index || field.heap != self.heap {
            field_type_mismatch((field.heap, field.type_index), (self.heap, self.type_index));
        }
        // SAFETY: the object is live and does not move while the view borrows its
        // scope; it is of the field's type, which has an 8-aligned data word at the
        // field's offset (checked when the field was made).
        unsafe { self.obj.load_u64(field.offset) }
    }

    /// Follows the reference slot `field` names: a view of the object it holds (or
    /// `None` for null), valid as long as this view. Nothing roots it, and nothing
    /// needs to: while a view borrows its scope the mutator cannot allocate, reach a
    /// safepoint or collect, so no object moves or dies. This makes read-only walks of
    /// a structure as cheap as raw loads. Panics if the object is not of the field's
    /// type.
    ///
    /// ```
    /// use contgc_collector::{Config, Heap, ObjView, RefField, TypeDescriptor};
    /// let heap = Heap::new(Config::default()).unwrap();
    /// let node = heap.register_type(&TypeDescriptor::fixed("Node", 8).with_refs(&[0])).unwrap();
    /// let next = heap.ref_field(node, 0).unwrap();
    /// let mut m = heap.mutator();
    /// m.scope(|s| {
    ///     let mut list = None;
    ///     for _ in 0..10 {
    ///         list = s.scope_escape(|i| {
    ///             let n = i.alloc(node).unwrap();
    ///             i.set_field(n, next, list);
    ///             Some(n)
    ///         });
    ///     }
    ///     fn len(v: ObjView<'_>, next: RefField) -> usize {
    ///         1 + v.get_field(next).map_or(0, |n| len(n, next))
    ///     }
    ///     assert_eq!(len(s.view(list.unwrap()), next), 10);
    /// });
    /// ```
    #[inline(always)]
    pub fn get_field(&self, field: RefField) -> Option<ObjView<'v>> {
        if field.type_index != self.type_index || field.heap != self.heap {
            field_type_mismatch((field.heap, field.type_index), (self.heap, self.type_index));
        }
        // The field is a reference slot of the object's type (checked when the token was
        // made): it holds null or a live object, unmoving while the view borrows its scope.
        // SAFETY: as in `get`, and a reference slot of the object.
        let word = unsafe { self.obj.load_slot(field.offset) };
        let target = ObjectRef::from_addr(word)?;
        Some(ObjView {
            obj: target,
            // SAFETY: a live object of this heap (above).
            type_index: unsafe { target.header() }.type_index(),
            heap: self.heap,
            _scope: PhantomData,
        })
    }

    /// The object's type index (compare with [`TypeId::index`](contgc_heap::TypeId::index)).
    #[inline(always)]
    pub fn type_index(&self) -> u32 {
        self.type_index
    }
}

/// A view of one object for token writes (see [`Scope::view_mut`]).
pub struct ObjViewMut<'v, 's> {
    obj: ObjectRef,
    type_index: u32,
    heap: u32,
    /// The shadow stack's slots, as they are while the view lives: nothing pushes or
    /// pops them meanwhile (that takes the scope, which the view borrows; the barrier
    /// does not touch them).
    roots: *const usize,
    roots_len: usize,
    m: &'v mut Mutator,
    _brand: PhantomData<fn(&'s ()) -> &'s ()>,
}

impl<'s> ObjViewMut<'_, 's> {
    /// Writes the data word `field` names. Panics if the object is not of the
    /// field's type.
    #[inline(always)]
    pub fn put(&mut self, field: DataField, value: u64) {
        if field.type_index != self.type_index || field.heap != self.heap {
            field_type_mismatch((field.heap, field.type_index), (self.heap, self.type_index));
        }
        // SAFETY: as in `ObjView::get`.
        unsafe { self.obj.store_u64(field.offset, value) }
    }

    /// Stores `value` (a local of the scope, or null) into the reference slot `field`
    /// names, through the write barrier. Panics if the object is not of the field's
    /// type.
    #[inline(always)]
    pub fn set_field(&mut self, field: RefField, value: Option<Local<'s>>) {
        if field.type_index != self.type_index || field.heap != self.heap {
            field_type_mismatch((field.heap, field.type_index), (self.heap, self.type_index));
        }
        let v = value.map(|l| {
            let i = l.slot() as usize;
            assert!(i < self.roots_len, "contgc: a local of a closed scope");
            // SAFETY: `roots` is the shadow stack's slot array, unchanged while the
            // view lives (see the field), and `i` is within it.
            ObjectRef::from_addr(unsafe { *self.roots.add(i) }).expect("locals are non-null")
        });
        // SAFETY: a reference slot of a live object that does not move while the
        // view borrows its scope (as in `ObjView::get`); `v` is a local's object.
        unsafe { self.m.store_ref(self.obj, field.offset, v) };
    }
}

#[cold]
#[inline(never)]
fn field_type_mismatch((want_heap, want): (u32, u32), (heap, got): (u32, u32)) -> ! {
    if want_heap != heap {
        panic!("contgc: a field token of heap #{want_heap} used on an object of heap #{heap}")
    }
    panic!("contgc: a field token of type index {want} used on an object of type index {got}")
}
