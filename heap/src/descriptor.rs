//! Type descriptors: what the embedder tells the heap about each kind of object.
//!
//! A descriptor gives a name (for diagnostics), a size (fixed, or a fixed base followed
//! by `len` elements of equal size) and the payload offsets of reference slots and byref
//! slots. Offsets are in bytes from the start of the payload, i.e. just after the header.
//! Registration validates a descriptor into a [`TypeInfo`], which the collector trusts:
//! every word the collector treats as a reference is listed here, and nothing else is.

use crate::byref::BYREF_SLOT_BYTES;
use crate::{align_up, HEADER_SIZE, MAX_OBJECT_BYTES, MIN_OBJECT_BYTES};
use core::fmt;
use std::any::Any;
use std::sync::Arc;

/// Embedder data attached to a type at registration, read back by type index
/// ([`TypeInfo::attachment`]): a per-heap side table of the layers above the heap (the
/// continuation crate records each frame type's layout and context type there). The
/// collector never looks at it. Two attachments are equal when they are the same
/// allocation.
#[derive(Clone)]
pub struct TypeAttachment(Arc<dyn Any + Send + Sync>);

impl TypeAttachment {
    /// Wraps `value`.
    pub fn new(value: impl Any + Send + Sync) -> Self {
        TypeAttachment(Arc::new(value))
    }

    /// Wraps a shared value (the caller may keep a clone of the `Arc`).
    pub fn from_arc(value: Arc<dyn Any + Send + Sync>) -> Self {
        TypeAttachment(value)
    }

    /// The attached value.
    #[inline]
    pub fn get(&self) -> &(dyn Any + Send + Sync) {
        &*self.0
    }
}

impl PartialEq for TypeAttachment {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TypeAttachment {}

impl fmt::Debug for TypeAttachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TypeAttachment(..)")
    }
}

/// How big an object of a type is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeKind {
    /// Every object has `size` payload bytes.
    Fixed {
        /// Payload bytes (header excluded).
        size: u32,
    },
    /// `base` payload bytes followed by `len` elements of `elem` bytes each; `len` is
    /// chosen at allocation and recorded in the header.
    Variable {
        /// Payload bytes before the first element.
        base: u32,
        /// Bytes per element.
        elem: u32,
    },
}

/// What a payload word holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// Plain data, never interpreted by the collector.
    Data,
    /// A reference: null or the address of an object's header.
    Ref,
    /// A word the safe data API may not read or write (it holds something only the
    /// embedder's own code may interpret, like a continuation's state and flags). The
    /// collector treats it as data.
    Private,
    /// A reference the collector traces but the safe API may not read or write (like
    /// a continuation's `next`, which only the continuation crate links).
    PrivateRef,
    /// A byref: two words, an interior address and its base object (see
    /// [`byref`](crate::byref)); resolved and updated by the collector.
    Byref,
    /// A weak reference: null or the address of an object's header, like
    /// [`Ref`](SlotKind::Ref), but it does not keep its referent alive: once the
    /// referent is found dead, the collection that found it sets the slot to null.
    /// While the referent lives the slot follows it when it moves.
    Weak,
    /// A tagged value: a word that is either a reference or an immediate (a small
    /// integer, a boxed double's bits, ...), told apart by the type's [`TagScheme`].
    /// The collector traces and updates it only when it holds a reference.
    Tagged,
    /// An ephemeron: two words, a key and a value, both null or the address of an
    /// object. The key is held weakly, and the value only while the key is alive
    /// (reachable other than through the values of ephemerons whose keys are not):
    /// the collection that finds the key dead sets both words to null. Weak-keyed
    /// tables (JavaScript's `WeakMap`, Lua's tables with weak keys) are arrays of them.
    Ephemeron,
}

/// How a tagged slot's word says whether it holds a reference: it does when
/// `word & mask == refs` and the address, `word & !mask`, is not 0; a reference to
/// the object at `addr` is stored as `addr | refs`. Every other word is an immediate,
/// which the collector never interprets.
///
/// `mask` may only cover bits that no object address has: the low three (objects are
/// 8-aligned) and the top sixteen (user-space addresses on 64-bit machines have them
/// clear), and `refs` only bits of `mask`.
///
/// ```
/// use contgc_heap::TagScheme;
/// // Small integers with the low bit set, references with it clear.
/// let low_bit = TagScheme::LOW_BIT;
/// assert!(low_bit.is_ref(0x1000) && !low_bit.is_ref((21 << 1) | 1));
/// // NaN-boxing: references in one NaN space, doubles everywhere else.
/// let nan = TagScheme::new(0xFFFF_0000_0000_0000, 0xFFFC_0000_0000_0000).unwrap();
/// assert!(nan.is_ref(0xFFFC_0000_0000_1000) && !nan.is_ref(1.5f64.to_bits()));
/// assert_eq!(nan.encode(0x1000), 0xFFFC_0000_0000_1000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TagScheme {
    mask: u64,
    refs: u64,
}

impl TagScheme {
    /// Bits an object address never has set (see the type documentation).
    pub const FREE_BITS: u64 = 0xFFFF_0000_0000_0007;

    /// The low-bit scheme: a word with its low bit set is an immediate (a 63-bit
    /// integer `w >> 1`, say), one with it clear is a reference (or null, 0).
    pub const LOW_BIT: TagScheme = TagScheme { mask: 1, refs: 0 };

    /// A scheme, or `None` if `mask` is 0 or covers address bits, or `refs` has bits
    /// outside `mask`.
    pub const fn new(mask: u64, refs: u64) -> Option<TagScheme> {
        if mask == 0 || mask & !Self::FREE_BITS != 0 || refs & !mask != 0 {
            None
        } else {
            Some(TagScheme { mask, refs })
        }
    }

    /// The bits that tell references from immediates.
    pub const fn mask(self) -> u64 {
        self.mask
    }

    /// What those bits are in a reference.
    pub const fn refs(self) -> u64 {
        self.refs
    }

    /// The address `word` refers to, or `None` if it is an immediate (or null).
    #[inline(always)]
    pub const fn decode(self, word: u64) -> Option<usize> {
        let addr = word & !self.mask;
        if word & self.mask == self.refs && addr != 0 {
            Some(addr as usize)
        } else {
            None
        }
    }

    /// True if `word` holds a reference.
    #[inline(always)]
    pub const fn is_ref(self, word: u64) -> bool {
        self.decode(word).is_some()
    }

    /// The word that refers to the object at `addr` (8-aligned, below 2^48).
    #[inline(always)]
    pub const fn encode(self, addr: usize) -> u64 {
        addr as u64 | self.refs
    }
}

impl SlotKind {
    /// The kind, as error messages name it.
    fn describe(self) -> &'static str {
        match self {
            SlotKind::Data => "data",
            SlotKind::Ref => "reference",
            SlotKind::Private => "private",
            SlotKind::PrivateRef => "private reference",
            SlotKind::Byref => "byref",
            SlotKind::Weak => "weak reference",
            SlotKind::Tagged => "tagged",
            SlotKind::Ephemeron => "ephemeron",
        }
    }
}

/// An embedder's description of a type, to be registered with a heap.
///
/// ```
/// use contgc_heap::TypeDescriptor;
/// // A cons cell: two reference slots, then 8 bytes of data.
/// let cons = TypeDescriptor::fixed("Cons", 24).with_refs(&[0, 8]);
/// // An array of references.
/// let array = TypeDescriptor::array("RefArray", 0, 8).with_elem_refs(&[0]);
/// assert!(cons.validate().is_ok() && array.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeDescriptor {
    /// Name used in diagnostics.
    pub name: String,
    /// Fixed or variable size.
    pub size: SizeKind,
    /// Reference slots of the fixed part (or base).
    pub refs: Vec<u32>,
    /// Byref slots of the fixed part (or base).
    pub byrefs: Vec<u32>,
    /// Reference slots inside each element (offsets from the element's start).
    pub elem_refs: Vec<u32>,
    /// Byref slots inside each element.
    pub elem_byrefs: Vec<u32>,
    /// Weak reference slots of the fixed part (or base) (see [`SlotKind::Weak`]).
    pub weak: Vec<u32>,
    /// Weak reference slots inside each element.
    pub elem_weak: Vec<u32>,
    /// Tagged value slots of the fixed part (or base) (see [`SlotKind::Tagged`]).
    pub tagged: Vec<u32>,
    /// Tagged value slots inside each element.
    pub elem_tagged: Vec<u32>,
    /// How the type's tagged slots tell references from immediates (required when it
    /// has tagged slots).
    pub tag_scheme: Option<TagScheme>,
    /// Ephemeron slots of the fixed part (or base): the key's word; the value's
    /// follows it (see [`SlotKind::Ephemeron`]).
    pub ephemerons: Vec<u32>,
    /// Ephemeron slots inside each element.
    pub elem_ephemerons: Vec<u32>,
    /// Objects of this type are continuations (suspended frames): reference slot 0 is
    /// `next`, the caller's continuation. The verifier checks that chains are well
    /// formed; otherwise the collector treats them like any object.
    pub continuation: bool,
    /// Private words of the fixed part (see [`SlotKind::Private`]).
    pub private: Vec<u32>,
    /// Private reference slots of the fixed part (see [`SlotKind::PrivateRef`]).
    pub private_refs: Vec<u32>,
    /// Allocate objects of this type directly in the old generation.
    pub pretenure: bool,
    /// Promote objects of this type after this many minor collections instead of the
    /// heap's promotion age (1: at their first survival).
    pub promotion_age: Option<u8>,
    /// Embedder data kept with the type (see [`TypeAttachment`]).
    pub attachment: Option<TypeAttachment>,
}

impl TypeDescriptor {
    /// A fixed-size type with `size` payload bytes and no slots yet.
    pub fn fixed(name: impl Into<String>, size: u32) -> Self {
        Self::new(name.into(), SizeKind::Fixed { size })
    }

    /// A variable-size type: `base` payload bytes, then `len` elements of `elem` bytes.
    pub fn array(name: impl Into<String>, base: u32, elem: u32) -> Self {
        Self::new(name.into(), SizeKind::Variable { base, elem })
    }

    fn new(name: String, size: SizeKind) -> Self {
        TypeDescriptor {
            name,
            size,
            refs: Vec::new(),
            byrefs: Vec::new(),
            elem_refs: Vec::new(),
            elem_byrefs: Vec::new(),
            weak: Vec::new(),
            elem_weak: Vec::new(),
            tagged: Vec::new(),
            elem_tagged: Vec::new(),
            tag_scheme: None,
            ephemerons: Vec::new(),
            elem_ephemerons: Vec::new(),
            continuation: false,
            private: Vec::new(),
            private_refs: Vec::new(),
            pretenure: false,
            promotion_age: None,
            attachment: None,
        }
    }

    /// Attaches embedder data to the type, readable by type index after registration
    /// ([`TypeInfo::attachment`]); the collector ignores it.
    pub fn with_attachment(mut self, attachment: TypeAttachment) -> Self {
        self.attachment = Some(attachment);
        self
    }

    /// Allocates objects of this type directly in the old generation (pretenuring):
    /// for objects known to live long, which then never get copied.
    pub fn pretenured(mut self, on: bool) -> Self {
        self.pretenure = on;
        self
    }

    /// Promotes objects of this type after `age` minor collections (1 to 15) instead
    /// of the heap's promotion age.
    pub fn with_promotion_age(mut self, age: u8) -> Self {
        self.promotion_age = Some(age);
        self
    }

    /// Adds private words to the fixed part: the safe data API refuses to touch them.
    pub fn with_private(mut self, offsets: &[u32]) -> Self {
        self.private.extend_from_slice(offsets);
        self
    }

    /// Adds private reference slots to the fixed part: traced by the collector, but
    /// the safe API refuses to read or write them.
    pub fn with_private_refs(mut self, offsets: &[u32]) -> Self {
        self.private_refs.extend_from_slice(offsets);
        self
    }

    /// Marks the type as a continuation layout: fixed-size, at least 16 payload bytes
    /// ([`continuation_prefix`](crate::continuation_prefix)), payload word 0 a private
    /// reference (`next`) and word 8 private (the state and flags, which only the
    /// continuation crate writes).
    pub fn as_continuation(mut self) -> Self {
        self.continuation = true;
        self
    }

    /// Adds reference slots to the fixed part.
    pub fn with_refs(mut self, offsets: &[u32]) -> Self {
        self.refs.extend_from_slice(offsets);
        self
    }

    /// Adds byref slots to the fixed part.
    pub fn with_byrefs(mut self, offsets: &[u32]) -> Self {
        self.byrefs.extend_from_slice(offsets);
        self
    }

    /// Adds reference slots to every element.
    pub fn with_elem_refs(mut self, offsets: &[u32]) -> Self {
        self.elem_refs.extend_from_slice(offsets);
        self
    }

    /// Adds byref slots to every element.
    pub fn with_elem_byrefs(mut self, offsets: &[u32]) -> Self {
        self.elem_byrefs.extend_from_slice(offsets);
        self
    }

    /// Adds weak reference slots to the fixed part (see [`SlotKind::Weak`]).
    ///
    /// ```
    /// use contgc_heap::TypeDescriptor;
    /// // A weak box: one weak slot, then 8 bytes of data.
    /// let weak_box = TypeDescriptor::fixed("WeakBox", 16).with_weak_refs(&[0]);
    /// assert!(weak_box.validate().is_ok());
    /// ```
    pub fn with_weak_refs(mut self, offsets: &[u32]) -> Self {
        self.weak.extend_from_slice(offsets);
        self
    }

    /// Adds tagged value slots to the fixed part, whose words `scheme` tells apart (see
    /// [`SlotKind::Tagged`]; a type has one scheme, for all its tagged slots).
    ///
    /// ```
    /// use contgc_heap::{TagScheme, TypeDescriptor};
    /// // An interpreter's pair: two values, each a small integer or a reference.
    /// let pair = TypeDescriptor::fixed("Pair", 16).with_tagged(&[0, 8], TagScheme::LOW_BIT);
    /// assert!(pair.validate().is_ok());
    /// ```
    ///
    /// # Panics
    /// If the descriptor was given another scheme before.
    pub fn with_tagged(mut self, offsets: &[u32], scheme: TagScheme) -> Self {
        self.tagged.extend_from_slice(offsets);
        self.set_tag_scheme(scheme);
        self
    }

    /// Adds tagged value slots to every element (an interpreter's value vector).
    ///
    /// # Panics
    /// If the descriptor was given another scheme before.
    pub fn with_elem_tagged(mut self, offsets: &[u32], scheme: TagScheme) -> Self {
        self.elem_tagged.extend_from_slice(offsets);
        self.set_tag_scheme(scheme);
        self
    }

    fn set_tag_scheme(&mut self, scheme: TagScheme) {
        if let Some(s) = self.tag_scheme.filter(|&s| s != scheme) {
            panic!(
                "contgc: type {} has one tag scheme, {s:?}, not also {scheme:?}",
                self.name
            );
        }
        self.tag_scheme = Some(scheme);
    }

    /// Adds ephemeron slots (16 bytes each: the key, then the value) to the fixed part
    /// (see [`SlotKind::Ephemeron`]).
    pub fn with_ephemerons(mut self, offsets: &[u32]) -> Self {
        self.ephemerons.extend_from_slice(offsets);
        self
    }

    /// Adds ephemeron slots to every element: a weak-keyed table.
    ///
    /// ```
    /// use contgc_heap::TypeDescriptor;
    /// // A weak map's entries: key at 0, value at 8, one entry per element.
    /// let table = TypeDescriptor::array("WeakMapEntries", 0, 16).with_elem_ephemerons(&[0]);
    /// assert!(table.validate().is_ok());
    /// ```
    pub fn with_elem_ephemerons(mut self, offsets: &[u32]) -> Self {
        self.elem_ephemerons.extend_from_slice(offsets);
        self
    }

    /// Adds weak reference slots to every element (a weak array or table).
    pub fn with_elem_weak_refs(mut self, offsets: &[u32]) -> Self {
        self.elem_weak.extend_from_slice(offsets);
        self
    }

    /// Checks the descriptor and builds the collector's view of it.
    pub fn validate(&self) -> Result<TypeInfo, DescriptorError> {
        if self.name.is_empty() {
            return Err(DescriptorError::EmptyName);
        }
        let max_payload = (MAX_OBJECT_BYTES - HEADER_SIZE) as u64;
        let (fixed_len, elem) = match self.size {
            SizeKind::Fixed { size } => {
                if size == 0 {
                    return Err(DescriptorError::ZeroSize { what: "size" });
                }
                if !self.elem_refs.is_empty()
                    || !self.elem_byrefs.is_empty()
                    || !self.elem_weak.is_empty()
                    || !self.elem_tagged.is_empty()
                    || !self.elem_ephemerons.is_empty()
                {
                    return Err(DescriptorError::ElementSlotsOnFixedType);
                }
                (size, 0)
            }
            SizeKind::Variable { base, elem } => {
                if elem == 0 {
                    return Err(DescriptorError::ZeroSize {
                        what: "element size",
                    });
                }
                let elem_has_slots = !self.elem_refs.is_empty()
                    || !self.elem_byrefs.is_empty()
                    || !self.elem_weak.is_empty()
                    || !self.elem_tagged.is_empty()
                    || !self.elem_ephemerons.is_empty();
                if elem_has_slots && (base % 8 != 0 || elem % 8 != 0) {
                    return Err(DescriptorError::MisalignedElements { base, elem });
                }
                if elem as u64 > max_payload {
                    return Err(DescriptorError::TooLarge {
                        size: elem as u64,
                        max: max_payload,
                    });
                }
                (base, elem)
            }
        };
        if fixed_len as u64 > max_payload {
            return Err(DescriptorError::TooLarge {
                size: fixed_len as u64,
                max: max_payload,
            });
        }
        if let Some(age) = self.promotion_age {
            if !(1..=15).contains(&age) {
                return Err(DescriptorError::BadPromotionAge { age });
            }
        }
        if self.continuation
            && (elem != 0
                || (fixed_len as usize) < crate::continuation_prefix::PREFIX_BYTES
                || !self
                    .private_refs
                    .contains(&(crate::continuation_prefix::NEXT_OFFSET as u32))
                || !self
                    .private
                    .contains(&(crate::continuation_prefix::STATE_OFFSET as u32)))
        {
            return Err(DescriptorError::BadContinuation);
        }
        if (!self.tagged.is_empty() || !self.elem_tagged.is_empty()) && self.tag_scheme.is_none() {
            return Err(DescriptorError::NoTagScheme);
        }
        let kinds = slot_map(
            &[
                (&self.refs, SlotKind::Ref),
                (&self.byrefs, SlotKind::Byref),
                (&self.private, SlotKind::Private),
                (&self.private_refs, SlotKind::PrivateRef),
                (&self.weak, SlotKind::Weak),
                (&self.tagged, SlotKind::Tagged),
                (&self.ephemerons, SlotKind::Ephemeron),
            ],
            fixed_len,
            "object",
        )?;
        let elem_kinds = if elem > 0 {
            slot_map(
                &[
                    (&self.elem_refs, SlotKind::Ref),
                    (&self.elem_byrefs, SlotKind::Byref),
                    (&self.elem_weak, SlotKind::Weak),
                    (&self.elem_tagged, SlotKind::Tagged),
                    (&self.elem_ephemerons, SlotKind::Ephemeron),
                ],
                elem,
                "element",
            )?
        } else {
            Vec::new()
        };
        let sorted = |v: &[u32]| {
            let mut v = v.to_vec();
            v.sort_unstable();
            v.into_boxed_slice()
        };
        let mask_words = kinds.len().min(64);
        let (mut ref_mask, mut slot_mask) = (0u64, 0u64);
        for (w, k) in kinds.iter().take(mask_words).enumerate() {
            match k {
                SlotKind::Ref => {
                    ref_mask |= 1 << w;
                    slot_mask |= 1 << w;
                }
                SlotKind::Byref
                | SlotKind::Private
                | SlotKind::PrivateRef
                | SlotKind::Weak
                | SlotKind::Tagged
                | SlotKind::Ephemeron => slot_mask |= 1 << w,
                SlotKind::Data => {}
            }
        }
        Ok(TypeInfo {
            ref_mask,
            slot_mask,
            mask_words: mask_words as u32,
            mask_bytes: (fixed_len as usize).min(mask_words * 8) as u32,
            name: self.name.clone(),
            size: self.size,
            refs: sorted(&[&self.refs[..], &self.private_refs[..]].concat()),
            byrefs: sorted(&self.byrefs),
            elem_refs: sorted(&self.elem_refs),
            elem_byrefs: sorted(&self.elem_byrefs),
            weak: sorted(&self.weak),
            elem_weak: sorted(&self.elem_weak),
            tagged: sorted(&self.tagged),
            elem_tagged: sorted(&self.elem_tagged),
            tag_scheme: self.tag_scheme,
            ephemerons: sorted(&self.ephemerons),
            elem_ephemerons: sorted(&self.elem_ephemerons),
            kinds: kinds.into_boxed_slice(),
            elem_kinds: elem_kinds.into_boxed_slice(),
            filler: false,
            continuation: self.continuation,
            pretenure: self.pretenure,
            promotion_age: self.promotion_age,
            attachment: self.attachment.clone(),
        })
    }
}

/// Builds the per-word slot map of a region of `len` bytes, checking every slot.
fn slot_map(
    slots: &[(&[u32], SlotKind)],
    len: u32,
    region: &'static str,
) -> Result<Vec<SlotKind>, DescriptorError> {
    let mut kinds = vec![SlotKind::Data; (len as usize).div_ceil(8)];
    // The offset of the slot each word belongs to, to name both slots of a conflict.
    let mut owner = vec![0u32; kinds.len()];
    let all = slots
        .iter()
        .flat_map(|&(offsets, kind)| offsets.iter().map(move |&o| (o, kind)));
    for (offset, kind) in all {
        if offset % 8 != 0 {
            return Err(DescriptorError::MisalignedSlot { offset });
        }
        let bytes = match kind {
            SlotKind::Byref | SlotKind::Ephemeron => BYREF_SLOT_BYTES as u64,
            _ => 8,
        };
        if offset as u64 + bytes > len as u64 {
            return Err(DescriptorError::SlotOutOfBounds {
                offset,
                size: len,
                region,
            });
        }
        for w in 0..bytes as usize / 8 {
            let i = offset as usize / 8 + w;
            match kinds[i] {
                SlotKind::Data => {}
                k if k == kind && owner[i] == offset => {
                    return Err(DescriptorError::OverlappingSlots { offset })
                }
                other_kind => {
                    return Err(DescriptorError::ConflictingSlots {
                        offset,
                        kind,
                        other_offset: owner[i],
                        other_kind,
                    })
                }
            }
            kinds[i] = kind;
            owner[i] = offset;
        }
    }
    Ok(kinds)
}

/// Why a descriptor was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DescriptorError {
    /// The name is empty.
    EmptyName,
    /// A size that must be positive is zero.
    ZeroSize {
        /// Which size.
        what: &'static str,
    },
    /// The payload (or element) is bigger than the heap accepts.
    TooLarge {
        /// The size asked for.
        size: u64,
        /// The largest accepted.
        max: u64,
    },
    /// A slot offset is not a multiple of 8.
    MisalignedSlot {
        /// The offending offset.
        offset: u32,
    },
    /// A slot does not fit inside the object (or element).
    SlotOutOfBounds {
        /// The offending offset.
        offset: u32,
        /// Size of the region it must fit in.
        size: u32,
        /// "object" or "element".
        region: &'static str,
    },
    /// The same slot is listed twice.
    OverlappingSlots {
        /// The offset listed twice.
        offset: u32,
    },
    /// Two different slots share a word: slots of different kinds at one offset, or a
    /// byref slot (two words) overlapping the next slot.
    ConflictingSlots {
        /// Offset of the slot that was refused.
        offset: u32,
        /// Its kind.
        kind: SlotKind,
        /// Offset of the slot already holding the word.
        other_offset: u32,
        /// That slot's kind.
        other_kind: SlotKind,
    },
    /// Elements have slots, but base or element size is not a multiple of 8, so the
    /// slots of later elements would be misaligned.
    MisalignedElements {
        /// Base size.
        base: u32,
        /// Element size.
        elem: u32,
    },
    /// Element slots were given for a fixed-size type.
    ElementSlotsOnFixedType,
    /// A continuation type must be fixed-size with a reference slot at offset 0.
    BadContinuation,
    /// A per-type promotion age outside 1..=15.
    BadPromotionAge {
        /// The age given.
        age: u8,
    },
    /// The heap's type table is full.
    TooManyTypes,
    /// Tagged slots were given without a [`TagScheme`].
    NoTagScheme,
}

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyName => write!(f, "type descriptor has an empty name"),
            Self::ZeroSize { what } => write!(f, "type descriptor {what} is zero"),
            Self::TooLarge { size, max } => {
                write!(f, "type descriptor size {size} bytes exceeds the maximum of {max}")
            }
            Self::MisalignedSlot { offset } => {
                write!(f, "slot at offset {offset} is not 8-byte aligned")
            }
            Self::SlotOutOfBounds {
                offset,
                size,
                region,
            } => write!(
                f,
                "slot at offset {offset} does not fit in the {region} of {size} bytes"
            ),
            Self::OverlappingSlots { offset } => {
                write!(f, "slot at offset {offset} is listed more than once")
            }
            Self::ConflictingSlots {
                offset,
                kind,
                other_offset,
                other_kind,
            } => write!(
                f,
                "{} slot at offset {offset} overlaps the {} slot at offset {other_offset}",
                kind.describe(),
                other_kind.describe()
            ),
            Self::MisalignedElements { base, elem } => write!(
                f,
                "elements have slots, so base ({base}) and element size ({elem}) must be multiples of 8"
            ),
            Self::ElementSlotsOnFixedType => {
                write!(f, "element slots given for a fixed-size type")
            }
            Self::BadPromotionAge { age } => {
                write!(f, "promotion age {age} is not between 1 and 15")
            }
            Self::BadContinuation => write!(
                f,
                "a continuation type must be fixed-size (16 bytes or more), with a private `next` reference at offset 0 and a private word at 8"
            ),
            Self::TooManyTypes => write!(f, "the heap's type table is full"),
            Self::NoTagScheme => write!(f, "tagged slots need a tag scheme"),
        }
    }
}

impl std::error::Error for DescriptorError {}

mod type_info;
pub use type_info::{FieldCheck, TypeInfo};

#[cfg(test)]
mod tests;
