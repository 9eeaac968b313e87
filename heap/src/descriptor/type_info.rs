//! [`TypeInfo`]: a registered type's validated layout, as the collector reads it.

use super::*;

/// A validated descriptor: the collector's view of a type.
#[derive(Debug)]
pub struct TypeInfo {
    pub(super) name: String,
    pub(super) size: SizeKind,
    pub(super) refs: Box<[u32]>,
    pub(super) byrefs: Box<[u32]>,
    pub(super) elem_refs: Box<[u32]>,
    pub(super) elem_byrefs: Box<[u32]>,
    pub(super) weak: Box<[u32]>,
    pub(super) elem_weak: Box<[u32]>,
    pub(super) tagged: Box<[u32]>,
    pub(super) elem_tagged: Box<[u32]>,
    pub(super) tag_scheme: Option<TagScheme>,
    pub(super) ephemerons: Box<[u32]>,
    pub(super) elem_ephemerons: Box<[u32]>,
    pub(super) kinds: Box<[SlotKind]>,
    pub(super) elem_kinds: Box<[SlotKind]>,
    /// Fillers pad gaps of any multiple of 8 bytes, so they skip the minimum size.
    pub(super) filler: bool,
    pub(super) continuation: bool,
    pub(super) pretenure: bool,
    pub(super) promotion_age: Option<u8>,
    pub(super) attachment: Option<TypeAttachment>,
    /// Bit `w` set: payload word `w` of the fixed part (or base) is a reference slot;
    /// covers the first `mask_words` words, for the accessors' fast path.
    pub(super) ref_mask: u64,
    /// Bit `w` set: payload word `w` is a slot of any kind but data (reference,
    /// byref, weak, tagged, ephemeron, private), which the data accessors refuse.
    pub(super) slot_mask: u64,
    pub(super) mask_words: u32,
    /// Payload bytes the masks cover (the fixed part, or base, up to 512 bytes).
    pub(super) mask_bytes: u32,
}

/// Result of checking a data access against a type's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldCheck {
    /// The bytes are inside the payload and are all data.
    Ok,
    /// The bytes are not inside the payload.
    OutOfBounds {
        /// Payload size of the object.
        payload: usize,
    },
    /// The bytes overlap a reference or byref slot.
    OverlapsSlot {
        /// Offset of the slot.
        offset: usize,
        /// Its kind.
        kind: SlotKind,
    },
}

impl TypeInfo {
    /// The descriptor of filler objects: a header followed by `len` bytes, whatever
    /// `len` is (a filler can be as small as its header).
    pub(crate) fn filler() -> TypeInfo {
        let mut t = TypeDescriptor::array("<filler>", 0, 1)
            .validate()
            .expect("builtin");
        t.filler = true;
        t
    }

    /// The type's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Fixed or variable size.
    #[inline]
    pub fn size_kind(&self) -> SizeKind {
        self.size
    }

    /// Payload bytes of an object with `len` elements, or `None` on overflow.
    #[inline]
    pub fn payload_size(&self, len: u32) -> Option<usize> {
        match self.size {
            SizeKind::Fixed { size } => Some(size as usize),
            SizeKind::Variable { base, elem } => (elem as usize)
                .checked_mul(len as usize)?
                .checked_add(base as usize),
        }
    }

    /// Bytes an object with `len` elements occupies, header included, rounded up to
    /// [`ALIGN`](crate::ALIGN) and at least [`MIN_OBJECT_BYTES`]; `None` if it would exceed
    /// [`MAX_OBJECT_BYTES`].
    #[inline]
    pub fn object_size(&self, len: u32) -> Option<usize> {
        if self.filler {
            return Some(HEADER_SIZE + len as usize);
        }
        let size = align_up(HEADER_SIZE + self.payload_size(len)?).max(MIN_OBJECT_BYTES);
        (size <= MAX_OBJECT_BYTES).then_some(size)
    }

    /// True if objects of this type hold no references (the collector skips them).
    #[inline]
    pub fn has_refs(&self) -> bool {
        !self.refs.is_empty() || !self.elem_refs.is_empty()
    }

    /// True if objects of this type are allocated in the old generation.
    #[inline]
    pub fn is_pretenured(&self) -> bool {
        self.pretenure
    }

    /// The type's own promotion age, if it overrides the heap's.
    #[inline]
    pub fn promotion_age(&self) -> Option<u8> {
        self.promotion_age
    }

    /// The embedder data attached at registration, if any
    /// ([`TypeDescriptor::with_attachment`]).
    #[inline]
    pub fn attachment(&self) -> Option<&(dyn Any + Send + Sync)> {
        self.attachment.as_ref().map(TypeAttachment::get)
    }

    /// True for continuation layouts (see [`TypeDescriptor::continuation`]).
    #[inline]
    pub fn is_continuation(&self) -> bool {
        self.continuation
    }

    /// True if objects of this type hold references, byrefs or weak references (the
    /// collector must scan them).
    #[inline]
    pub fn needs_scan(&self) -> bool {
        self.has_refs()
            || self.has_byrefs()
            || self.has_weak()
            || self.has_tagged()
            || self.has_ephemerons()
    }

    /// True if objects of this type hold ephemeron slots.
    #[inline]
    pub fn has_ephemerons(&self) -> bool {
        !self.ephemerons.is_empty() || !self.elem_ephemerons.is_empty()
    }

    /// Ephemeron slots of the fixed part (the key's offset), sorted.
    #[inline]
    pub fn ephemerons(&self) -> &[u32] {
        &self.ephemerons
    }

    /// Ephemeron slots of each element, sorted; empty for fixed-size types.
    #[inline]
    pub fn elem_ephemerons(&self) -> &[u32] {
        &self.elem_ephemerons
    }

    /// True if objects of this type hold tagged value slots.
    #[inline]
    pub fn has_tagged(&self) -> bool {
        !self.tagged.is_empty() || !self.elem_tagged.is_empty()
    }

    /// Tagged value slots of the fixed part, sorted.
    #[inline]
    pub fn tagged(&self) -> &[u32] {
        &self.tagged
    }

    /// Tagged value slots of each element, sorted; empty for fixed-size types.
    #[inline]
    pub fn elem_tagged(&self) -> &[u32] {
        &self.elem_tagged
    }

    /// How the type's tagged slots tell references from immediates (set when it has
    /// tagged slots).
    #[inline]
    pub fn tag_scheme(&self) -> Option<TagScheme> {
        self.tag_scheme
    }

    /// True if objects of this type hold weak reference slots.
    #[inline]
    pub fn has_weak(&self) -> bool {
        !self.weak.is_empty() || !self.elem_weak.is_empty()
    }

    /// Weak reference slots of the fixed part, sorted.
    #[inline]
    pub fn weak(&self) -> &[u32] {
        &self.weak
    }

    /// Weak reference slots of each element (offsets from the element's start),
    /// sorted; empty for fixed-size types.
    #[inline]
    pub fn elem_weak(&self) -> &[u32] {
        &self.elem_weak
    }

    /// True if objects of this type hold byref slots.
    #[inline]
    pub fn has_byrefs(&self) -> bool {
        !self.byrefs.is_empty() || !self.elem_byrefs.is_empty()
    }

    /// Reference slots of the fixed part, sorted.
    #[inline]
    pub fn refs(&self) -> &[u32] {
        &self.refs
    }

    /// Byref slots of the fixed part, sorted.
    #[inline]
    pub fn byrefs(&self) -> &[u32] {
        &self.byrefs
    }

    /// Reference slots of each element (offsets from the element's start), sorted;
    /// empty for fixed-size types.
    #[inline]
    pub fn elem_refs(&self) -> &[u32] {
        &self.elem_refs
    }

    /// Byref slots of each element (offsets from the element's start), sorted; empty
    /// for fixed-size types.
    #[inline]
    pub fn elem_byrefs(&self) -> &[u32] {
        &self.elem_byrefs
    }

    /// Calls `f` with the payload offset of every reference slot of an object with `len`
    /// elements, in increasing order.
    #[inline]
    pub fn for_each_ref_offset(&self, len: u32, mut f: impl FnMut(usize)) {
        for &o in self.refs.iter() {
            f(o as usize);
        }
        if let SizeKind::Variable { base, elem } = self.size {
            if !self.elem_refs.is_empty() {
                let (base, elem) = (base as usize, elem as usize);
                for i in 0..len as usize {
                    let start = base + i * elem;
                    for &o in self.elem_refs.iter() {
                        f(start + o as usize);
                    }
                }
            }
        }
    }

    /// Calls `f` with the payload offset of every byref slot (its address word; the
    /// base word follows it), in increasing order.
    #[inline]
    pub fn for_each_byref_offset(&self, len: u32, mut f: impl FnMut(usize)) {
        for &o in self.byrefs.iter() {
            f(o as usize);
        }
        if let SizeKind::Variable { base, elem } = self.size {
            if !self.elem_byrefs.is_empty() {
                let (base, elem) = (base as usize, elem as usize);
                for i in 0..len as usize {
                    let start = base + i * elem;
                    for &o in self.elem_byrefs.iter() {
                        f(start + o as usize);
                    }
                }
            }
        }
    }

    /// The kind of the payload word containing byte `offset`, or `None` if `offset` is
    /// outside the payload of an object with `len` elements.
    pub fn slot_kind(&self, offset: usize, len: u32) -> Option<SlotKind> {
        let payload = self.payload_size(len)?;
        if offset >= payload {
            return None;
        }
        match self.size {
            SizeKind::Fixed { .. } => Some(self.kinds[offset / 8]),
            SizeKind::Variable { base, elem } => {
                let base = base as usize;
                if offset < base {
                    return Some(self.kinds[offset / 8]);
                }
                if self.elem_kinds.is_empty() {
                    return Some(SlotKind::Data);
                }
                let within = (offset - base) % elem as usize;
                Some(*self.elem_kinds.get(within / 8).unwrap_or(&SlotKind::Data))
            }
        }
    }

    /// True if payload byte `offset` starts a byref slot (its address word) of an
    /// object with `len` elements.
    pub fn is_byref_slot(&self, offset: usize, len: u32) -> bool {
        if self.slot_kind(offset, len) != Some(SlotKind::Byref) || !offset.is_multiple_of(8) {
            return false;
        }
        if let SizeKind::Variable { base, elem } = self.size {
            if offset >= base as usize {
                let within = ((offset - base as usize) % elem as usize) as u32;
                return self.elem_byrefs.binary_search(&within).is_ok();
            }
        }
        self.byrefs.binary_search(&(offset as u32)).is_ok()
    }

    /// True if payload byte `offset` starts an ephemeron slot (its key word) of an
    /// object with `len` elements.
    pub fn is_ephemeron_slot(&self, offset: usize, len: u32) -> bool {
        if self.slot_kind(offset, len) != Some(SlotKind::Ephemeron) || !offset.is_multiple_of(8) {
            return false;
        }
        if let SizeKind::Variable { base, elem } = self.size {
            if offset >= base as usize {
                let within = ((offset - base as usize) % elem as usize) as u32;
                return self.elem_ephemerons.binary_search(&within).is_ok();
            }
        }
        self.ephemerons.binary_search(&(offset as u32)).is_ok()
    }

    /// True if payload byte `offset` starts a reference slot of an object with `len`
    /// elements.
    #[inline]
    pub fn is_ref_slot(&self, offset: usize, len: u32) -> bool {
        if !offset.is_multiple_of(8) {
            return false;
        }
        let w = offset / 8;
        if w < self.mask_words as usize {
            return self.ref_mask >> w & 1 != 0;
        }
        self.slot_kind(offset, len) == Some(SlotKind::Ref)
    }

    /// Checks that bytes `offset..offset + width` of an object with `len` elements are
    /// inside the payload and are plain data.
    #[inline]
    pub fn check_data(&self, offset: usize, width: usize, len: u32) -> FieldCheck {
        // Fast path: the bytes lie in the words the masks cover.
        if let Some(end) = offset.checked_add(width) {
            if width > 0 && width <= 8 && end <= self.mask_bytes as usize {
                let first = offset / 8;
                let last = (end - 1) / 8;
                let bits = (u64::MAX >> (63 - last)) & (u64::MAX << first);
                if self.slot_mask & bits == 0 {
                    return FieldCheck::Ok;
                }
            }
        }
        self.check_data_slow(offset, width, len)
    }

    fn check_data_slow(&self, offset: usize, width: usize, len: u32) -> FieldCheck {
        let payload = self.payload_size(len).unwrap_or(0);
        let end = match offset.checked_add(width) {
            Some(end) if end <= payload && width > 0 => end,
            _ => return FieldCheck::OutOfBounds { payload },
        };
        // A type whose every word is data (a byte string, say) needs no walk over
        // the bytes. Every kind counts here, not only references and byrefs: weak,
        // tagged, ephemeron and private words are the collector's or the embedder's,
        // and a data write into one would hand the collector an arbitrary address.
        if self
            .kinds
            .iter()
            .chain(self.elem_kinds.iter())
            .all(|&k| k == SlotKind::Data)
        {
            return FieldCheck::Ok;
        }
        let mut word = offset & !7;
        while word < end {
            match self.slot_kind(word, len) {
                Some(SlotKind::Data) | None => {}
                Some(kind) => return FieldCheck::OverlapsSlot { offset: word, kind },
            }
            word += 8;
        }
        FieldCheck::Ok
    }
}
