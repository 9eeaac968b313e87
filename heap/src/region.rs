//! Reserved virtual memory. The only module of this crate that talks to the OS.
//!
//! A [`Region`] reserves address space without committing it (`MAP_NORESERVE`); pages
//! are committed by the kernel on first touch and can be handed back with
//! [`Region::decommit`]. Fresh and decommitted pages read as zero, which the spaces
//! rely on (a zero header word is a free cell).

use std::io;
use std::ptr::NonNull;

/// A contiguous range of reserved, readable and writable, zero-initialised memory.
#[derive(Debug)]
pub(crate) struct Region {
    map: NonNull<u8>,
    map_len: usize,
    start: usize,
    len: usize,
}

// SAFETY: a Region is an owned mapping; it has no thread affinity, and all access to
// the memory inside is through raw pointers whose use is synchronised by the spaces.
unsafe impl Send for Region {}
// SAFETY: shared references only expose the bounds of the mapping.
unsafe impl Sync for Region {}

impl Region {
    /// Reserves `len` bytes whose start is aligned to `align` (a power of two).
    pub(crate) fn reserve(len: usize, align: usize) -> io::Result<Region> {
        assert!(align.is_power_of_two() && len > 0);
        let map_len = len
            .checked_add(align)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "region too large"))?;
        // SAFETY: an anonymous private mapping at an address of the kernel's choice
        // touches no existing memory; the result is checked for MAP_FAILED below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let map = NonNull::new(p.cast::<u8>()).expect("mmap returned null");
        let start = (map.as_ptr() as usize + align - 1) & !(align - 1);
        Ok(Region {
            map,
            map_len,
            start,
            len,
        })
    }

    /// First address.
    #[inline(always)]
    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// One past the last address.
    #[inline(always)]
    pub(crate) fn end(&self) -> usize {
        self.start + self.len
    }

    /// Returns `len` bytes at `addr` to the OS; they read as zero afterwards.
    pub(crate) fn decommit(&mut self, addr: usize, len: usize) {
        assert!(addr >= self.start && addr + len <= self.end());
        let page = 4096;
        let from = (addr + page - 1) & !(page - 1);
        let to = (addr + len) & !(page - 1);
        if to > from {
            // SAFETY: [from, to) lies inside our own mapping and holds no live object
            // (the caller is releasing it); MADV_DONTNEED on a private anonymous
            // mapping makes the pages read as zero again.
            unsafe {
                libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED);
            }
        }
        // The partial pages at either end are zeroed by hand.
        let zero = |a: usize, b: usize| {
            if b > a {
                // SAFETY: [a, b) lies inside our mapping and is being released.
                unsafe { std::ptr::write_bytes(a as *mut u8, 0, b - a) }
            }
        };
        if to > from {
            zero(addr, from);
            zero(to, addr + len);
        } else {
            zero(addr, addr + len);
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping we created; nothing refers to it once
        // its owner (a space, owned by the heap) is dropped.
        unsafe {
            libc::munmap(self.map.as_ptr().cast(), self.map_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_memory_is_aligned_zeroed_and_decommits_to_zero() {
        let mut r = Region::reserve(1 << 20, 1 << 15).unwrap();
        assert_eq!(r.start() % (1 << 15), 0);
        let p = r.start() as *mut u8;
        // SAFETY: inside the fresh mapping.
        unsafe {
            assert_eq!(*p.add(5000), 0);
            p.add(5000).write(7);
            assert_eq!(*p.add(5000), 7);
        }
        r.decommit(r.start(), 1 << 16);
        // SAFETY: still mapped; decommitted pages read as zero.
        unsafe { assert_eq!(*p.add(5000), 0) };
    }
}
