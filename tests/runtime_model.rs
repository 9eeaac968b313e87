//! Model-based property tests of what a language runtime needs from its heap: weak
//! slots, ephemerons, finalizers, tagged value slots and pins, against a plain model,
//! with the verifier on after every collection, GC stress in some cases and 1, 2 or 4
//! GC workers.
//!
//! The heap holds a root table (32 reference slots, in a persistent handle) and a
//! table of 8 cells, each with a weak slot, an ephemeron and a tagged slot. Objects
//! carry their model id; nothing refers to an object but the root table, the cells
//! and pins, so the model's strongly reachable set is: the root table's objects, the
//! tagged slots' references, the pinned objects, and, to a fix-point, the values of
//! ephemerons whose key is in the set. Once out of it an object can never come back
//! (the operations only ever reach objects through the root table).
//!
//! After every operation the test checks what must hold at any time: a weak slot is
//! empty or holds its own target, and holds it while the target is reachable; an
//! ephemeron is whole (its own key and value) or cleared, and whole while its key is
//! reachable; a tagged slot holds exactly what was written; a pinned object is where it
//! was pinned; a finalizer has run only for an unreachable object, at most once per
//! registration. After an explicit major collection it checks that every unreachable
//! object is gone: its weak slots and ephemerons cleared, and, once pending finalizers
//! have run, each of its finalizers run exactly once.
//!
//! `runtime_matches_model` runs `CONTGC_RUNTIME_MODEL_CASES` cases (default 150).

use contgc::{
    CollectionKind, Config, Heap, Local, Pinned, Scope, TagScheme, Tagged, TypeDescriptor, TypeId,
};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

const ROOTS: usize = 32;
const CELLS: usize = 8;
// Cell layout: weak slot 0, ephemeron 8 (key) and 16 (value), tagged slot 24.
const WEAK: usize = 0;
const EPH: usize = 8;
const TAGGED: usize = 24;

type Id = u64;

#[derive(Clone, Debug)]
enum Op {
    /// A new object in root slot `slot` (dropping what was there).
    Alloc {
        slot: usize,
    },
    /// Empties root slot `slot`.
    Drop {
        slot: usize,
    },
    /// Cell `cell`'s weak slot refers to root slot `slot`'s object.
    Weak {
        cell: usize,
        slot: usize,
    },
    /// Cell `cell`'s ephemeron: key root slot `key`'s object, value a new object held
    /// by nothing else.
    Ephemeron {
        cell: usize,
        key: usize,
    },
    /// Cell `cell`'s tagged slot: an immediate, or root slot `slot`'s object.
    TaggedImm {
        cell: usize,
        value: u32,
    },
    TaggedRef {
        cell: usize,
        slot: usize,
    },
    /// A finalizer on root slot `slot`'s object.
    Finalize {
        slot: usize,
    },
    /// Pins root slot `slot`'s object; unpins pin `index` (modulo the pins held).
    Pin {
        slot: usize,
    },
    Unpin {
        index: usize,
    },
    /// Garbage, to fill the nursery.
    Churn {
        count: u16,
    },
    Collect {
        major: bool,
    },
    RunFinalizers,
    /// Only for `the_checker_detects_divergence`: empties root slot `slot` in the heap
    /// and not in the model.
    Sabotage {
        slot: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..ROOTS;
    let cell = 0..CELLS;
    prop_oneof![
        6 => slot.clone().prop_map(|slot| Op::Alloc { slot }),
        3 => slot.clone().prop_map(|slot| Op::Drop { slot }),
        3 => (cell.clone(), slot.clone()).prop_map(|(cell, slot)| Op::Weak { cell, slot }),
        3 => (cell.clone(), slot.clone()).prop_map(|(cell, key)| Op::Ephemeron { cell, key }),
        1 => (cell.clone(), any::<u32>()).prop_map(|(cell, value)| Op::TaggedImm { cell, value }),
        2 => (cell, slot.clone()).prop_map(|(cell, slot)| Op::TaggedRef { cell, slot }),
        2 => slot.clone().prop_map(|slot| Op::Finalize { slot }),
        1 => slot.prop_map(|slot| Op::Pin { slot }),
        1 => any::<usize>().prop_map(|index| Op::Unpin { index }),
        1 => (1u16..400).prop_map(|count| Op::Churn { count }),
        2 => any::<bool>().prop_map(|major| Op::Collect { major }),
        1 => Just(Op::RunFinalizers),
    ]
}

#[derive(Clone, Debug)]
struct Params {
    nursery: usize,
    promotion_age: u8,
    workers: usize,
    stress: Option<u32>,
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop_oneof![Just(64usize << 10), Just(256 << 10)],
        1u8..=3,
        prop_oneof![Just(1usize), Just(2), Just(4)],
        prop::option::weighted(0.3, 1u32..40),
    )
        .prop_map(|(nursery, promotion_age, workers, stress)| Params {
            nursery,
            promotion_age,
            workers,
            stress,
        })
}

/// What a cell's tagged slot holds in the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TaggedModel {
    Imm(u64),
    Ref(Id),
}

#[derive(Default)]
struct Model {
    roots: [Option<Id>; ROOTS],
    weak: [Option<Id>; CELLS],
    eph: [Option<(Id, Id)>; CELLS],
    tagged: [Option<TaggedModel>; CELLS],
    /// Pinned objects: their id and address at pinning.
    pins: Vec<(Pinned, Id, usize)>,
    /// Finalizers registered, by object.
    finalizers: HashMap<Id, usize>,
    next: Id,
}

impl Model {
    /// The strongly reachable ids.
    fn reachable(&self) -> HashSet<Id> {
        let mut live: HashSet<Id> = self.roots.iter().flatten().copied().collect();
        live.extend(self.pins.iter().map(|p| p.1));
        live.extend(self.tagged.iter().filter_map(|t| match t {
            Some(TaggedModel::Ref(id)) => Some(*id),
            _ => None,
        }));
        loop {
            let before = live.len();
            for &(k, v) in self.eph.iter().flatten() {
                if live.contains(&k) {
                    live.insert(v);
                }
            }
            if live.len() == before {
                return live;
            }
        }
    }
}

struct Types {
    obj: TypeId,
    cell: TypeId,
    roots: TypeId,
}

fn obj<'s>(s: &mut Scope<'s>, t: &Types, id: Id) -> Local<'s> {
    let o = s.alloc(t.obj).unwrap();
    s.write_u64(o, 0, id);
    o
}

fn id_of<'s>(s: &mut Scope<'s>, l: Local<'s>) -> Id {
    s.read_u64(l, 0)
}

fn run_case(p: &Params, ops: &[Op]) -> Result<(), String> {
    let mut b = Config::builder()
        .nursery_size(p.nursery)
        .promotion_age(p.promotion_age)
        .gc_workers(p.workers)
        .parallel_threshold(0)
        .verify_after_gc(true);
    if let Some(n) = p.stress {
        b = b.gc_stress(n);
    }
    let heap = Heap::new(b.build().unwrap()).unwrap();
    let t = Types {
        obj: heap
            .register_type(&TypeDescriptor::fixed("Obj", 16))
            .unwrap(),
        cell: heap
            .register_type(
                &TypeDescriptor::fixed("Cell", 32)
                    .with_weak_refs(&[WEAK as u32])
                    .with_ephemerons(&[EPH as u32])
                    .with_tagged(&[TAGGED as u32], TagScheme::LOW_BIT),
            )
            .unwrap(),
        roots: heap
            .register_type(&TypeDescriptor::array("Roots", 0, 8).with_elem_refs(&[0]))
            .unwrap(),
    };
    let ran: Arc<Mutex<Vec<Id>>> = Arc::default();
    let mut model = Model {
        next: 1,
        ..Model::default()
    };
    let mut m = heap.mutator();
    m.scope(|s| {
        let roots = s.alloc_array(t.roots, ROOTS as u32).unwrap();
        let cells: Vec<Local<'_>> = (0..CELLS)
            .map(|_| {
                let c = s.alloc(t.cell).unwrap();
                s.set_tagged(c, TAGGED, Tagged::Imm(1)).unwrap();
                c
            })
            .collect();
        for c in 0..CELLS {
            model.tagged[c] = Some(TaggedModel::Imm(1));
        }
        for (step, op) in ops.iter().enumerate() {
            apply(s, &t, roots, &cells, &mut model, &ran, op);
            check(s, roots, &cells, &model, &ran)
                .map_err(|e| format!("after step {step} ({op:?}): {e}"))?;
            if matches!(op, Op::Collect { major: true }) {
                s.run_pending_finalizers();
                check_after_major(s, &cells, &model, &ran)
                    .map_err(|e| format!("after the major collection of step {step}: {e}"))?;
            }
        }
        Ok(())
    })
}

fn apply<'s>(
    s: &mut Scope<'s>,
    t: &Types,
    roots: Local<'s>,
    cells: &[Local<'s>],
    model: &mut Model,
    ran: &Arc<Mutex<Vec<Id>>>,
    op: &Op,
) {
    match *op {
        Op::Alloc { slot } => s.scope(|i| {
            let id = model.next;
            model.next += 1;
            let o = obj(i, t, id);
            i.set_ref(roots, 8 * slot, Some(o));
            model.roots[slot] = Some(id);
        }),
        Op::Drop { slot } => {
            s.set_ref(roots, 8 * slot, None);
            model.roots[slot] = None;
        }
        Op::Weak { cell, slot } => s.scope(|i| {
            let target = i.get_ref(roots, 8 * slot);
            i.set_weak(cells[cell], WEAK, target);
            model.weak[cell] = model.roots[slot];
        }),
        Op::Ephemeron { cell, key } => s.scope(|i| {
            let Some(k) = i.get_ref(roots, 8 * key) else {
                return;
            };
            let id = model.next;
            model.next += 1;
            let v = obj(i, t, id);
            i.set_ephemeron(cells[cell], EPH, Some(k), Some(v));
            model.eph[cell] = Some((model.roots[key].unwrap(), id));
        }),
        Op::TaggedImm { cell, value } => {
            let w = (u64::from(value) << 1) | 1;
            s.set_tagged(cells[cell], TAGGED, Tagged::Imm(w)).unwrap();
            model.tagged[cell] = Some(TaggedModel::Imm(w));
        }
        Op::TaggedRef { cell, slot } => s.scope(|i| {
            if let Some(o) = i.get_ref(roots, 8 * slot) {
                i.set_tagged(cells[cell], TAGGED, Tagged::Ref(o)).unwrap();
                model.tagged[cell] = Some(TaggedModel::Ref(model.roots[slot].unwrap()));
            }
        }),
        Op::Finalize { slot } => s.scope(|i| {
            if let Some(o) = i.get_ref(roots, 8 * slot) {
                let id = model.roots[slot].unwrap();
                let ran = ran.clone();
                i.register_finalizer(o, move || ran.lock().unwrap().push(id));
                *model.finalizers.entry(id).or_default() += 1;
            }
        }),
        Op::Pin { slot } => s.scope(|i| {
            if let Some(o) = i.get_ref(roots, 8 * slot) {
                let p = i.pin(o).expect("room to promote");
                let at = p.object().addr();
                model.pins.push((p, model.roots[slot].unwrap(), at));
            }
        }),
        Op::Unpin { index } => {
            if !model.pins.is_empty() {
                let n = model.pins.len();
                model.pins.remove(index % n);
            }
        }
        Op::Churn { count } => {
            for _ in 0..count {
                s.scope(|i| {
                    obj(i, t, 0);
                });
            }
        }
        Op::Collect { major } => {
            s.collect(if major {
                CollectionKind::Major
            } else {
                CollectionKind::Minor
            });
        }
        Op::RunFinalizers => {
            s.run_pending_finalizers();
        }
        Op::Sabotage { slot } => s.set_ref(roots, 8 * slot, None),
    }
}

/// What must hold at any time (see the module documentation).
fn check<'s>(
    s: &mut Scope<'s>,
    roots: Local<'s>,
    cells: &[Local<'s>],
    model: &Model,
    ran: &Arc<Mutex<Vec<Id>>>,
) -> Result<(), String> {
    let live = model.reachable();
    for (slot, want) in model.roots.iter().enumerate() {
        let got = s.scope(|i| i.get_ref(roots, 8 * slot).map(|o| id_of(i, o)));
        if got != *want {
            return Err(format!("root slot {slot} holds {got:?}, expected {want:?}"));
        }
    }
    for (c, &cell) in cells.iter().enumerate() {
        let weak = s.scope(|i| i.get_weak(cell, WEAK).map(|o| id_of(i, o)));
        match (weak, model.weak[c]) {
            (None, Some(id)) if live.contains(&id) => {
                return Err(format!("cell {c}'s weak slot lost live object {id}"))
            }
            (Some(got), want) if Some(got) != want => {
                return Err(format!(
                    "cell {c}'s weak slot reads {got}, expected {want:?}"
                ))
            }
            _ => {}
        }
        let eph = s.scope(|i| {
            let (k, v) = i.get_ephemeron(cell, EPH);
            (k.map(|k| id_of(i, k)), v.map(|v| id_of(i, v)))
        });
        match (eph, model.eph[c]) {
            ((None, None), None) => {}
            ((None, None), Some((k, _))) if !live.contains(&k) => {}
            ((Some(k), Some(v)), Some(want)) if (k, v) == want => {}
            (got, want) => {
                return Err(format!(
                    "cell {c}'s ephemeron is {got:?}, expected {want:?}"
                ))
            }
        }
        let tagged = s.scope(|i| match i.get_tagged(cell, TAGGED) {
            Tagged::Imm(w) => Some(TaggedModel::Imm(w)),
            Tagged::Ref(o) => Some(TaggedModel::Ref(id_of(i, o))),
        });
        if tagged != model.tagged[c] {
            return Err(format!(
                "cell {c}'s tagged slot is {tagged:?}, expected {:?}",
                model.tagged[c]
            ));
        }
    }
    for (p, id, at) in &model.pins {
        if p.object().addr() != *at {
            return Err(format!("pinned object {id} moved"));
        }
        // SAFETY: pinned: live at this address; word 0 is its id.
        let got = unsafe { p.object().load_u64(0) };
        if got != *id {
            return Err(format!("pinned object {id} reads id {got}"));
        }
    }
    let mut counts: HashMap<Id, usize> = HashMap::new();
    for &id in ran.lock().unwrap().iter() {
        *counts.entry(id).or_default() += 1;
    }
    for (id, n) in counts {
        if live.contains(&id) {
            return Err(format!("a finalizer of live object {id} ran"));
        }
        if n > model.finalizers.get(&id).copied().unwrap_or(0) {
            return Err(format!("object {id}'s finalizers ran {n} times"));
        }
    }
    Ok(())
}

/// After a major collection (and running pending finalizers): every unreachable
/// object is gone.
fn check_after_major<'s>(
    s: &mut Scope<'s>,
    cells: &[Local<'s>],
    model: &Model,
    ran: &Arc<Mutex<Vec<Id>>>,
) -> Result<(), String> {
    let live = model.reachable();
    for (c, &cell) in cells.iter().enumerate() {
        if let Some(id) = model.weak[c] {
            let weak = s.scope(|i| i.get_weak(cell, WEAK).is_some());
            if weak != live.contains(&id) {
                return Err(format!("cell {c}'s weak slot to {id}: present {weak}"));
            }
        }
        if let Some((k, _)) = model.eph[c] {
            let present = s.scope(|i| i.get_ephemeron(cell, EPH).0.is_some());
            if present != live.contains(&k) {
                return Err(format!(
                    "cell {c}'s ephemeron with key {k}: present {present}"
                ));
            }
        }
    }
    let mut counts: HashMap<Id, usize> = HashMap::new();
    for &id in ran.lock().unwrap().iter() {
        *counts.entry(id).or_default() += 1;
    }
    for (id, &n) in &model.finalizers {
        let got = counts.get(id).copied().unwrap_or(0);
        let want = if live.contains(id) { 0 } else { n };
        if got != want {
            return Err(format!(
                "object {id}: {got} of its {n} finalizers ran, expected {want}"
            ));
        }
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("CONTGC_RUNTIME_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn runtime_matches_model(p in params(), ops in prop::collection::vec(op(), 1..200)) {
        run_case(&p, &ops).map_err(TestCaseError::fail)?;
    }
}

/// The checks can fail: a model that forgets a root is caught.
#[test]
fn the_checker_detects_divergence() {
    let p = Params {
        nursery: 64 << 10,
        promotion_age: 1,
        workers: 1,
        stress: None,
    };
    let ops = [
        Op::Alloc { slot: 0 },
        Op::Weak { cell: 0, slot: 0 },
        Op::Collect { major: true },
    ];
    assert_eq!(run_case(&p, &ops), Ok(()));
    // The heap drops the weak slot's target, the model does not: caught.
    let sabotaged = [
        Op::Alloc { slot: 0 },
        Op::Weak { cell: 0, slot: 0 },
        Op::Sabotage { slot: 0 },
        Op::Collect { major: true },
    ];
    let err = run_case(&p, &sabotaged).unwrap_err();
    assert!(err.contains("root slot 0"), "{err}");
}
