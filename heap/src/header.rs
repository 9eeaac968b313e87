//! The header word every object starts with.
//!
//! Layout of the 64-bit word (bit 0 is the least significant):
//!
//! | bits   | meaning                                                        |
//! |--------|----------------------------------------------------------------|
//! | 0      | `FORWARDED`: the rest of the word is the object's new address  |
//! | 1      | `MARK`: reached by the current major collection                |
//! | 2      | `UNLOGGED`: an old object not yet in the remembered set        |
//! | 3..8   | age: minor collections survived (saturates at 31)              |
//! | 8..32  | type index: the registered type ([`TypeId::index`](crate::TypeId::index)) |
//! | 32..64 | length (element count) of a variable-size object, else 0       |
//!
//! A header word of 0 is never a valid object: the old space uses it to mark free cells,
//! and type index 0 is reserved for that reason.
//!
//! While an object is being evacuated, its old copy's header is replaced by the new
//! address with `FORWARDED` set (objects are 8-aligned, so bit 0 of an address is free).

/// Bit 0 (value 1): the header is a forwarding address.
pub const FORWARDED: u64 = 1;
/// Bit 1 (value 2): marked by the current major collection.
pub const MARK: u64 = 1 << 1;
/// Bit 2 (value 4): an old object that is not in the remembered set; the write barrier's slow path
/// logs the object and clears the bit. Young objects never have it set.
pub const UNLOGGED: u64 = 1 << 2;

const AGE_SHIFT: u32 = 3;
const AGE_MASK: u64 = 0x1f << AGE_SHIFT;
/// The oldest age a header can record.
pub const MAX_AGE: u8 = 31;
const TYPE_SHIFT: u32 = 8;
const TYPE_MASK: u64 = 0x00ff_ffff << TYPE_SHIFT;
/// The largest type index a header can hold.
pub const MAX_TYPE_INDEX: u32 = 0x00ff_ffff;
const LEN_SHIFT: u32 = 32;

/// A decoded view of an object's header word.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Header(pub u64);

// `len` is the element count field, not a container length.
#[allow(clippy::len_without_is_empty)]
impl Header {
    /// A fresh header: age 0, no flag set.
    #[inline(always)]
    pub const fn new(type_index: u32, len: u32) -> Header {
        Header(((type_index as u64) << TYPE_SHIFT) | ((len as u64) << LEN_SHIFT))
    }

    /// A forwarding header pointing at `new_addr` (which must be 8-aligned).
    #[inline(always)]
    pub const fn forwarding(new_addr: usize) -> Header {
        Header(new_addr as u64 | FORWARDED)
    }

    /// The raw word.
    #[inline(always)]
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// True for the word of a free old-space cell (or memory never allocated).
    #[inline(always)]
    pub const fn is_free(self) -> bool {
        self.0 == 0
    }

    /// True if this is a forwarding header.
    #[inline(always)]
    pub const fn is_forwarded(self) -> bool {
        self.0 & FORWARDED != 0
    }

    /// The new address of a forwarded object.
    #[inline(always)]
    pub const fn forwarding_address(self) -> usize {
        (self.0 & !FORWARDED) as usize
    }

    /// The type index (valid only if not forwarded).
    #[inline(always)]
    pub const fn type_index(self) -> u32 {
        ((self.0 & TYPE_MASK) >> TYPE_SHIFT) as u32
    }

    /// The element count of a variable-size object.
    #[inline(always)]
    pub const fn len(self) -> u32 {
        (self.0 >> LEN_SHIFT) as u32
    }

    /// Minor collections survived.
    #[inline(always)]
    pub const fn age(self) -> u8 {
        ((self.0 & AGE_MASK) >> AGE_SHIFT) as u8
    }

    /// The same header with its age set (saturating at [`MAX_AGE`]).
    #[inline(always)]
    pub const fn with_age(self, age: u8) -> Header {
        let age = if age > MAX_AGE { MAX_AGE } else { age };
        Header((self.0 & !AGE_MASK) | ((age as u64) << AGE_SHIFT))
    }

    /// The same header one minor collection older: one add, for a header whose age is
    /// below [`MAX_AGE`] (checked in debug builds; [`with_age`](Self::with_age)
    /// saturates instead).
    #[inline(always)]
    pub const fn aged_once(self) -> Header {
        debug_assert!(self.age() < MAX_AGE);
        Header(self.0 + (1 << AGE_SHIFT))
    }

    /// True if `MARK` is set.
    #[inline(always)]
    pub const fn is_marked(self) -> bool {
        self.0 & MARK != 0
    }

    /// True if `UNLOGGED` is set.
    #[inline(always)]
    pub const fn is_unlogged(self) -> bool {
        self.0 & UNLOGGED != 0
    }

    /// The same header with `flag` set.
    #[inline(always)]
    pub const fn with(self, flag: u64) -> Header {
        Header(self.0 | flag)
    }

    /// The same header with `flag` cleared.
    #[inline(always)]
    pub const fn without(self, flag: u64) -> Header {
        Header(self.0 & !flag)
    }
}

impl core::fmt::Debug for Header {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.is_forwarded() {
            return write!(f, "Header(forwarded to {:#x})", self.forwarding_address());
        }
        f.debug_struct("Header")
            .field("type_index", &self.type_index())
            .field("len", &self.len())
            .field("age", &self.age())
            .field("marked", &self.is_marked())
            .field("unlogged", &self.is_unlogged())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let h = Header::new(MAX_TYPE_INDEX, u32::MAX).with_age(7).with(MARK);
        assert_eq!(h.type_index(), MAX_TYPE_INDEX);
        assert_eq!(h.len(), u32::MAX);
        assert_eq!(h.age(), 7);
        assert!(h.is_marked());
        assert!(!h.is_unlogged());
        assert!(!h.is_forwarded());
        let h = h.without(MARK).with(UNLOGGED);
        assert!(!h.is_marked() && h.is_unlogged());
        assert_eq!(h.with_age(200).age(), MAX_AGE);
        assert_eq!(h.aged_once(), h.with_age(8));
        assert_eq!(h.with_age(MAX_AGE - 1).aged_once().age(), MAX_AGE);
    }

    #[test]
    fn forwarding_round_trips() {
        let h = Header::forwarding(0x7fff_1234_5678);
        assert!(h.is_forwarded());
        assert_eq!(h.forwarding_address(), 0x7fff_1234_5678);
    }

    #[test]
    fn zero_is_free_and_not_an_object() {
        assert!(Header(0).is_free());
        assert!(!Header::new(1, 0).is_free());
    }
}
