//! Tasklets: frames captured into native (off-heap) memory, the unwinder prototype's
//! design, made cheap. A tasklet is a flat buffer of words and two bitmaps saying which
//! words are references and which start byrefs (an address word followed by its base
//! word, as in `contgc_heap::byref`). The collector visits exactly those words when the
//! tasklet's group is scanned; the rest is data it never reads.

/// Off-heap captured frames.
#[derive(Debug, Default, Clone)]
pub struct Tasklet {
    words: Vec<usize>,
    refs: Vec<u64>,
    byrefs: Vec<u64>,
}

impl Tasklet {
    /// An empty tasklet.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tasklet with room for `words` words.
    pub fn with_capacity(words: usize) -> Self {
        Tasklet {
            words: Vec::with_capacity(words),
            refs: Vec::with_capacity(words.div_ceil(64)),
            byrefs: Vec::new(),
        }
    }

    fn push_word(&mut self, w: usize) -> usize {
        let i = self.words.len();
        self.words.push(w);
        if i.is_multiple_of(64) {
            self.refs.push(0);
            self.byrefs.push(0);
        }
        i
    }

    /// Appends a data word; returns its index.
    pub fn push_data(&mut self, value: u64) -> usize {
        self.push_word(value as usize)
    }

    /// Appends a reference word (0 for null); returns its index.
    ///
    /// # Safety
    /// `addr` must be 0 or a live object of the heap this tasklet will be registered
    /// with, and the tasklet must be registered before that heap next collects.
    pub unsafe fn push_ref(&mut self, addr: usize) -> usize {
        let i = self.push_word(addr);
        self.refs[i / 64] |= 1 << (i % 64);
        i
    }

    /// Appends a byref (raw address, resolved by the next collection); returns the
    /// index of its address word (the base word follows).
    ///
    /// # Safety
    /// `addr` must be 0, inside the payload of a live object of the heap this tasklet
    /// will be registered with, or outside that heap; registration as for
    /// [`push_ref`](Self::push_ref).
    pub unsafe fn push_byref(&mut self, addr: usize) -> usize {
        let i = self.push_word(addr);
        self.push_word(contgc_heap::byref::UNRESOLVED);
        self.byrefs[i / 64] |= 1 << (i % 64);
        i
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// True if no word was captured.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Word `i` (for a reference, the object's current address).
    pub fn word(&self, i: usize) -> usize {
        self.words[i]
    }

    /// True if word `i` is a reference.
    pub fn is_ref(&self, i: usize) -> bool {
        self.refs
            .get(i / 64)
            .is_some_and(|b| b >> (i % 64) & 1 != 0)
    }

    /// True if word `i` starts a byref.
    pub fn is_byref(&self, i: usize) -> bool {
        self.byrefs
            .get(i / 64)
            .is_some_and(|b| b >> (i % 64) & 1 != 0)
    }

    /// Calls `reference` with every reference word and `byref` with every byref's two
    /// words; each returns true if what it refers to is young afterwards. Returns true
    /// if anything is young.
    pub fn visit(
        &mut self,
        reference: &mut dyn FnMut(&mut usize) -> bool,
        byref: &mut dyn FnMut(&mut [usize; 2]) -> bool,
    ) -> bool {
        let mut young = false;
        for (w, &bits) in self.refs.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if self.words[i] != 0 {
                    young |= reference(&mut self.words[i]);
                }
            }
        }
        for (w, &bits) in self.byrefs.iter().enumerate() {
            let mut bits = bits;
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let pair: &mut [usize; 2] = (&mut self.words[i..i + 2])
                    .try_into()
                    .expect("a byref is two words");
                young |= byref(pair);
            }
        }
        young
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_maps_name_exactly_the_reference_and_byref_words() {
        let mut t = Tasklet::with_capacity(200);
        assert!(t.is_empty());
        let d = t.push_data(7);
        // SAFETY: no heap involved; the words are only visited by this test.
        let (r, b) = unsafe { (t.push_ref(64), t.push_byref(128)) };
        for _ in 0..100 {
            t.push_data(1);
        }
        // SAFETY: as above.
        let r2 = unsafe { t.push_ref(256) };
        assert!(!t.is_ref(d) && t.is_ref(r) && t.is_ref(r2) && t.is_byref(b));
        assert!(!t.is_ref(b + 1) && !t.is_byref(b + 1));
        let (mut refs, mut byrefs) = (vec![], vec![]);
        t.visit(
            &mut |s| {
                refs.push(*s);
                *s += 8;
                false
            },
            &mut |p| {
                byrefs.push(p[0]);
                true
            },
        );
        assert_eq!((refs, byrefs), (vec![64, 256], vec![128]));
        assert_eq!(t.len(), 105);
        assert_eq!(t.word(r), 72);
    }
}
