//! Roots through the raw layer: suspended tasks (heap chains and tasklets), parked
//! objects, and the scoped roots of the shadow stack.

use super::*;

impl Mutator {
    /// Adds a member to this mutator's task group, moving to a fresh group when it is
    /// full.
    fn register_task<T>(
        &mut self,
        mut item: T,
        mut add: impl FnMut(&Arc<TaskRegistry>, u32, T) -> Result<TaskRoot, GroupFull<T>>,
    ) -> TaskRoot {
        let tasks = Arc::clone(&self.heap.tasks);
        loop {
            let g = match self.local().task_group {
                Some(g) => g,
                None => {
                    let g = tasks.acquire_group();
                    self.local().task_group = Some(g);
                    g
                }
            };
            match add(&tasks, g, item) {
                Ok(root) => return root,
                Err(GroupFull(back)) => {
                    if !tasks.reuse_if_empty(g) {
                        tasks.release_group(g);
                        self.local().task_group = None;
                    }
                    item = back;
                }
            }
        }
    }

    /// Registers a suspended task whose continuation chain starts at `head`: the task
    /// stays alive, and `head` follows its object, until the root is taken
    /// (`Scope::resume_task`) or dropped.
    ///
    /// # Safety
    /// `head` must be a live object of this heap, obtained since the last allocation,
    /// safepoint or collection.
    pub unsafe fn suspend_task_raw(&mut self, head: ObjectRef) -> TaskRoot {
        let mut cache = std::mem::take(&mut self.local().locators);
        let root = self.register_task(head.addr(), |t, g, h| {
            // SAFETY: forwarded from the caller; `g` is this mutator's own group.
            unsafe { t.add_heap_cached(g, h, &mut cache) }
        });
        self.local().locators = cache;
        root
    }

    /// Parks `obj` in a slot of this mutator's own (see `Scope::park`).
    pub(crate) fn park_slot(&mut self, obj: ObjectRef) -> (u64, u32) {
        let l = self.local();
        (l.serial, l.parked.put(obj.addr()))
    }

    /// Takes parked slot `index` back; `None` if `serial` is not this mutator's.
    pub(crate) fn unpark_slot(&mut self, serial: u64, index: u32) -> Option<ObjectRef> {
        let l = self.local();
        if l.serial != serial {
            return None;
        }
        ObjectRef::from_addr(l.parked.take(index))
    }

    /// Takes a registered task out (see `Scope::resume_task`), reusing its locator.
    pub(crate) fn take_task(&mut self, t: TaskRoot) -> contgc_roots::Member {
        // SAFETY: this mutator is running (it is borrowed mutably, so it is neither
        // blocking nor parked) and nothing here reaches a safepoint.
        unsafe { t.take_running(&mut self.local().locators) }
    }

    /// Registers a suspended task whose frames were captured into `tasklet`.
    ///
    /// # Safety
    /// Every reference in the tasklet must be a live object of this heap, read since
    /// the last allocation, safepoint or collection.
    pub unsafe fn suspend_tasklet_raw(&mut self, tasklet: Box<Tasklet>) -> TaskRoot {
        self.register_task(tasklet, |t, g, b| {
            // SAFETY: forwarded from the caller; `g` is this mutator's own group.
            unsafe { t.add_tasklet(g, b) }
        })
    }

    /// Pushes a scoped root and returns its index. The collector keeps the object alive
    /// and updates the slot when it moves. Raw-layer roots are released with
    /// [`truncate_roots`](Self::truncate_roots); do not mix them with an open
    /// [`scope`](Self::scope)'s locals.
    ///
    /// # Safety
    /// `obj` must be null or a live object of this heap, obtained since the last
    /// allocation, safepoint or collection.
    #[inline(always)]
    pub unsafe fn push_root(&mut self, obj: Option<ObjectRef>) -> u32 {
        self.local().shadow.push(obj.map_or(0, |o| o.addr()))
    }

    /// The current address of the object in scoped root `index`.
    #[inline(always)]
    pub fn root(&self, index: u32) -> Option<ObjectRef> {
        ObjectRef::from_addr(self.local_ref().shadow.get(index))
    }

    /// Overwrites scoped root `index`.
    ///
    /// # Safety
    /// As for [`push_root`](Self::push_root).
    #[inline(always)]
    pub unsafe fn set_root(&mut self, index: u32, obj: Option<ObjectRef>) {
        self.local().shadow.set(index, obj.map_or(0, |o| o.addr()));
    }

    /// Number of scoped roots.
    #[inline(always)]
    pub fn roots_len(&self) -> usize {
        self.local_ref().shadow.len()
    }

    /// Releases every scoped root at or above `len`.
    ///
    /// # Safety
    /// No local of an open [`scope`](Self::scope) may be at or above `len` (a scope's
    /// locals, and those code it calls relies on, such as a dispatcher's cursor, would
    /// then name other objects): only roots pushed with [`push_root`](Self::push_root)
    /// since may be released.
    #[inline(always)]
    pub unsafe fn truncate_roots(&mut self, len: usize) {
        self.local().shadow.truncate(len);
    }
}
