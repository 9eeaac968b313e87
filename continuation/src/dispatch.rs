//! Resuming a chain of continuations: the dispatcher.
//!
//! [`resume_chain`] starts at the leaf and calls each frame's [`ResumeFn`]. A frame that
//! returns has its value written into the next continuation's result slot (the slot
//! its flags name) and the next frame is resumed; a frame that throws has its
//! exception carried up the chain, skipping frames without a handler (one flag test
//! per frame), to the first frame whose flags say it handles exceptions; a frame that
//! suspends again ends the run with the task's new leaf.

use crate::capture::{Capture, Continuation};
use crate::layout::{flags, FrameType, FLAGS_OFFSET, NEXT_OFFSET, RESUME_OFFSET, STATE_OFFSET};
use contgc_collector::{AllocError, Local, ObjectRef, Scope};

/// A frame's resume function: continues the frame from its continuation.
pub type ResumeFn = for<'r, 's> fn(&mut Frame<'r, 's>) -> Outcome<'s>;

/// A value a frame returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'s> {
    /// Nothing.
    Unit,
    /// A `u64`.
    Data(u64),
    /// A reference or null.
    Ref(Option<Local<'s>>),
}

/// How a resumed frame ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'s> {
    /// It returned a value to its caller.
    Return(Value<'s>),
    /// It threw an exception object.
    Throw(Local<'s>),
    /// It suspended again; the task's chain now starts at this leaf.
    Suspend(Continuation<'s>),
}

/// How a run of the dispatcher over a chain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainOutcome<'s> {
    /// The root frame returned.
    Completed(Value<'s>),
    /// An exception left the root frame unhandled.
    Threw(Local<'s>),
    /// A frame suspended; resume the task from this leaf later.
    Suspended(Continuation<'s>),
}

/// A frame being resumed: typed access to its continuation.
pub struct Frame<'r, 's> {
    scope: &'r mut Scope<'s>,
    cont: Local<'s>,
    state: u32,
    /// The continuation's type index, read once by the dispatcher.
    ty: u32,
    /// The id of the heap the continuation belongs to.
    heap: u32,
    /// The continuation's address, valid while `fresh` (until frame code gets the
    /// scope, through which it may allocate).
    obj: ObjectRef,
    fresh: bool,
}

impl<'r, 's> Frame<'r, 's> {
    /// The suspension point the frame resumes at.
    #[inline]
    pub fn state(&self) -> u32 {
        self.state
    }

    /// The frame's continuation.
    #[inline]
    pub fn continuation(&mut self) -> Continuation<'s> {
        // A local of its own: the dispatcher moves its cursor local along the chain.
        Continuation::checked(self.scope.dup(self.cont))
    }

    /// The scope, to allocate or to call other code.
    #[inline]
    pub fn scope(&mut self) -> &mut Scope<'s> {
        self.fresh = false;
        self.scope
    }

    /// The continuation's current address.
    #[inline(always)]
    fn obj(&mut self) -> ObjectRef {
        if !self.fresh {
            self.obj = self.scope.raw(self.cont);
            self.fresh = true;
        }
        self.obj
    }

    #[inline(always)]
    fn check(&mut self, ft: &FrameType) {
        if self.ty != ft.ty.index() || self.heap != ft.ty.heap_id() {
            wrong_frame_type(self.ty, ft.ty.index());
        }
    }

    /// The live `u64` at data byte `byte`.
    #[inline]
    pub fn u64(&mut self, ft: &FrameType, byte: u32) -> u64 {
        self.check(ft);
        let off = ft.data_offset(byte, 8);
        // SAFETY: checked to be aligned data bytes of this live continuation.
        unsafe { self.obj().load_u64(off) }
    }

    /// The address of live reference `i`'s object, without making a local for it: valid
    /// until the next allocation, safepoint or collection (what generated code holds in
    /// a register).
    #[inline]
    pub fn ref_addr(&mut self, ft: &FrameType, i: u32) -> Option<ObjectRef> {
        self.check(ft);
        let off = ft.ref_offset(i);
        // SAFETY: the continuation is of layout `ft` (checked), so `off` is one of its
        // reference slots.
        ObjectRef::from_addr(unsafe { self.obj().load_slot(off) })
    }

    /// Live reference `i`.
    #[inline]
    pub fn get_ref(&mut self, ft: &FrameType, i: u32) -> Option<Local<'s>> {
        self.check(ft);
        let off = ft.ref_offset(i);
        // SAFETY: the continuation is of layout `ft` (checked), so `off` is one of its
        // reference slots, which hold null or live objects of this heap.
        unsafe {
            let v = ObjectRef::from_addr(self.obj().load_slot(off));
            v.map(|v| self.scope.from_raw(v))
        }
    }

    /// Reads a `u64` through live byref `i` (see [`Scope::read_u64_via`]).
    #[inline]
    pub fn u64_via_byref(&mut self, ft: &FrameType, i: u32) -> u64 {
        self.check(ft);
        let off = ft.byref_offset(i);
        self.scope.read_u64_via(self.cont, off)
    }

    /// Writes a `u64` through live byref `i`.
    #[inline]
    pub fn set_u64_via_byref(&mut self, ft: &FrameType, i: u32, v: u64) {
        self.check(ft);
        let off = ft.byref_offset(i);
        self.scope.write_u64_via(self.cont, off, v)
    }

    /// The data result of the awaited call. Panics if `ft` has no data result slot.
    #[inline]
    pub fn result_u64(&mut self, ft: &FrameType) -> u64 {
        self.check(ft);
        let off = match ft.result_offset() {
            Some(off) if ft.flags & flags::RESULT_DATA != 0 => off,
            _ => no_result_slot("data"),
        };
        // SAFETY: the data result slot of this live continuation (layout checked).
        unsafe { self.obj().load_u64(off) }
    }

    /// The reference result of the awaited call.
    #[inline]
    pub fn result_ref(&mut self, ft: &FrameType) -> Option<Local<'s>> {
        self.check(ft);
        let off = match ft.result_offset() {
            Some(off) if ft.flags & flags::RESULT_REF != 0 => off,
            _ => no_result_slot("reference"),
        };
        self.scope.get_ref(self.cont, off)
    }

    /// The exception delivered to this frame's handler, if any (taken: the slot is
    /// cleared).
    #[inline]
    pub fn take_exception(&mut self, ft: &FrameType) -> Option<Local<'s>> {
        self.check(ft);
        let off = ft.exception_offset()?;
        let e = self.scope.get_ref(self.cont, off);
        self.scope.set_ref(self.cont, off, None);
        e
    }

    /// Suspends the frame again at `state`: captures into its own continuation (zero
    /// allocations when `ft` is its layout; a fresh continuation otherwise, whose
    /// `next` is set to this one's caller).
    pub fn recapture<'c>(
        &'c mut self,
        ft: &'c FrameType,
        resume: ResumeFn,
        state: u32,
    ) -> Result<Capture<'c, 's>, AllocError> {
        // Capturing may allocate: the cached address is no longer to be trusted.
        self.fresh = false;
        // A local of its own: the dispatcher moves its cursor local along the chain.
        let cont = self.scope.dup(self.cont);
        if self.ty == ft.ty.index() {
            return Capture::begin(
                self.scope,
                ft,
                Some(Continuation::checked(cont)),
                resume,
                state,
            );
        }
        // `next` is a private reference: read it raw, and root it before allocating.
        // SAFETY: `cont` holds a live continuation; its `next` is null or another
        // continuation (only checked paths write it).
        let caller = unsafe {
            ObjectRef::from_addr(self.scope.raw(cont).load_slot(NEXT_OFFSET))
                .map(|n| Continuation::checked(self.scope.from_raw(n)))
        };
        let mut c = Capture::begin(self.scope, ft, None, resume, state)?;
        c.set_next(caller);
        Ok(c)
    }
}

#[cold]
#[inline(never)]
fn no_result_slot(kind: &str) -> ! {
    panic!("contgc: the frame type has no {kind} result slot")
}

#[cold]
#[inline(never)]
fn wrong_frame_type(found: u32, want: u32) -> ! {
    panic!("contgc: continuation of type index {found} read with frame type {want}")
}

/// Resumes the chain whose leaf is `leaf` until it completes, throws out of its root,
/// or suspends again. Panics if `leaf` (or a continuation on its chain) is not a
/// captured continuation, or if a returned value does not fit the caller's result
/// slot.
pub fn resume_chain<'s>(scope: &mut Scope<'s>, leaf: Continuation<'s>) -> ChainOutcome<'s> {
    let cur = scope.dup(leaf.local());
    // `obj` is `cur`'s address, valid until the next call into frame code (which may
    // allocate); `known` is the last type index found to be a continuation.
    let mut obj = scope.raw(cur);
    let mut known = u32::MAX;
    let mut ty = check_continuation(scope, obj, &mut known);
    let heap = scope.heap_id();
    loop {
        // SAFETY: `obj` is a live continuation; RESUME and STATE are its private words,
        // written only by `Capture::begin`.
        let (resume, state) = unsafe { (obj.load_slot(RESUME_OFFSET), obj.load_u32(STATE_OFFSET)) };
        if resume == 0 {
            panic!("contgc: a continuation on the chain was allocated but never captured");
        }
        // SAFETY: a non-zero resume word was written by `Capture::begin` from a
        // `ResumeFn`, and the safe API cannot write private words.
        let f: ResumeFn = unsafe {
            std::mem::transmute::<*const (), ResumeFn>(std::ptr::with_exposed_provenance(resume))
        };
        let mut frame = Frame {
            scope,
            cont: cur,
            state,
            ty,
            heap,
            obj,
            fresh: true,
        };
        let out = f(&mut frame);
        // The frame's own cached address is current if it is fresh (it re-reads it
        // after reaching the scope); otherwise frame code may have allocated.
        obj = if frame.fresh {
            frame.obj
        } else {
            scope.raw(cur)
        };
        match out {
            Outcome::Return(v) => {
                let Some(next) = step(scope, cur, obj) else {
                    return ChainOutcome::Completed(v);
                };
                obj = next;
                ty = check_continuation(scope, obj, &mut known);
                deliver(scope, obj, v);
            }
            Outcome::Throw(e) => loop {
                let Some(next) = step(scope, cur, obj) else {
                    return ChainOutcome::Threw(e);
                };
                obj = next;
                ty = check_continuation(scope, obj, &mut known);
                // SAFETY: a live continuation; FLAGS is its private word.
                let fl = unsafe { obj.load_u32(FLAGS_OFFSET) };
                if let Some(off) = flags::exception_offset(fl) {
                    let eo = scope.raw(e);
                    // SAFETY: the flags name a reference slot of this continuation
                    // (its exception slot); `eo` is a live object (a local).
                    unsafe { scope.mutator().store_ref(obj, off, Some(eo)) };
                    break;
                }
            },
            Outcome::Suspend(new_leaf) => return ChainOutcome::Suspended(new_leaf),
        }
    }
}

/// Checks that `obj` is a continuation (`next` is an ordinary reference slot that safe
/// code can overwrite, so every frame reached through it is checked); returns its type
/// index.
#[inline]
fn check_continuation(scope: &mut Scope<'_>, obj: ObjectRef, known: &mut u32) -> u32 {
    // SAFETY: `obj` is a live object of this heap (a local's current address).
    let ty = unsafe { obj.header() }.type_index();
    if ty != *known {
        if !scope.is_continuation_type(ty) {
            panic!("contgc: a continuation's next is not a continuation");
        }
        *known = ty;
    }
    ty
}

/// Moves local `cur` (whose address is `obj`) to its continuation's `next`; returns
/// the next continuation's address, or `None` at the root.
#[inline]
fn step<'s>(scope: &mut Scope<'s>, cur: Local<'s>, obj: ObjectRef) -> Option<ObjectRef> {
    // SAFETY: `obj` is a live continuation whose NEXT_OFFSET slot is a reference slot:
    // null or a live object.
    let next = ObjectRef::from_addr(unsafe { obj.load_slot(NEXT_OFFSET) })?;
    // SAFETY: as above; read just now.
    unsafe { scope.set_raw(cur, Some(next)) };
    Some(next)
}

/// Writes a returned value into the result slot of continuation `k`.
#[inline]
fn deliver<'s>(scope: &mut Scope<'s>, k: ObjectRef, v: Value<'s>) {
    // SAFETY: `k` is a live continuation; FLAGS is its private word.
    let fl = unsafe { k.load_u32(FLAGS_OFFSET) };
    let off = flags::result_offset(fl);
    match (v, off) {
        (Value::Unit, _) => {}
        (Value::Data(x), Some(off)) if fl & flags::RESULT_DATA != 0 => {
            // SAFETY: the data result slot of a live continuation (its flags say so).
            unsafe { k.store_u64(off, x) }
        }
        (Value::Ref(r), Some(off)) if fl & flags::RESULT_REF != 0 => {
            let r = r.map(|r| scope.raw(r));
            // SAFETY: the reference result slot of a live continuation; `r` is null or
            // a live object (a local).
            unsafe { scope.mutator().store_ref(k, off, r) }
        }
        (v, _) => {
            panic!("contgc: a frame returned {v:?}, which its caller's result slot cannot hold")
        }
    }
}
