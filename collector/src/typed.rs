//! Typed allocation: objects whose whole payload is one Rust value of a [`Plain`] type
//! (a boxed number, a fixed-size record of data), registered and allocated by Rust type
//! instead of by hand-written descriptor.
//!
//! ```
//! use contgc_collector::{Config, Heap};
//! let heap = Heap::new(Config::default()).unwrap();
//! let point = heap.register_plain::<[f64; 2]>("Point").unwrap();
//! let mut m = heap.mutator();
//! m.scope(|s| {
//!     let p = s.alloc_value(point, [1.5, -2.0]).unwrap();
//!     s.set_value(point, p, [3.0, 4.0]);
//!     assert_eq!(s.value(point, p), [3.0, 4.0]);
//! });
//! ```

use crate::error::AllocError;
use crate::heap::Heap;
use crate::scope::{Local, Scope};
use contgc_heap::{DescriptorError, TypeDescriptor, TypeId};
use std::marker::PhantomData;

/// Plain data: `Copy`, holds no references or pointers the collector should know
/// about, and every bit pattern of its size is a valid value (so bytes written through
/// the data accessors can always be read back as one).
///
/// # Safety
/// Implementors must be valid for every bit pattern and contain no padding bytes.
pub unsafe trait Plain: Copy + 'static {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: primitive integers and floats are valid for every bit pattern and
        // have no padding.
        unsafe impl Plain for $t {}
    )* };
}
plain!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64);
// SAFETY: an array of plain values has no padding and is valid for every bit pattern.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

/// A registered type whose payload is one `T`.
pub struct Typed<T: Plain> {
    id: TypeId,
    _value: PhantomData<fn() -> T>,
}

impl<T: Plain> Clone for Typed<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Plain> Copy for Typed<T> {}

impl<T: Plain> std::fmt::Debug for Typed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Typed<{}>({:?})", std::any::type_name::<T>(), self.id)
    }
}

impl<T: Plain> Typed<T> {
    /// The untyped id (to allocate through the descriptor API or the raw layer).
    pub fn id(self) -> TypeId {
        self.id
    }
}

impl Heap {
    /// Registers a type whose payload is one `T`. Zero-sized `T` is refused (as any
    /// zero-size descriptor is).
    pub fn register_plain<T: Plain>(&self, name: &str) -> Result<Typed<T>, DescriptorError> {
        let size =
            u32::try_from(std::mem::size_of::<T>()).map_err(|_| DescriptorError::TooLarge {
                size: std::mem::size_of::<T>() as u64,
                max: u32::MAX as u64,
            })?;
        let id = self.register_type(&TypeDescriptor::fixed(name, size))?;
        Ok(Typed {
            id,
            _value: PhantomData,
        })
    }
}

impl<'s> Scope<'s> {
    /// Allocates an object holding `value`.
    pub fn alloc_value<T: Plain>(
        &mut self,
        ty: Typed<T>,
        value: T,
    ) -> Result<Local<'s>, AllocError> {
        let l = self.alloc(ty.id)?;
        self.set_value(ty, l, value);
        Ok(l)
    }

    fn check_typed<T: Plain>(&mut self, ty: Typed<T>, obj: Local<'s>) {
        self.mutator_ref().check_type(ty.id);
        let found = self.type_index(obj);
        if found != ty.id.index() {
            panic!(
                "contgc: object of type index {found} read as {} (type index {})",
                std::any::type_name::<T>(),
                ty.id.index()
            );
        }
    }

    /// The value an object of type `ty` holds. Panics if `obj` is not of type `ty`.
    pub fn value<T: Plain>(&mut self, ty: Typed<T>, obj: Local<'s>) -> T {
        self.check_typed(ty, obj);
        let mut v = std::mem::MaybeUninit::<T>::uninit();
        // SAFETY: the object is live, of type `ty` of this heap (checked), so its
        // payload is size_of::<T>() data bytes; the destination is T's own bytes.
        unsafe {
            let bytes =
                std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, std::mem::size_of::<T>());
            self.raw(obj).copy_out(0, bytes);
            // T is Plain: any bytes form a valid T.
            v.assume_init()
        }
    }

    /// Overwrites the value an object of type `ty` holds. Panics if `obj` is not of
    /// type `ty`.
    pub fn set_value<T: Plain>(&mut self, ty: Typed<T>, obj: Local<'s>, value: T) {
        self.check_typed(ty, obj);
        // SAFETY: T is Plain (no padding), so its bytes are initialised.
        let bytes = unsafe {
            std::slice::from_raw_parts(&value as *const T as *const u8, std::mem::size_of::<T>())
        };
        // SAFETY: as in `value`; the payload has no reference slots to overwrite.
        unsafe { self.raw(obj).copy_in(0, bytes) }
    }
}

#[cfg(test)]
mod tests {
    use crate::{CollectionKind, Config, Heap};

    #[test]
    fn typed_values_survive_collections() {
        let heap = Heap::new(Config::default()).unwrap();
        let num = heap.register_plain::<u64>("Int").unwrap();
        let rec = heap.register_plain::<[u32; 3]>("Rec").unwrap();
        assert!(heap.register_plain::<[u8; 0]>("Empty").is_err());
        let mut m = heap.mutator();
        m.scope(|s| {
            let a = s.alloc_value(num, 7).unwrap();
            let b = s.alloc_value(rec, [1, 2, 3]).unwrap();
            s.collect(CollectionKind::Major);
            assert_eq!(s.value(num, a), 7);
            assert_eq!(s.value(rec, b), [1, 2, 3]);
            assert_eq!(s.read_u32(b, 8), 3);
        });
    }

    #[test]
    #[should_panic(expected = "read as")]
    fn reading_as_the_wrong_type_panics() {
        let heap = Heap::new(Config::default()).unwrap();
        let num = heap.register_plain::<u64>("Int").unwrap();
        let other = heap.register_plain::<u64>("Other").unwrap();
        let mut m = heap.mutator();
        m.scope(|s| {
            let a = s.alloc_value(num, 7).unwrap();
            s.value(other, a);
        });
    }
}
