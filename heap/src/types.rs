//! Registered types as the embedder sees them ([`TypeId`]), and the type indices the
//! heap reserves for itself.

/// Type index 0 is never registered: a header of 0 marks a free cell.
pub const FREE_TYPE_INDEX: u32 = 0;
/// Type index of filler objects, which pad the unused tail of a retired allocation
/// buffer so that the nursery can be walked object by object. A filler's length is its
/// payload size in bytes.
pub const FILLER_TYPE_INDEX: u32 = 1;

/// A registered type, as handed to the embedder: the heap it belongs to, its index,
/// and, for small fixed-size types, the object size the allocation fast path needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TypeId {
    heap: u32,
    index: u32,
    fast_size: u32,
}

impl TypeId {
    /// The id of type `index` of the table with heap id `heap`.
    pub(crate) fn new(heap: u32, index: u32, fast_size: u32) -> TypeId {
        TypeId {
            heap,
            index,
            fast_size,
        }
    }

    /// The id of the heap this type was registered with.
    #[inline(always)]
    pub fn heap_id(self) -> u32 {
        self.heap
    }

    /// Index into the heap's type table (the value stored in headers).
    #[inline(always)]
    pub fn index(self) -> u32 {
        self.index
    }

    /// Object size in bytes (header included) for small fixed-size types; `u32::MAX`
    /// for variable-size and large types, which always take the slow allocation path.
    #[inline(always)]
    pub fn fast_size(self) -> u32 {
        self.fast_size
    }
}
