//! `ObjectRef`: the address of an object's header.

use crate::header::Header;
use core::ptr::NonNull;
use core::sync::atomic::AtomicU64;

/// Size of the header word that starts every object.
pub const HEADER_SIZE: usize = 8;

/// The address of a managed object's header word.
///
/// An `ObjectRef` is only an address: it does not keep the object alive and it goes
/// stale when the collector moves the object. Safe code holds objects through scoped
/// locals or persistent handles, which the collector updates; raw `ObjectRef`s are for
/// the collector itself and for code generators using the unsafe raw layer.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct ObjectRef(NonNull<u8>);

// SAFETY: an ObjectRef is a plain address; every access through it is `unsafe` and its
// soundness is argued at that access, so moving the address between threads is harmless.
unsafe impl Send for ObjectRef {}
// SAFETY: as above; a shared `&ObjectRef` only exposes the address.
unsafe impl Sync for ObjectRef {}

impl ObjectRef {
    /// Wraps a non-zero address; 0 yields `None`.
    ///
    /// This is safe because constructing an `ObjectRef` dereferences nothing; the
    /// methods that read through it are `unsafe`.
    #[inline(always)]
    pub fn from_addr(addr: usize) -> Option<ObjectRef> {
        NonNull::new(addr as *mut u8).map(ObjectRef)
    }

    /// The address of the header word.
    #[inline(always)]
    pub fn addr(self) -> usize {
        self.0.as_ptr() as usize
    }

    /// Pointer to the header word.
    #[inline(always)]
    pub fn header_ptr(self) -> *mut u64 {
        self.0.as_ptr().cast()
    }

    /// Pointer to the first payload byte.
    #[inline(always)]
    pub fn payload(self) -> *mut u8 {
        self.0.as_ptr().wrapping_add(HEADER_SIZE)
    }

    /// Reads the header word.
    ///
    /// # Safety
    /// `self` must be the start of an object (or free cell) in memory the heap owns, and
    /// no other thread may write the header concurrently except through
    /// [`header_atomic`](Self::header_atomic).
    #[inline(always)]
    pub unsafe fn header(self) -> Header {
        // SAFETY: the caller guarantees the address is a readable, aligned header word.
        Header(unsafe { self.header_ptr().read() })
    }

    /// Overwrites the header word.
    ///
    /// # Safety
    /// As for [`header`](Self::header), and the caller must have exclusive access to the
    /// object (the world is stopped, or the object is not yet published).
    #[inline(always)]
    pub unsafe fn set_header(self, h: Header) {
        // SAFETY: the caller guarantees exclusive access to an aligned header word.
        unsafe { self.header_ptr().write(h.0) }
    }

    /// The header word as an atomic, for the write barrier, which mutator threads may
    /// run on the same object at the same time.
    ///
    /// # Safety
    /// `self` must be the start of a live object for the lifetime `'a`.
    #[inline(always)]
    pub unsafe fn header_atomic<'a>(self) -> &'a AtomicU64 {
        // SAFETY: the header is an aligned u64 inside memory the heap owns and keeps
        // mapped for as long as the object lives; AtomicU64 has the layout of u64.
        unsafe { &*(self.header_ptr() as *const AtomicU64) }
    }

    /// Reads the reference stored at payload byte `offset` (0 for null).
    ///
    /// # Safety
    /// The object must be live and `offset` must be one of its reference slots.
    #[inline(always)]
    pub unsafe fn load_slot(self, offset: usize) -> usize {
        // SAFETY: the caller guarantees an aligned slot inside the object.
        unsafe { (self.payload().add(offset) as *const usize).read() }
    }

    /// Writes the reference slot at payload byte `offset` without any barrier.
    ///
    /// # Safety
    /// The object must be live, `offset` one of its reference slots, and the caller is
    /// responsible for the write barrier.
    #[inline(always)]
    pub unsafe fn store_slot(self, offset: usize, value: usize) {
        // SAFETY: the caller guarantees an aligned slot inside the object.
        unsafe { (self.payload().add(offset) as *mut usize).write(value) }
    }
}

impl core::fmt::Debug for ObjectRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ObjectRef({:#x})", self.addr())
    }
}
