//! Model-based property tests of the suspended-task registry, through the public API.
//!
//! Proptest generates a heap configuration (a 64 to 128 KiB nursery, TLAB size,
//! promotion age 1 to 3, continuations in the nursery or pretenured) and a sequence of
//! operations, applied to a real heap (verifier on after every collection: it panics
//! if a live task's referent is missing, if a byref of a task is unresolved after a
//! collection, or if a group or member aged old refers to a young object) and to a
//! model that is nothing but the list of live tasks and what each must hold when it is
//! resumed. The operations:
//!
//! * suspend a heap-frames task: a chain of 1 to 4 continuations, each holding a fresh
//!   object with a known value and an integer, linked with a `Suspension`; its leaf is
//!   registered with `Scope::suspend_task`, either once the chain is complete or right
//!   after the leaf is captured (the callers are then linked onto a registered chain);
//! * suspend a tasklet task: `Scope::new_tasklet`, then references to fresh objects
//!   (16-byte, 1 KiB, or 8 KiB ones, which live in the large-object space), null
//!   references, data words (sometimes dozens, so that the tasklet's slot bitmaps span
//!   several words), byrefs at any payload offset (into one of the tasklet's own
//!   objects, or into an object only the byref keeps alive), refused out-of-bounds
//!   byrefs, and collections in between (so byrefs are captured into objects that
//!   have moved or been promoted);
//! * extend a live tasklet (more words pushed into a registered tasklet, whose group
//!   may be aged old by then);
//! * resume a random live task and check every value: a heap task is run with
//!   `resume_chain_with`, whose resume function checks each frame's integer and
//!   object in order; a tasklet's `TaskletWord`s are checked one by one (a byref must
//!   be `Unresolved` at its raw address if no collection ran since it was pushed, and
//!   resolved to the right base and offset otherwise);
//! * resume a heap task whose leaf suspends again into its own (possibly old)
//!   continuation with a fresh object, and register it again;
//! * drop a random `TaskRoot` without resuming it; resume or drop many at once;
//! * suspend hundreds of small tasklets at once (filling a group, so the mutator moves
//!   to a fresh one);
//! * replace the mutator (its group is released, so it can be recycled once empty);
//! * allocate garbage (sometimes enough to fill the nursery), minor and major
//!   collections.
//!
//! After every operation `HeapStats::suspended_tasks` must equal the model's count. At
//! the end every remaining task is resumed and checked, and a major collection must
//! leave the heap empty.
//!
//! `registry_matches_model_{naive,aged,grouped}` run `CONTGC_REGISTRY_CASES` cases each
//! (default 1000); `registry_matches_model_under_gc_stress` runs the same number with
//! `Config::gc_stress(1..64)`, in a random mode. `the_checker_detects_divergence`
//! makes sure the checks can fail. `threads_resume_each_others_tasks` has two mutator
//! threads suspend into their own groups, hand tasks to each other over channels
//! (received inside `Mutator::blocking`), extend, resume and drop the other thread's
//! tasks, replace their mutators, and collect, in every mode.
//! `tasks_in_thousands_of_groups` spreads tasks over more than 4096 groups (the
//! registry's second segment). Two tests check that misuse panics with a clear
//! message. `dropping_task_roots_off_mutator_threads_races_with_compaction` drops roots
//! on a thread without a mutator while collections run (a regression test).
//! No sleeps, no timing assertions.

use contgc::continuation::{
    resume_chain_with, Capture, ChainOutcome, Continuation, Frame, FrameLayout, FrameType, Outcome,
    Suspension, Value,
};
use contgc::Byref;
use contgc::{
    CollectionKind, Config, ContinuationPlacement, Heap, Local, RootMode, Scope, TaskRoot,
    TaskletWord, TypeDescriptor, TypeId,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

/// An object's second word holds its value xor this.
const MAGIC: u64 = 0x9E37_79B9_7F4A_7C15;
/// Bytes of a junk object (header included), used to fill the nursery quickly.
const JUNK_BYTES: usize = 256;

// ---------------------------------------------------------------------------------
// Types and values.
// ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Types {
    /// Objects of the three sizes (`Size`); the first two payload words hold value
    /// and value ^ MAGIC.
    obj: TypeId,
    mid: TypeId,
    big: TypeId,
    /// Garbage.
    junk: TypeId,
    /// One reference (the frame's object), 8 data bytes (its integer).
    frame: FrameType<Check>,
}

impl Types {
    fn register(heap: &Heap) -> Types {
        let obj = heap
            .register_type(&TypeDescriptor::fixed("Obj", 16))
            .unwrap();
        let mid = heap
            .register_type(&TypeDescriptor::fixed("Mid", Size::Mid.payload() as u32))
            .unwrap();
        let big = heap
            .register_type(&TypeDescriptor::fixed("Big", Size::Big.payload() as u32))
            .unwrap();
        let junk = heap
            .register_type(&TypeDescriptor::fixed("Junk", JUNK_BYTES as u32 - 8))
            .unwrap();
        let frame = FrameLayout::new("Frame")
            .refs(1)
            .data_bytes(8)
            .register_with_context::<Check>(heap, check_frame)
            .unwrap();
        Types {
            obj,
            mid,
            big,
            junk,
            frame,
        }
    }
}

/// Unique values for objects and integers.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

/// Object sizes: a small object, a 1 KiB one (old-space cells far from the smallest)
/// and an 8 KiB one (the large-object space).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Size {
    Small,
    Mid,
    Big,
}

impl Size {
    fn payload(self) -> usize {
        match self {
            Size::Small => 16,
            Size::Mid => 1016,
            Size::Big => 8184,
        }
    }
}

fn new_obj<'s>(s: &mut Scope<'s>, t: &Types, size: Size, v: u64) -> Local<'s> {
    let ty = match size {
        Size::Small => t.obj,
        Size::Mid => t.mid,
        Size::Big => t.big,
    };
    let o = s.alloc(ty).expect("a small heap far below its limit");
    s.write_u64(o, 0, v);
    s.write_u64(o, 8, v ^ MAGIC);
    o
}

fn check_obj<'s>(s: &mut Scope<'s>, o: Local<'s>, v: u64, what: &str) -> Result<(), TestCaseError> {
    let (a, b) = (s.read_u64(o, 0), s.read_u64(o, 8));
    prop_assert!(
        a == v && b == v ^ MAGIC,
        "{}: object holds ({:#x}, {:#x}), expected value {:#x}",
        what,
        a,
        b,
        v
    );
    Ok(())
}

/// Collections so far (every kind, every thread).
fn collections(s: &mut Scope<'_>) -> u64 {
    let st = s.stats();
    st.minor_collections + st.major_collections
}

fn garbage(s: &mut Scope<'_>, t: &Types, n: usize, big: bool) {
    for i in 0..n {
        s.scope(|s| {
            let o = s
                .alloc(if big { t.junk } else { t.obj })
                .expect("a small heap far below its limit");
            s.write_u64(o, 0, i as u64);
        });
    }
}

// ---------------------------------------------------------------------------------
// What a task must hold when it is resumed.
// ---------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Word {
    Data(u64),
    /// A reference to an object with this value, or null.
    Ref(Option<u64>),
    /// A byref to payload byte `offset` of an object with value `value`; `via` is the
    /// word index of a reference to the same object, if the tasklet has one;
    /// `collections` is the collection count when it was pushed.
    Byref {
        value: u64,
        offset: usize,
        via: Option<usize>,
        collections: u64,
    },
    /// The second word of a byref.
    ByrefBase,
}

#[derive(Clone, Debug)]
enum Want {
    /// The frames, leaf first: (object value, integer).
    Heap(Vec<(u64, u64)>),
    Tasklet(Vec<Word>),
}

/// A suspended task and what it must hold.
#[derive(Debug)]
struct Task {
    root: TaskRoot,
    want: Want,
}

// ---------------------------------------------------------------------------------
// Heap-frames tasks.
// ---------------------------------------------------------------------------------

/// The context of a heap task's frames while it is resumed (no thread-locals).
struct Check {
    types: Types,
    /// Frames the running chain must still resume, leaf first.
    expect: VecDeque<(u64, u64)>,
    /// The first mismatch a resume function found.
    error: Option<String>,
    /// If set, the next frame resumed suspends again after its check, into its own
    /// continuation, with a fresh object of this value and this integer.
    resuspend: Option<(u64, u64)>,
}

impl Check {
    fn frame_error(&mut self, e: String) {
        self.error.get_or_insert(e);
    }
}

/// The resume function of every test frame: checks the frame's integer and object
/// against the next expected frame; then returns, or suspends again if asked to
/// (`Check::resuspend`).
fn check_frame<'s>(f: &mut Frame<'_, 's, Check>) -> Outcome<'s> {
    let ft = f.frame_type();
    let int = f.u64(ft, 0);
    let got = f.get_ref(ft, 0).map(|o| {
        let s = f.scope();
        (s.read_u64(o, 0), s.read_u64(o, 8))
    });
    let check = f.ctx();
    match check.expect.pop_front() {
        None => check.frame_error(format!("frame with integer {int} resumed past the root")),
        Some((v, i)) => {
            if int != i || got != Some((v, v ^ MAGIC)) {
                check.frame_error(format!(
                    "frame resumed with integer {int} and object {got:x?}; expected integer {i} and object value {v:#x}"
                ));
            }
        }
    }
    let Some((v, i)) = check.resuspend.take() else {
        return Outcome::Return(Value::Unit);
    };
    let t = check.types;
    // The allocation may collect; the frame's continuation is a local, so it follows.
    let obj = new_obj(f.scope(), &t, Size::Small, v);
    let k = f.continuation();
    let mut c = Capture::begin(f.scope(), ft, Some(k), 0).expect("capture");
    c.set_ref(0, Some(obj)).set_u64(0, i);
    Outcome::Suspend(c.finish())
}

/// Captures a chain of `depth` frames and registers it. With `early`, the leaf is
/// registered as soon as it is captured and the callers are linked onto the
/// registered chain (`garbage` collections may run in between).
fn suspend_heap(
    s: &mut Scope<'_>,
    t: &Types,
    gen: &mut Gen,
    depth: usize,
    early: bool,
    garbage_between: usize,
) -> Task {
    s.scope(|s| {
        let mut susp = Suspension::new();
        let mut frames = Vec::with_capacity(depth);
        let mut root = None;
        for _ in 0..depth {
            let (v, i) = (gen.next(), gen.next());
            let obj = new_obj(s, t, Size::Small, v);
            garbage(s, t, garbage_between, false);
            let mut c = Capture::begin(s, &t.frame, None, 0).expect("capture");
            c.set_ref(0, Some(obj)).set_u64(0, i);
            let k = c.finish();
            susp.push(s, k);
            frames.push((v, i));
            if early && root.is_none() {
                root = Some(s.suspend_task(k.local()));
            }
        }
        let root = root.unwrap_or_else(|| {
            let leaf = susp.head().expect("at least one frame");
            s.suspend_task(leaf.local())
        });
        Task {
            root,
            want: Want::Heap(frames),
        }
    })
}

/// Resumes a heap task and checks every frame. With `resuspend`, the leaf suspends
/// again (after its check) with a fresh object and integer, and the task is registered
/// again: its new root is returned.
fn check_heap_task(
    s: &mut Scope<'_>,
    t: &Types,
    root: TaskRoot,
    frames: &[(u64, u64)],
    resuspend: Option<(u64, u64)>,
) -> Result<Option<TaskRoot>, TestCaseError> {
    s.scope(|s| {
        let Some(leaf) = s.resume_task(root).into_heap() else {
            return Err(TestCaseError::fail("a heap task resumed as a tasklet"));
        };
        let Some(k) = Continuation::from_local(s, leaf) else {
            return Err(TestCaseError::fail(
                "a heap task's head is not a continuation",
            ));
        };
        let mut check = Check {
            types: *t,
            expect: frames.iter().copied().collect(),
            error: None,
            resuspend,
        };
        let out = resume_chain_with(s, k, &mut check).expect("resume");
        if let Some(e) = check.error {
            return Err(TestCaseError::fail(e));
        }
        let left = check.expect.len();
        match (resuspend, out) {
            (None, ChainOutcome::Completed(Value::Unit)) => {
                prop_assert_eq!(left, 0, "frames never resumed");
                Ok(None)
            }
            (Some(_), ChainOutcome::Suspended(again)) => {
                prop_assert_eq!(left, frames.len() - 1, "frames resumed past the leaf");
                prop_assert!(
                    s.same(again.local(), leaf),
                    "the leaf re-suspended into another continuation"
                );
                Ok(Some(s.suspend_task(again.local())))
            }
            (_, out) => Err(TestCaseError::fail(format!(
                "resume_chain ended with {out:?} (re-suspension asked: {resuspend:?})"
            ))),
        }
    })
}

// ---------------------------------------------------------------------------------
// Tasklet tasks.
// ---------------------------------------------------------------------------------

/// One thing pushed into a tasklet.
#[derive(Clone, Debug)]
enum Item {
    /// A reference to a fresh object.
    Ref(Size),
    NullRef,
    Data(u64),
    /// This many data words (long tasklets cross the slot bitmaps' word boundaries).
    Words(usize),
    /// A byref to payload byte `offset` of an object referenced earlier in the same
    /// batch (chosen by `pick`), or of a fresh object (of size `fresh`) only the byref
    /// keeps alive; `offset` is taken modulo the object's payload size.
    Byref {
        pick: usize,
        fresh: Option<Size>,
        offset: usize,
    },
    /// A collection while the tasklet is being filled (the batch's objects move, and
    /// may be promoted, before byrefs into them are pushed).
    Collect(CollectionKind),
    /// A byref past the end of an object's payload: refused, nothing pushed.
    BadByref(usize),
}

/// Pushes `items` into the registered tasklet `root`, recording them in `want`.
fn push_items(
    s: &mut Scope<'_>,
    t: &Types,
    gen: &mut Gen,
    root: &mut TaskRoot,
    items: &[Item],
    want: &mut Vec<Word>,
) -> Result<(), TestCaseError> {
    s.scope(|s| {
        // (word index, object, size, value) of this batch's references
        let mut batch: Vec<(usize, Local<'_>, Size, u64)> = Vec::new();
        for item in items {
            match *item {
                Item::Ref(size) => {
                    let v = gen.next();
                    let o = new_obj(s, t, size, v);
                    let i = s.tasklet_push_ref(root, Some(o));
                    prop_assert_eq!(i, want.len());
                    want.push(Word::Ref(Some(v)));
                    batch.push((i, o, size, v));
                }
                Item::Collect(kind) => {
                    s.collect(kind);
                }
                Item::NullRef => {
                    let i = s.tasklet_push_ref(root, None);
                    prop_assert_eq!(i, want.len());
                    want.push(Word::Ref(None));
                }
                Item::Data(d) => {
                    let i = s.tasklet_push_data(root, d);
                    prop_assert_eq!(i, want.len());
                    want.push(Word::Data(d));
                }
                Item::Words(n) => {
                    for _ in 0..n {
                        let d = gen.next();
                        let i = s.tasklet_push_data(root, d);
                        prop_assert_eq!(i, want.len());
                        want.push(Word::Data(d));
                    }
                }
                Item::Byref {
                    pick,
                    fresh,
                    offset,
                } => {
                    let (target, size, value, via) = match (fresh, batch.is_empty()) {
                        (None, false) => {
                            let (i, o, size, v) = batch[pick % batch.len()];
                            (o, size, v, Some(i))
                        }
                        (size, _) => {
                            let (size, v) = (size.unwrap_or(Size::Small), gen.next());
                            (new_obj(s, t, size, v), size, v, None)
                        }
                    };
                    let offset = offset % size.payload();
                    // Nothing between here and the push can collect.
                    let collections = collections(s);
                    let i = s
                        .tasklet_push_byref(root, target, offset)
                        .map_err(|e| TestCaseError::fail(format!("byref refused: {e}")))?;
                    prop_assert_eq!(i, want.len());
                    want.push(Word::Byref {
                        value,
                        offset,
                        via,
                        collections,
                    });
                    want.push(Word::ByrefBase);
                }
                Item::BadByref(offset) => {
                    let o = new_obj(s, t, Size::Small, gen.next());
                    prop_assert!(
                        s.tasklet_push_byref(root, o, offset).is_err(),
                        "a byref to payload byte {} of a 16-byte object was accepted",
                        offset
                    );
                }
            }
        }
        Ok(())
    })
}

fn suspend_tasklet(
    s: &mut Scope<'_>,
    t: &Types,
    gen: &mut Gen,
    items: &[Item],
) -> Result<Task, TestCaseError> {
    let mut root = s.new_tasklet();
    let mut want = Vec::new();
    push_items(s, t, gen, &mut root, items, &mut want)?;
    Ok(Task {
        root,
        want: Want::Tasklet(want),
    })
}

fn check_tasklet(s: &mut Scope<'_>, root: TaskRoot, want: &[Word]) -> Result<(), TestCaseError> {
    s.scope(|s| {
        let now = collections(s);
        let Some(words) = s.resume_task(root).into_tasklet() else {
            return Err(TestCaseError::fail("a tasklet task resumed as a heap task"));
        };
        prop_assert_eq!(words.len(), want.len(), "tasklet length");
        for (i, (w, x)) in words.iter().zip(want).enumerate() {
            let what = format!("tasklet word {i}");
            match (x, *w) {
                (Word::Data(d), TaskletWord::Data(g)) => prop_assert_eq!(*d, g, "{}", what),
                (Word::Ref(None), TaskletWord::Ref(None)) => {}
                (Word::Ref(Some(v)), TaskletWord::Ref(Some(o))) => check_obj(s, o, *v, &what)?,
                (Word::ByrefBase, TaskletWord::ByrefBase) => {}
                (
                    &Word::Byref {
                        value,
                        offset,
                        via,
                        collections,
                    },
                    TaskletWord::Byref(b),
                ) => {
                    let via_obj = match via.map(|j| words[j]) {
                        None => None,
                        Some(TaskletWord::Ref(Some(o))) => Some(o),
                        Some(other) => {
                            return Err(TestCaseError::fail(format!(
                                "{what}: the byref's object is {other:?}"
                            )))
                        }
                    };
                    match b {
                        Byref::Heap { base, offset: off } => {
                            prop_assert!(
                                now != collections,
                                "{}: resolved though no collection ran since it was pushed",
                                what
                            );
                            prop_assert_eq!(off, offset, "{} offset", what);
                            check_obj(s, base, value, &what)?;
                            if let Some(o) = via_obj {
                                prop_assert!(
                                    s.same(o, base),
                                    "{}: the byref's base is not the tasklet's object",
                                    what
                                );
                            }
                        }
                        Byref::Unresolved(addr) => {
                            prop_assert_eq!(
                                now,
                                collections,
                                "{}: unresolved after a collection",
                                what
                            );
                            match via_obj {
                                Some(o) => prop_assert_eq!(
                                    addr,
                                    s.raw(o).payload() as usize + offset,
                                    "{} address",
                                    what
                                ),
                                None => prop_assert!(
                                    s.is_heap_address(addr),
                                    "{}: {:#x} is not in the heap",
                                    what,
                                    addr
                                ),
                            }
                        }
                        other => {
                            return Err(TestCaseError::fail(format!(
                                "{what}: byref came back as {other:?}"
                            )))
                        }
                    }
                }
                (x, w) => {
                    return Err(TestCaseError::fail(format!(
                        "{what}: expected {x:?}, got {w:?}"
                    )))
                }
            }
        }
        Ok(())
    })
}

fn check_task(s: &mut Scope<'_>, t: &Types, task: Task) -> Result<(), TestCaseError> {
    match &task.want {
        Want::Heap(frames) => check_heap_task(s, t, task.root, frames, None).map(drop),
        Want::Tasklet(words) => check_tasklet(s, task.root, words),
    }
}

/// Resumes a task, turning a failed check into a panic (for the thread test).
fn resume_or_panic(s: &mut Scope<'_>, t: &Types, task: Task) {
    if let Err(e) = check_task(s, t, task) {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------------
// The model test.
// ---------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Params {
    nursery: usize,
    tlab: usize,
    promotion_age: u8,
    pretenured_frames: bool,
    /// GC-stress interval, if any.
    stress: Option<u32>,
}

#[derive(Clone, Debug)]
enum Op {
    SuspendHeap {
        depth: usize,
        early: bool,
        garbage: usize,
    },
    SuspendTasklet(Vec<Item>),
    Extend {
        pick: usize,
        items: Vec<Item>,
    },
    Resume(usize),
    /// Resumes a heap task whose leaf suspends again, and registers it again.
    Resuspend(usize),
    Drop(usize),
    /// Suspends this many one-reference tasklets.
    Bulk(usize),
    /// Resumes (or drops) up to `n` tasks starting at `pick`.
    Many {
        pick: usize,
        n: usize,
        resume: bool,
    },
    Garbage(usize),
    FillNursery,
    Minor,
    Major,
    NewMutator,
}

fn params(stress: bool) -> impl Strategy<Value = Params> {
    (
        prop::sample::select(vec![64usize << 10, 96 << 10, 128 << 10]),
        prop::sample::select(vec![4usize << 10, 8 << 10, 16 << 10]),
        1u8..=3,
        any::<bool>(),
        prop_oneof![1 => Just(1u32), 3 => 2u32..8, 2 => 8u32..64],
    )
        .prop_map(
            move |(nursery, tlab, promotion_age, pretenured_frames, n)| Params {
                nursery,
                tlab,
                promotion_age,
                pretenured_frames,
                stress: stress.then_some(n),
            },
        )
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => prop_oneof![6 => Just(Size::Small), 1 => Just(Size::Mid), 1 => Just(Size::Big)]
            .prop_map(Item::Ref),
        1 => prop_oneof![3 => Just(CollectionKind::Minor), 1 => Just(CollectionKind::Major)]
            .prop_map(Item::Collect),
        1 => Just(Item::NullRef),
        3 => any::<u64>().prop_map(Item::Data),
        1 => (1usize..70).prop_map(Item::Words),
        3 => (
            any::<usize>(),
            prop_oneof![
                6 => Just(None),
                2 => Just(Some(Size::Small)),
                1 => Just(Some(Size::Mid)),
                1 => Just(Some(Size::Big)),
            ],
            prop_oneof![3 => 0usize..16, 1 => any::<usize>()],
        )
            .prop_map(|(pick, fresh, offset)| Item::Byref { pick, fresh, offset }),
        1 => (16usize..40).prop_map(Item::BadByref),
    ]
}

fn op(stress: bool) -> impl Strategy<Value = Op> {
    // Under GC stress every allocation may collect: keep the allocation-heavy
    // operations smaller.
    let bulk = if stress { 64 } else { 300 };
    prop_oneof![
        6 => (1usize..=4, any::<bool>(), prop_oneof![3 => Just(0usize), 1 => 1usize..20])
            .prop_map(|(depth, early, garbage)| Op::SuspendHeap { depth, early, garbage }),
        6 => vec(item(), 0..8).prop_map(Op::SuspendTasklet),
        2 => (any::<usize>(), vec(item(), 1..6)).prop_map(|(pick, items)| Op::Extend { pick, items }),
        6 => any::<usize>().prop_map(Op::Resume),
        2 => any::<usize>().prop_map(Op::Resuspend),
        3 => any::<usize>().prop_map(Op::Drop),
        1 => (1usize..=bulk).prop_map(Op::Bulk),
        1 => (any::<usize>(), 1usize..=bulk, any::<bool>())
            .prop_map(|(pick, n, resume)| Op::Many { pick, n, resume }),
        3 => (1usize..200).prop_map(Op::Garbage),
        2 => Just(Op::FillNursery),
        3 => Just(Op::Minor),
        2 => Just(Op::Major),
        1 => Just(Op::NewMutator),
    ]
}

fn run_model(mode: RootMode, p: &Params, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut b = Config::builder()
        .root_mode(mode)
        .nursery_size(p.nursery)
        .tlab_size(p.tlab)
        .promotion_age(p.promotion_age)
        .continuation_placement(if p.pretenured_frames {
            ContinuationPlacement::OldGeneration
        } else {
            ContinuationPlacement::Nursery
        })
        .verify_after_gc(true);
    if let Some(n) = p.stress {
        b = b.gc_stress(n);
    }
    let heap = Heap::new(b.build().unwrap()).unwrap();
    let t = Types::register(&heap);
    let mut gen = Gen(0);
    let mut m = heap.mutator();
    let mut live: Vec<Task> = Vec::new();
    let fill = if p.stress.is_some() {
        32
    } else {
        p.nursery / JUNK_BYTES + 32
    };
    for (n, op) in ops.iter().enumerate() {
        match op {
            &Op::SuspendHeap {
                depth,
                early,
                garbage,
            } => {
                let task = m.scope(|s| suspend_heap(s, &t, &mut gen, depth, early, garbage));
                live.push(task);
            }
            Op::SuspendTasklet(items) => {
                let task = m.scope(|s| suspend_tasklet(s, &t, &mut gen, items))?;
                live.push(task);
            }
            Op::Extend { pick, items } => {
                let tasklets: Vec<usize> = (0..live.len())
                    .filter(|&i| matches!(live[i].want, Want::Tasklet(_)))
                    .collect();
                if !tasklets.is_empty() {
                    let task = &mut live[tasklets[pick % tasklets.len()]];
                    let Want::Tasklet(want) = &mut task.want else {
                        unreachable!()
                    };
                    m.scope(|s| push_items(s, &t, &mut gen, &mut task.root, items, want))?;
                }
            }
            &Op::Resume(pick) => {
                if !live.is_empty() {
                    let task = live.swap_remove(pick % live.len());
                    m.scope(|s| check_task(s, &t, task))?;
                }
            }
            &Op::Resuspend(pick) => {
                let heap_tasks: Vec<usize> = (0..live.len())
                    .filter(|&i| matches!(live[i].want, Want::Heap(_)))
                    .collect();
                if !heap_tasks.is_empty() {
                    let mut task = live.swap_remove(heap_tasks[pick % heap_tasks.len()]);
                    let Want::Heap(frames) = &mut task.want else {
                        unreachable!()
                    };
                    let leaf = (gen.next(), gen.next());
                    let root =
                        m.scope(|s| check_heap_task(s, &t, task.root, frames, Some(leaf)))?;
                    frames[0] = leaf;
                    live.push(Task {
                        root: root.expect("re-registered"),
                        want: task.want,
                    });
                }
            }
            &Op::Drop(pick) => {
                if !live.is_empty() {
                    drop(live.swap_remove(pick % live.len()));
                }
            }
            &Op::Bulk(count) => m.scope(|s| -> Result<(), TestCaseError> {
                for _ in 0..count {
                    live.push(suspend_tasklet(s, &t, &mut gen, &[Item::Ref(Size::Small)])?);
                }
                Ok(())
            })?,
            &Op::Many { pick, n, resume } => m.scope(|s| -> Result<(), TestCaseError> {
                for j in 0..n.min(live.len()) {
                    let i = pick.wrapping_add(j.wrapping_mul(7919)) % live.len();
                    let task = live.swap_remove(i);
                    if resume {
                        check_task(s, &t, task)?;
                    }
                }
                Ok(())
            })?,
            &Op::Garbage(count) => m.scope(|s| garbage(s, &t, count, false)),
            Op::FillNursery => m.scope(|s| garbage(s, &t, fill, true)),
            Op::Minor => {
                m.collect(CollectionKind::Minor);
            }
            Op::Major => {
                m.collect(CollectionKind::Major);
            }
            Op::NewMutator => {
                drop(m);
                m = heap.mutator();
            }
        }
        let registered = heap.stats().suspended_tasks;
        prop_assert_eq!(
            registered,
            live.len(),
            "suspended_tasks after op {} ({:?})",
            n,
            op
        );
    }
    // Resume everything left, oldest first, after a collection.
    m.collect(CollectionKind::Minor);
    for task in live.drain(..) {
        m.scope(|s| check_task(s, &t, task))?;
    }
    prop_assert_eq!(heap.stats().suspended_tasks, 0);
    m.collect(CollectionKind::Major);
    let st = heap.stats();
    prop_assert_eq!(
        (
            st.suspended_tasks,
            st.young_bytes + st.old_bytes + st.large_bytes
        ),
        (0, 0),
        "the heap is not empty once every task is gone: {:?}",
        st
    );
    Ok(())
}

fn cases() -> u32 {
    std::env::var("CONTGC_REGISTRY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // No regression files: a failure prints its minimal case.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn registry_matches_model_naive(p in params(false), ops in vec(op(false), 1..128)) {
        run_model(RootMode::Naive, &p, &ops)?;
    }

    #[test]
    fn registry_matches_model_aged(p in params(false), ops in vec(op(false), 1..128)) {
        run_model(RootMode::Aged, &p, &ops)?;
    }

    #[test]
    fn registry_matches_model_grouped(p in params(false), ops in vec(op(false), 1..128)) {
        run_model(RootMode::Grouped, &p, &ops)?;
    }

    #[test]
    fn registry_matches_model_under_gc_stress(
        mode in prop::sample::select(vec![RootMode::Naive, RootMode::Aged, RootMode::Grouped]),
        p in params(true),
        ops in vec(op(true), 1..64),
    ) {
        run_model(mode, &p, &ops)?;
    }
}

/// The checks can fail: a task resumed with the wrong expectations is caught.
#[test]
fn the_checker_detects_divergence() {
    let heap = Heap::new(Config::builder().verify_after_gc(true).build().unwrap()).unwrap();
    let t = Types::register(&heap);
    let mut gen = Gen(0);
    let mut m = heap.mutator();
    m.scope(|s| {
        let task = suspend_heap(s, &t, &mut gen, 3, false, 0);
        let Want::Heap(mut frames) = task.want else {
            unreachable!()
        };
        frames[1].1 += 1;
        assert!(check_heap_task(s, &t, task.root, &frames, None).is_err());
        let items = [
            Item::Ref(Size::Small),
            Item::Data(5),
            Item::Byref {
                pick: 0,
                fresh: None,
                offset: 3,
            },
        ];
        let task = suspend_tasklet(s, &t, &mut gen, &items).unwrap();
        let Want::Tasklet(mut words) = task.want else {
            unreachable!()
        };
        words[1] = Word::Data(6);
        assert!(check_tasklet(s, task.root, &words).is_err());
        let task = suspend_tasklet(s, &t, &mut gen, &items).unwrap();
        let Want::Tasklet(words) = task.want else {
            unreachable!()
        };
        s.collect(CollectionKind::Minor);
        // A byref recorded as pushed after that collection must still be unresolved.
        let now = collections(s);
        let words: Vec<Word> = words
            .into_iter()
            .map(|w| match w {
                Word::Byref {
                    value, offset, via, ..
                } => Word::Byref {
                    value,
                    offset,
                    via,
                    collections: now,
                },
                w => w,
            })
            .collect();
        assert!(check_tasklet(s, task.root, &words).is_err());
    });
}

/// Groups of the registry's second segment (4096 groups to a segment): one mutator
/// per task, each dropped with its task still registered, so that every task has a
/// group of its own; minor collections must still find the young ones.
#[test]
fn tasks_in_thousands_of_groups() {
    const TASKS: usize = 4096 + 200;
    for mode in [RootMode::Naive, RootMode::Aged, RootMode::Grouped] {
        let heap = Heap::new(
            Config::builder()
                .root_mode(mode)
                .nursery_size(256 << 10)
                .tlab_size(4 << 10)
                .verify_after_gc(true)
                .build()
                .unwrap(),
        )
        .unwrap();
        let t = Types::register(&heap);
        let mut gen = Gen(0);
        let mut tasks = Vec::with_capacity(TASKS);
        for i in 0..TASKS {
            let mut m = heap.mutator();
            let task = m.scope(|s| {
                if i % 2 == 0 {
                    suspend_heap(s, &t, &mut gen, 1, false, 0)
                } else {
                    suspend_tasklet(s, &t, &mut gen, &[Item::Ref(Size::Small)]).unwrap()
                }
            });
            tasks.push(task);
            if i % 1000 == 999 || i == TASKS - 50 {
                m.collect(CollectionKind::Minor);
            }
        }
        assert_eq!(heap.stats().suspended_tasks, TASKS, "{mode:?}");
        let mut m = heap.mutator();
        m.scope(|s| {
            // The newest tasks (young, in the last groups) first, with collections
            // in between.
            for (n, task) in tasks.drain(..).rev().enumerate() {
                check_task(s, &t, task).unwrap_or_else(|e| panic!("{mode:?}: {e}"));
                if n % 97 == 0 {
                    s.collect(CollectionKind::Minor);
                }
            }
        });
        assert_eq!(heap.stats().suspended_tasks, 0, "{mode:?}");
    }
}

#[test]
#[should_panic(expected = "belongs to heap")]
fn resuming_a_task_of_another_heap_panics() {
    let h1 = Heap::new(Config::default()).unwrap();
    let h2 = Heap::new(Config::default()).unwrap();
    let task = h1.mutator().scope(|s| s.new_tasklet());
    h2.mutator().scope(|s| {
        s.resume_task(task);
    });
}

#[test]
#[should_panic(expected = "not a tasklet")]
fn pushing_into_a_heap_task_panics() {
    let heap = Heap::new(Config::default()).unwrap();
    let t = Types::register(&heap);
    let mut m = heap.mutator();
    m.scope(|s| {
        let mut task = suspend_heap(s, &t, &mut Gen(0), 2, false, 0);
        s.tasklet_push_data(&mut task.root, 1);
    });
}

// ---------------------------------------------------------------------------------
// Two mutator threads.
// ---------------------------------------------------------------------------------

const THREAD_ROUNDS: usize = 200;
/// Tasks each thread suspends per round; it hands `SEND` of them to the other thread
/// (so each thread fills and releases several groups, which the other thread's
/// resumptions and drops empty).
const PER_ROUND: usize = 24;
const SEND: usize = 20;

/// Tasks a worker resumed and dropped.
#[derive(Default)]
struct Done {
    resumed: usize,
    dropped: usize,
}

fn worker(
    heap: Heap,
    t: Types,
    id: usize,
    tx: mpsc::Sender<Task>,
    rx: mpsc::Receiver<Task>,
) -> Done {
    let mut gen = Gen((id as u64) << 48);
    let mut m = heap.mutator();
    let mut own: Vec<Task> = Vec::new();
    let mut received: Vec<Task> = Vec::new();
    let mut done = Done::default();
    let tasklet_items = [
        Item::Ref(Size::Small),
        Item::Data(id as u64),
        Item::Byref {
            pick: 0,
            fresh: None,
            offset: 8,
        },
        Item::NullRef,
        Item::Byref {
            pick: 0,
            fresh: Some(Size::Mid),
            offset: 5,
        },
        Item::Ref(Size::Small),
    ];
    for round in 0..THREAD_ROUNDS {
        // Suspend into this thread's group; hand most tasks to the other thread.
        m.scope(|s| {
            for k in 0..PER_ROUND {
                let task = if k % 2 == 0 {
                    suspend_heap(s, &t, &mut gen, 1 + k % 4, k % 4 == 0, k % 3)
                } else {
                    suspend_tasklet(s, &t, &mut gen, &tasklet_items[..1 + k % 6]).unwrap()
                };
                if k < SEND {
                    tx.send(task).expect("the other thread is alive");
                } else {
                    own.push(task);
                }
            }
        });
        if round % 4 == id {
            m.collect(CollectionKind::Minor);
        }
        if round % 10 == 3 + 5 * id {
            m.collect(CollectionKind::Major);
        }
        if round % 16 == 7 + 8 * id {
            // A fresh mutator: the old one's group is released (and recycled once
            // empty). The old one goes first: attaching a second mutator on this
            // thread would wait for a collection that waits for the first.
            drop(m);
            m = heap.mutator();
        }
        // Receive the other thread's tasks in native state, so that its collections
        // can run while this thread waits.
        for _ in 0..SEND {
            let task = m
                .blocking(|| rx.recv())
                .expect("the other thread sends every round");
            received.push(task);
        }
        m.scope(|s| {
            // Extend the other thread's tasklets (their groups are its own), then
            // resume or drop most of what was received and a few of this thread's own
            // tasks.
            for task in received.iter_mut() {
                if let Want::Tasklet(want) = &mut task.want {
                    push_items(
                        s,
                        &t,
                        &mut gen,
                        &mut task.root,
                        &[Item::Ref(Size::Small)],
                        want,
                    )
                    .unwrap();
                }
            }
            garbage(s, &t, 200 + 100 * (round % 3), round % 5 == 0);
            for j in 0..received.len() * 3 / 4 {
                let task = received.swap_remove((round * 31 + j) % received.len());
                if j % 5 == 4 {
                    drop(task);
                    done.dropped += 1;
                } else {
                    resume_or_panic(s, &t, task);
                    done.resumed += 1;
                }
            }
            for j in 0..2 {
                if !own.is_empty() {
                    resume_or_panic(s, &t, own.swap_remove((round * 17 + j) % own.len()));
                    done.resumed += 1;
                }
            }
            if round % 8 == 7 {
                // Everything this thread holds, so that groups empty while their
                // owners still fill them.
                for task in received.drain(..).chain(own.drain(..)) {
                    resume_or_panic(s, &t, task);
                    done.resumed += 1;
                }
            }
        });
        if round % 8 == 7 {
            m.collect(CollectionKind::Minor);
        }
    }
    m.collect(CollectionKind::Minor);
    m.scope(|s| {
        for task in received.drain(..).chain(own.drain(..)) {
            resume_or_panic(s, &t, task);
            done.resumed += 1;
        }
    });
    done
}

#[test]
fn threads_resume_each_others_tasks() {
    for mode in [RootMode::Naive, RootMode::Aged, RootMode::Grouped] {
        let heap = Heap::new(
            Config::builder()
                .root_mode(mode)
                .nursery_size(128 << 10)
                .verify_after_gc(true)
                .build()
                .unwrap(),
        )
        .unwrap();
        let t = Types::register(&heap);
        let (tx0, rx0) = mpsc::channel();
        let (tx1, rx1) = mpsc::channel();
        let workers = [(0, tx1, rx0), (1, tx0, rx1)].map(|(id, tx, rx)| {
            let heap = heap.clone();
            thread::spawn(move || worker(heap, t, id, tx, rx))
        });
        let (mut resumed, mut dropped) = (0, 0);
        for w in workers {
            let d = w.join().expect("worker thread");
            resumed += d.resumed;
            dropped += d.dropped;
        }
        assert_eq!(resumed + dropped, 2 * THREAD_ROUNDS * PER_ROUND, "{mode:?}");
        assert!(dropped > 0, "{mode:?}");
        let st = heap.stats();
        assert_eq!(st.suspended_tasks, 0, "{mode:?}: {st:?}");
        assert!(
            st.minor_collections > 0 && st.major_collections > 0,
            "{mode:?}: {st:?}"
        );
    }
}

/// Regression: dropping a `TaskRoot` (or taking it) on a thread that is not a running
/// mutator once raced with a collection compacting the same group (the collector
/// read a locator just nulled or freed, or visited a freed tasklet). Takes now hold
/// the registry's member lock, which collections hold while they visit the groups.
#[test]
fn dropping_task_roots_off_mutator_threads_races_with_compaction() {
    for _ in 0..50 {
        let heap = Heap::new(
            Config::builder()
                .root_mode(RootMode::Naive)
                .build()
                .unwrap(),
        )
        .unwrap();
        let obj = heap
            .register_type(&TypeDescriptor::fixed("Obj", 8))
            .unwrap();
        let mut m = heap.mutator();
        let roots: Vec<TaskRoot> = m.scope(|s| {
            (0..20_000)
                .map(|_| {
                    s.scope(|s| {
                        let mut t = s.new_tasklet();
                        let o = s.alloc(obj).unwrap();
                        s.tasklet_push_ref(&mut t, Some(o));
                        t
                    })
                })
                .collect()
        });
        let done = Arc::new(AtomicBool::new(false));
        let dropper = {
            let done = Arc::clone(&done);
            // No mutator on this thread.
            thread::spawn(move || {
                drop(roots);
                done.store(true, Ordering::Release);
            })
        };
        while !done.load(Ordering::Acquire) {
            m.collect(CollectionKind::Minor);
        }
        dropper.join().unwrap();
        m.collect(CollectionKind::Major);
        assert_eq!(heap.stats().suspended_tasks, 0);
    }
}
