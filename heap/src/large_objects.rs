//! The large-object space: objects bigger than the largest size class, each in its own
//! allocation from the system allocator, never copied.
//!
//! An ordered map from start address to size is the object-start map of this space: an
//! interior address finds its object with one ordered lookup (O(log n) in the number of
//! large objects, which is small by construction).

use crate::header::{Header, MARK};
use crate::object::ObjectRef;
use crate::MIN_OBJECT_BYTES;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::BTreeMap;

const LARGE_ALIGN: usize = 16;

/// Large objects, each allocated apart.
#[derive(Debug, Default)]
pub struct LargeObjectSpace {
    objects: BTreeMap<usize, usize>,
    bytes: usize,
}

impl LargeObjectSpace {
    /// An empty space.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allocates `size` zeroed bytes; `None` if the system allocator refuses, or if
    /// `size` is below [`MIN_OBJECT_BYTES`] (every object has at least a header word,
    /// which the walks of this space read).
    pub fn alloc(&mut self, size: usize) -> Option<ObjectRef> {
        if size < MIN_OBJECT_BYTES {
            return None;
        }
        let layout = Layout::from_size_align(size, LARGE_ALIGN).ok()?;
        // SAFETY: the layout's size is at least MIN_OBJECT_BYTES, so non-zero.
        let p = unsafe { alloc_zeroed(layout) };
        let obj = ObjectRef::from_addr(p as usize)?;
        self.objects.insert(obj.addr(), size);
        self.bytes += size;
        Some(obj)
    }

    /// Total bytes of large objects.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Number of large objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True if there are no large objects.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The object whose allocation contains `addr`, if any. The caller checks the
    /// address against the object's size.
    pub fn object_start(&self, addr: usize) -> Option<ObjectRef> {
        let (&start, &size) = self.objects.range(..=addr).next_back()?;
        (addr < start + size).then(|| ObjectRef::from_addr(start).expect("non-null"))
    }

    /// True if `addr` is the start of a large object.
    pub fn is_object(&self, addr: usize) -> bool {
        self.objects.contains_key(&addr)
    }

    /// Calls `f` with every large object.
    pub fn for_each_object(&self, mut f: impl FnMut(ObjectRef, Header)) {
        for &start in self.objects.keys() {
            let obj = ObjectRef::from_addr(start).expect("non-null");
            // SAFETY: a live allocation of ours; the world is stopped.
            f(obj, unsafe { obj.header() });
        }
    }

    /// Frees unmarked objects and clears the marks of the rest; returns
    /// `(live objects, freed objects)`.
    pub fn sweep(&mut self) -> (usize, usize) {
        let mut freed = 0;
        let mut bytes = self.bytes;
        self.objects.retain(|&start, &mut size| {
            let obj = ObjectRef::from_addr(start).expect("non-null");
            // SAFETY: a live allocation of ours; the world is stopped.
            let h = unsafe { obj.header() };
            if h.is_marked() {
                // SAFETY: as above.
                unsafe { obj.set_header(h.without(MARK)) };
                true
            } else {
                // SAFETY: allocated by `alloc` with this layout; unreachable now.
                unsafe {
                    dealloc(
                        start as *mut u8,
                        Layout::from_size_align_unchecked(size, LARGE_ALIGN),
                    )
                };
                bytes -= size;
                freed += 1;
                false
            }
        });
        self.bytes = bytes;
        (self.objects.len(), freed)
    }
}

impl Drop for LargeObjectSpace {
    fn drop(&mut self) {
        for (&start, &size) in &self.objects {
            // SAFETY: allocated by `alloc` with this layout; the heap is going away.
            unsafe {
                dealloc(
                    start as *mut u8,
                    Layout::from_size_align_unchecked(size, LARGE_ALIGN),
                )
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_and_sweep() {
        let mut s = LargeObjectSpace::new();
        let a = s.alloc(10_000).unwrap();
        let b = s.alloc(20_000).unwrap();
        // SAFETY: fresh objects we own.
        unsafe {
            a.set_header(Header::new(2, 0).with(MARK));
            b.set_header(Header::new(2, 0));
        }
        assert_eq!(s.object_start(a.addr() + 9_999), Some(a));
        assert_eq!(s.object_start(b.addr() + 5), Some(b));
        assert_eq!(s.object_start(a.addr() - 1), None);
        assert_eq!(s.sweep(), (1, 1));
        assert_eq!(s.bytes(), 10_000);
        assert_eq!(s.object_start(b.addr() + 5), None);
        // SAFETY: survivor.
        assert!(!unsafe { a.header() }.is_marked());
    }

    /// Every object has a header word, which `for_each_object` and `sweep` read: a
    /// space asked for less than the smallest object (or for zero bytes, which the
    /// system allocator must never be asked for) refuses.
    #[test]
    fn refuses_sizes_below_the_smallest_object() {
        let mut s = LargeObjectSpace::new();
        for size in 0..crate::MIN_OBJECT_BYTES {
            assert_eq!(s.alloc(size), None, "size {size}");
        }
        assert!(s.is_empty() && s.bytes() == 0);
        let o = s.alloc(crate::MIN_OBJECT_BYTES).unwrap();
        let mut seen = vec![];
        s.for_each_object(|obj, h| seen.push((obj, h)));
        assert_eq!(seen, vec![(o, Header(0))]);
        assert_eq!(s.sweep(), (0, 1));
        assert!(
            s.alloc(usize::MAX).is_none(),
            "an impossible layout is refused"
        );
    }

    #[test]
    fn is_send_and_sync_without_an_unsafe_impl() {
        fn auto<T: Send + Sync>() {}
        auto::<LargeObjectSpace>();
    }
}
