//! Suspended-task roots, kept in groups that age.
//!
//! Whatever holds a suspended task outside the heap (an awaiter, a timer, an I/O
//! driver) holds a [`TaskRoot`]: one member of a group. A member is either the head of
//! the task's continuation chain (a heap object) or a [`Tasklet`] (frames captured off
//! the heap). A minor collection must visit every member that may refer to a young
//! object; visiting every suspended task at every collection is what made the
//! reference document's unwinder prototype pause for 48 ms.
//!
//! Groups make that cheap. Each group of up to [`GROUP_SIZE`] members has an age, kept
//! apart from the members in a dense side array, eight ages to a machine word:
//! [`AGE_YOUNG`] if a member may refer to a young object, [`AGE_OLD`] if every member
//! refers only to old objects. A minor collection reads the ages a word at a time,
//! skips words whose eight groups are old, and visits only young groups; after
//! visiting one it sets its age from what its members refer to now (old once the
//! collection promoted their referents). Adding a member makes its group young. So a
//! minor collection costs O(young groups + groups / 8) word reads, not O(tasks).
//!
//! Suspension is contention-free: each mutator fills a group it owns (acquired from
//! the registry, recycled once empty). Resumption, or dropping a root, from any thread
//! (mutator or not), takes a member out by leaving a tombstone, under a short lock that
//! collections also hold while they visit the groups; collections compact tombstones
//! out of the groups they visit and recycle groups left empty.
//!
//! The [`RootMode`] selects the strategy, for comparison: `Naive` visits every member
//! at every collection, `Aged` keeps an age per member (the document's tasklet aging:
//! every age is still read), `Grouped` (the default) is the above.
//!
//! Invariant (checked by the heap verifier, docs/DESIGN.md invariant 5): a group (or, in
//! `Aged` mode, a member) whose age is `AGE_OLD` refers to no young object.
//!
//! Concurrency: group and age-segment storage is allocated once and never freed or
//! moved while the registry lives, so mutator threads index it without locks (and no
//! epoch-based reclamation is needed: nothing is ever retired while readers exist).
//! Member slots, counts and ages are atomics. Collections run with the world stopped.

use crate::tasklet::Tasklet;
use std::ptr;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize};
use std::sync::{Arc, Mutex};

/// Members per group.
pub const GROUP_SIZE: usize = 256;
/// Age of a group (or member) that may refer to a young object.
pub const AGE_YOUNG: u8 = 1;
/// Age of a group (or member) that refers only to old objects.
pub const AGE_OLD: u8 = 0;

const SEGMENT_GROUPS: usize = 4096;
const MAX_SEGMENTS: usize = 4096;
/// Low bit of a member word: the member is a `Box<Tasklet>`, not a heap object.
const TASKLET_TAG: usize = 1;

/// How suspended-task roots are found at a minor collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootMode {
    /// Every member at every collection.
    Naive,
    /// Every member's own age is read; young members are visited.
    Aged,
    /// Group ages are read a word at a time; young groups are visited.
    Grouped,
}

/// What a collection does with the members it visits.
pub trait MemberVisitor {
    /// A reference slot (non-null). Returns true if it refers to a young object
    /// afterwards.
    fn reference(&mut self, slot: &mut usize) -> bool;
    /// A byref slot (address word, base word). Returns true if its base is young
    /// afterwards.
    fn byref(&mut self, slot: &mut [usize; 2]) -> bool;
    /// A heap task's member slot: the head of its continuation chain (non-null).
    /// Visited as a [`reference`](Self::reference) unless the visitor cares that it
    /// heads a chain (the verifier walks the chain).
    fn chain_head(&mut self, slot: &mut usize) -> bool {
        self.reference(slot)
    }
}

struct Group {
    len: AtomicU32,
    live: AtomicU32,
    owned: AtomicBool,
    /// On the free list (so it is pushed there once).
    free: AtomicBool,
    slots: [AtomicUsize; GROUP_SIZE],
    locators: [AtomicPtr<Locator>; GROUP_SIZE],
    member_ages: [AtomicU8; GROUP_SIZE],
}

struct Segment {
    groups: [AtomicPtr<Group>; SEGMENT_GROUPS],
    ages: [AtomicU64; SEGMENT_GROUPS / 8],
}

/// Where a member currently is (compaction moves members and updates this).
pub struct Locator {
    group: AtomicU32,
    index: AtomicU32,
}

/// Spare locators of one mutator, reused by its next registrations so that a
/// suspension and its resumption allocate nothing (a task root's locator must stay at
/// one address while the task is registered, so it is boxed).
#[derive(Default)]
pub struct LocatorCache {
    // Boxed: a task root holds its locator by address, which must not move.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Locator>>,
}

impl std::fmt::Debug for LocatorCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocatorCache({})", self.spare.len())
    }
}

impl LocatorCache {
    /// Spare locators kept at most (the rest are freed).
    const MAX: usize = 1024;

    fn get(&mut self, group: u32, index: u32) -> Box<Locator> {
        match self.spare.pop() {
            Some(l) => {
                l.group.store(group, Relaxed);
                l.index.store(index, Relaxed);
                l
            }
            None => Box::new(Locator {
                group: AtomicU32::new(group),
                index: AtomicU32::new(index),
            }),
        }
    }

    fn put(&mut self, l: Box<Locator>) {
        if self.spare.len() < Self::MAX {
            self.spare.push(l);
        }
    }
}

/// The suspended-task roots of one heap.
pub struct TaskRegistry {
    heap: u32,
    mode: RootMode,
    segments: Box<[AtomicPtr<Segment>]>,
    next_group: AtomicU32,
    free: Mutex<Vec<u32>>,
    create: Mutex<()>,
    /// Held while members are taken out (from any thread, mutator or not) and while a
    /// collection visits or inspects the groups, so a take never meets a compaction.
    members: Mutex<()>,
}

impl std::fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRegistry")
            .field("mode", &self.mode)
            .field("groups", &self.next_group.load(Relaxed))
            .finish()
    }
}

/// A suspended task, held by whatever will resume it. Dropping it without resuming
/// removes the task (its frames become garbage).
pub struct TaskRoot {
    registry: Arc<TaskRegistry>,
    loc: Option<Box<Locator>>,
}

impl std::fmt::Debug for TaskRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TaskRoot")
    }
}

/// A member taken out of the registry.
#[derive(Debug)]
pub enum Member {
    /// The head of a continuation chain (header address).
    Heap(usize),
    /// Off-heap frames.
    Tasklet(Box<Tasklet>),
}

/// What [`TaskRegistry::inspect`] calls for each member: its age, and a function that
/// hands the member's slots to a visitor.
pub type Inspector<'a> = dyn FnMut(u8, &mut dyn FnMut(&mut dyn MemberVisitor)) + 'a;

/// The group is full; the mutator should acquire a new one.
#[derive(Debug)]
pub struct GroupFull<T>(pub T);

impl TaskRegistry {
    /// An empty registry for heap `heap`.
    pub fn new(heap: u32, mode: RootMode) -> Arc<TaskRegistry> {
        Arc::new(TaskRegistry {
            heap,
            mode,
            segments: (0..MAX_SEGMENTS)
                .map(|_| AtomicPtr::new(ptr::null_mut()))
                .collect(),
            next_group: AtomicU32::new(0),
            free: Mutex::new(Vec::new()),
            create: Mutex::new(()),
            members: Mutex::new(()),
        })
    }

    fn segment(&self, id: u32) -> &Segment {
        let p = self.segments[id as usize / SEGMENT_GROUPS].load(Acquire);
        assert!(!p.is_null(), "group {id} does not exist");
        // SAFETY: segments are allocated before any group id in them is handed out
        // (Release in `new_group`) and freed only when the registry drops.
        unsafe { &*p }
    }

    fn group(&self, id: u32) -> &Group {
        let p = self.segment(id).groups[id as usize % SEGMENT_GROUPS].load(Acquire);
        assert!(!p.is_null(), "group {id} does not exist");
        // SAFETY: as for segments: published with Release, freed only on drop.
        unsafe { &*p }
    }

    fn age_word(&self, id: u32) -> (&AtomicU64, u32) {
        let seg = self.segment(id);
        let i = id as usize % SEGMENT_GROUPS;
        (&seg.ages[i / 8], (i % 8) as u32 * 8)
    }

    /// Group `id`'s age.
    pub fn age(&self, id: u32) -> u8 {
        let (w, shift) = self.age_word(id);
        (w.load(Relaxed) >> shift) as u8
    }

    fn set_age(&self, id: u32, age: u8) {
        let (w, shift) = self.age_word(id);
        // Ages are 0 (old) or 1 (young); zeroed memory reads as old, so groups that
        // do not exist yet never make a word look young.
        if age == AGE_OLD {
            w.fetch_and(!(0xffu64 << shift), Relaxed);
        } else {
            w.fetch_or((age as u64) << shift, Relaxed);
        }
    }

    /// Number of groups ever created.
    pub fn groups(&self) -> u32 {
        self.next_group.load(Acquire)
    }

    /// Suspended tasks registered (taken-out ones excluded).
    pub fn len(&self) -> usize {
        (0..self.groups())
            .map(|g| self.group(g).live.load(Relaxed) as usize)
            .sum()
    }

    /// True if no task is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A group for a mutator to fill: a recycled empty one, or a new one. It is young
    /// and owned until [`release_group`](Self::release_group).
    pub fn acquire_group(&self) -> u32 {
        let recycled = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let id = recycled.unwrap_or_else(|| self.new_group());
        let g = self.group(id);
        g.free.store(false, Relaxed);
        g.owned.store(true, Relaxed);
        self.set_age(id, AGE_YOUNG);
        id
    }

    /// The owning mutator is done filling group `id`. A group with no live member is
    /// recycled at once.
    pub fn release_group(&self, id: u32) {
        let _members = self.lock_members();
        let g = self.group(id);
        g.owned.store(false, Relaxed);
        if g.live.load(Acquire) == 0 {
            // Only tombstones remain (all slots are 0): the group is empty.
            g.len.store(0, Relaxed);
            self.recycle(id);
        }
    }

    /// Empties group `id`, which the caller owns and has filled, if every member was
    /// taken out since (only tombstones are left): the owner can then fill it again
    /// instead of taking a new group, so suspensions that are resumed before the next
    /// collection (yields) do not use up a group every 256 of them. Returns whether it
    /// did.
    pub fn reuse_if_empty(&self, id: u32) -> bool {
        let _members = self.lock_members();
        let g = self.group(id);
        if g.live.load(Acquire) != 0 {
            return false;
        }
        // No member is left, so no task root locates into this group (compaction
        // reads locator words only for members; a refill overwrites them), and the
        // owner is not adding (it is the caller).
        g.len.store(0, Release);
        true
    }

    /// Puts an empty, unowned group on the free list (once).
    fn recycle(&self, id: u32) {
        if !self.group(id).free.swap(true, Relaxed) {
            self.free.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        }
    }

    fn new_group(&self) -> u32 {
        let _g = self.create.lock().unwrap_or_else(|e| e.into_inner());
        let id = self.next_group.load(Relaxed);
        let seg = id as usize / SEGMENT_GROUPS;
        assert!(seg < MAX_SEGMENTS, "contgc: too many suspended-task groups");
        if self.segments[seg].load(Relaxed).is_null() {
            // SAFETY: a Segment of atomics is valid when zeroed.
            let s: Box<Segment> = unsafe { Box::new_zeroed().assume_init() };
            self.segments[seg].store(Box::into_raw(s), Release);
        }
        // SAFETY: a Group of atomics is valid when zeroed.
        let g: Box<Group> = unsafe { Box::new_zeroed().assume_init() };
        self.segment(id).groups[id as usize % SEGMENT_GROUPS].store(Box::into_raw(g), Release);
        self.next_group.store(id + 1, Release);
        id
    }

    /// Adds a member to group `id`, which the caller owns, and makes the group young.
    ///
    /// # Safety
    /// `member` must be the address of a live object of this registry's heap, or a
    /// `Box<Tasklet>` turned into a raw pointer with [`TASKLET_TAG`] set, whose
    /// references are live objects of this heap; no collection may run between the
    /// caller obtaining the addresses and this call.
    unsafe fn add(
        self: &Arc<Self>,
        id: u32,
        member: usize,
        cache: &mut LocatorCache,
    ) -> Result<TaskRoot, GroupFull<usize>> {
        let g = self.group(id);
        let i = g.len.load(Relaxed) as usize;
        if i == GROUP_SIZE {
            return Err(GroupFull(member));
        }
        let loc = cache.get(id, i as u32);
        g.slots[i].store(member, Relaxed);
        g.locators[i].store(&*loc as *const Locator as *mut Locator, Relaxed);
        g.member_ages[i].store(AGE_YOUNG, Relaxed);
        g.live.fetch_add(1, Relaxed);
        g.len.store(i as u32 + 1, Release);
        self.set_age(id, AGE_YOUNG);
        Ok(TaskRoot {
            registry: Arc::clone(self),
            loc: Some(loc),
        })
    }

    /// Registers the head of a suspended task's continuation chain in group `id`
    /// (owned by the caller). Fails, giving the address back, if the group is full.
    ///
    /// # Safety
    /// `head` must be a live object of this registry's heap, obtained since the last
    /// allocation, safepoint or collection; `id` must be owned by the caller.
    pub unsafe fn add_heap(
        self: &Arc<Self>,
        id: u32,
        head: usize,
    ) -> Result<TaskRoot, GroupFull<usize>> {
        // SAFETY: forwarded from the caller.
        unsafe { self.add_heap_cached(id, head, &mut LocatorCache::default()) }
    }

    /// [`add_heap`](Self::add_heap) taking its locator from `cache`.
    ///
    /// # Safety
    /// As for [`add_heap`](Self::add_heap).
    pub unsafe fn add_heap_cached(
        self: &Arc<Self>,
        id: u32,
        head: usize,
        cache: &mut LocatorCache,
    ) -> Result<TaskRoot, GroupFull<usize>> {
        debug_assert!(head != 0 && head & TASKLET_TAG == 0);
        // SAFETY: forwarded from the caller.
        unsafe { self.add(id, head, cache) }
    }

    /// Registers a tasklet in group `id` (owned by the caller). Fails, giving the
    /// tasklet back, if the group is full.
    ///
    /// # Safety
    /// Every reference in the tasklet must be a live object of this registry's heap,
    /// with no collection since they were read; `id` must be owned by the caller.
    pub unsafe fn add_tasklet(
        self: &Arc<Self>,
        id: u32,
        t: Box<Tasklet>,
    ) -> Result<TaskRoot, GroupFull<Box<Tasklet>>> {
        let p = Box::into_raw(t) as usize;
        // SAFETY: forwarded from the caller; the pointer is 8-aligned, so the tag bit
        // is free.
        unsafe { self.add(id, p | TASKLET_TAG, &mut LocatorCache::default()) }.map_err(
            |GroupFull(m)| {
                // SAFETY: `m` is the pointer we just made from the box.
                GroupFull(unsafe { Box::from_raw((m & !TASKLET_TAG) as *mut Tasklet) })
            },
        )
    }

    fn slot_of(&self, loc: &Locator) -> (&Group, usize, u32) {
        let id = loc.group.load(Relaxed);
        let g = self.group(id);
        (g, loc.index.load(Relaxed) as usize, id)
    }

    fn lock_members(&self) -> std::sync::MutexGuard<'_, ()> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, loc: &Locator) -> Member {
        let _members = self.lock_members();
        self.take_unlocked(loc)
    }

    /// Takes a member out without the members lock, which only keeps takes from
    /// meeting a collection's compaction: the caller guarantees none runs.
    fn take_unlocked(&self, loc: &Locator) -> Member {
        let (g, i, _) = self.slot_of(loc);
        let m = g.slots[i].swap(0, AcqRel);
        // The locator word is left as it is: compaction reads it only for non-empty
        // slots, and a refill overwrites it. Release: an owner that sees `live` drop
        // to 0 (Acquire) and refills the group sees this take done.
        g.live.fetch_sub(1, Release);
        decode(m)
    }

    /// Calls `visitor` with the members a collection must visit, compacting the
    /// visited groups and recycling empty ones, and updates ages from what the
    /// visitor reports. `minor` selects what is visited: for a minor collection,
    /// depending on the mode; otherwise every member (ages are then left as they are).
    ///
    /// # Safety
    /// The world must be stopped (no mutator runs), and the visitor must keep every
    /// slot valid (null or a live object's current address).
    pub unsafe fn visit(&self, minor: bool, visitor: &mut dyn MemberVisitor) {
        let _members = self.lock_members();
        let groups = self.groups();
        if !(minor && self.mode == RootMode::Grouped) {
            for id in 0..groups {
                self.visit_group(id, minor, visitor);
            }
            return;
        }
        // Grouped minor collection: read the ages eight to a word, skip all-old words.
        for seg in 0..(groups as usize).div_ceil(SEGMENT_GROUPS) {
            let base = (seg * SEGMENT_GROUPS) as u32;
            let in_seg = (groups - base).min(SEGMENT_GROUPS as u32) as usize;
            let ages = &self.segment(base).ages[..in_seg.div_ceil(8)];
            let mut wi = 0;
            while wi < ages.len() {
                // A tight loop over the words, with no call in it, finds the next
                // word holding a young group.
                match ages[wi..].iter().position(|w| w.load(Relaxed) != 0) {
                    Some(p) => wi += p,
                    None => break,
                }
                let word = ages[wi].load(Relaxed);
                for b in 0..8 {
                    if (word >> (b * 8)) & 0xff == AGE_OLD as u64 {
                        continue;
                    }
                    let id = base + (wi * 8 + b) as u32;
                    let young = self.visit_group(id, true, visitor);
                    self.set_age(id, if young { AGE_YOUNG } else { AGE_OLD });
                }
                wi += 1;
            }
        }
    }

    /// Visits group `id`'s members (in `Aged` mode at a minor collection, only the
    /// young ones), compacts it, and recycles it if empty. Returns true if any
    /// member still refers to a young object.
    fn visit_group(&self, id: u32, minor: bool, visitor: &mut dyn MemberVisitor) -> bool {
        let g = self.group(id);
        let len = g.len.load(Relaxed) as usize;
        let mut young = false;
        let mut out = 0;
        for i in 0..len {
            let m = g.slots[i].load(Relaxed);
            if m == 0 {
                continue;
            }
            let member_old = g.member_ages[i].load(Relaxed) == AGE_OLD;
            let member_young = if minor && self.mode == RootMode::Aged && member_old {
                false
            } else {
                let y = visit_member(&g.slots[i], visitor);
                // Only a minor collection, which evacuates what it visits, knows
                // whether the member still refers to young objects.
                if minor {
                    g.member_ages[i].store(if y { AGE_YOUNG } else { AGE_OLD }, Relaxed);
                }
                y
            };
            young |= member_young;
            if out != i {
                let loc = g.locators[i].load(Relaxed);
                g.slots[out].store(g.slots[i].load(Relaxed), Relaxed);
                g.locators[out].store(loc, Relaxed);
                g.member_ages[out].store(g.member_ages[i].load(Relaxed), Relaxed);
                g.slots[i].store(0, Relaxed);
                // SAFETY: a live member's locator is owned by its TaskRoot, which
                // cannot be used while the world is stopped.
                unsafe { (*loc).index.store(out as u32, Relaxed) };
            }
            out += 1;
        }
        g.len.store(out as u32, Relaxed);
        if out == 0 && !g.owned.load(Relaxed) {
            self.recycle(id);
        }
        young
    }

    /// Calls `f` with each group's age and a visitor over its members, for the heap
    /// verifier (nothing is changed).
    ///
    /// # Safety
    /// The world must be stopped; `f` must not change any slot.
    pub unsafe fn inspect(&self, f: &mut Inspector<'_>) {
        let _members = self.lock_members();
        for id in 0..self.groups() {
            let g = self.group(id);
            let len = g.len.load(Relaxed) as usize;
            let group_age = match self.mode {
                RootMode::Grouped => self.age(id),
                _ => AGE_YOUNG,
            };
            for i in 0..len {
                if g.slots[i].load(Relaxed) == 0 {
                    continue;
                }
                let age = match self.mode {
                    RootMode::Aged => g.member_ages[i].load(Relaxed),
                    _ => group_age,
                };
                f(age, &mut |v| {
                    visit_member(&g.slots[i], v);
                });
            }
        }
    }
}

/// Visits one member's slots; true if any refers to a young object afterwards.
fn visit_member(slot: &AtomicUsize, visitor: &mut dyn MemberVisitor) -> bool {
    let m = slot.load(Relaxed);
    if m & TASKLET_TAG == 0 {
        let mut v = m;
        let young = visitor.chain_head(&mut v);
        slot.store(v, Relaxed);
        young
    } else {
        // SAFETY: a tagged member is a leaked Box<Tasklet> owned by the registry; the
        // world is stopped, so nothing else touches it.
        let t = unsafe { &mut *((m & !TASKLET_TAG) as *mut Tasklet) };
        let v: *mut dyn MemberVisitor = visitor;
        // SAFETY: the two closures are called one at a time by `Tasklet::visit`, never
        // overlapping, and both use the same raw pointer, so the visitor is never
        // borrowed twice at once.
        t.visit(&mut |s| unsafe { (*v).reference(s) }, &mut |p| unsafe {
            (*v).byref(p)
        })
    }
}

fn decode(m: usize) -> Member {
    if m & TASKLET_TAG == 0 {
        Member::Heap(m)
    } else {
        // SAFETY: tagged members are leaked Box<Tasklet>s; taking one out gives the
        // box back to exactly one owner.
        Member::Tasklet(unsafe { Box::from_raw((m & !TASKLET_TAG) as *mut Tasklet) })
    }
}

impl TaskRoot {
    /// Takes the task out of the registry (it is being resumed). The returned member's
    /// addresses are current until the next allocation, safepoint or collection.
    pub fn take(mut self) -> Member {
        let loc = self.loc.take().expect("a task root is taken once");
        self.registry.take(&loc)
    }

    /// [`take`](Self::take) for a running mutator of the task's heap: no collection
    /// can run meanwhile, so the member cannot move and no lock is taken (other takes
    /// touch other slots, through atomics); the locator goes back to `cache`.
    ///
    /// # Safety
    /// The caller must be a running (attached, not blocking or parked) mutator of
    /// the heap this registry belongs to, and must not reach a safepoint during the
    /// call.
    pub unsafe fn take_running(mut self, cache: &mut LocatorCache) -> Member {
        let loc = self.loc.take().expect("a task root is taken once");
        let m = self.registry.take_unlocked(&loc);
        cache.put(loc);
        m
    }

    /// The id of the heap whose registry holds this task.
    pub fn heap_id(&self) -> u32 {
        self.registry.heap
    }

    /// The member's current word (a heap address, or a tagged tasklet pointer).
    fn member(&self) -> usize {
        let _members = self.registry.lock_members();
        let (g, i, _) = self.registry.slot_of(self.loc.as_ref().expect("not taken"));
        g.slots[i].load(Relaxed)
    }

    /// The chain head's current address, if this is a heap-frames task.
    pub fn heap_head(&self) -> Option<usize> {
        let m = self.member();
        (m & TASKLET_TAG == 0).then_some(m)
    }

    /// Runs `f` on the tasklet, if this is a tasklet task (to keep capturing frames
    /// into it while it is registered), and makes its group young.
    ///
    /// # Safety
    /// Must be called from a running mutator of this heap (so no collection runs
    /// meanwhile); `f` may only add references to live objects of this heap read since
    /// the last allocation, safepoint or collection, and must not allocate.
    pub unsafe fn with_tasklet<R>(&mut self, f: impl FnOnce(&mut Tasklet) -> R) -> Option<R> {
        let m = self.member();
        if m & TASKLET_TAG == 0 {
            return None;
        }
        let (g, i, id) = self.registry.slot_of(self.loc.as_ref().expect("not taken"));
        g.member_ages[i].store(AGE_YOUNG, Relaxed);
        self.registry.set_age(id, AGE_YOUNG);
        // SAFETY: the tasklet is owned by the registry and only this root's holder
        // reaches it outside collections; no collection runs inside `f`.
        Some(f(unsafe { &mut *((m & !TASKLET_TAG) as *mut Tasklet) }))
    }
}

impl Drop for TaskRoot {
    fn drop(&mut self) {
        if let Some(loc) = self.loc.take() {
            drop(self.registry.take(&loc));
        }
    }
}

impl Drop for TaskRegistry {
    fn drop(&mut self) {
        for s in self.segments.iter() {
            let p = s.load(Relaxed);
            if p.is_null() {
                continue;
            }
            // SAFETY: we own the segment and every group in it; no TaskRoot is alive
            // (each holds an Arc to the registry).
            let seg = unsafe { Box::from_raw(p) };
            for gp in seg.groups.iter() {
                let gp = gp.load(Relaxed);
                if gp.is_null() {
                    continue;
                }
                // SAFETY: as above.
                let g = unsafe { Box::from_raw(gp) };
                for s in g.slots.iter() {
                    let m = s.load(Relaxed);
                    if m != 0 {
                        drop(decode(m));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Treats addresses below 1000 as young and "promotes" them by adding 1000.
    struct Promote(usize);
    impl MemberVisitor for Promote {
        fn reference(&mut self, slot: &mut usize) -> bool {
            self.0 += 1;
            if *slot < 1000 {
                *slot += 1000;
            }
            false
        }
        fn byref(&mut self, _: &mut [usize; 2]) -> bool {
            false
        }
    }

    #[test]
    fn a_full_group_whose_members_were_all_taken_is_filled_again() {
        let r = TaskRegistry::new(1, RootMode::Grouped);
        let g = r.acquire_group();
        let mut cache = LocatorCache::default();
        // SAFETY: no heap involved; nothing visits the fake addresses.
        let mut roots: Vec<_> = (1..=GROUP_SIZE)
            .map(|i| unsafe { r.add_heap_cached(g, i * 8, &mut cache).unwrap() })
            .collect();
        // SAFETY: as above.
        assert!(unsafe { r.add_heap(g, 8) }.is_err(), "the group is full");
        let last = roots.pop().unwrap();
        for t in roots {
            // SAFETY: single-threaded test, no collection.
            assert!(matches!(
                unsafe { t.take_running(&mut cache) },
                Member::Heap(_)
            ));
        }
        assert!(!r.reuse_if_empty(g), "one member is still registered");
        // SAFETY: as above.
        assert!(
            matches!(unsafe { last.take_running(&mut cache) }, Member::Heap(a) if a == GROUP_SIZE * 8)
        );
        assert!(r.reuse_if_empty(g));
        assert_eq!(r.groups(), 1);
        // SAFETY: as above.
        let again = unsafe { r.add_heap_cached(g, 16, &mut cache).unwrap() };
        assert_eq!(again.heap_head(), Some(16));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn grouped_minor_collections_skip_old_groups_and_add_makes_young() {
        let r = TaskRegistry::new(1, RootMode::Grouped);
        assert!(r.is_empty());
        let g = r.acquire_group();
        // SAFETY: no heap involved; the visitor below treats the words as addresses.
        let roots: Vec<_> = (1..=100)
            .map(|i| unsafe { r.add_heap(g, i * 8).unwrap() })
            .collect();
        let mut v = Promote(0);
        // SAFETY: single-threaded test.
        unsafe { r.visit(true, &mut v) };
        assert_eq!(v.0, 100);
        assert_eq!(r.age(g), AGE_OLD);
        // SAFETY: single-threaded test: no mutator runs, and the visitor only
        // rewrites the test's fake addresses.
        unsafe { r.visit(true, &mut v) };
        assert_eq!(v.0, 100, "an old group is skipped");
        // SAFETY: as above.
        let extra = unsafe { r.add_heap(g, 16).unwrap() };
        assert_eq!(r.age(g), AGE_YOUNG);
        unsafe { r.visit(true, &mut v) };
        assert_eq!(v.0, 201);
        // full collections visit everything
        // SAFETY: single-threaded test: no mutator runs, and the visitor only
        // rewrites the test's fake addresses.
        unsafe { r.visit(false, &mut v) };
        assert_eq!(v.0, 302);
        assert!(matches!(roots[0].heap_head(), Some(1008)));
        drop(extra);
        assert_eq!(r.len(), 100);
    }

    #[test]
    fn naive_and_aged_modes() {
        for (mode, second) in [(RootMode::Naive, 10), (RootMode::Aged, 0)] {
            let r = TaskRegistry::new(1, mode);
            let g = r.acquire_group();
            // SAFETY: as above.
            let _roots: Vec<_> = (1..=10)
                .map(|i| unsafe { r.add_heap(g, i * 8).unwrap() })
                .collect();
            let mut v = Promote(0);
            // SAFETY: single-threaded test: no mutator runs, and the visitor only
            // rewrites the test's fake addresses.
            unsafe { r.visit(true, &mut v) };
            let before = v.0;
            // SAFETY: single-threaded test: no mutator runs, and the visitor only
            // rewrites the test's fake addresses.
            unsafe { r.visit(true, &mut v) };
            assert_eq!(v.0 - before, second, "{mode:?}");
        }
    }

    #[test]
    fn resumed_tasks_leave_tombstones_that_collections_compact_and_groups_recycle() {
        let r = TaskRegistry::new(1, RootMode::Grouped);
        let g = r.acquire_group();
        // SAFETY: as above.
        let mut roots: Vec<_> = (1..=GROUP_SIZE)
            .map(|i| unsafe { r.add_heap(g, i * 8).unwrap() })
            .collect();
        // SAFETY: as above.
        assert!(unsafe { r.add_heap(g, 8) }.is_err(), "the group is full");
        r.release_group(g);
        // Resume every other task.
        let taken: Vec<_> = (0..GROUP_SIZE / 2).map(|_| roots.remove(0)).collect();
        for (n, t) in taken.into_iter().enumerate() {
            assert!(matches!(t.take(), Member::Heap(a) if a == (n + 1) * 8));
        }
        let mut v = Promote(0);
        // SAFETY: as above.
        unsafe { r.visit(false, &mut v) };
        assert_eq!(v.0, GROUP_SIZE / 2);
        // Compaction moved members; their roots still find them.
        let first = (GROUP_SIZE / 2 + 1) * 8;
        let promoted = if first < 1000 { first + 1000 } else { first };
        assert_eq!(roots[0].heap_head(), Some(promoted));
        drop(roots);
        // SAFETY: single-threaded test: no mutator runs, and the visitor only
        // rewrites the test's fake addresses.
        unsafe { r.visit(false, &mut v) };
        assert_eq!(r.acquire_group(), g, "the empty group is recycled");
    }

    /// All shared state is atomics or behind mutexes, so the compiler derives both
    /// auto traits (the registry needs no `unsafe impl`), and task roots can be
    /// handed to whatever thread resumes the task.
    #[test]
    fn registry_and_roots_are_send_and_sync() {
        fn auto<T: Send + Sync>() {}
        auto::<TaskRegistry>();
        auto::<TaskRoot>();
        auto::<Member>();
    }

    #[test]
    fn tasklets_are_members_too() {
        let r = TaskRegistry::new(1, RootMode::Grouped);
        let g = r.acquire_group();
        let mut t = Tasklet::new();
        // SAFETY: as above.
        unsafe {
            t.push_ref(64);
            t.push_data(5);
            t.push_ref(128);
        }
        // SAFETY: as above.
        let mut root = unsafe { r.add_tasklet(g, Box::new(t)).unwrap() };
        let mut v = Promote(0);
        unsafe { r.visit(true, &mut v) };
        assert_eq!(v.0, 2);
        // SAFETY: adds no reference.
        let w = unsafe { root.with_tasklet(|t| t.word(2)) };
        assert_eq!(w, Some(1128));
        assert_eq!(
            r.age(g),
            AGE_YOUNG,
            "touching a tasklet makes its group young"
        );
        match root.take() {
            Member::Tasklet(t) => assert_eq!(t.word(0), 1064),
            Member::Heap(_) => panic!("a tasklet"),
        }
    }
}
