//! Suspended tasks through the safe API: registering a continuation chain's head or a
//! tasklet as a suspended-task root, capturing frames into a registered tasklet, and
//! taking a task back out to resume it.
//!
//! ```
//! use contgc_collector::{CollectionKind, Config, Heap, TaskletWord, TypeDescriptor};
//! let heap = Heap::new(Config::default()).unwrap();
//! let obj = heap.register_type(&TypeDescriptor::fixed("Obj", 8)).unwrap();
//! let mut m = heap.mutator();
//! let task = m.scope(|s| {
//!     let mut t = s.new_tasklet();
//!     for i in 0..100u64 {
//!         let o = s.alloc(obj).unwrap();
//!         s.write_u64(o, 0, i);
//!         s.tasklet_push_ref(&mut t, Some(o));
//!         s.tasklet_push_data(&mut t, i);
//!     }
//!     t
//! });
//! m.collect(CollectionKind::Minor);
//! m.scope(|s| {
//!     let words = s.resume_task(task).into_tasklet().unwrap();
//!     let TaskletWord::Ref(Some(o)) = words[198] else { panic!() };
//!     assert_eq!(s.read_u64(o, 0), 99);
//!     assert_eq!(words[199], TaskletWord::Data(99));
//! });
//! ```

use crate::error::ByrefError;
use crate::scope::{Byref, Local, Scope};
use contgc_heap::byref::ByrefState;
use contgc_heap::ObjectRef;
use contgc_roots::{Member, TaskRoot, Tasklet};

/// An object parked on one mutator (`Scope::park`): a root of that mutator, kept
/// outside any scope, until [`Scope::unpark`] takes it back. The cheapest way to hold
/// work that resumes soon on the same thread (a task that yielded): a slot of the
/// mutator's, no lock, no allocation once the slots exist. Unlike a [`TaskRoot`] it is
/// visited at every collection (it is not aged), and only its mutator can take it
/// back. Dropping it without unparking keeps its object alive until the mutator goes
/// away.
#[derive(Debug)]
pub struct Parked {
    serial: u64,
    index: u32,
}

/// A task taken out of the registry to be resumed.
#[derive(Debug)]
pub enum Resumed<'s> {
    /// The head of its continuation chain.
    Heap(Local<'s>),
    /// Its tasklet's words, in capture order (references and byref bases rooted as
    /// locals).
    Tasklet(Vec<TaskletWord<'s>>),
}

impl<'s> Resumed<'s> {
    /// The chain head, if this was a heap-frames task.
    pub fn into_heap(self) -> Option<Local<'s>> {
        match self {
            Resumed::Heap(l) => Some(l),
            Resumed::Tasklet(_) => None,
        }
    }

    /// The tasklet's words, if this was a tasklet task.
    pub fn into_tasklet(self) -> Option<Vec<TaskletWord<'s>>> {
        match self {
            Resumed::Tasklet(w) => Some(w),
            Resumed::Heap(_) => None,
        }
    }
}

/// One word of a resumed tasklet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskletWord<'s> {
    /// A data word.
    Data(u64),
    /// A reference.
    Ref(Option<Local<'s>>),
    /// A byref (its base word follows as [`TaskletWord::ByrefBase`]).
    Byref(Byref<'s>),
    /// The second word of a byref.
    ByrefBase,
}

impl<'s> Scope<'s> {
    fn check_task(&self, t: &TaskRoot) {
        self.mutator_ref()
            .check_heap_of("suspended task", t.heap_id());
    }

    /// Registers a suspended task whose continuation chain starts at `head` in this
    /// mutator's current task group.
    pub fn suspend_task(&mut self, head: Local<'s>) -> TaskRoot {
        let h = self.raw(head);
        let ti = self.type_index(head);
        if self.is_continuation_type(ti) {
            use contgc_heap::continuation_prefix::{FLAGS_OFFSET, FLAG_CAPTURED};
            // SAFETY: `h` is a live continuation (its type says so); FLAGS is a u32 of
            // its prefix, which every continuation type has.
            if unsafe { h.load_u32(FLAGS_OFFSET) } & FLAG_CAPTURED == 0 {
                panic!(
                    "contgc: suspend_task: the head continuation was never captured into \
                     (allocated, not made by a `Capture`), so it has nothing to resume"
                );
            }
        }
        // SAFETY: `h` is a live object of this heap (a local), read just now; the
        // mutator is only used, not replaced.
        unsafe { self.mutator().suspend_task_raw(h) }
    }

    /// Registers an empty tasklet as a suspended task; capture frames into it with the
    /// `tasklet_push_*` methods (it is a root while they run).
    pub fn new_tasklet(&mut self) -> TaskRoot {
        // SAFETY: an empty tasklet holds no reference; the mutator is only used.
        unsafe { self.mutator().suspend_tasklet_raw(Box::new(Tasklet::new())) }
    }

    fn with_tasklet<R>(&mut self, t: &mut TaskRoot, f: impl FnOnce(&mut Tasklet) -> R) -> R {
        self.check_task(t);
        // SAFETY: `f` only adds references read from locals just before (callers
        // below), and nothing in it allocates.
        unsafe { t.with_tasklet(f) }.expect("contgc: the task is not a tasklet")
    }

    /// Captures a reference into a registered tasklet; returns its word index.
    pub fn tasklet_push_ref(&mut self, t: &mut TaskRoot, value: Option<Local<'s>>) -> usize {
        let v = value.map_or(0, |v| self.raw(v).addr());
        // SAFETY: `v` is null or a live object of this heap, read just now.
        self.with_tasklet(t, |tk| unsafe { tk.push_ref(v) })
    }

    /// Captures a data word into a registered tasklet; returns its word index.
    pub fn tasklet_push_data(&mut self, t: &mut TaskRoot, value: u64) -> usize {
        self.with_tasklet(t, |tk| tk.push_data(value))
    }

    /// Captures a byref to payload byte `offset` of `target` into a registered tasklet
    /// (refused past the end of the target's payload); returns its word index.
    pub fn tasklet_push_byref(
        &mut self,
        t: &mut TaskRoot,
        target: Local<'s>,
        offset: usize,
    ) -> Result<usize, ByrefError> {
        let payload = self.payload_size(target);
        if offset >= payload {
            return Err(ByrefError::OutOfBounds { offset, payload });
        }
        let addr = self.raw(target).payload() as usize + offset;
        // SAFETY: `addr` lies inside the payload of a live object of this heap.
        Ok(self.with_tasklet(t, |tk| unsafe { tk.push_byref(addr) }))
    }

    /// The head of a registered heap-frames task's continuation chain, as a local,
    /// without taking the task out (for diagnostics: an async stack of a task that
    /// stays suspended); `None` for a tasklet task. Panics if the task belongs to
    /// another heap.
    pub fn task_head(&mut self, t: &TaskRoot) -> Option<Local<'s>> {
        self.check_task(t);
        let h = ObjectRef::from_addr(t.heap_head()?)?;
        // SAFETY: a registered member holds a live object of this heap (the collector
        // keeps it and updates the member when it moves), read just now by a running
        // mutator, so no collection ran in between.
        Some(unsafe { self.from_raw(h) })
    }

    /// Parks `obj` on this scope's mutator, outside any scope (see [`Parked`]).
    pub fn park(&mut self, obj: Local<'s>) -> Parked {
        let o = self.raw(obj);
        // SAFETY: the mutator is only used.
        let (serial, index) = unsafe { self.mutator() }.park_slot(o);
        Parked { serial, index }
    }

    /// Takes a parked object back as a local. Panics if it was parked on another
    /// mutator.
    pub fn unpark(&mut self, p: Parked) -> Local<'s> {
        self.try_unpark(p)
            .expect("contgc: an object parked on another mutator was unparked here")
    }

    /// [`unpark`](Self::unpark), or `None` (the object stays parked where it was,
    /// and is lost to this caller) if it was parked on another mutator.
    pub fn try_unpark(&mut self, p: Parked) -> Option<Local<'s>> {
        // SAFETY: the mutator is only used.
        let o = unsafe { self.mutator() }.unpark_slot(p.serial, p.index)?;
        // SAFETY: a parked slot is a root of this mutator: the collector keeps its
        // object alive and updates the slot when it moves; read just now.
        Some(unsafe { self.from_raw(o) })
    }

    /// Takes a suspended task out of the registry to resume it. Panics if the task
    /// belongs to another heap.
    pub fn resume_task(&mut self, t: TaskRoot) -> Resumed<'s> {
        self.check_task(&t);
        // SAFETY: the mutator is only used.
        match unsafe { self.mutator() }.take_task(t) {
            // SAFETY: members hold live objects of this heap (the collector keeps
            // them), and nothing ran since the take.
            Member::Heap(h) => Resumed::Heap(unsafe {
                self.from_raw(ObjectRef::from_addr(h).expect("non-null head"))
            }),
            Member::Tasklet(tk) => {
                let mut words = Vec::with_capacity(tk.len());
                let mut i = 0;
                while i < tk.len() {
                    let w = tk.word(i);
                    if tk.is_ref(i) {
                        // SAFETY: as above.
                        let l = ObjectRef::from_addr(w).map(|o| unsafe { self.from_raw(o) });
                        words.push(TaskletWord::Ref(l));
                    } else if tk.is_byref(i) {
                        // SAFETY: as above (a tasklet byref slot just taken out).
                        let b =
                            unsafe { self.byref_from_state(ByrefState::decode(w, tk.word(i + 1))) };
                        words.push(TaskletWord::Byref(b));
                        words.push(TaskletWord::ByrefBase);
                        i += 1;
                    } else {
                        words.push(TaskletWord::Data(w as u64));
                    }
                    i += 1;
                }
                Resumed::Tasklet(words)
            }
        }
    }
}
