//! Resuming a chain of continuations: the dispatcher.
//!
//! [`resume_chain`] starts at the leaf and calls each frame's [`ResumeFn`]. A frame that
//! returns has its value written into the next continuation's result slot (the slot
//! its flags name) and the next frame is resumed; a frame that throws has its
//! exception carried up the chain, skipping frames without a handler (one flag test
//! per frame), to the first frame whose flags say it handles exceptions; a frame that
//! suspends again ends the run with the task's new leaf.

use crate::capture::{is_continuation, Capture, Continuation};
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
}

impl<'r, 's> Frame<'r, 's> {
    /// The suspension point the frame resumes at.
    pub fn state(&self) -> u32 {
        self.state
    }

    /// The frame's continuation.
    pub fn continuation(&self) -> Continuation<'s> {
        Continuation::checked(self.cont)
    }

    /// The scope, to allocate or to call other code.
    pub fn scope(&mut self) -> &mut Scope<'s> {
        self.scope
    }

    #[inline(always)]
    fn check(&mut self, ft: &FrameType) {
        if self.ty != ft.ty.index() {
            wrong_frame_type(self.ty, ft.ty.index());
        }
    }

    /// The live `u64` at data byte `byte`.
    #[inline]
    pub fn u64(&mut self, ft: &FrameType, byte: u32) -> u64 {
        self.check(ft);
        let off = ft.data_offset(byte, 8);
        // SAFETY: checked to be aligned data bytes of this live continuation.
        unsafe { self.scope.raw(self.cont).load_u64(off) }
    }

    /// Live reference `i`.
    #[inline]
    pub fn get_ref(&mut self, ft: &FrameType, i: u32) -> Option<Local<'s>> {
        self.check(ft);
        let off = ft.ref_offset(i);
        // SAFETY: the continuation is of layout `ft` (checked), so `off` is one of its
        // reference slots, which hold null or live objects of this heap.
        unsafe {
            let v = ObjectRef::from_addr(self.scope.raw(self.cont).load_slot(off));
            v.map(|v| self.scope.from_raw(v))
        }
    }

    /// Reads a `u64` through live byref `i` (see [`Scope::read_u64_via`]).
    pub fn u64_via_byref(&mut self, ft: &FrameType, i: u32) -> u64 {
        self.check(ft);
        let off = ft.byref_offset(i);
        self.scope.read_u64_via(self.cont, off)
    }

    /// Writes a `u64` through live byref `i`.
    pub fn set_u64_via_byref(&mut self, ft: &FrameType, i: u32, v: u64) {
        self.check(ft);
        let off = ft.byref_offset(i);
        self.scope.write_u64_via(self.cont, off, v)
    }

    /// The data result of the awaited call.
    pub fn result_u64(&mut self, ft: &FrameType) -> u64 {
        self.check(ft);
        let off = ft
            .result_offset()
            .filter(|_| ft.flags & flags::RESULT_DATA != 0)
            .expect("the frame type has a data result slot");
        // SAFETY: the data result slot of this live continuation.
        unsafe { self.scope.raw(self.cont).load_u64(off) }
    }

    /// The reference result of the awaited call.
    pub fn result_ref(&mut self, ft: &FrameType) -> Option<Local<'s>> {
        self.check(ft);
        let off = ft
            .result_offset()
            .filter(|_| ft.flags & flags::RESULT_REF != 0)
            .expect("the frame type has a reference result slot");
        self.scope.get_ref(self.cont, off)
    }

    /// The exception delivered to this frame's handler, if any (taken: the slot is
    /// cleared).
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
    pub fn recapture(
        &mut self,
        ft: &'r FrameType,
        resume: ResumeFn,
        state: u32,
    ) -> Result<Capture<'_, 's>, AllocError> {
        let cont = self.cont;
        if self.ty == ft.ty.index() {
            return Capture::begin(
                self.scope,
                ft,
                Some(Continuation::checked(cont)),
                resume,
                state,
            );
        }
        let caller = self.scope.get_ref(cont, NEXT_OFFSET);
        let mut c = Capture::begin(self.scope, ft, None, resume, state)?;
        c.set_next(caller);
        Ok(c)
    }
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
    let mut known = u32::MAX; // the last type index found to be a continuation
    loop {
        let ty = scope.type_index(cur);
        if ty != known {
            // `next` is an ordinary reference slot that safe code can overwrite, so
            // every frame reached through it is checked.
            if !is_continuation(scope, cur) {
                panic!("contgc: a continuation's next is not a continuation");
            }
            known = ty;
        }
        let obj = scope.raw(cur);
        // SAFETY: `cur` is a live continuation; RESUME and STATE are its private words,
        // written only by `Capture::begin`.
        let (resume, state) = unsafe { (obj.load_slot(RESUME_OFFSET), obj.load_u32(STATE_OFFSET)) };
        if resume == 0 {
            panic!("contgc: a continuation on the chain was allocated but never captured");
        }
        // SAFETY: a non-zero resume word was written by `Capture::begin` from a
        // `ResumeFn`, and the safe API cannot write private words.
        let f: ResumeFn = unsafe { std::mem::transmute::<usize, ResumeFn>(resume) };
        let out = f(&mut Frame {
            scope,
            cont: cur,
            state,
            ty,
        });
        match out {
            Outcome::Return(v) => {
                if !step_to_next(scope, cur) {
                    return ChainOutcome::Completed(v);
                }
                deliver(scope, cur, v);
            }
            Outcome::Throw(e) => loop {
                if !step_to_next(scope, cur) {
                    return ChainOutcome::Threw(e);
                }
                let fl = flags_of(scope, cur);
                if let Some(off) = flags::exception_offset(fl) {
                    scope.set_ref(cur, off, Some(e));
                    break;
                }
            },
            Outcome::Suspend(new_leaf) => return ChainOutcome::Suspended(new_leaf),
        }
    }
}

/// Moves local `cur`, a continuation, to its `next`; false at the root.
#[inline]
fn step_to_next(scope: &mut Scope<'_>, cur: Local<'_>) -> bool {
    // SAFETY: `cur` holds a live continuation (checked when the dispatcher reached
    // it), whose NEXT_OFFSET slot is a reference slot: null or a live object.
    unsafe {
        let next = ObjectRef::from_addr(scope.raw(cur).load_slot(NEXT_OFFSET));
        scope.set_raw(cur, next)
    }
}

#[inline]
fn flags_of(scope: &mut Scope<'_>, k: Local<'_>) -> u32 {
    // SAFETY: `k` is a live continuation; FLAGS is its private word.
    unsafe { scope.raw(k).load_u32(FLAGS_OFFSET) }
}

/// Writes a returned value into `k`'s result slot.
#[inline]
fn deliver(scope: &mut Scope<'_>, k: Local<'_>, v: Value<'_>) {
    let fl = flags_of(scope, k);
    let off = flags::result_offset(fl);
    match (v, off) {
        (Value::Unit, _) => {}
        (Value::Data(x), Some(off)) if fl & flags::RESULT_DATA != 0 => {
            // SAFETY: the data result slot of a live continuation (its flags say so).
            unsafe { scope.raw(k).store_u64(off, x) }
        }
        (Value::Ref(r), Some(off)) if fl & flags::RESULT_REF != 0 => scope.set_ref(k, off, r),
        (v, _) => {
            panic!("contgc: a frame returned {v:?}, which its caller's result slot cannot hold")
        }
    }
}
