//! The continuation object's layout.
//!
//! A continuation is one heap object: the object header, then [`ContinuationFields`]
//! (`#[repr(C)]`, offsets below are from the start of the payload, i.e. the object
//! address + 8), then the frame's payload, laid out by its [`FrameType`]:
//!
//! | payload offset | field                                                       |
//! |----------------|-------------------------------------------------------------|
//! | 0  ([`NEXT_OFFSET`])   | `next`: the caller's continuation (reference) or null |
//! | 8  ([`STATE_OFFSET`])  | `state`: which suspension point (u32)                  |
//! | 12 ([`FLAGS_OFFSET`])  | `flags`: see [`flags`] (u32)                           |
//! | 16 ([`FRAME_OFFSET`])  | reference slots, 8 bytes each                           |
//! |                | byref slots, 16 bytes each (address, base)                  |
//! |                | the result slot (8 bytes), if the frame awaits a value      |
//! |                | the exception slot (8 bytes, a reference), if it handles exceptions |
//! |                | data bytes, rounded up to 8                                  |
//!
//! A frame holding one reference and one 8-byte integer takes 8 + 16 + 8 + 8 = 40
//! bytes. `state` and `flags` are private words: the safe data API of the heap refuses
//! to touch them, so only capture and the dispatcher write them.
//!
//! A continuation holds no code pointer. The code that resumes a frame is its method's
//! resumption stub, so it belongs to the frame type: [`FrameLayout::register`] takes
//! the [`ResumeFn`], the [`FrameType`] holds it (typed, as a
//! `ResumeFn<C>` for the context `C` it was registered for), and the dispatcher calls
//! the frame type it finds from the type index in the continuation's header. No
//! address is stored in the heap and turned back into a function (no `transmute`):
//! the dispatcher only ever calls a function registered with a frame type, at the
//! context type that frame type was registered for. Whether a continuation was ever
//! captured is the [`flags::CAPTURED`] bit, which its first capture sets and nothing
//! clears.

use crate::ResumeFn;
use contgc_collector::{
    ContinuationPlacement, Heap, Scope, TagScheme, TypeAttachment, TypeDescriptor, TypeId,
};
use contgc_heap::byref::BYREF_SLOT_BYTES;
use contgc_heap::DescriptorError;
use memoffset::offset_of;
use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

/// The fixed head of every continuation's payload.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ContinuationFields {
    /// Header address of the caller's continuation, or 0.
    pub next: usize,
    /// The suspension point.
    pub state: u32,
    /// [`flags`] bits.
    pub flags: u32,
}

// The prefix is the object model's (contgc_heap::continuation_prefix), which the
// verifier reads: the two must agree.
const _: () = {
    use contgc_heap::continuation_prefix as p;
    assert!(NEXT_OFFSET == p::NEXT_OFFSET);
    assert!(STATE_OFFSET == p::STATE_OFFSET && FLAGS_OFFSET == p::FLAGS_OFFSET);
    assert!(FRAME_OFFSET == p::PREFIX_BYTES);
    assert!(flags::RESUMED == p::FLAG_RESUMED && flags::LINKED == p::FLAG_LINKED);
    assert!(flags::CAPTURED == p::FLAG_CAPTURED);
};

/// The largest payload a continuation can have, in bytes: 32,760 (4,095 words; the
/// header comes on top). The `flags` word records the result and exception slots'
/// offsets in 12 bits of words ([`flags::OFFSET_MASK`]), so [`FrameLayout::register`]
/// refuses a layout whose fixed fields (16 bytes), slots and data take more, with
/// [`DescriptorError::TooLarge`].
pub const MAX_PAYLOAD_BYTES: usize = flags::OFFSET_MASK as usize * 8;

/// Payload offset of `next`.
pub const NEXT_OFFSET: usize = offset_of!(ContinuationFields, next);
/// Payload offset of `state`.
pub const STATE_OFFSET: usize = offset_of!(ContinuationFields, state);
/// Payload offset of `flags`.
pub const FLAGS_OFFSET: usize = offset_of!(ContinuationFields, flags);
/// Payload offset of the frame's own slots.
pub const FRAME_OFFSET: usize = std::mem::size_of::<ContinuationFields>();

/// The `flags` word.
pub mod flags {
    /// The frame has an exception handler: an exception unwinding through the chain
    /// stops here and is stored in the frame's exception slot.
    pub const HANDLES_EXCEPTIONS: u32 = 1;
    /// The result slot holds data (a `u64`).
    pub const RESULT_DATA: u32 = 1 << 1;
    /// The result slot holds a reference.
    pub const RESULT_REF: u32 = 1 << 2;
    /// The continuation is not resumable: the dispatcher set it when it resumed the
    /// frame or unwound an exception through it (the continuation was *consumed*:
    /// resumption is one-shot), or a capture into it has begun and not finished.
    /// Cleared when a capture into it finishes ([`Capture::finish`](crate::Capture::finish)
    /// or [`Capture::link`](crate::Capture::link)). A chain whose leaf, or any frame the
    /// dispatcher reaches, is not resumable is refused with
    /// [`ResumeError::AlreadyResumed`](crate::ResumeError::AlreadyResumed).
    pub const RESUMED: u32 = 1 << 3;
    /// Set when the continuation is linked into a chain (as a chain's leaf, or as the
    /// caller of the frame below it) since it was captured; a continuation can be
    /// linked once per capture, which keeps chains free of cycles.
    pub const LINKED: u32 = 1 << 4;
    /// With `HANDLES_EXCEPTIONS`: only some suspension points are inside a handler
    /// ([`FrameLayout::handles_exceptions_at`](crate::FrameLayout::handles_exceptions_at));
    /// the dispatcher looks the state up in the frame type's list.
    pub const HANDLER_BY_STATE: u32 = 1 << 5;
    /// The continuation has been captured into: set by its first capture (with the
    /// rest of the frame type's flags, [`FrameType::flags`](crate::FrameType::flags))
    /// and never cleared. A continuation without it was allocated and not captured
    /// (the allocator zeroes the flags word), and is refused by the dispatcher with
    /// [`ResumeError::NotCaptured`](crate::ResumeError::NotCaptured) and by the heap
    /// verifier on a suspended task's chain.
    pub const CAPTURED: u32 = 1 << 6;
    /// The dispatcher left the continuation for its caller: its frame returned or
    /// threw, an exception unwound through it, or the frame suspended again in other
    /// continuations than this one. Its `next` is then no suspended
    /// caller of anything, so a capture that reuses it afterwards (outside the
    /// dispatcher) starts with no caller ([`Capture::begin`](crate::Capture::begin)):
    /// keeping the old one would let a chain be built that loops (the old caller,
    /// since recaptured, pushed below it). Cleared by the next capture.
    pub const LEFT: u32 = 1 << 7;
    /// Bits 8..20: payload offset of the result slot, in words.
    pub const RESULT_SHIFT: u32 = 8;
    /// Bits 20..32: payload offset of the exception slot, in words.
    pub const EXCEPTION_SHIFT: u32 = 20;
    /// Mask of a 12-bit word offset.
    pub const OFFSET_MASK: u32 = 0xfff;

    /// Payload offset of the result slot, if any.
    #[inline]
    pub fn result_offset(flags: u32) -> Option<usize> {
        (flags & (RESULT_DATA | RESULT_REF) != 0)
            .then(|| ((flags >> RESULT_SHIFT) & OFFSET_MASK) as usize * 8)
    }

    /// Payload offset of the exception slot, if the frame handles exceptions.
    #[inline]
    pub fn exception_offset(flags: u32) -> Option<usize> {
        (flags & HANDLES_EXCEPTIONS != 0)
            .then(|| ((flags >> EXCEPTION_SHIFT) & OFFSET_MASK) as usize * 8)
    }
}

/// What the frame's result slot (the value of the call it awaits) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResultKind {
    /// The awaited call returns nothing.
    None,
    /// A `u64`.
    Data,
    /// A reference (or null).
    Ref,
}

/// The shape of one method's frames: the state live across any of its awaits.
///
/// ```
/// use contgc_collector::{Config, Heap};
/// use contgc_continuation::FrameLayout;
/// let heap = Heap::new(Config::default()).unwrap();
/// use contgc_continuation::{Frame, Outcome, Value};
/// fn resume_fib<'s>(f: &mut Frame<'_, 's>) -> Outcome<'s> {
///     let ft = f.frame_type();
///     Outcome::Return(Value::Data(f.u64(ft, 0)))
/// }
/// let heap = Heap::new(Config::default()).unwrap();
/// let ft = FrameLayout::new("Fib")
///     .refs(1)
///     .data_bytes(8)
///     .register(&heap, resume_fib)
///     .unwrap();
/// assert_eq!(ft.object_size(), 40);
/// ```
///
/// A frame type is one method's frame: its resume function is the method's
/// resumption stub, which continues at whichever suspension point
/// ([`Frame::state`](crate::Frame::state)) the frame was captured at. Two methods
/// with the same shape of live state are two frame types.
#[derive(Clone, Debug)]
pub struct FrameLayout {
    name: String,
    refs: u32,
    byrefs: u32,
    /// Live tagged values (a reference or an immediate each), and their scheme.
    tagged: u32,
    tag_scheme: Option<TagScheme>,
    data_bytes: u32,
    result: ResultKind,
    handles_exceptions: bool,
    /// The suspension points inside a handler, if not all of them.
    handler_states: Option<Vec<u32>>,
}

impl FrameLayout {
    /// A frame with nothing live yet.
    pub fn new(name: impl Into<String>) -> Self {
        FrameLayout {
            name: name.into(),
            refs: 0,
            byrefs: 0,
            tagged: 0,
            tag_scheme: None,
            data_bytes: 0,
            result: ResultKind::None,
            handles_exceptions: false,
            handler_states: None,
        }
    }
    /// Number of live references.
    pub fn refs(mut self, n: u32) -> Self {
        self.refs = n;
        self
    }
    /// Number of live byrefs.
    pub fn byrefs(mut self, n: u32) -> Self {
        self.byrefs = n;
        self
    }
    /// Number of live tagged values: words that hold a reference or an immediate, as
    /// `scheme` tells (an interpreter's frame is a vector of values; see
    /// `contgc_collector::TagScheme`). Read and written with
    /// [`Frame::tagged`](crate::Frame::tagged) and
    /// [`Capture::set_tagged`](crate::Capture::set_tagged).
    pub fn tagged(mut self, n: u32, scheme: TagScheme) -> Self {
        self.tagged = n;
        self.tag_scheme = Some(scheme);
        self
    }
    /// Bytes of live data.
    pub fn data_bytes(mut self, n: u32) -> Self {
        self.data_bytes = n;
        self
    }
    /// What the awaited call returns into this frame.
    pub fn result(mut self, kind: ResultKind) -> Self {
        self.result = kind;
        self
    }
    /// The frame has an exception handler around all of its awaits (every suspension
    /// point): an exception thrown by a callee stops at this frame, in its exception
    /// slot ([`Frame::take_exception`](crate::Frame::take_exception)). `false` (the
    /// default) lets exceptions unwind past it.
    pub fn handles_exceptions(mut self, on: bool) -> Self {
        self.handles_exceptions = on;
        self.handler_states = None;
        self
    }

    /// The frame has exception handlers around the awaits at these suspension points
    /// only (the states its captures use): an exception thrown by a callee stops at
    /// this frame when it is suspended at one of them, and unwinds past it (consuming
    /// it) when it is suspended anywhere else. A `finally` or fault block is a handler
    /// that runs its cleanup and throws the exception on (returns
    /// [`Outcome::Throw`](crate::Outcome::Throw) with it).
    pub fn handles_exceptions_at(mut self, states: &[u32]) -> Self {
        let mut v = states.to_vec();
        v.sort_unstable();
        v.dedup();
        self.handles_exceptions = !v.is_empty();
        self.handler_states = (!v.is_empty()).then_some(v);
        self
    }

    /// Registers the layout with `heap` as a continuation type, placed as the heap's
    /// configuration says ([`ContinuationPlacement`]), for context-free frame code
    /// resumed by `resume` (the method's resumption stub: the dispatcher calls it for
    /// every continuation of this type): its continuations are resumed by
    /// [`resume_chain`](crate::resume_chain) (or
    /// [`resume_chain_with`](crate::resume_chain_with) with a `&mut ()`).
    ///
    /// Errors: [`DescriptorError::TooLarge`] past [`MAX_PAYLOAD_BYTES`], or the heap's
    /// type table is full.
    pub fn register(&self, heap: &Heap, resume: ResumeFn) -> Result<FrameType, DescriptorError> {
        self.register_with_context::<()>(heap, resume)
    }

    /// Registers the layout for frame code that gets a `&mut C` from the embedder
    /// ([`Frame::ctx`](crate::Frame::ctx)), resumed by `resume`: its continuations are
    /// resumed only by [`resume_chain_with`] with a context of type `C`.
    ///
    /// The heap records the frame type (its layout, resume function, name and `C`)
    /// with the continuation type, so the dispatcher finds each frame's [`FrameType`]
    /// from the type index in its header
    /// ([`Frame::frame_type`](crate::Frame::frame_type)), and refuses, before the frame
    /// runs, to resume it with a context of another type
    /// ([`ResumeError::ContextMismatch`](crate::ResumeError::ContextMismatch)): the
    /// `ResumeFn<C>` is recovered from the record only as a `FrameType<C>` (a checked
    /// downcast), never from an address. Errors as [`register`](FrameLayout::register).
    ///
    /// [`resume_chain_with`]: crate::resume_chain_with
    pub fn register_with_context<C: 'static>(
        &self,
        heap: &Heap,
        resume: ResumeFn<C>,
    ) -> Result<FrameType<C>, DescriptorError> {
        // Computed in u64 so that no count can wrap; the flags encode slot offsets in
        // 12 bits of words, which bounds the whole layout.
        let w = 8u64;
        let ref_at = FRAME_OFFSET as u64;
        let byref_at = ref_at + self.refs as u64 * w;
        let tagged_at = byref_at + self.byrefs as u64 * BYREF_SLOT_BYTES as u64;
        let mut at = tagged_at + self.tagged as u64 * w;
        let result_at = at;
        if self.result != ResultKind::None {
            at += w;
        }
        let exception_at = at;
        if self.handles_exceptions {
            at += w;
        }
        let data_at = at;
        let size = data_at + (self.data_bytes as u64).div_ceil(8) * 8;
        if size > MAX_PAYLOAD_BYTES as u64 {
            return Err(DescriptorError::TooLarge {
                size,
                max: MAX_PAYLOAD_BYTES as u64,
            });
        }
        // Everything fits in 32 bits now.
        let (w, ref_at, byref_at, tagged_at, result_at, exception_at, data_at, size) = (
            w as u32,
            ref_at as u32,
            byref_at as u32,
            tagged_at as u32,
            result_at as u32,
            exception_at as u32,
            data_at as u32,
            size as u32,
        );
        let mut refs: Vec<u32> = (0..self.refs).map(|i| ref_at + i * w).collect();
        if self.result == ResultKind::Ref {
            refs.push(result_at);
        }
        if self.handles_exceptions {
            refs.push(exception_at);
        }
        let byrefs: Vec<u32> = (0..self.byrefs)
            .map(|i| byref_at + i * BYREF_SLOT_BYTES as u32)
            .collect();
        let mut desc = TypeDescriptor::fixed(self.name.clone(), size)
            .with_private_refs(&[NEXT_OFFSET as u32])
            .with_refs(&refs)
            .with_byrefs(&byrefs)
            .with_private(&[STATE_OFFSET as u32])
            .as_continuation();
        if let Some(scheme) = self.tag_scheme.filter(|_| self.tagged > 0) {
            let tagged: Vec<u32> = (0..self.tagged).map(|i| tagged_at + i * w).collect();
            desc = desc.with_tagged(&tagged, scheme);
        }
        let desc = match heap.config().continuation_placement() {
            ContinuationPlacement::Nursery => desc.with_promotion_age(1),
            ContinuationPlacement::OldGeneration => desc.pretenured(true),
        };
        let info = Arc::new(FrameInfo {
            ft: OnceLock::new(),
            handler_states: self.handler_states.clone().unwrap_or_default().into(),
            ctx_name: std::any::type_name::<C>(),
        });
        let desc = desc.with_attachment(TypeAttachment::from_arc(info.clone()));
        let ty = heap.register_type(&desc)?;
        let mut fl = flags::CAPTURED;
        match self.result {
            ResultKind::None => {}
            ResultKind::Data => fl |= flags::RESULT_DATA,
            ResultKind::Ref => fl |= flags::RESULT_REF,
        }
        if self.result != ResultKind::None {
            fl |= (result_at / 8) << flags::RESULT_SHIFT;
        }
        if self.handles_exceptions {
            fl |= flags::HANDLES_EXCEPTIONS | (exception_at / 8) << flags::EXCEPTION_SHIFT;
        }
        if self.handler_states.is_some() {
            fl |= flags::HANDLER_BY_STATE;
        }
        let ft = FrameType {
            ty,
            refs: self.refs,
            byrefs: self.byrefs,
            tagged: self.tagged,
            tag_scheme: self.tag_scheme,
            data_bytes: self.data_bytes,
            flags: fl,
            ref_at,
            byref_at,
            tagged_at,
            data_at,
            size: 8 + size,
            resume,
            _ctx: PhantomData,
        };
        // No continuation of the type exists before this returns, so the dispatcher
        // never finds the record unset.
        if info.ft.set(Box::new(ft)).is_err() {
            unreachable!("a fresh frame type record");
        }
        Ok(ft)
    }
}

/// What [`FrameLayout::register_with_context`] records with a continuation type (its
/// [`TypeAttachment`]): the frame type, with its resume function, typed for the
/// context type it was registered for. Private to this crate, so no other code can
/// attach one to a type of its own.
pub(crate) struct FrameInfo {
    /// The `FrameType<C>`, set right after registration, before any continuation of
    /// the type exists. Type-erased as `Any`: the dispatcher gets it back only as the
    /// `FrameType<C>` of its own `C` ([`FrameInfo::frame_type`]).
    ft: OnceLock<Box<dyn Any + Send + Sync>>,
    /// The name of the context type the frame type was registered for.
    pub(crate) ctx_name: &'static str,
    /// With [`flags::HANDLER_BY_STATE`]: the suspension points inside a handler,
    /// sorted.
    pub(crate) handler_states: Box<[u32]>,
}

impl FrameInfo {
    /// The frame type, if it was registered for context `C` (`None` for another
    /// context type: the record holds a `FrameType` of another type).
    #[inline]
    pub(crate) fn frame_type<C: 'static>(&self) -> Option<FrameType<C>> {
        let ft = self
            .ft
            .get()
            .expect("contgc: a frame type's record is set when it is registered");
        ft.downcast_ref::<FrameType<C>>().copied()
    }
}

/// The frame type record of continuation type `index` of the scope's heap, if the type
/// was registered by [`FrameLayout::register_with_context`].
#[inline]
pub(crate) fn frame_info<'a>(scope: &'a mut Scope<'_>, index: u32) -> Option<&'a FrameInfo> {
    scope.type_attachment(index)?.downcast_ref::<FrameInfo>()
}

/// A registered frame layout: where everything is in its continuations.
///
/// `C` is the type of the context its frame code gets ([`Frame::ctx`](crate::Frame::ctx)):
/// `()` for [`FrameLayout::register`], the registered type for
/// [`FrameLayout::register_with_context`]. It holds the frame code's resume function
/// as a [`ResumeFn<C>`](crate::ResumeFn), so the function the dispatcher calls for a
/// continuation of this type always takes the context its type was registered for
/// (checked by the compiler).
pub struct FrameType<C = ()> {
    pub(crate) ty: TypeId,
    pub(crate) refs: u32,
    pub(crate) byrefs: u32,
    pub(crate) tagged: u32,
    pub(crate) tag_scheme: Option<TagScheme>,
    pub(crate) data_bytes: u32,
    pub(crate) flags: u32,
    pub(crate) ref_at: u32,
    pub(crate) byref_at: u32,
    pub(crate) tagged_at: u32,
    pub(crate) data_at: u32,
    pub(crate) size: u32,
    /// The method's resumption stub, called by the dispatcher for every continuation
    /// of this type.
    pub(crate) resume: ResumeFn<C>,
    /// Invariant in `C`, and `Send + Sync` whatever `C` is.
    pub(crate) _ctx: PhantomData<fn(&mut C) -> C>,
}

impl<C> Clone for FrameType<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for FrameType<C> {}

impl<C> PartialEq for FrameType<C> {
    fn eq(&self, other: &Self) -> bool {
        self.ty == other.ty
    }
}

impl<C> Eq for FrameType<C> {}

impl<C> fmt::Debug for FrameType<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameType")
            .field("ty", &self.ty)
            .field("context", &std::any::type_name::<C>())
            .field("refs", &self.refs)
            .field("byrefs", &self.byrefs)
            .field("data_bytes", &self.data_bytes)
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("size", &self.size)
            .field("resume", &(self.resume as *const ()))
            .finish()
    }
}

impl<C> FrameType<C> {
    /// The name the layout was registered under (see [`Scope::type_name`]); `None` if
    /// `scope` belongs to another heap than the frame type.
    pub fn name<'a>(&self, scope: &'a mut Scope<'_>) -> Option<&'a str> {
        if scope.heap_id() != self.ty.heap_id() {
            return None;
        }
        scope.type_name(self.ty.index())
    }

    /// The heap type of this layout's continuations.
    pub fn type_id(&self) -> TypeId {
        self.ty
    }
    /// Bytes of one continuation, header included.
    pub fn object_size(&self) -> usize {
        self.size as usize
    }
    /// The function that resumes its continuations (given to
    /// [`FrameLayout::register`]).
    pub fn resume_fn(&self) -> ResumeFn<C> {
        self.resume
    }
    /// The `flags` word its continuations carry once captured (including
    /// [`flags::CAPTURED`]).
    pub fn flags(&self) -> u32 {
        self.flags
    }
    /// Payload offset of reference `i` (panics if out of range).
    #[inline]
    pub fn ref_offset(&self, i: u32) -> usize {
        assert!(
            i < self.refs,
            "frame has {} references, not {}",
            self.refs,
            i as u64 + 1
        );
        (self.ref_at + i * 8) as usize
    }
    /// Payload offset of byref `i` (panics if out of range).
    #[inline]
    pub fn byref_offset(&self, i: u32) -> usize {
        assert!(
            i < self.byrefs,
            "frame has {} byrefs, not {}",
            self.byrefs,
            i as u64 + 1
        );
        (self.byref_at + i * BYREF_SLOT_BYTES as u32) as usize
    }
    /// Payload offset of tagged value `i` (panics if out of range).
    #[inline]
    pub fn tagged_offset(&self, i: u32) -> usize {
        assert!(
            i < self.tagged,
            "frame has {} tagged values, not {}",
            self.tagged,
            i as u64 + 1
        );
        (self.tagged_at + i * 8) as usize
    }
    /// Payload offset of data byte `byte` for an access of `width` bytes (panics if
    /// out of range, or if `byte` is not a multiple of `width`).
    #[inline]
    pub fn data_offset(&self, byte: u32, width: u32) -> usize {
        assert!(
            byte.is_multiple_of(width),
            "data byte {byte} is not aligned to {width}"
        );
        assert!(
            byte as u64 + width as u64 <= self.data_bytes as u64,
            "frame has {} data bytes; {}..{} is out of range",
            self.data_bytes,
            byte,
            byte as u64 + width as u64
        );
        (self.data_at + byte) as usize
    }
    /// Payload offset of the result slot, if the frame has one.
    #[inline]
    pub fn result_offset(&self) -> Option<usize> {
        flags::result_offset(self.flags)
    }
    /// Payload offset of the exception slot, if the frame handles exceptions.
    #[inline]
    pub fn exception_offset(&self) -> Option<usize> {
        flags::exception_offset(self.flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Frame, Outcome, ResumeFn, Value};
    use contgc_collector::Config;

    fn done<'s>(_: &mut Frame<'_, 's>) -> Outcome<'s> {
        Outcome::Return(Value::Unit)
    }

    #[test]
    fn offsets_are_fixed_and_slots_do_not_overlap() {
        assert_eq!(
            (NEXT_OFFSET, STATE_OFFSET, FLAGS_OFFSET, FRAME_OFFSET),
            (0, 8, 12, 16)
        );
        let heap = Heap::new(Config::default()).unwrap();
        let ft = FrameLayout::new("F")
            .refs(2)
            .byrefs(1)
            .data_bytes(12)
            .result(ResultKind::Ref)
            .handles_exceptions(true)
            .register(&heap, done)
            .unwrap();
        assert_eq!(ft.ref_offset(1), 24);
        assert_eq!(ft.byref_offset(0), 32);
        assert_eq!(ft.result_offset(), Some(48));
        assert_eq!(ft.exception_offset(), Some(56));
        assert_eq!(ft.data_offset(4, 4), 68);
        assert_eq!(ft.object_size(), 8 + 64 + 16);
        let plain = FrameLayout::new("P").register(&heap, done).unwrap();
        assert_eq!(
            (plain.result_offset(), plain.exception_offset()),
            (None, None)
        );
        assert_eq!(plain.object_size(), 24);
        assert_eq!(plain.flags(), flags::CAPTURED);
        assert_eq!(plain.resume_fn() as usize, done as ResumeFn as usize);
    }
}
