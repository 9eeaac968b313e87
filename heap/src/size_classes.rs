//! Size classes of the old space: every small object is stored in a cell of the
//! smallest class that fits it. Classes are spaced so that at most 25% of a cell is
//! padding (8-byte steps up to 64 bytes, then four steps per power of two).

/// Cell sizes, in bytes, ascending.
pub const CLASS_SIZES: [usize; 31] = [
    16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768,
    896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096,
];

/// Number of size classes: 31.
pub const NUM_CLASSES: usize = CLASS_SIZES.len();

/// Objects larger than this, 4,096 bytes (header included), go to the large-object
/// space.
pub const MAX_SMALL_OBJECT: usize = CLASS_SIZES[NUM_CLASSES - 1];

/// Lookup table from `size / 8` to class index, built at compile time.
const LOOKUP: [u8; MAX_SMALL_OBJECT / 8 + 1] = {
    let mut table = [0u8; MAX_SMALL_OBJECT / 8 + 1];
    let mut words = 0;
    let mut class = 0;
    while words <= MAX_SMALL_OBJECT / 8 {
        while CLASS_SIZES[class] < words * 8 {
            class += 1;
        }
        table[words] = class as u8;
        words += 1;
    }
    table
};

/// The smallest class whose cells hold `size` bytes, for any size up to
/// [`MAX_SMALL_OBJECT`] (object sizes are multiples of 8; other sizes round up).
///
/// Panics if `size` exceeds [`MAX_SMALL_OBJECT`].
#[inline(always)]
pub fn class_of(size: usize) -> usize {
    match LOOKUP.get(size.div_ceil(8)) {
        Some(&c) => c as usize,
        None => not_small(size),
    }
}

/// The bytes an old object of `size` bytes (header included) occupies: its cell, the
/// smallest size class that holds it, which is what [`OldSpace`](crate::internal::OldSpace)
/// and the heap's statistics count for it; `None` above [`MAX_SMALL_OBJECT`] (a large
/// object occupies its own size).
///
/// ```
/// assert_eq!(contgc_heap::cell_size(40), Some(40));
/// assert_eq!(contgc_heap::cell_size(72), Some(80));
/// assert_eq!(contgc_heap::cell_size(5000), None);
/// ```
pub fn cell_size(size: usize) -> Option<usize> {
    (size <= MAX_SMALL_OBJECT).then(|| CLASS_SIZES[class_of(size)])
}

#[cold]
#[inline(never)]
fn not_small(size: usize) -> ! {
    panic!("contgc: {size} bytes is not a small object (at most {MAX_SMALL_OBJECT} bytes)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_gets_the_smallest_fitting_class() {
        for size in (16..=MAX_SMALL_OBJECT).step_by(8) {
            let c = class_of(size);
            assert!(CLASS_SIZES[c] >= size);
            assert!(c == 0 || CLASS_SIZES[c - 1] < size);
            // Padding and block-tail waste stay under a third (the collector's
            // promotion reserve relies on it).
            let block = crate::internal::BLOCK_SIZE;
            let per_block = block / CLASS_SIZES[c];
            let objects_bytes = per_block * size;
            assert!(block * 3 <= objects_bytes * 4, "size {size}");
        }
        assert!(CLASS_SIZES.windows(2).all(|w| w[0] < w[1]));
        // Sizes that are not multiples of 8 round up, never down.
        for size in 0..=MAX_SMALL_OBJECT {
            assert!(CLASS_SIZES[class_of(size)] >= size, "size {size}");
        }
        assert!(std::panic::catch_unwind(|| class_of(MAX_SMALL_OBJECT + 1)).is_err());
        assert!(std::panic::catch_unwind(|| class_of(usize::MAX)).is_err());
    }
}
