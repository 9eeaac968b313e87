//! Resuming a chain of continuations: the dispatcher.
//!
//! [`resume_chain`] starts at the leaf and calls each frame's [`ResumeFn`]. A frame that
//! returns has its value written into the next continuation's result slot (the slot
//! its flags name) and the next frame is resumed; a frame that throws has its
//! exception carried up the chain, skipping frames without a handler (one flag test
//! per frame), to the first frame whose flags say it handles exceptions; a frame that
//! suspends again ends the run with the task's new leaf.
//!
//! # One-shot resumption
//! Resuming a continuation consumes it: the dispatcher sets its
//! [`RESUMED`](crate::layout::flags::RESUMED) flag as it enters the frame (or unwinds
//! an exception through it), and a frame that suspends again captures into it afresh,
//! which clears the flag. A chain is therefore resumed at most once per suspension:
//! resuming it again (a second `resume_chain` on the same leaf, a chain that already
//! completed, a chain of a task that is still registered and resumed through another
//! local) is refused with [`ResumeError::AlreadyResumed`], before any frame runs
//! twice. The same flag bounds every run: the dispatcher never enters a frame twice.
//!
//! A frame that suspends again must hand back a chain that leads to its own caller
//! (through its recaptured continuation, or a fresh one whose `next` is the caller):
//! the dispatcher follows the new chain to check it, and refuses one that would drop
//! the suspended callers with [`ResumeError::OrphanedCallers`]. A frame that captures
//! its continuation again must suspend: returning or throwing after it is refused
//! with [`ResumeError::CapturedThenReturned`] (the capture would run it twice).
//! A continuation whose capture was begun but not finished is not resumable.

use crate::capture::{Capture, Continuation};
use crate::layout::{flags, frame_info, FrameType, FLAGS_OFFSET, NEXT_OFFSET, STATE_OFFSET};
use contgc_collector::{AllocError, Local, ObjectRef, Scope, Tagged};
use contgc_heap::continuation_prefix::{follow_chain, ChainEnd};
use std::fmt;
use std::ops::ControlFlow;

/// A frame's resume function: continues the frame from its continuation.
///
/// `C` is the embedder's context type ([`Frame::ctx`]), `()` for context-free code. It
/// belongs to the frame type, given when the layout is registered
/// ([`FrameLayout::register_with_context`](crate::FrameLayout::register_with_context)):
/// one function per method, which continues at whichever suspension point
/// ([`Frame::state`]) the frame was captured at. The dispatcher gets it from the
/// frame's [`FrameType<C>`] only after checking that the frame type was registered for
/// the context it was given ([`ResumeError::ContextMismatch`]).
pub type ResumeFn<C = ()> = for<'r, 's> fn(&mut Frame<'r, 's, C>) -> Outcome<'s>;

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

/// Why [`resume_chain`] refused to go on. Nothing has run twice and no frame was lost:
/// the continuations named are still where they were (locals of the caller's scope).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResumeError<'s> {
    /// The continuation the dispatcher was about to enter was already resumed since it
    /// was last captured (resumption is one-shot; see the module documentation).
    AlreadyResumed,
    /// A continuation on the chain was allocated but never captured (its flags word
    /// lacks [`CAPTURED`](crate::layout::flags::CAPTURED)).
    NotCaptured,
    /// A continuation's `next`, or the leaf given, is not a continuation (or is of a
    /// continuation type not registered by [`FrameLayout`](crate::FrameLayout), which
    /// has no resume function).
    NotAContinuation,
    /// The frame's type was registered for a context of another type than the one
    /// given to [`resume_chain_with`] (or [`resume_chain`], whose context is `()`): its
    /// resume function takes a `&mut Frame<_, _, registered>`. Nothing was called and
    /// `frame` was not consumed: it can be resumed with a context of the right type.
    ContextMismatch {
        /// The frame that was not entered.
        frame: Continuation<'s>,
        /// The context type its frame type was registered for.
        registered: &'static str,
        /// The context type given.
        given: &'static str,
    },
    /// A frame suspended with a chain that does not lead back to its caller; `leaf` is
    /// the chain it returned, `caller` the caller it would have dropped.
    OrphanedCallers {
        /// The leaf the frame returned.
        leaf: Continuation<'s>,
        /// The suspended caller its chain does not reach.
        caller: Continuation<'s>,
    },
    /// A frame suspended with a chain that holds a continuation that is not resumable
    /// (consumed and not captured into since, such as its own continuation when it
    /// did not recapture it) or that has a cycle.
    BadSuspension,
    /// A frame captured its own continuation again (suspending) and then returned or
    /// threw instead of suspending: the capture would run the frame a second time.
    CapturedThenReturned,
    /// A frame returned a value that its caller's result slot cannot hold (for example
    /// a reference to a caller awaiting a `u64`); `caller` is the caller.
    ResultMismatch {
        /// What the frame returned.
        value: Value<'s>,
        /// The caller whose result slot could not take it.
        caller: Continuation<'s>,
    },
}

impl fmt::Display for ResumeError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::AlreadyResumed => write!(
                f,
                "the continuation was already resumed (a suspension is resumed once)"
            ),
            ResumeError::NotCaptured => {
                write!(
                    f,
                    "a continuation on the chain was allocated but never captured"
                )
            }
            ResumeError::NotAContinuation => {
                write!(f, "an object on the chain is not a continuation")
            }
            ResumeError::ContextMismatch {
                registered, given, ..
            } => write!(
                f,
                "a frame registered for context type `{registered}` cannot be resumed with a context of type `{given}` (their type ids differ; the names omit lifetimes)"
            ),
            ResumeError::OrphanedCallers { .. } => write!(
                f,
                "a frame suspended with a chain that does not lead back to its caller"
            ),
            ResumeError::BadSuspension => write!(
                f,
                "a frame suspended with a chain holding a consumed continuation or a cycle"
            ),
            ResumeError::CapturedThenReturned => write!(
                f,
                "a frame captured its continuation again and then returned instead of suspending"
            ),
            ResumeError::ResultMismatch { value, .. } => write!(
                f,
                "a frame returned {value:?}, which its caller's result slot cannot hold"
            ),
        }
    }
}

impl std::error::Error for ResumeError<'_> {}

impl<'s> ResumeError<'s> {
    /// The error's message followed by the names of the frames it names (their frame
    /// types' names, looked up in `scope`'s heap), for diagnostics.
    pub fn describe(&self, scope: &mut Scope<'s>) -> String {
        let mut name = |k: &Continuation<'s>| {
            let ti = scope.type_index(k.local());
            scope.type_name(ti).unwrap_or("?").to_owned()
        };
        match self {
            ResumeError::ContextMismatch { frame, .. } => {
                format!("{self} (frame `{}`)", name(frame))
            }
            ResumeError::OrphanedCallers { leaf, caller } => {
                format!("{self} (leaf `{}`, caller `{}`)", name(leaf), name(caller))
            }
            ResumeError::ResultMismatch { caller, .. } => {
                format!("{self} (caller `{}`)", name(caller))
            }
            _ => self.to_string(),
        }
    }
}

/// A frame being resumed: typed access to its continuation, its own [`FrameType`] and
/// the embedder's context (`C`, `()` for context-free code).
pub struct Frame<'r, 's, C = ()> {
    scope: &'r mut Scope<'s>,
    /// The embedder's context, given to [`resume_chain_with`].
    ctx: &'r mut C,
    /// The frame's own type, found by the dispatcher from its type index.
    ft: &'r FrameType<C>,
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

impl<'r, 's, C> Frame<'r, 's, C> {
    /// The frame's own type: the layout its continuation was captured with, as
    /// registered by [`FrameLayout`](crate::FrameLayout). The reference outlives the
    /// borrow of the frame, so it can be passed to the frame's accessors:
    /// `let ft = f.frame_type(); f.u64(ft, 0)`.
    #[inline(always)]
    pub fn frame_type(&self) -> &'r FrameType<C> {
        self.ft
    }

    /// The embedder's context, as given to [`resume_chain_with`] (the same object for
    /// every frame of the run).
    ///
    /// Frame code runs on the dispatching scope's mutator: it must not attach a second
    /// mutator of the same heap on this thread (for example through a `Heap` kept in
    /// the context) and allocate or collect with it, since that collection would wait
    /// for this thread's running mutator forever (see `Heap::mutator`). Use
    /// [`scope`](Self::scope) instead.
    #[inline(always)]
    pub fn ctx(&mut self) -> &mut C {
        self.ctx
    }

    /// The scope and the context at once (to allocate while holding on to state kept
    /// in the context).
    #[inline]
    pub fn scope_and_ctx(&mut self) -> (&mut Scope<'s>, &mut C) {
        self.fresh = false;
        (self.scope, self.ctx)
    }

    /// The name the frame's type was registered under (a diagnostic).
    pub fn name(&mut self) -> &str {
        self.scope.type_name(self.ty).unwrap_or("?")
    }

    /// The type index of the frame's continuation (see [`Scope::type_name`]).
    #[inline]
    pub fn type_index(&self) -> u32 {
        self.ty
    }

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
    fn check(&mut self, ft: &FrameType<C>) {
        if self.ty != ft.ty.index() || self.heap != ft.ty.heap_id() {
            wrong_frame_type(self.scope, self.ty, self.heap, ft);
        }
    }

    /// The live `u64` at data byte `byte`.
    #[inline(always)]
    pub fn u64(&mut self, ft: &FrameType<C>, byte: u32) -> u64 {
        self.check(ft);
        let off = ft.data_offset(byte, 8);
        // SAFETY: checked to be aligned data bytes of this live continuation.
        unsafe { self.obj().load_u64(off) }
    }

    /// The address of live reference `i`'s object, without making a local for it: valid
    /// until the next allocation, safepoint or collection (what generated code holds in
    /// a register).
    #[inline]
    pub fn ref_addr(&mut self, ft: &FrameType<C>, i: u32) -> Option<ObjectRef> {
        self.check(ft);
        let off = ft.ref_offset(i);
        // SAFETY: the continuation is of layout `ft` (checked), so `off` is one of its
        // reference slots.
        ObjectRef::from_addr(unsafe { self.obj().load_slot(off) })
    }

    /// Live tagged value `i`: a reference (as a local) or an immediate.
    #[inline]
    pub fn tagged(&mut self, ft: &FrameType<C>, i: u32) -> Tagged<'s> {
        self.check(ft);
        let off = ft.tagged_offset(i);
        self.scope.get_tagged(self.cont, off)
    }

    /// Live reference `i`.
    #[inline]
    pub fn get_ref(&mut self, ft: &FrameType<C>, i: u32) -> Option<Local<'s>> {
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
    pub fn u64_via_byref(&mut self, ft: &FrameType<C>, i: u32) -> u64 {
        self.check(ft);
        let off = ft.byref_offset(i);
        self.scope.read_u64_via(self.cont, off)
    }

    /// Writes a `u64` through live byref `i`.
    #[inline]
    pub fn set_u64_via_byref(&mut self, ft: &FrameType<C>, i: u32, v: u64) {
        self.check(ft);
        let off = ft.byref_offset(i);
        self.scope.write_u64_via(self.cont, off, v)
    }

    /// The data result of the awaited call. Panics if `ft` has no data result slot.
    #[inline(always)]
    pub fn result_u64(&mut self, ft: &FrameType<C>) -> u64 {
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
    pub fn result_ref(&mut self, ft: &FrameType<C>) -> Option<Local<'s>> {
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
    pub fn take_exception(&mut self, ft: &FrameType<C>) -> Option<Local<'s>> {
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
        ft: &'c FrameType<C>,
        state: u32,
    ) -> Result<Capture<'c, 's, C>, AllocError> {
        // Capturing may allocate: the cached address is no longer to be trusted.
        self.fresh = false;
        // A local of its own: the dispatcher moves its cursor local along the chain.
        let cont = self.scope.dup(self.cont);
        if self.ty == ft.ty.index() {
            return Capture::begin(self.scope, ft, Some(Continuation::checked(cont)), state);
        }
        // `next` is a private reference: read it raw, and root it before allocating.
        // SAFETY: `cont` holds a live continuation; its `next` is null or another
        // continuation (only checked paths write it).
        let caller = unsafe {
            ObjectRef::from_addr(self.scope.raw(cont).load_slot(NEXT_OFFSET))
                .map(|n| Continuation::checked(self.scope.from_raw(n)))
        };
        let mut c = Capture::begin(self.scope, ft, None, state)?;
        c.set_caller(caller);
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
fn wrong_frame_type<C>(scope: &mut Scope<'_>, found: u32, heap: u32, ft: &FrameType<C>) -> ! {
    if heap != ft.ty.heap_id() {
        panic!(
            "contgc: a continuation of heap {heap} read with a frame type registered with heap {}",
            ft.ty.heap_id()
        )
    }
    let found_name = scope.type_name(found).unwrap_or("?").to_owned();
    let ft_name = scope.type_name(ft.ty.index()).unwrap_or("?");
    panic!(
        "contgc: continuation of type index {found} (`{found_name}`) read with frame type {} (`{ft_name}`)",
        ft.ty.index()
    )
}

/// Resumes the chain whose leaf is `leaf` until it completes, throws out of its root,
/// or suspends again, for context-free frame code (frame types registered with
/// [`FrameLayout::register`](crate::FrameLayout::register)): the same as
/// [`resume_chain_with`] with a `&mut ()`.
///
/// Each frame is entered at most once per suspension (one-shot, see the module
/// documentation). Errors are reported before the frame concerned runs:
/// [`ResumeError::AlreadyResumed`] for a consumed continuation (resuming a chain twice),
/// [`ResumeError::NotCaptured`] / [`ResumeError::NotAContinuation`] for a malformed
/// chain, [`ResumeError::ContextMismatch`] for a frame registered for a context,
/// [`ResumeError::OrphanedCallers`] when a frame suspends with a chain that does
/// not reach its caller, [`ResumeError::ResultMismatch`] when a returned value does
/// not fit the caller's result slot. Frames that already ran stay consumed.
pub fn resume_chain<'s>(
    scope: &mut Scope<'s>,
    leaf: Continuation<'s>,
) -> Result<ChainOutcome<'s>, ResumeError<'s>> {
    resume_chain_with(scope, leaf, &mut ())
}

/// Resumes the chain whose leaf is `leaf`, giving every frame the embedder's context
/// `ctx` ([`Frame::ctx`]) and its own frame type ([`Frame::frame_type`]).
///
/// Every frame entered must be of a frame type registered for context type `C`
/// ([`FrameLayout::register_with_context`](crate::FrameLayout::register_with_context),
/// or [`FrameLayout::register`](crate::FrameLayout::register) for `C = ()`). The
/// dispatcher finds the frame type from the continuation's type index in the heap's
/// record of it, and compares the `C` it was registered for with this call's `C` (once
/// per change of frame type along the chain); a frame of another context type is
/// refused with [`ResumeError::ContextMismatch`] before it runs and before it is
/// consumed, so its resume function is never called with a context of the wrong type.
/// Otherwise as [`resume_chain`].
pub fn resume_chain_with<'s, C: 'static>(
    scope: &mut Scope<'s>,
    leaf: Continuation<'s>,
    ctx: &mut C,
) -> Result<ChainOutcome<'s>, ResumeError<'s>> {
    dispatch(scope, leaf, ctx, None)
}

/// The frame types a dispatcher found, kept across runs: an executor that resumes
/// chain after chain of the same few frame types looks each up once, not at every
/// resumption ([`resume_chain_cached`]). Entries name their heap, so a cache used
/// with another heap's chains only misses.
pub struct FrameTypeCache<C> {
    entries: [Option<(u32, FrameType<C>)>; 4],
    next: usize,
}

impl<C> Default for FrameTypeCache<C> {
    fn default() -> Self {
        FrameTypeCache {
            entries: [None; 4],
            next: 0,
        }
    }
}

impl<C> fmt::Debug for FrameTypeCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.entries.iter().flatten().count();
        write!(f, "FrameTypeCache({n} frame types)")
    }
}

impl<C> FrameTypeCache<C> {
    #[inline]
    fn get(&self, heap: u32, ty: u32) -> Option<FrameType<C>> {
        for e in self.entries.iter().flatten() {
            if e.1.ty.index() == ty && e.0 == heap {
                return Some(e.1);
            }
        }
        None
    }

    fn put(&mut self, heap: u32, ft: FrameType<C>) {
        self.entries[self.next] = Some((heap, ft));
        self.next = (self.next + 1) % self.entries.len();
    }
}

/// [`resume_chain_with`], looking frame types up in `cache` first (and adding those it
/// had to find): the same checks, with the frame-type look-up of each frame entered
/// paid once per frame type rather than once per resumption.
pub fn resume_chain_cached<'s, C: 'static>(
    scope: &mut Scope<'s>,
    leaf: Continuation<'s>,
    ctx: &mut C,
    cache: &mut FrameTypeCache<C>,
) -> Result<ChainOutcome<'s>, ResumeError<'s>> {
    dispatch(scope, leaf, ctx, Some(cache))
}

#[inline(always)]
fn dispatch<'s, C: 'static>(
    scope: &mut Scope<'s>,
    leaf: Continuation<'s>,
    ctx: &mut C,
    mut cache: Option<&mut FrameTypeCache<C>>,
) -> Result<ChainOutcome<'s>, ResumeError<'s>> {
    let cur = scope.dup(leaf.local());
    // `obj` is `cur`'s address, valid until the next call into frame code (which may
    // allocate); `known` is the last type index found to be a continuation.
    let mut obj = scope.raw(cur);
    let mut known = u32::MAX;
    let mut ty = check_continuation(scope, obj, &mut known)?;
    let heap = scope.heap_id();
    // The frame type of the frame about to be entered, checked to be registered for
    // `C`; looked up (after the never-captured check, so that such a frame is reported
    // as such whatever the context) for the leaf and again only when the type index
    // changes along the chain.
    let mut ft: Option<FrameType<C>> = None;
    loop {
        // SAFETY: `obj` is a live continuation; STATE and FLAGS are its private
        // words, written only by capture and the dispatcher.
        let (state, fl) = unsafe { (obj.load_u32(STATE_OFFSET), obj.load_u32(FLAGS_OFFSET)) };
        if fl & flags::CAPTURED == 0 {
            return Err(ResumeError::NotCaptured);
        }
        if ft.is_none_or(|f| f.ty.index() != ty) {
            let cached = cache.as_deref().and_then(|c| c.get(heap, ty));
            ft = Some(match cached {
                Some(f) => f,
                None => {
                    let f = frame_type_of::<C>(scope, ty, cur)?;
                    if let Some(c) = cache.as_deref_mut() {
                        c.put(heap, f);
                    }
                    f
                }
            });
        }
        let ft = ft.as_ref().expect("looked up just above");
        // SAFETY: `obj` is a live continuation (checked).
        unsafe { consume(obj)? };
        // The frame type's own function, typed for `C`: nothing read from the heap is
        // called.
        let f = ft.resume;
        let mut frame = Frame {
            scope,
            ctx: &mut *ctx,
            ft,
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
        if !matches!(out, Outcome::Suspend(_)) {
            // SAFETY: `obj` is the frame's live continuation; FLAGS is its private word.
            if unsafe { obj.load_u32(FLAGS_OFFSET) } & flags::RESUMED == 0 {
                return Err(ResumeError::CapturedThenReturned);
            }
        }
        match out {
            Outcome::Return(v) => {
                let Some(next) = step(scope, cur, obj) else {
                    return Ok(ChainOutcome::Completed(v));
                };
                obj = next;
                ty = check_continuation(scope, obj, &mut known)?;
                deliver(scope, cur, obj, v)?;
            }
            Outcome::Throw(e) => loop {
                let Some(next) = step(scope, cur, obj) else {
                    return Ok(ChainOutcome::Threw(e));
                };
                obj = next;
                ty = check_continuation(scope, obj, &mut known)?;
                // SAFETY: a live continuation; FLAGS is its private word.
                let fl = unsafe { obj.load_u32(FLAGS_OFFSET) };
                let handler = flags::exception_offset(fl)
                    .filter(|_| fl & flags::HANDLER_BY_STATE == 0 || handles_here(scope, ty, obj));
                if let Some(off) = handler {
                    if fl & flags::RESUMED != 0 {
                        return Err(ResumeError::AlreadyResumed);
                    }
                    let eo = scope.raw(e);
                    // SAFETY: the flags name a reference slot of this continuation
                    // (its exception slot); `eo` is a live object (a local). The
                    // mutator is only used.
                    unsafe { scope.mutator().store_ref(obj, off, Some(eo)) };
                    break;
                }
                // Unwound through without a handler: this frame is done too.
                // SAFETY: `obj` is a live continuation (checked).
                unsafe { consume(obj)? };
            },
            Outcome::Suspend(new_leaf) => {
                // A frame that suspended without capturing into its own continuation
                // (in fresh ones, or `Frame::recapture` with another layout, which
                // hands the caller on) has left that one too: it is still consumed
                // (`RESUMED`), and no later reuse may keep its `next` (`flags::LEFT`).
                // SAFETY: `obj` is the frame's live continuation; FLAGS is its
                // private word.
                unsafe {
                    let fl = obj.load_u32(FLAGS_OFFSET);
                    if fl & flags::RESUMED != 0 {
                        obj.store_u32(FLAGS_OFFSET, fl | flags::LEFT);
                    }
                }
                // The leaf is a local that frame code could have overwritten.
                let leaf = scope.raw(new_leaf.local());
                check_continuation(scope, leaf, &mut known)?;
                // SAFETY: `obj` is the frame's live continuation; `next` is null or a
                // live continuation.
                let caller = unsafe { obj.load_slot(NEXT_OFFSET) };
                return match walk_to(leaf, caller) {
                    Walk::Reaches => Ok(ChainOutcome::Suspended(new_leaf)),
                    Walk::Ends => {
                        // SAFETY: `caller` is non-null here (a chain that ends reaches
                        // a null caller) and a live continuation, read just now.
                        let caller = Continuation::checked(unsafe {
                            scope.from_raw(ObjectRef::from_addr(caller).expect("non-null"))
                        });
                        Err(ResumeError::OrphanedCallers {
                            leaf: new_leaf,
                            caller,
                        })
                    }
                    Walk::Bad => Err(ResumeError::BadSuspension),
                };
            }
        }
    }
}

/// The frame type of continuation type `ty` (of the continuation local `cur`), if it
/// was registered for context `C`.
#[inline(never)]
fn frame_type_of<'s, C: 'static>(
    scope: &mut Scope<'s>,
    ty: u32,
    cur: Local<'s>,
) -> Result<FrameType<C>, ResumeError<'s>> {
    let Some(info) = frame_info(scope, ty) else {
        // A continuation type registered without a `FrameLayout` (a raw descriptor):
        // it has no resume function.
        return Err(ResumeError::NotAContinuation);
    };
    match info.frame_type::<C>() {
        Some(ft) => Ok(ft),
        None => {
            let registered = info.ctx_name;
            Err(ResumeError::ContextMismatch {
                frame: Continuation::checked(scope.dup(cur)),
                registered,
                given: std::any::type_name::<C>(),
            })
        }
    }
}

/// True if continuation `obj` (of type `ty`, whose handlers cover only some
/// suspension points) is suspended at a point inside a handler.
#[cold]
#[inline(never)]
fn handles_here(scope: &mut Scope<'_>, ty: u32, obj: ObjectRef) -> bool {
    // SAFETY: `obj` is a live continuation; STATE is its private word.
    let state = unsafe { obj.load_u32(STATE_OFFSET) };
    frame_info(scope, ty).is_some_and(|i| i.handler_states.binary_search(&state).is_ok())
}

/// Marks the continuation at `obj` consumed; refuses one consumed already.
///
/// # Safety
/// `obj` must be a live continuation.
#[inline(always)]
unsafe fn consume<'s>(obj: ObjectRef) -> Result<(), ResumeError<'s>> {
    // SAFETY: the caller's guarantee; FLAGS is the continuation's private word.
    unsafe {
        let fl = obj.load_u32(FLAGS_OFFSET);
        if fl & flags::RESUMED != 0 {
            return Err(ResumeError::AlreadyResumed);
        }
        obj.store_u32(FLAGS_OFFSET, fl | flags::RESUMED);
    }
    Ok(())
}

/// How the chain a frame suspended with relates to the frame's caller.
enum Walk {
    /// It reaches the caller (or, for a root frame, ends).
    Reaches,
    /// It ends without reaching the (non-null) caller.
    Ends,
    /// It holds a continuation that is not resumable, or a cycle.
    Bad,
}

/// Follows the chain from `leaf` towards `caller` (0 when the frame was the root).
/// Runs without allocating, over the frames the suspension just captured.
fn walk_to(leaf: ObjectRef, caller: usize) -> Walk {
    // For a root frame (`caller` 0) any finite chain of resumable frames will do.
    let step = |k: usize| {
        if k == caller {
            return ControlFlow::Break(Walk::Reaches);
        }
        let obj = ObjectRef::from_addr(k).expect("non-null");
        // SAFETY: `k` is the checked leaf or was reached from it through `next`, a
        // private reference only the checked linking paths write: a live
        // continuation (nothing allocates during this walk).
        if unsafe { obj.load_u32(FLAGS_OFFSET) } & flags::RESUMED != 0 {
            return ControlFlow::Break(Walk::Bad);
        }
        ControlFlow::Continue(())
    };
    // SAFETY: `step` passes only continuations on a checked chain (see above).
    match unsafe { follow_chain(leaf.addr(), step) } {
        ChainEnd::Stopped(w) => w,
        ChainEnd::Null if caller == 0 => Walk::Reaches,
        ChainEnd::Null => Walk::Ends,
        ChainEnd::Cycle => Walk::Bad,
    }
}

/// Checks that `obj` is a continuation; returns its type index.
#[inline(always)]
fn check_continuation<'s>(
    scope: &mut Scope<'s>,
    obj: ObjectRef,
    known: &mut u32,
) -> Result<u32, ResumeError<'s>> {
    // SAFETY: `obj` is a live object of this heap (a local's current address).
    let ty = unsafe { obj.header() }.type_index();
    if ty != *known {
        if !scope.is_continuation_type(ty) {
            return Err(ResumeError::NotAContinuation);
        }
        *known = ty;
    }
    Ok(ty)
}

/// Moves local `cur` (whose address is `obj`) to its continuation's `next`; returns
/// the next continuation's address, or `None` at the root.
#[inline(always)]
fn step<'s>(scope: &mut Scope<'s>, cur: Local<'s>, obj: ObjectRef) -> Option<ObjectRef> {
    // SAFETY: `obj` is a live continuation whose NEXT_OFFSET slot is a reference slot:
    // null or a live object.
    let next = ObjectRef::from_addr(unsafe { obj.load_slot(NEXT_OFFSET) })?;
    // Left for its caller: a later reuse must not keep `next` (see `flags::LEFT`).
    // SAFETY: as above; FLAGS is its private word (in cache: read at its consumption).
    unsafe {
        let fl = obj.load_u32(FLAGS_OFFSET);
        obj.store_u32(FLAGS_OFFSET, fl | flags::LEFT);
    }
    // SAFETY: as above; read just now.
    unsafe { scope.set_raw(cur, Some(next)) };
    Some(next)
}

/// Writes a returned value into the result slot of continuation `k` (whose local is
/// `cur`).
#[inline(always)]
fn deliver<'s>(
    scope: &mut Scope<'s>,
    cur: Local<'s>,
    k: ObjectRef,
    v: Value<'s>,
) -> Result<(), ResumeError<'s>> {
    // SAFETY: `k` is a live continuation; FLAGS is its private word.
    let fl = unsafe { k.load_u32(FLAGS_OFFSET) };
    if fl & flags::RESUMED != 0 {
        // Checked before writing: a consumed caller's slots are left as they are.
        return Err(ResumeError::AlreadyResumed);
    }
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
            // a live object (a local). The mutator is only used.
            unsafe { scope.mutator().store_ref(k, off, r) }
        }
        (value, _) => return Err(result_mismatch(scope, cur, value)),
    }
    Ok(())
}

#[cold]
#[inline(never)]
fn result_mismatch<'s>(scope: &mut Scope<'s>, cur: Local<'s>, value: Value<'s>) -> ResumeError<'s> {
    let caller = Continuation::checked(scope.dup(cur));
    ResumeError::ResultMismatch { value, caller }
}
