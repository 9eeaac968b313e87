//! Model-based property test of continuation chains with byrefs.
//!
//! Each case builds random chains of continuations (random frame layouts: 0..=3
//! references, 0..=2 byrefs, 0..=32 data bytes, no/data/reference result slot) with
//! random payloads, whose references and byrefs point into random objects: young and
//! old small objects (promoted by the collections the case runs), byte arrays in the
//! nursery and in the large-object space, and other continuations' payloads (a
//! suspended caller's locals among them). Byrefs are captured both through the safe
//! path (`Capture::set_byref`, stored resolved) and the raw path
//! (`Capture::set_byref_raw`, resolved by the next collection), at random 8-aligned,
//! in-bounds payload offsets; some targets are rooted only by the capturing
//! continuation (a reference or a byref, raw or not). A chain is rooted by a local per
//! continuation, by a local for its leaf only (callers through `next`), or by a
//! suspended task; rooted continuations are also re-captured in place, overwriting
//! their references and byrefs (resolved or not).
//!
//! Minor and major collections (explicit, triggered by garbage, or every n allocations
//! under GC stress) run in between, with small nurseries (64-256 KiB), promotion ages
//! 1..=3, both continuation placements and every root mode; the verifier runs after
//! every collection, and each raw capture must be resolved exactly once. A model
//! says what every object and continuation must hold; the checks read every
//! continuation through the scope (data, references, `next`, result slots, byrefs:
//! unresolved only while no collection has run since the raw capture, otherwise
//! resolved to the captured base and offset), write a fresh value through every byref
//! and check that exactly the captured field of the base changed. Finally every chain
//! is resumed with `resume_chain_with`, the model as its context: each frame checks
//! its data, references and result slot through the `Frame` accessors, reads and
//! writes through its byrefs, and returns a value that must reach its caller's result
//! slot (and the root's value the chain's outcome).
//!
//! Cases: `CONTGC_CONT_CASES` (default 1024) normal cases, a quarter of that under GC
//! stress.

use contgc_collector::{
    Byref, CollectionKind, Config, ContinuationPlacement, Heap, Local, ObjectRef, RootMode, Scope,
    TaskRoot, TypeDescriptor, TypeId,
};
use contgc_continuation::layout::STATE_OFFSET;
use contgc_continuation::{
    resume_chain, resume_chain_with, Capture, ChainOutcome, Continuation, Frame, FrameLayout,
    FrameType, Outcome, ResultKind, Suspension, Value,
};
use proptest::collection::vec;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------
// What a case does.
// ---------------------------------------------------------------------------------

/// Data words (after the reference slot and the id word) of the small object types.
const SMALL_WORDS: [usize; 3] = [1, 4, 13];

#[derive(Clone, Debug)]
struct LayoutSpec {
    refs: u32,
    byrefs: u32,
    data_bytes: u32,
    result: ResultKind,
}

#[derive(Clone, Debug)]
enum ObjKindSpec {
    /// One of the small types (index into `SMALL_WORDS`).
    Small(usize),
    /// A byte array with this many data words and an id word (>= 512: a large object).
    Bytes(u32),
}

#[derive(Clone, Debug)]
struct ObjSpec {
    kind: ObjKindSpec,
    /// For small objects: what their reference slot points at.
    ref_sel: Option<u32>,
}

#[derive(Clone, Copy, Debug)]
enum TargetSel {
    /// Any rooted object (or a fresh one of this frame).
    Any(u32),
    /// A caller's continuation in the same chain.
    Caller(u32),
    /// An object allocated for this frame only (rooted by the frame alone).
    Fresh(u32),
}

#[derive(Clone, Debug)]
struct ByrefSpec {
    null: bool,
    raw: bool,
    target: TargetSel,
    word: u32,
}

#[derive(Clone, Debug)]
struct FrameSpec {
    layout: u32,
    fresh: Vec<ObjSpec>,
    refs: Vec<Option<u32>>,
    byrefs: Vec<ByrefSpec>,
}

/// What keeps a chain alive.
#[derive(Clone, Copy, Debug)]
enum Rooting {
    /// A local for every continuation.
    All,
    /// A local for the leaf (the chain's head); its callers only through `next`.
    Head,
    /// A suspended task (the registry) for the head, no local.
    Task,
}

#[derive(Clone, Debug)]
enum Op {
    Alloc(ObjSpec),
    /// Frames leaf first.
    Chain {
        frames: Vec<FrameSpec>,
        rooting: Rooting,
    },
    /// Captures new references and byrefs into a rooted continuation, in place
    /// (overwriting the old ones, resolved or not).
    Recapture(u32, FrameSpec),
    Gc(CollectionKind),
    /// Allocate about this many KiB of garbage.
    Garbage(u32),
    Check {
        write: bool,
    },
}

#[derive(Clone, Debug)]
struct Case {
    nursery: usize,
    promotion_age: u8,
    placement: ContinuationPlacement,
    root_mode: RootMode,
    stress: Option<u32>,
    seed: u64,
    layouts: Vec<LayoutSpec>,
    ops: Vec<Op>,
    final_gc: CollectionKind,
    gc_between_resumes: bool,
    reverse_resume: bool,
}

fn layout_spec() -> impl Strategy<Value = LayoutSpec> {
    (
        0u32..=3,
        0u32..=2,
        0u32..=32,
        prop_oneof![
            Just(ResultKind::None),
            Just(ResultKind::Data),
            Just(ResultKind::Ref)
        ],
    )
        .prop_map(|(refs, byrefs, data_bytes, result)| LayoutSpec {
            refs,
            byrefs,
            data_bytes,
            result,
        })
}

fn obj_spec() -> impl Strategy<Value = ObjSpec> {
    (
        prop_oneof![
            3 => (0usize..SMALL_WORDS.len()).prop_map(ObjKindSpec::Small),
            2 => (1u32..=48).prop_map(ObjKindSpec::Bytes),
            1 => (512u32..=1536).prop_map(ObjKindSpec::Bytes),
        ],
        proptest::option::of(any::<u32>()),
    )
        .prop_map(|(kind, ref_sel)| ObjSpec { kind, ref_sel })
}

fn byref_spec() -> impl Strategy<Value = ByrefSpec> {
    (
        proptest::bool::weighted(0.1),
        any::<bool>(),
        prop_oneof![
            2 => any::<u32>().prop_map(TargetSel::Any),
            1 => any::<u32>().prop_map(TargetSel::Caller),
            1 => any::<u32>().prop_map(TargetSel::Fresh),
        ],
        any::<u32>(),
    )
        .prop_map(|(null, raw, target, word)| ByrefSpec {
            null,
            raw,
            target,
            word,
        })
}

fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    (
        any::<u32>(),
        vec(obj_spec(), 0..=2),
        vec(proptest::option::weighted(0.8, any::<u32>()), 3),
        vec(byref_spec(), 2),
    )
        .prop_map(|(layout, fresh, refs, byrefs)| FrameSpec {
            layout,
            fresh,
            refs,
            byrefs,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => obj_spec().prop_map(Op::Alloc),
        3 => (
            vec(frame_spec(), 1..=5),
            prop_oneof![Just(Rooting::All), Just(Rooting::Head), Just(Rooting::Task)],
        )
            .prop_map(|(frames, rooting)| Op::Chain { frames, rooting }),
        1 => (any::<u32>(), frame_spec()).prop_map(|(sel, fs)| Op::Recapture(sel, fs)),
        2 => prop_oneof![Just(CollectionKind::Minor), Just(CollectionKind::Major)].prop_map(Op::Gc),
        1 => (1u32..=256).prop_map(Op::Garbage),
        2 => any::<bool>().prop_map(|write| Op::Check { write }),
    ]
}

fn case(stress: bool) -> impl Strategy<Value = Case> {
    let stress = if stress {
        (1u32..30).prop_map(Some).boxed()
    } else {
        Just(None).boxed()
    };
    (
        (
            (4usize..=16).prop_map(|x| x * (16 << 10)),
            1u8..=3,
            prop_oneof![
                Just(ContinuationPlacement::Nursery),
                Just(ContinuationPlacement::OldGeneration)
            ],
            prop_oneof![
                Just(RootMode::Naive),
                Just(RootMode::Aged),
                Just(RootMode::Grouped)
            ],
            stress,
            any::<u64>(),
        ),
        vec(layout_spec(), 1..=5),
        vec(op(), 1..=20),
        (
            prop_oneof![Just(CollectionKind::Minor), Just(CollectionKind::Major)],
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (nursery, promotion_age, placement, root_mode, stress, seed),
                layouts,
                ops,
                (final_gc, gc_between_resumes, reverse_resume),
            )| Case {
                nursery,
                promotion_age,
                placement,
                root_mode,
                stress,
                seed,
                layouts,
                ops,
                final_gc,
                gc_between_resumes,
                reverse_resume,
            },
        )
}

// ---------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Reference slot at 0, id word at 8, data words from 16.
    Small(usize),
    /// Data words from 0, then the id word (the last one).
    Bytes,
    /// A continuation of layout `.0`; its id is its `state` word.
    Cont(usize),
}

#[derive(Clone, Copy, Debug)]
struct ByrefModel {
    target: u32,
    word: usize,
    raw: bool,
    gcs_at_capture: u64,
}

#[derive(Clone, Debug)]
struct ContModel {
    layout: usize,
    /// The caller (`next`).
    next: Option<u32>,
    /// The callee, whose return value lands in the result slot.
    callee: Option<u32>,
    refs: Vec<Option<u32>>,
    byrefs: Vec<Option<ByrefModel>>,
    resumed: bool,
}

struct Obj {
    kind: Kind,
    /// Data words (for continuations, the last one may be a partial word, always 0).
    words: Vec<u64>,
    /// Words that may be written (captured, or through a byref).
    targetable: usize,
    /// Index in the table of rooted locals.
    root: Option<usize>,
    /// Small objects: the reference slot.
    ref0: Option<u32>,
    cont: Option<ContModel>,
}

struct Model {
    small: [TypeId; 3],
    bytes: TypeId,
    layouts: Vec<(LayoutSpec, FrameType<Ctx>)>,
    objs: Vec<Obj>,
    /// Object id of each rooted local.
    root_ids: Vec<u32>,
    seed: u64,
    fresh: u64,
    /// Frames resumed by the current `resume_chain_with`, in order.
    log: Vec<u32>,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The value frame `id` returns.
fn value_for(id: u32) -> u64 {
    mix(0xc0de_0000_0000 ^ u64::from(id))
}

impl Model {
    fn initial_word(&self, id: u32, w: usize) -> u64 {
        mix(self.seed ^ (u64::from(id) << 24) ^ w as u64)
    }

    fn next_fresh(&mut self) -> u64 {
        self.fresh += 1;
        mix(self.seed.rotate_left(17) ^ self.fresh) | 1
    }

    fn cont(&self, id: u32) -> &ContModel {
        self.objs[id as usize]
            .cont
            .as_ref()
            .expect("a continuation")
    }

    fn data_at(&self, layout: usize) -> usize {
        let (spec, ft) = &self.layouts[layout];
        ft.object_size() - 8 - spec.data_bytes.div_ceil(8) as usize * 8
    }

    /// Payload offset of the object's first checked word.
    fn region_start(&self, id: u32) -> usize {
        match self.objs[id as usize].kind {
            Kind::Small(_) => 8,
            Kind::Bytes => 0,
            Kind::Cont(l) => self.data_at(l),
        }
    }

    fn expected_region(&self, id: u32) -> Vec<u64> {
        let o = &self.objs[id as usize];
        match o.kind {
            Kind::Cont(_) => o.words.clone(),
            Kind::Small(_) => std::iter::once(u64::from(id))
                .chain(o.words.iter().copied())
                .collect(),
            Kind::Bytes => o
                .words
                .iter()
                .copied()
                .chain(std::iter::once(u64::from(id)))
                .collect(),
        }
    }

    /// Payload offset of data word `w`.
    fn word_offset(&self, id: u32, w: usize) -> usize {
        match self.objs[id as usize].kind {
            Kind::Small(_) => 16 + 8 * w,
            Kind::Bytes => 8 * w,
            Kind::Cont(l) => self.data_at(l) + 8 * w,
        }
    }

    /// What continuation `id`'s data result slot holds (`delivered`: its callee has
    /// returned).
    fn result_data(&self, id: u32, delivered: bool) -> u64 {
        match self.cont(id).callee {
            Some(c) if delivered => value_for(c),
            _ => 0,
        }
    }

    fn result_ref(&self, id: u32, delivered: bool) -> Option<u32> {
        match self.cont(id).callee {
            Some(c) if delivered && c % 2 == 0 => Some(c),
            _ => None,
        }
    }
}

/// The context of the frames while a chain is resumed: the model, moved in for the
/// run (no thread-locals).
type Ctx = Option<Model>;

// ---------------------------------------------------------------------------------
// Checks.
// ---------------------------------------------------------------------------------

fn gc_count(s: &mut Scope<'_>) -> u64 {
    let st = s.stats();
    st.minor_collections + st.major_collections
}

/// The model id of the object `l` holds.
fn id_of<'s>(s: &mut Scope<'s>, m: &Model, l: Local<'s>) -> u32 {
    let ti = s.type_index(l);
    if m.small.iter().any(|t| t.index() == ti) {
        s.read_u64(l, 8) as u32
    } else if ti == m.bytes.index() {
        let len = s.len(l) as usize;
        s.read_u64(l, len - 8) as u32
    } else {
        assert!(
            m.layouts.iter().any(|(_, ft)| ft.type_id().index() == ti),
            "an object of unexpected type index {ti}"
        );
        // SAFETY: `l` holds a live continuation; STATE is its private u32 word, which
        // this test sets to the continuation's id.
        unsafe { s.raw(l).load_u32(STATE_OFFSET) }
    }
}

/// Checks that `l` is object `id` and holds what the model says (every data word, the
/// id word, a small object's reference).
fn check_object<'s>(s: &mut Scope<'s>, m: &Model, l: Local<'s>, id: u32, what: &str) {
    let got_id = id_of(s, m, l);
    assert_eq!(got_id, id, "{what}: found object {got_id}, expected {id}");
    let exp = m.expected_region(id);
    if !exp.is_empty() {
        let mut buf = vec![0u8; exp.len() * 8];
        s.read_bytes(l, m.region_start(id), &mut buf);
        let got: Vec<u64> = buf
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
            .collect();
        if let Some(i) = (0..exp.len()).find(|&i| got[i] != exp[i]) {
            panic!(
                "{what}: object {id} ({:?}) word {i} of its checked region (payload offset {}) is {:#x}, expected {:#x}",
                m.objs[id as usize].kind,
                m.region_start(id) + 8 * i,
                got[i],
                exp[i]
            );
        }
    }
    if let Kind::Small(_) = m.objs[id as usize].kind {
        let r = s.get_ref(l, 0);
        let rid = r.map(|r| id_of(s, m, r));
        assert_eq!(
            rid, m.objs[id as usize].ref0,
            "{what}: small object {id}'s reference"
        );
    }
}

/// Checks continuation `id` (held by `l`) through the scope: layout, `next`, data,
/// references, result slot and byrefs; with `write`, writes a fresh value through
/// every resolved byref and checks that exactly the captured field changed.
fn check_cont<'s>(
    s: &mut Scope<'s>,
    m: &mut Model,
    table: &[Local<'s>],
    l: Local<'s>,
    id: u32,
    write: bool,
) {
    let c = m.cont(id).clone();
    let (spec, ft) = m.layouts[c.layout].clone();
    assert_eq!(
        s.type_index(l),
        ft.type_id().index(),
        "continuation {id}'s type"
    );
    let next = Continuation::from_local(s, l)
        .expect("a continuation")
        .next(s)
        .map(|n| id_of(s, m, n.local()));
    assert_eq!(next, c.next, "continuation {id}'s next");
    for (r, exp) in c.refs.iter().enumerate() {
        let got = s.get_ref(l, ft.ref_offset(r as u32));
        match (got, exp) {
            (None, None) => {}
            (Some(g), Some(e)) => {
                check_object(s, m, g, *e, &format!("continuation {id} reference {r}"))
            }
            (g, e) => panic!(
                "continuation {id} reference {r}: found {:?}, expected {e:?}",
                g.map(|g| id_of(s, m, g))
            ),
        }
    }
    match spec.result {
        ResultKind::None => {}
        ResultKind::Data => {
            let off = ft.result_offset().expect("a result slot");
            assert_eq!(
                s.read_u64(l, off),
                m.result_data(id, c.resumed),
                "continuation {id}'s data result slot"
            );
        }
        ResultKind::Ref => {
            let off = ft.result_offset().expect("a result slot");
            let got = s.get_ref(l, off).map(|r| id_of(s, m, r));
            assert_eq!(
                got,
                m.result_ref(id, c.resumed),
                "continuation {id}'s reference result slot"
            );
        }
    }
    for (b, bm) in c.byrefs.iter().enumerate() {
        let off = ft.byref_offset(b as u32);
        let got = s.byref(l, off).expect("a byref slot");
        match (got, bm) {
            (Byref::Null, None) => {}
            (Byref::Unresolved(addr), Some(bm)) => {
                assert!(
                    bm.raw,
                    "continuation {id} byref {b}: a safe capture is unresolved"
                );
                let now = gc_count(s);
                assert_eq!(
                    now,
                    bm.gcs_at_capture,
                    "continuation {id} byref {b}: still unresolved after {} collection(s)",
                    now - bm.gcs_at_capture
                );
                if let Some(root) = m.objs[bm.target as usize].root {
                    let want =
                        s.raw(table[root]).payload() as usize + m.word_offset(bm.target, bm.word);
                    assert_eq!(
                        addr, want,
                        "continuation {id} byref {b}: unresolved address"
                    );
                }
            }
            (Byref::Heap { base, offset }, Some(bm)) => {
                let what = format!("continuation {id} byref {b}");
                assert_eq!(
                    offset,
                    m.word_offset(bm.target, bm.word),
                    "{what}: offset in its base"
                );
                check_object(s, m, base, bm.target, &what);
                if let Some(root) = m.objs[bm.target as usize].root {
                    assert!(
                        s.same(base, table[root]),
                        "{what}: the base is not the rooted target"
                    );
                }
                assert_eq!(
                    s.read_u64_via(l, off),
                    m.objs[bm.target as usize].words[bm.word],
                    "{what}: read through it"
                );
                if write {
                    let v = m.next_fresh();
                    s.write_u64_via(l, off, v);
                    m.objs[bm.target as usize].words[bm.word] = v;
                    check_object(s, m, base, bm.target, &format!("{what} after a write"));
                    if let Some(root) = m.objs[bm.target as usize].root {
                        check_object(
                            s,
                            m,
                            table[root],
                            bm.target,
                            &format!("{what} after a write (rooted)"),
                        );
                    }
                }
            }
            (got, bm) => panic!("continuation {id} byref {b}: found {got:?}, expected {bm:?}"),
        }
    }
}

/// How a chain's head is kept.
enum ChainRoot<'s> {
    Local(Continuation<'s>),
    Task(TaskRoot),
}

/// Checks every rooted object (continuations in full), and every continuation
/// reached only through a chain's `next` links.
fn check_all<'s>(
    s: &mut Scope<'s>,
    m: &mut Model,
    table: &[Local<'s>],
    chains: &[(Option<ChainRoot<'s>>, Vec<u32>)],
    write: bool,
) {
    for (idx, &l) in table.iter().enumerate() {
        let id = m.root_ids[idx];
        s.scope(|i| {
            check_object(i, m, l, id, &format!("rooted object {id}"));
            if m.objs[id as usize].cont.is_some() {
                check_cont(i, m, table, l, id, write);
            }
        });
    }
    for (root, ids) in chains {
        s.scope(|i| {
            let cur = match root.as_ref().expect("a chain root") {
                ChainRoot::Local(k) => i.dup(k.local()),
                ChainRoot::Task(t) => {
                    let head = t.heap_head().expect("a heap-frames task");
                    // SAFETY: the head's current address, read just now; nothing
                    // collected since.
                    unsafe { i.from_raw(ObjectRef::from_addr(head).expect("non-null")) }
                }
            };
            for (n, &id) in ids.iter().enumerate() {
                if m.objs[id as usize].root.is_none() {
                    check_object(i, m, cur, id, &format!("chained continuation {id}"));
                    check_cont(i, m, table, cur, id, write);
                }
                if n + 1 < ids.len() {
                    let next = Continuation::from_local(i, cur)
                        .expect("a continuation")
                        .next(i)
                        .expect("a chain ends early");
                    i.set_local(cur, next.local());
                }
            }
        });
    }
}

// ---------------------------------------------------------------------------------
// The resume function: every frame checks itself against the model.
// ---------------------------------------------------------------------------------

fn model_frame<'s>(f: &mut Frame<'_, 's, Ctx>) -> Outcome<'s> {
    // Out of the context while the frame checks itself (it also uses the frame).
    let mut m = f
        .ctx()
        .take()
        .expect("the model is installed while resuming");
    let out = resume_frame(f, &mut m);
    *f.ctx() = Some(m);
    out
}

fn resume_frame<'s>(f: &mut Frame<'_, 's, Ctx>, m: &mut Model) -> Outcome<'s> {
    let id = f.state();
    let c = m.cont(id).clone();
    let (spec, ft) = m.layouts[c.layout].clone();
    m.log.push(id);
    for w in 0..m.objs[id as usize].targetable {
        assert_eq!(
            f.u64(&ft, (w * 8) as u32),
            m.objs[id as usize].words[w],
            "resumed frame {id}: data word {w}"
        );
    }
    for (r, exp) in c.refs.iter().enumerate() {
        let got = f.get_ref(&ft, r as u32);
        match (got, exp) {
            (None, None) => {}
            (Some(g), Some(e)) => check_object(
                f.scope(),
                m,
                g,
                *e,
                &format!("resumed frame {id} reference {r}"),
            ),
            (g, e) => panic!(
                "resumed frame {id} reference {r}: found {:?}, expected {e:?}",
                g.map(|g| id_of(f.scope(), m, g))
            ),
        }
    }
    match spec.result {
        ResultKind::None => {}
        ResultKind::Data => assert_eq!(
            f.result_u64(&ft),
            m.result_data(id, true),
            "resumed frame {id}: data result"
        ),
        ResultKind::Ref => {
            let got = f.result_ref(&ft).map(|r| id_of(f.scope(), m, r));
            assert_eq!(
                got,
                m.result_ref(id, true),
                "resumed frame {id}: reference result"
            );
        }
    }
    for (b, bm) in c.byrefs.iter().enumerate() {
        let Some(bm) = bm else { continue };
        let what = format!("resumed frame {id} byref {b}");
        assert_eq!(
            f.u64_via_byref(&ft, b as u32),
            m.objs[bm.target as usize].words[bm.word],
            "{what}: read through it"
        );
        let v = m.next_fresh();
        f.set_u64_via_byref(&ft, b as u32, v);
        m.objs[bm.target as usize].words[bm.word] = v;
        let k = f.continuation().local();
        match f.scope().byref(k, ft.byref_offset(b as u32)) {
            Ok(Byref::Heap { base, offset }) => {
                assert_eq!(offset, m.word_offset(bm.target, bm.word), "{what}: offset");
                check_object(
                    f.scope(),
                    m,
                    base,
                    bm.target,
                    &format!("{what} after a write"),
                );
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    let v = match c.next {
        None => Value::Data(value_for(id)),
        Some(caller) => match m.layouts[m.cont(caller).layout].0.result {
            ResultKind::None => Value::Unit,
            ResultKind::Data => Value::Data(value_for(id)),
            ResultKind::Ref if id % 2 == 0 => {
                // A copy of the local: the one `Frame::continuation` gives is the
                // dispatcher's cursor, which moves on to the caller before the value
                // is delivered (see `a_frame_returning_its_own_continuation`).
                let k = f.continuation().local();
                Value::Ref(Some(f.scope().dup(k)))
            }
            ResultKind::Ref => Value::Ref(None),
        },
    };
    Outcome::Return(v)
}

// ---------------------------------------------------------------------------------
// Running a case.
// ---------------------------------------------------------------------------------

fn targetable_of(kind: &ObjKindSpec) -> usize {
    match *kind {
        ObjKindSpec::Small(t) => SMALL_WORDS[t],
        ObjKindSpec::Bytes(w) => w as usize,
    }
}

/// Allocates an object of `spec` (rooted by `s` until it closes), fills it and records
/// it in the model. Its reference slot, if any, points at one of `cands`.
fn alloc_obj<'x>(
    s: &mut Scope<'x>,
    m: &mut Model,
    cands: &[(Local<'x>, u32)],
    spec: &ObjSpec,
) -> (Local<'x>, u32) {
    let id = m.objs.len() as u32;
    let (l, kind) = match spec.kind {
        ObjKindSpec::Small(t) => (s.alloc(m.small[t]).expect("alloc"), Kind::Small(t)),
        ObjKindSpec::Bytes(w) => (
            s.alloc_array(m.bytes, 8 * (w + 1)).expect("alloc"),
            Kind::Bytes,
        ),
    };
    let n = targetable_of(&spec.kind);
    let words: Vec<u64> = (0..n).map(|w| m.initial_word(id, w)).collect();
    m.objs.push(Obj {
        kind,
        words,
        targetable: n,
        root: None,
        ref0: None,
        cont: None,
    });
    let bytes: Vec<u8> = m
        .expected_region(id)
        .into_iter()
        .flat_map(u64::to_ne_bytes)
        .collect();
    s.write_bytes(l, m.region_start(id), &bytes);
    if let (Kind::Small(_), Some(sel)) = (kind, spec.ref_sel) {
        if !cands.is_empty() {
            let (t, tid) = cands[sel as usize % cands.len()];
            s.set_ref(l, 0, Some(t));
            m.objs[id as usize].ref0 = Some(tid);
        }
    }
    (l, id)
}

/// The objects of `pool` with at least one writable word.
fn writable<'l>(m: &Model, pool: &[(Local<'l>, u32)]) -> Vec<(Local<'l>, u32)> {
    pool.iter()
        .copied()
        .filter(|&(_, t)| m.objs[t as usize].targetable > 0)
        .collect()
}

/// Pass 2 of a chain: captures frame `j`'s references and byrefs into its
/// continuation (reused in place), after allocating its fresh objects.
#[allow(clippy::too_many_arguments)]
fn capture_frame<'s>(
    s: &mut Scope<'s>,
    m: &mut Model,
    table: &[Local<'s>],
    conts: &[Continuation<'s>],
    ids: &[u32],
    j: usize,
    fs: &FrameSpec,
    raw_captured: &mut usize,
) {
    let id = ids[j];
    let layout = m.cont(id).layout;
    let (spec, ft) = m.layouts[layout].clone();
    s.scope(|i| {
        let mut cands: Vec<(Local<'_>, u32)> = table
            .iter()
            .copied()
            .zip(m.root_ids.iter().copied())
            .collect();
        // The chain's own continuations (rooted or not).
        cands.extend(conts.iter().map(|k| k.local()).zip(ids.iter().copied()));
        let mut fresh: Vec<(Local<'_>, u32)> = Vec::new();
        for o in &fs.fresh {
            let (l, fid) = alloc_obj(i, m, &cands, o);
            fresh.push((l, fid));
            cands.push((l, fid));
        }
        let refs: Vec<Option<(Local<'_>, u32)>> = (0..spec.refs as usize)
            .map(|r| fs.refs[r].map(|sel| cands[sel as usize % cands.len()]))
            .collect();
        let any = writable(m, &cands);
        let mut byrefs = Vec::new();
        for bs in &fs.byrefs[..spec.byrefs as usize] {
            if bs.null {
                byrefs.push(None);
                continue;
            }
            let (pool, sel) = match bs.target {
                TargetSel::Any(sel) => (any.clone(), sel),
                TargetSel::Caller(sel) => {
                    let callers: Vec<(Local<'_>, u32)> = (j + 1..ids.len())
                        .map(|c| (conts[c].local(), ids[c]))
                        .collect();
                    (writable(m, &callers), sel)
                }
                TargetSel::Fresh(sel) => (writable(m, &fresh), sel),
            };
            let pool = if pool.is_empty() { any.clone() } else { pool };
            if pool.is_empty() {
                byrefs.push(None);
                continue;
            }
            let (l, t) = pool[sel as usize % pool.len()];
            let word = bs.word as usize % m.objs[t as usize].targetable;
            byrefs.push(Some((l, t, word, m.word_offset(t, word), bs.raw)));
        }
        // No allocation from here to the end of the capture: raw addresses stay valid.
        let addrs: Vec<usize> = byrefs
            .iter()
            .map(|b| b.map_or(0, |(l, _, _, off, _)| i.raw(l).payload() as usize + off))
            .collect();
        let gcs = gc_count(i);
        let mut c = Capture::begin(i, &ft, Some(conts[j]), id).expect("reuse");
        for (r, t) in refs.iter().enumerate() {
            c.set_ref(r as u32, t.map(|t| t.0));
        }
        for (b, (br, &addr)) in byrefs.iter().zip(&addrs).enumerate() {
            match *br {
                Some((l, _, _, off, false)) => {
                    c.set_byref(b as u32, l, off).expect("an in-bounds byref");
                }
                Some((_, _, _, _, true)) => {
                    // SAFETY: `addr` is inside the payload of a live object, computed
                    // after the last allocation.
                    unsafe { c.set_byref_raw(b as u32, addr) };
                }
                None => {
                    // SAFETY: a null byref (clears a recaptured slot).
                    unsafe { c.set_byref_raw(b as u32, 0) };
                }
            }
        }
        c.finish();
        let cm = m.objs[id as usize].cont.as_mut().expect("a continuation");
        // A raw capture overwritten before any collection is never resolved.
        *raw_captured -= cm
            .byrefs
            .iter()
            .flatten()
            .filter(|b| b.raw && b.gcs_at_capture == gcs)
            .count();
        cm.refs = refs.iter().map(|r| r.map(|r| r.1)).collect();
        cm.byrefs = byrefs
            .iter()
            .map(|b| {
                b.map(|(_, target, word, _, raw)| ByrefModel {
                    target,
                    word,
                    raw,
                    gcs_at_capture: gcs,
                })
            })
            .collect();
        *raw_captured += byrefs.iter().flatten().filter(|b| b.4).count();
    });
}

/// Captures a chain (leaf first) in `s`; returns its continuations and ids.
fn build_chain<'s>(
    s: &mut Scope<'s>,
    m: &mut Model,
    table: &[Local<'s>],
    frames: &[FrameSpec],
    raw_captured: &mut usize,
) -> (Vec<Continuation<'s>>, Vec<u32>) {
    // Pass 1: a continuation per frame, with its data, linked leaf -> root.
    let mut conts = Vec::new();
    let mut ids = Vec::new();
    let mut susp = Suspension::new();
    for fs in frames {
        let li = fs.layout as usize % m.layouts.len();
        let (spec, ft) = m.layouts[li].clone();
        let id = m.objs.len() as u32;
        let total = spec.data_bytes.div_ceil(8) as usize;
        let targetable = (spec.data_bytes / 8) as usize;
        let words: Vec<u64> = (0..total)
            .map(|w| {
                if w < targetable {
                    m.initial_word(id, w)
                } else {
                    0
                }
            })
            .collect();
        let mut c = Capture::begin(s, &ft, None, id).expect("capture");
        for (w, &v) in words[..targetable].iter().enumerate() {
            c.set_u64((w * 8) as u32, v);
        }
        let k = c.finish();
        susp.push(s, k);
        m.objs.push(Obj {
            kind: Kind::Cont(li),
            words,
            targetable,
            root: None,
            ref0: None,
            cont: Some(ContModel {
                layout: li,
                next: None,
                callee: None,
                refs: vec![None; spec.refs as usize],
                byrefs: vec![None; spec.byrefs as usize],
                resumed: false,
            }),
        });
        conts.push(k);
        ids.push(id);
    }
    assert!(s.same(susp.head().expect("a leaf").local(), conts[0].local()));
    for (j, &id) in ids.iter().enumerate() {
        let cm = m.objs[id as usize].cont.as_mut().expect("cont");
        cm.next = ids.get(j + 1).copied();
        cm.callee = j.checked_sub(1).map(|p| ids[p]);
    }
    // Pass 2: references and byrefs (the callers exist now).
    for (j, fs) in frames.iter().enumerate() {
        capture_frame(s, m, table, &conts, &ids, j, fs, raw_captured);
    }
    (conts, ids)
}

fn run_case(case: &Case) {
    let mut b = Config::builder()
        .nursery_size(case.nursery)
        .promotion_age(case.promotion_age)
        .continuation_placement(case.placement)
        .root_mode(case.root_mode)
        .verify_after_gc(true);
    if let Some(n) = case.stress {
        b = b.gc_stress(n);
    }
    let heap = Heap::new(b.build().expect("config")).expect("heap");
    let small = SMALL_WORDS.map(|n| {
        heap.register_type(
            &TypeDescriptor::fixed(format!("Small{n}"), 16 + 8 * n as u32).with_refs(&[0]),
        )
        .expect("small type")
    });
    let bytes = heap
        .register_type(&TypeDescriptor::array("Bytes", 0, 1))
        .expect("byte array type");
    let layouts: Vec<(LayoutSpec, FrameType<Ctx>)> = case
        .layouts
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let ft = FrameLayout::new(format!("Frame{i}"))
                .refs(l.refs)
                .byrefs(l.byrefs)
                .data_bytes(l.data_bytes)
                .result(l.result)
                .register_with_context::<Ctx>(&heap, model_frame)
                .expect("frame layout");
            (l.clone(), ft)
        })
        .collect();
    let mut mutator = heap.mutator();
    mutator.scope(|s| {
        let mut model = Model {
            small,
            bytes,
            layouts,
            objs: Vec::new(),
            root_ids: Vec::new(),
            seed: case.seed,
            fresh: 0,
            log: Vec::new(),
        };
        let mut table: Vec<Local<'_>> = Vec::new();
        let mut chains: Vec<(Option<ChainRoot<'_>>, Vec<u32>)> = Vec::new();
        let mut raw_captured = 0usize;
        for op in &case.ops {
            match op {
                Op::Alloc(spec) => {
                    let cands: Vec<(Local<'_>, u32)> = table
                        .iter()
                        .copied()
                        .zip(model.root_ids.iter().copied())
                        .collect();
                    let (l, id) = alloc_obj(s, &mut model, &cands, spec);
                    table.push(l);
                    model.root_ids.push(id);
                    model.objs[id as usize].root = Some(table.len() - 1);
                }
                Op::Chain { frames, rooting } => {
                    let (root, ids) = match rooting {
                        Rooting::All => {
                            let (conts, ids) =
                                build_chain(s, &mut model, &table, frames, &mut raw_captured);
                            for (k, &id) in conts.iter().zip(&ids) {
                                table.push(k.local());
                                model.root_ids.push(id);
                                model.objs[id as usize].root = Some(table.len() - 1);
                            }
                            (ChainRoot::Local(conts[0]), ids)
                        }
                        Rooting::Head => {
                            // Only the leaf escapes the nested scope: its callers are
                            // reachable through `next` alone.
                            let mut ids = Vec::new();
                            let head = s
                                .scope_escape(|i| {
                                    let (conts, chain_ids) = build_chain(
                                        i,
                                        &mut model,
                                        &table,
                                        frames,
                                        &mut raw_captured,
                                    );
                                    ids = chain_ids;
                                    Some(conts[0].local())
                                })
                                .expect("the leaf");
                            let head = Continuation::from_local(s, head).expect("a continuation");
                            table.push(head.local());
                            model.root_ids.push(ids[0]);
                            model.objs[ids[0] as usize].root = Some(table.len() - 1);
                            (ChainRoot::Local(head), ids)
                        }
                        Rooting::Task => s.scope(|i| {
                            let (conts, ids) =
                                build_chain(i, &mut model, &table, frames, &mut raw_captured);
                            (ChainRoot::Task(i.suspend_task(conts[0].local())), ids)
                        }),
                    };
                    chains.push((Some(root), ids));
                }
                Op::Recapture(sel, fs) => {
                    let rooted: Vec<usize> = (0..table.len())
                        .filter(|&t| model.objs[model.root_ids[t] as usize].cont.is_some())
                        .collect();
                    if !rooted.is_empty() {
                        let t = rooted[*sel as usize % rooted.len()];
                        let id = model.root_ids[t];
                        let k = Continuation::from_local(s, table[t]).expect("a continuation");
                        capture_frame(s, &mut model, &table, &[k], &[id], 0, fs, &mut raw_captured);
                    }
                }
                Op::Gc(kind) => {
                    s.collect(*kind);
                }
                Op::Garbage(kib) => {
                    // 56-byte objects; few under GC stress (each can collect).
                    let n = match case.stress {
                        Some(_) => (*kib as usize).min(40),
                        None => *kib as usize * 1024 / 56,
                    };
                    for _ in 0..n {
                        // SAFETY: the mutator is only used; the garbage is not kept.
                        unsafe { s.mutator() }
                            .alloc_raw(model.small[1])
                            .expect("garbage");
                    }
                }
                Op::Check { write } => check_all(s, &mut model, &table, &chains, *write),
            }
        }
        // Raw captures are resolved by the next collection.
        s.collect(case.final_gc);
        check_all(s, &mut model, &table, &chains, true);

        let order: Vec<usize> = if case.reverse_resume {
            (0..chains.len()).rev().collect()
        } else {
            (0..chains.len()).collect()
        };
        for ci in order {
            let ids = chains[ci].1.clone();
            let head = match chains[ci].0.take().expect("a chain root") {
                ChainRoot::Local(k) => k,
                ChainRoot::Task(t) => {
                    let l = s.resume_task(t).into_heap().expect("a heap-frames task");
                    Continuation::from_local(s, l).expect("a continuation")
                }
            };
            chains[ci].0 = Some(ChainRoot::Local(head));
            model.log.clear();
            let mut ctx = Some(model);
            let out = resume_chain_with(s, head, &mut ctx).expect("resume");
            model = ctx.expect("the model comes back");
            let root = *ids.last().expect("a root");
            match out {
                ChainOutcome::Completed(Value::Data(v)) => {
                    assert_eq!(v, value_for(root), "chain {ci}: the root's value")
                }
                other => panic!("chain {ci}: {other:?}"),
            }
            assert_eq!(model.log, ids, "chain {ci}: frames resumed leaf to root");
            for &id in &ids {
                model.objs[id as usize].cont.as_mut().expect("cont").resumed = true;
            }
            if case.gc_between_resumes {
                s.collect(CollectionKind::Minor);
            }
        }
        check_all(s, &mut model, &table, &chains, true);
        let resolved: usize = s.heap().pauses().iter().map(|p| p.byrefs_resolved).sum();
        assert_eq!(
            resolved, raw_captured,
            "each raw capture is resolved exactly once"
        );
    });
}

fn cases() -> u32 {
    std::env::var("CONTGC_CONT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn chains_with_byrefs_match_the_model(case in case(false)) {
        run_case(&case);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: (cases() / 4).max(1),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn chains_with_byrefs_match_the_model_under_gc_stress(case in case(true)) {
        run_case(&case);
    }
}

// ---------------------------------------------------------------------------------
// Found by the model test.
// ---------------------------------------------------------------------------------

/// Returns its own continuation as its value.
fn returns_itself<'s>(f: &mut Frame<'_, 's>) -> Outcome<'s> {
    Outcome::Return(Value::Ref(Some(f.continuation().local())))
}

/// Returns 1 if the reference its callee returned is this frame's own continuation.
fn got_itself<'s>(f: &mut Frame<'_, 's>) -> Outcome<'s> {
    let ft = f.frame_type();
    let r = f.result_ref(ft).expect("the callee returned a reference");
    let me = f.continuation().local();
    Outcome::Return(Value::Data(u64::from(f.scope().same(r, me))))
}

/// Regression: `Frame::continuation` once handed out the dispatcher's cursor local,
/// which `resume_chain` moves on to the caller before it delivers the returned value,
/// so a frame returning `f.continuation().local()` delivered its caller instead.
#[test]
fn a_frame_returning_its_own_continuation() {
    let heap = Heap::new(Config::builder().verify_after_gc(true).build().unwrap()).unwrap();
    let callee_ft = FrameLayout::new("Callee")
        .register(&heap, returns_itself)
        .unwrap();
    let caller_ft = FrameLayout::new("Caller")
        .result(ResultKind::Ref)
        .register(&heap, got_itself)
        .unwrap();
    let mut m = heap.mutator();
    m.scope(|s| {
        let callee = Capture::begin(s, &callee_ft, None, 0).unwrap().finish();
        let caller = Capture::begin(s, &caller_ft, None, 1).unwrap().finish();
        let mut susp = Suspension::new();
        susp.push(s, callee);
        susp.push(s, caller);
        assert_eq!(
            resume_chain(s, callee).expect("resume"),
            ChainOutcome::Completed(Value::Data(0)),
            "the caller received itself, not its callee, as the callee's result"
        );
    });
}
