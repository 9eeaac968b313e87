//! Capturing a frame's live state into its continuation, and linking the chain.
//!
//! A frame that suspends calls [`Capture::begin`]: it reuses the continuation it was
//! resumed from when there is one of the same layout (zero allocations; its `next`
//! still points at the suspended caller), and allocates a fresh, young one otherwise.
//! The capture then writes the frame's references, byrefs and data with the offsets
//! of its [`FrameType`]; reference and byref stores go through the write barrier, which
//! costs a header test on a young continuation and logs an old one once.
//!
//! The frames of one suspension are linked leaf -> root through a [`Suspension`]: the
//! leaf's continuation is its head, and each caller on the way up is appended at the
//! tail (`tail.next = caller`).
//!
//! # Linking rules (checked when linking, so a chain never has a cycle)
//! - Only continuations are linked: a local that no longer holds one is refused.
//! - A continuation is linked at most once per capture ([`flags::LINKED`]); linking it
//!   again (a second `push` of the same continuation, which would make a cycle)
//!   panics, as does linking one that the dispatcher consumed and no frame captured
//!   into since ([`flags::RESUMED`]).
//! - A continuation is never its own `next`.
//!
//! A reused continuation gets the frame's new state: its result and exception slots
//! are cleared (the previous call's result is not kept alive), its `next` (the
//! suspended caller) is kept and cannot be replaced.

use crate::layout::{flags, FrameType, FLAGS_OFFSET, NEXT_OFFSET, STATE_OFFSET};
use contgc_collector::{AllocError, ByrefError, Local, ObjectRef, Scope, Tagged, TaggedError};

/// A continuation being written. Nothing can allocate while it is open, so the
/// continuation's address stays valid; [`finish`](Capture::finish) returns it as a
/// local.
///
/// `C` is the context type of the frame type (see [`FrameType`]), whose resume
/// function will continue the frame.
pub struct Capture<'a, 's, C = ()> {
    scope: &'a mut Scope<'s>,
    ft: &'a FrameType<C>,
    obj: ObjectRef,
    /// `None` for a capture begun with [`Capture::begin_link`], which gets no local
    /// of its own (the chain it is linked into roots it).
    local: Option<Local<'s>>,
    /// The capture reuses a continuation, whose `next` (its suspended caller) must
    /// be kept.
    reused: bool,
    /// The flags the continuation gets when the capture ends: the layout's, plus
    /// `LINKED` when an in-place rewrite keeps it linked. Until then it carries
    /// `RESUMED` (not resumable: a capture left unfinished never runs).
    done_flags: u32,
}

impl<'a, 's, C> Capture<'a, 's, C> {
    /// Starts capturing a frame of type `ft`, suspended at `state`, to be resumed by
    /// `ft`'s resume function. Reuses `reuse` if it is a continuation of the same layout (zero
    /// allocations; its `next`, the suspended caller, is kept and its result and
    /// exception slots are cleared), otherwise allocates one (with `next` null).
    ///
    /// Reusing the continuation a frame was resumed from starts a new suspension: it
    /// can be linked and resumed again. Reusing one that was not resumed since it was
    /// captured rewrites that suspended frame in place (it stays linked where it is).
    /// Reusing one whose frame has returned or thrown to its caller (the dispatcher
    /// left it, [`flags::LEFT`]) is a fresh capture into old memory: its `next` is
    /// cleared, since that caller is no longer its frame's.
    #[inline]
    pub fn begin(
        scope: &'a mut Scope<'s>,
        ft: &'a FrameType<C>,
        reuse: Option<Continuation<'s>>,
        state: u32,
    ) -> Result<Self, AllocError> {
        scope.check_type(ft.ty);
        let reused = reuse.filter(|&Continuation(k)| scope.type_index(k) == ft.ty.index());
        let local = match reused {
            Some(Continuation(k)) => k,
            None => scope.alloc(ft.ty)?,
        };
        let obj = scope.raw(local);
        // SAFETY: `obj` is a live continuation of layout `ft` (type checked, or just
        // allocated zeroed); FLAGS is its private word.
        let old = unsafe { obj.load_u32(FLAGS_OFFSET) };
        if reused.is_some() {
            clear_results(ft, obj);
            if old & flags::LEFT != 0 {
                // Its frame returned or threw to its caller: that caller is no longer
                // this frame's (see `flags::LEFT`). The capture starts with none.
                // SAFETY: NEXT_OFFSET is the `next` reference slot of this live
                // continuation; storing null needs no barrier record.
                unsafe { scope.mutator().store_ref(obj, NEXT_OFFSET, None) };
            }
        }
        let keeps_caller = reused.is_some() && old & flags::LEFT == 0;
        let mut c = Capture::fill(scope, ft, obj, Some(local), state);
        c.reused = keeps_caller;
        if old & flags::LINKED != 0 && old & flags::RESUMED == 0 {
            c.done_flags |= flags::LINKED;
        }
        Ok(c)
    }

    /// Starts capturing the next frame up of a chain being built: allocates a fresh
    /// continuation without a local of its own; [`link`](Capture::link) must end it
    /// (the cheapest way to build a chain: no local per frame).
    #[inline]
    pub fn begin_link(
        scope: &'a mut Scope<'s>,
        ft: &'a FrameType<C>,
        state: u32,
    ) -> Result<Self, AllocError> {
        // SAFETY: the mutator is only used, not replaced; the new object is rooted by
        // the chain it is linked into before anything can allocate.
        let obj = unsafe { scope.mutator() }.alloc_raw(ft.ty)?;
        Ok(Capture::fill(scope, ft, obj, None, state))
    }

    #[inline]
    fn fill(
        scope: &'a mut Scope<'s>,
        ft: &'a FrameType<C>,
        obj: ObjectRef,
        local: Option<Local<'s>>,
        state: u32,
    ) -> Self {
        // The frame type's flags include `CAPTURED`, which no later store clears
        // (`done_flags` and the linking paths only add bits to them).
        // SAFETY: `obj` is a live continuation of layout `ft` (checked by type index
        // or just allocated, with no allocation since); STATE and FLAGS are its
        // private words, aligned u32s of its payload.
        unsafe {
            obj.store_u32(STATE_OFFSET, state);
            obj.store_u32(FLAGS_OFFSET, ft.flags | flags::RESUMED);
        }
        Capture {
            scope,
            ft,
            obj,
            local,
            reused: false,
            done_flags: ft.flags,
        }
    }

    /// Stores live reference `i`.
    #[inline]
    pub fn set_ref(&mut self, i: u32, value: Option<Local<'s>>) -> &mut Self {
        let off = self.ft.ref_offset(i);
        let v = value.map(|v| self.scope.raw(v));
        // SAFETY: `off` is reference slot i of this live continuation; `v` is a live
        // object of this heap (a local).
        unsafe { self.scope.mutator().store_ref(self.obj, off, v) };
        self
    }

    /// Stores live tagged value `i` (see [`FrameLayout::tagged`](crate::FrameLayout::tagged)):
    /// refused, as by `Scope::set_tagged`, for an immediate whose tag bits say
    /// "reference".
    pub fn set_tagged(&mut self, i: u32, value: Tagged<'s>) -> Result<&mut Self, TaggedError> {
        let off = self.ft.tagged_offset(i);
        let scheme = self
            .ft
            .tag_scheme
            .expect("a frame with tagged values has a scheme");
        let word = match value {
            Tagged::Ref(r) => scheme.encode(self.scope.raw(r).addr()),
            Tagged::Imm(w) if scheme.is_ref(w) => {
                return Err(TaggedError::LooksLikeReference { word: w })
            }
            Tagged::Imm(w) => w,
        };
        // SAFETY: `off` is tagged slot i of this live continuation; `word` is an
        // immediate or a reference to a live local's object, in the slot's encoding.
        unsafe { self.scope.mutator().store_tagged(self.obj, off, word) };
        Ok(self)
    }

    /// Stores live data bytes at `byte`.
    #[inline]
    pub fn set_u64(&mut self, byte: u32, value: u64) -> &mut Self {
        let off = self.ft.data_offset(byte, 8);
        // SAFETY: `off..off + 8` are aligned data bytes of this live continuation.
        unsafe { self.obj.store_u64(off, value) };
        self
    }

    /// Stores byref `i` to payload byte `offset` of `target` (checked: refused past
    /// the end of the target's payload).
    pub fn set_byref(
        &mut self,
        i: u32,
        target: Local<'s>,
        offset: usize,
    ) -> Result<&mut Self, ByrefError> {
        let off = self.ft.byref_offset(i);
        let t = self.scope.raw(target);
        let payload = self.scope.payload_size(target);
        if offset >= payload {
            return Err(ByrefError::OutOfBounds { offset, payload });
        }
        let addr = t.payload() as usize + offset;
        // SAFETY: `off` is byref slot i of this live continuation and `addr` lies in
        // the payload of `t`, a live object of this heap: a resolved byref.
        unsafe {
            self.scope
                .mutator()
                .store_resolved_byref(self.obj, off, addr, t)
        };
        Ok(self)
    }

    /// Captures byref `i` as a raw interior address, resolved by the next collection
    /// (the cheap path generated code takes).
    ///
    /// # Safety
    /// `addr` must be 0, inside the payload of a live object of this heap, or outside
    /// the heap (see [`Mutator::store_byref`](contgc_collector::Mutator::store_byref)).
    #[inline]
    pub unsafe fn set_byref_raw(&mut self, i: u32, addr: usize) -> &mut Self {
        let off = self.ft.byref_offset(i);
        // SAFETY: `off` is byref slot i of this live continuation; the caller vouches
        // for `addr`.
        unsafe { self.scope.mutator().store_byref(self.obj, off, addr) };
        self
    }

    /// Sets `next` (the caller's continuation), which links `next` under this one.
    ///
    /// Panics if `next`'s local no longer holds a continuation, if `next` is this
    /// continuation, or is already linked into a chain (or consumed and not captured
    /// into since), or if this continuation is itself already in a chain (an in-place
    /// rewrite) or reuses one that has a caller (a re-suspending frame keeps its
    /// caller; replacing it would drop the suspended callers). These rules keep every
    /// continuation's callee unique, so chains cannot form cycles.
    pub fn set_next(&mut self, next: Option<Continuation<'s>>) -> &mut Self {
        if self.done_flags & flags::LINKED != 0 {
            panic!("contgc: this continuation is already in a chain; set_next cannot give it a new caller");
        }
        let v = self.check_next(next);
        if let Some(n) = v {
            // SAFETY: `n` is a live continuation (checked); FLAGS is its private word.
            let fl = unsafe { n.load_u32(FLAGS_OFFSET) };
            if fl & (flags::LINKED | flags::RESUMED) != 0 {
                already_linked(fl);
            }
            // SAFETY: as above.
            unsafe { mark_linked(n) };
        }
        self.store_next(v);
        self
    }

    /// Sets `next` to the caller of the frame this capture replaces (the caller is
    /// already linked, under the frame's consumed continuation).
    pub(crate) fn set_caller(&mut self, caller: Option<Continuation<'s>>) -> &mut Self {
        let v = self.check_next(caller);
        self.store_next(v);
        self
    }

    fn check_next(&mut self, next: Option<Continuation<'s>>) -> Option<ObjectRef> {
        if let Some(n) = next {
            if !is_continuation(self.scope, n.0) {
                not_a_continuation("the continuation given as next");
            }
            // SAFETY: a live continuation (checked just now); FLAGS is its private word.
            if unsafe { self.scope.raw(n.0).load_u32(FLAGS_OFFSET) } & flags::CAPTURED == 0 {
                never_captured("the continuation given as next");
            }
        }
        let v = next.map(|v| self.scope.raw(v.0));
        if v == Some(self.obj) {
            panic!("contgc: a continuation cannot be its own next (a cycle)");
        }
        // SAFETY: `obj` is this live continuation; NEXT_OFFSET is its `next` slot.
        let current = unsafe { self.obj.load_slot(NEXT_OFFSET) };
        if self.reused && current != 0 && v.map(|o| o.addr()) != Some(current) {
            panic!("contgc: a reused continuation keeps its caller; set_next cannot replace it");
        }
        v
    }

    fn store_next(&mut self, v: Option<ObjectRef>) {
        // SAFETY: NEXT_OFFSET is the `next` reference slot of this live continuation;
        // `v` is null or a live continuation. The mutator is only used.
        unsafe { self.scope.mutator().store_ref(self.obj, NEXT_OFFSET, v) };
    }

    /// Ends the capture, returning the continuation as a local.
    #[inline]
    pub fn finish(self) -> Continuation<'s> {
        // SAFETY: `obj` is this live continuation; FLAGS is its private word. The
        // capture is complete: the frame becomes resumable.
        unsafe { self.obj.store_u32(FLAGS_OFFSET, self.done_flags) };
        match self.local {
            Some(l) => Continuation(l),
            // SAFETY: `obj` is a live continuation, written just now with no
            // allocation since.
            None => Continuation(unsafe { self.scope.from_raw(self.obj) }),
        }
    }

    /// Ends the capture by appending the continuation to `chain` as its new tail
    /// (`tail.next = this`): no local is needed for it.
    #[inline]
    pub fn link(self, chain: &mut Suspension<'s>) {
        let Capture {
            scope,
            obj,
            local,
            done_flags,
            ..
        } = self;
        match chain.tail {
            Some(t) if chain.tail_owned && done_flags & flags::LINKED == 0 => {
                // The chain's own local, but one that `into_locals` hands out, so safe
                // code can overwrite it: check it still holds a continuation before
                // writing its `next` (its header is in cache: captured just now).
                if !is_continuation(scope, t.0) {
                    not_a_continuation("a chain's tail");
                }
                // SAFETY: `obj` is the continuation captured just now (no allocation
                // since); FLAGS is its private word. The capture is complete and the
                // continuation linked below.
                unsafe { obj.store_u32(FLAGS_OFFSET, done_flags | flags::LINKED) };
                let to = scope.raw(t.0);
                // SAFETY: `t` is a live continuation whose NEXT_OFFSET slot is its
                // `next` reference; `obj` is live (no allocation since it was made).
                unsafe {
                    scope.mutator().store_ref(to, NEXT_OFFSET, Some(obj));
                    scope.set_raw(t.0, Some(obj));
                }
            }
            _ => {
                // SAFETY: as above (push checks the flags and links it).
                unsafe { obj.store_u32(FLAGS_OFFSET, done_flags) };
                // SAFETY: as above.
                let k = local.unwrap_or_else(|| unsafe { scope.from_raw(obj) });
                chain.push(scope, Continuation(k));
                // From now on the tail is a local of the chain's own, moved along.
                let t = scope.dup(k);
                chain.tail = Some(Continuation(t));
                chain.tail_owned = true;
            }
        }
    }
}

/// A local known to hold a continuation (made by [`Capture::finish`] or checked by
/// [`Continuation::from_local`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Continuation<'s>(Local<'s>);

impl<'s> Continuation<'s> {
    /// The continuation as a plain local.
    #[inline]
    pub fn local(self) -> Local<'s> {
        self.0
    }

    /// Wraps a local the caller has checked.
    pub(crate) fn checked(l: Local<'s>) -> Continuation<'s> {
        Continuation(l)
    }

    /// The caller's continuation (`next`, a private reference), as a new local. Panics
    /// if the local no longer holds a continuation (safe code can overwrite a local).
    pub fn next(self, scope: &mut Scope<'s>) -> Option<Continuation<'s>> {
        if !is_continuation(scope, self.0) {
            panic!("contgc: the local no longer holds a continuation");
        }
        let obj = scope.raw(self.0);
        // SAFETY: a live continuation's `next` is null or a live continuation, read
        // just now.
        unsafe {
            ObjectRef::from_addr(obj.load_slot(NEXT_OFFSET))
                .map(|n| Continuation(scope.from_raw(n)))
        }
    }

    /// Checks that `l` holds a continuation.
    pub fn from_local(scope: &mut Scope<'s>, l: Local<'s>) -> Option<Continuation<'s>> {
        is_continuation(scope, l).then_some(Continuation(l))
    }
}

/// The chain being built by one suspension: head (the leaf's continuation) and tail
/// (the outermost frame captured so far).
#[derive(Clone, Copy, Debug, Default)]
pub struct Suspension<'s> {
    head: Option<Continuation<'s>>,
    tail: Option<Continuation<'s>>,
    /// The tail local belongs to the chain (made by `Capture::link`), so it may be
    /// moved to each new tail. Not a promise that it holds a continuation:
    /// [`into_locals`](Self::into_locals) hands it out, and safe code can overwrite a
    /// local, so every write through it checks first.
    tail_owned: bool,
}

impl<'s> Suspension<'s> {
    /// An empty chain.
    pub fn new() -> Self {
        Suspension {
            head: None,
            tail: None,
            tail_owned: false,
        }
    }

    /// Appends the continuation of the next frame up (`tail.next = k`); the first one
    /// pushed is the chain's leaf.
    ///
    /// Panics if `k`'s local (or the tail's) no longer holds a continuation, or if `k`
    /// is already linked into a chain since its capture (pushing it twice would make
    /// a cycle), or was consumed by the dispatcher and not captured into since.
    #[inline]
    pub fn push(&mut self, scope: &mut Scope<'s>, k: Continuation<'s>) {
        // `k` (and the tail, unless the chain owns it) are locals that safe code can
        // overwrite (`Scope::load_into`): check they still hold continuations.
        if !is_continuation(scope, k.0) {
            not_a_continuation("the continuation pushed");
        }
        let ko = scope.raw(k.0);
        // SAFETY: `ko` is a live continuation (checked); FLAGS is its private word.
        let fl = unsafe { ko.load_u32(FLAGS_OFFSET) };
        if fl & (flags::LINKED | flags::RESUMED) != 0 {
            already_linked(fl);
        }
        if fl & flags::CAPTURED == 0 {
            never_captured("the continuation pushed");
        }
        if let Some(t) = self.tail {
            if !is_continuation(scope, t.0) {
                not_a_continuation("a chain's tail");
            }
            let to = scope.raw(t.0);
            // SAFETY: `t` is a live continuation (checked just now) whose slot
            // NEXT_OFFSET is its `next` reference; `ko` is live. The mutator is only
            // used.
            unsafe { scope.mutator().store_ref(to, NEXT_OFFSET, Some(ko)) };
        } else {
            self.head = Some(k);
        }
        // SAFETY: as above.
        unsafe { mark_linked(ko) };
        self.tail = Some(k);
        self.tail_owned = false;
    }

    /// The leaf's continuation, if any frame was captured.
    pub fn head(&self) -> Option<Continuation<'s>> {
        self.head
    }

    /// The chain's head and tail as plain locals, to carry the chain out of a nested
    /// scope ([`Scope::scope_escape_with`]) and rebuild it there with
    /// [`from_locals`](Self::from_locals).
    pub fn into_locals(self) -> [Option<Local<'s>>; 2] {
        [self.head.map(|k| k.0), self.tail.map(|k| k.0)]
    }

    /// A chain from its head and tail locals (as [`into_locals`](Self::into_locals)
    /// gave them). `None` if either local does not hold a continuation, or only one is
    /// given. The tail is checked again when the next frame links under it; a head
    /// that does not lead to the tail is caught by the dispatcher when the chain is
    /// resumed ([`ResumeError::OrphanedCallers`](crate::ResumeError::OrphanedCallers)).
    ///
    /// ```
    /// # use contgc_collector::{Config, Heap};
    /// # use contgc_continuation::{Capture, Frame, FrameLayout, Outcome, Suspension, Value};
    /// # fn resume<'s>(_: &mut Frame<'_, 's>) -> Outcome<'s> { Outcome::Return(Value::Unit) }
    /// # let heap = Heap::new(Config::default()).unwrap();
    /// # let ft = FrameLayout::new("F").register(&heap, resume).unwrap();
    /// # let mut m = heap.mutator();
    /// m.scope(|s| {
    ///     // A callee builds its part of the chain in a scope of its own...
    ///     let ((), [head, tail]) = s.scope_escape_with(|i| {
    ///         let mut chain = Suspension::new();
    ///         let k = Capture::begin(i, &ft, None, 0).unwrap().finish();
    ///         chain.push(i, k);
    ///         ((), chain.into_locals())
    ///     });
    ///     // ...and its caller links under it.
    ///     let mut chain = Suspension::from_locals(s, head, tail).unwrap();
    ///     Capture::begin(s, &ft, None, 1).unwrap().link(&mut chain);
    ///     assert!(chain.head().is_some());
    /// });
    /// ```
    pub fn from_locals(
        scope: &mut Scope<'s>,
        head: Option<Local<'s>>,
        tail: Option<Local<'s>>,
    ) -> Option<Suspension<'s>> {
        match (head, tail) {
            (None, None) => Some(Suspension::new()),
            (Some(h), Some(t)) if is_continuation(scope, h) && is_continuation(scope, t) => {
                Some(Suspension {
                    head: Some(Continuation(h)),
                    tail: Some(Continuation(t)),
                    // Not owned: the next push re-checks the tail and moves to a
                    // local of the chain's own.
                    tail_owned: false,
                })
            }
            _ => None,
        }
    }
}

pub(crate) fn is_continuation<'s>(scope: &mut Scope<'s>, k: Local<'s>) -> bool {
    let ti = scope.type_index(k);
    scope.is_continuation_type(ti)
}

/// Marks a continuation as linked into a chain.
///
/// # Safety
/// `obj` must be a live continuation.
#[inline(always)]
unsafe fn mark_linked(obj: ObjectRef) {
    // SAFETY: the caller's guarantee; FLAGS is the continuation's private word.
    unsafe {
        let fl = obj.load_u32(FLAGS_OFFSET);
        obj.store_u32(FLAGS_OFFSET, fl | flags::LINKED);
    }
}

/// Clears the result and exception slots of a reused continuation of layout `ft`.
#[inline]
fn clear_results<C>(ft: &FrameType<C>, obj: ObjectRef) {
    for off in [ft.result_offset(), ft.exception_offset()]
        .into_iter()
        .flatten()
    {
        // SAFETY: `obj` is a live continuation of layout `ft`, so `off` is its result
        // (data or reference) or exception (reference) slot. Storing null (0) into a
        // reference slot needs no barrier: it makes no old->young reference.
        unsafe { obj.store_slot(off, 0) };
    }
}

#[cold]
#[inline(never)]
fn not_a_continuation(what: &str) -> ! {
    panic!("contgc: {what} does not hold a continuation (was its local overwritten?)")
}

/// A continuation allocated (`Scope::alloc` of a continuation type) but never
/// captured into has no suspension point: a chain never holds one.
#[cold]
#[inline(never)]
fn never_captured(what: &str) -> ! {
    panic!(
        "contgc: {what} was never captured into (allocated, not made by a `Capture`): \
         it has no suspension point to resume at, so no chain may hold it"
    )
}

#[cold]
#[inline(never)]
fn already_linked(fl: u32) -> ! {
    if fl & flags::RESUMED != 0 {
        panic!(
            "contgc: this continuation is not resumable (resumed and not captured into \
             since, or its capture was not finished); capture the frame again before \
             linking it"
        )
    }
    panic!("contgc: this continuation is already linked into a chain (linking it twice would make a cycle)")
}
