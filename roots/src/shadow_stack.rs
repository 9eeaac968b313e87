//! Scoped roots: the slots behind a mutator's locals.
//!
//! A scope records the stack's length when it opens and truncates back to it when it
//! closes, so locals cost one push and are released all at once. The collector visits
//! and updates every slot.

/// A stack of root slots (0 = null).
#[derive(Debug, Default)]
pub struct ShadowStack {
    slots: Vec<usize>,
}

impl ShadowStack {
    /// An empty stack.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pushes a slot and returns its index.
    #[inline(always)]
    pub fn push(&mut self, value: usize) -> u32 {
        let i = self.slots.len();
        self.slots.push(value);
        i as u32
    }

    /// Every slot, bottom first.
    #[inline(always)]
    pub fn slots(&self) -> &[usize] {
        &self.slots
    }

    /// The slot at `index`; panics with a clear message if the index is not live (a
    /// local used after its scope ended).
    #[inline(always)]
    pub fn get(&self, index: u32) -> usize {
        match self.slots.get(index as usize) {
            Some(&v) => v,
            None => stale(index, self.slots.len()),
        }
    }

    /// Overwrites the slot at `index`.
    #[inline(always)]
    pub fn set(&mut self, index: u32, value: usize) {
        let len = self.slots.len();
        match self.slots.get_mut(index as usize) {
            Some(s) => *s = value,
            None => stale(index, len),
        }
    }

    /// Number of slots.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True if there are no slots.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Drops every slot at or above `len`.
    #[inline(always)]
    pub fn truncate(&mut self, len: usize) {
        self.slots.truncate(len);
    }

    /// Calls `f` with every non-null slot; `f` may rewrite it.
    pub fn for_each_slot(&mut self, mut f: impl FnMut(&mut usize)) {
        for s in self.slots.iter_mut() {
            if *s != 0 {
                f(s);
            }
        }
    }
}

#[cold]
#[inline(never)]
fn stale(index: u32, len: usize) -> ! {
    panic!("contgc: local #{index} used after its scope ended (only {len} locals are live)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_truncate_visit() {
        let mut s = ShadowStack::new();
        assert!(s.is_empty());
        let a = s.push(8);
        let _ = s.push(0);
        let c = s.push(24);
        let mut n = 0;
        s.for_each_slot(|v| {
            n += 1;
            *v *= 2
        });
        assert_eq!((n, s.get(a), s.get(c)), (2, 16, 48));
        s.truncate(1);
        assert_eq!(s.len(), 1);
        let r = std::panic::catch_unwind(move || s.get(c));
        assert!(r.is_err());
    }
}
