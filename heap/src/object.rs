//! `ObjectRef`: the address of an object's header.

use crate::header::Header;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

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

    /// Reads the header word (a relaxed atomic load, so mutator threads may read a
    /// header while another thread's write barrier updates it).
    ///
    /// # Safety
    /// `self` must be the start of an object (or free cell) in memory the heap owns.
    #[inline(always)]
    pub unsafe fn header(self) -> Header {
        // SAFETY: the caller guarantees the address is a readable, aligned header word.
        Header(unsafe { self.header_atomic() }.load(Ordering::Relaxed))
    }

    /// Reads the header word with an acquire load: a collector thread that follows a
    /// forwarding header another GC worker installed (with a release) then sees the
    /// copy that worker wrote.
    ///
    /// # Safety
    /// As for [`header`](Self::header).
    #[inline(always)]
    pub unsafe fn header_acquire(self) -> Header {
        // SAFETY: as for `header`.
        Header(unsafe { self.header_atomic() }.load(Ordering::Acquire))
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

    /// Reads the word at payload byte `offset` (for a reference slot: 0 for null).
    ///
    /// Payload accesses through `ObjectRef` are atomics, so that mutator threads sharing
    /// an object never race (they compile to plain moves on x86-64). Word loads acquire
    /// and word stores release, so an object published by storing its reference into a
    /// shared object is seen fully initialised (header and zeroed payload) by a thread
    /// that loads that reference.
    ///
    /// # Safety
    /// The object must be live and `offset` an 8-aligned word inside its payload.
    #[inline(always)]
    pub unsafe fn load_slot(self, offset: usize) -> usize {
        // SAFETY: the caller guarantees an aligned word inside a live object.
        unsafe { &*(self.payload().add(offset) as *const AtomicUsize) }.load(Ordering::Acquire)
    }

    /// Writes the word at payload byte `offset`; for a reference slot the caller is
    /// responsible for the write barrier.
    ///
    /// # Safety
    /// As for [`load_slot`](Self::load_slot), and the word must not be a slot the
    /// collector interprets unless `value` is valid for it.
    #[inline(always)]
    pub unsafe fn store_slot(self, offset: usize, value: usize) {
        // SAFETY: the caller guarantees an aligned word inside a live object.
        unsafe { &*(self.payload().add(offset) as *const AtomicUsize) }
            .store(value, Ordering::Release)
    }

    /// Reads the `u32` at payload byte `offset`.
    ///
    /// # Safety
    /// The object must be live and `offset` 4-aligned with 4 bytes inside the payload.
    #[inline(always)]
    pub unsafe fn load_u32(self, offset: usize) -> u32 {
        // SAFETY: as documented.
        unsafe { &*(self.payload().add(offset) as *const AtomicU32) }.load(Ordering::Relaxed)
    }

    /// Writes the `u32` at payload byte `offset`.
    ///
    /// # Safety
    /// As for [`load_u32`](Self::load_u32), and the bytes must be data.
    #[inline(always)]
    pub unsafe fn store_u32(self, offset: usize, value: u32) {
        // SAFETY: as documented.
        unsafe { &*(self.payload().add(offset) as *const AtomicU32) }
            .store(value, Ordering::Relaxed)
    }

    /// Reads the `u64` at payload byte `offset`.
    ///
    /// # Safety
    /// The object must be live and `offset` 8-aligned with 8 bytes inside the payload.
    #[inline(always)]
    pub unsafe fn load_u64(self, offset: usize) -> u64 {
        // SAFETY: as documented.
        unsafe { &*(self.payload().add(offset) as *const AtomicU64) }.load(Ordering::Relaxed)
    }

    /// Writes the `u64` at payload byte `offset`.
    ///
    /// # Safety
    /// As for [`load_u64`](Self::load_u64), and the bytes must be data.
    #[inline(always)]
    pub unsafe fn store_u64(self, offset: usize, value: u64) {
        // SAFETY: as documented.
        unsafe { &*(self.payload().add(offset) as *const AtomicU64) }
            .store(value, Ordering::Relaxed)
    }

    /// Copies payload bytes `offset..offset + dst.len()` into `dst`, byte by byte
    /// with relaxed atomics.
    ///
    /// # Safety
    /// The object must be live and the bytes inside its payload.
    pub unsafe fn copy_out(self, offset: usize, dst: &mut [u8]) {
        let p = self.payload().wrapping_add(offset);
        for (i, d) in dst.iter_mut().enumerate() {
            // SAFETY: as documented.
            *d = unsafe { &*(p.add(i) as *const AtomicU8) }.load(Ordering::Relaxed);
        }
    }

    /// Copies `src` into payload bytes `offset..offset + src.len()`, byte by byte with
    /// relaxed atomics.
    ///
    /// # Safety
    /// The object must be live and the bytes inside its payload and plain data.
    pub unsafe fn copy_in(self, offset: usize, src: &[u8]) {
        let p = self.payload().wrapping_add(offset);
        for (i, &b) in src.iter().enumerate() {
            // SAFETY: as documented.
            unsafe { &*(p.add(i) as *const AtomicU8) }.store(b, Ordering::Relaxed);
        }
    }
}

impl core::fmt::Debug for ObjectRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ObjectRef({:#x})", self.addr())
    }
}
