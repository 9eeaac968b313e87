//! `contgc suspend-bench`: what suspending costs (docs/BENCHMARKS.md section 3 and the
//! continuation microbenchmarks), printed as a table and `RESULT` lines:
//!
//! - `alloc-per-suspension`: allocations and bytes per frame for a frame holding one
//!   reference and one integer, at first suspension and when a resumed frame suspends
//!   again (counted by the mutator's allocation counters), for both placements;
//! - `suspend-resume`: capture a chain of depth 1, 8 or 64, then resume it to
//!   completion (each frame reads its integer and object, returns into its caller's
//!   result slot); nanoseconds per frame;
//! - `byref-gc`: minor-collection pauses with 0 or 100,000 byrefs held by suspended
//!   frames: the first collection after capture (which resolves them) and the median
//!   of the following ones (which keep them).

use crate::{
    CollectionKind, Config, ContinuationPlacement, Heap, Local, Mutator, Persistent, Scope,
    TypeDescriptor, TypeId,
};
use contgc_continuation::{
    resume_chain, Capture, ChainOutcome, Frame, FrameLayout, FrameType, Outcome, ResultKind,
    ResumeFn, Suspension, Value,
};
use std::hint::black_box;
use std::time::Instant;

pub use crate::heap_bench::ResultLine;
use crate::heap_bench::{line, median};

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Frames captured per timed suspend-resume run.
    pub frames: usize,
    /// Timed runs per figure (the median is reported).
    pub runs: usize,
    /// Byrefs in the large byref-gc case.
    pub byrefs: usize,
    /// Minor collections timed per byref-gc case.
    pub gcs: usize,
    /// Continuation placements to measure.
    pub placements: Vec<ContinuationPlacement>,
    /// Chain depths of the suspend-resume benchmark.
    pub depths: Vec<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            frames: 1 << 20,
            runs: 7,
            byrefs: 100_000,
            gcs: 51,
            placements: vec![
                ContinuationPlacement::Nursery,
                ContinuationPlacement::OldGeneration,
            ],
            depths: vec![1, 8, 64],
        }
    }
}

/// Runs every suspension benchmark, printing the table as it goes.
pub fn run(opts: &Options) -> Vec<ResultLine> {
    let mut out = Vec::new();
    println!("== suspend-bench (medians of {} runs) ==", opts.runs);
    for &placement in &opts.placements {
        let name = placement_name(placement);
        let (first, again, bytes) = alloc_per_suspension(placement);
        println!(
            "alloc per suspension ({name:>7}): first {first:.2} allocs/frame, re-suspend {again:.2} allocs/frame, {bytes:.0} B/frame"
        );
        out.push(line(
            "alloc-per-suspension",
            &[
                ("placement", name.to_string()),
                ("first_allocs_per_frame", format!("{first:.2}")),
                ("resuspend_allocs_per_frame", format!("{again:.2}")),
                ("bytes_per_frame", format!("{bytes:.0}")),
            ],
        ));
    }
    for &placement in &opts.placements {
        let name = placement_name(placement);
        for &depth in &opts.depths {
            let ns = suspend_resume(depth, placement, opts);
            println!("suspend+resume depth {depth:>2} ({name:>7}): {ns:8.2} ns/frame");
            out.push(line(
                "suspend-resume",
                &[
                    ("placement", name.to_string()),
                    ("depth", depth.to_string()),
                    ("ns_per_frame", format!("{ns:.2}")),
                ],
            ));
        }
    }
    for n in [0, opts.byrefs] {
        let (first, median) = byref_gc(n, opts);
        println!(
            "minor GC with {n:>6} byrefs: first (resolving) {first:9.2} us, then median {median:7.2} us"
        );
        out.push(line(
            "byref-gc",
            &[
                ("byrefs", n.to_string()),
                ("minor_pause_us_median", format!("{median:.2}")),
                ("resolve_pause_us", format!("{first:.2}")),
            ],
        ));
    }
    out
}

fn placement_name(p: ContinuationPlacement) -> &'static str {
    match p {
        ContinuationPlacement::Nursery => "nursery",
        ContinuationPlacement::OldGeneration => "old",
    }
}

fn heap_for(placement: ContinuationPlacement) -> Heap {
    Heap::new(
        Config::builder()
            .continuation_placement(placement)
            .build()
            .expect("valid config"),
    )
    .expect("heap")
}

/// The benchmark frame: one reference and one integer, plus a data result slot for
/// the suspend-resume chains; resumed by `resume`.
fn register(heap: &Heap, resume: ResumeFn, result: bool) -> FrameType {
    let layout = FrameLayout::new("BenchFrame").refs(1).data_bytes(8);
    let layout = if result {
        layout.result(ResultKind::Data)
    } else {
        layout
    };
    // Resume functions find their layout through `Frame::frame_type` (generated code
    // would have its offsets as constants).
    layout.register(heap, resume).expect("frame layout")
}

/// Resumed at state 0: suspends again in place at state 1. At state 1: returns.
fn resuspend<'s>(f: &mut Frame<'_, 's>) -> Outcome<'s> {
    if f.state() == 0 {
        let ft = f.frame_type();
        let k = f
            .recapture(ft, 1)
            .expect("reuse does not allocate")
            .finish();
        return Outcome::Suspend(k);
    }
    Outcome::Return(Value::Unit)
}

/// (allocations per frame at first suspension, at re-suspension, bytes per frame),
/// counted by heap censuses taken with no collection in between.
fn alloc_per_suspension(placement: ContinuationPlacement) -> (f64, f64, f64) {
    let heap = heap_for(placement);
    let ft = register(&heap, resuspend, false);
    let boxed = heap
        .register_type(&TypeDescriptor::fixed("Obj", 8))
        .unwrap();
    let mut m = heap.mutator();
    m.scope(|s| {
        let obj = s.alloc(boxed).unwrap();
        let tasks = 1000;
        let depth = 10;
        s.collect(CollectionKind::Minor); // an empty eden: no collection below
        let before = s.census();
        let mut leaves = Vec::new();
        for _ in 0..tasks {
            let mut susp = Suspension::new();
            for i in 0..depth {
                let mut c = Capture::begin(s, &ft, None, 0).unwrap();
                c.set_ref(0, Some(obj)).set_u64(0, i);
                let k = c.finish();
                susp.push(s, k);
            }
            leaves.push(susp.head().unwrap());
        }
        let mid = s.census();
        let frames = (tasks * depth) as f64;
        for &leaf in &leaves {
            let out = resume_chain(s, leaf).expect("resume");
            assert!(matches!(out, ChainOutcome::Suspended(_)));
        }
        let end = s.census();
        let stats = heap.stats();
        assert_eq!(stats.minor_collections, 1, "no collection while counting");
        (
            (mid.objects() - before.objects()) as f64 / frames,
            (end.objects() - mid.objects()) as f64 / tasks as f64,
            (mid.bytes() - before.bytes()) as f64 / frames,
        )
    })
}

/// Each frame checks its integer and object and adds its callee's result.
fn add_frame<'s>(f: &mut Frame<'_, 's>) -> Outcome<'s> {
    let ft = f.frame_type();
    let callee = if f.state() == 0 { 0 } else { f.result_u64(ft) };
    let i = f.u64(ft, 0);
    let obj = f.ref_addr(ft, 0);
    black_box(obj);
    Outcome::Return(Value::Data(callee + i))
}

/// A heap, frame type and object for the suspend-resume workload.
pub struct ChainBench {
    /// The heap.
    pub heap: Heap,
    ft: FrameType,
    obj: TypeId,
}

impl ChainBench {
    /// Sets up a heap with the benchmark's frame layout (one reference, one integer,
    /// a data result slot).
    pub fn new(placement: ContinuationPlacement) -> ChainBench {
        let heap = heap_for(placement);
        let ft = register(&heap, add_frame, true);
        let obj = heap
            .register_type(&TypeDescriptor::fixed("Obj", 8))
            .unwrap();
        ChainBench { heap, ft, obj }
    }

    /// The object type every frame refers to.
    pub fn object_type(&self) -> TypeId {
        self.obj
    }

    /// Captures a chain of `depth` frames, each referring to `obj`, resumes it to
    /// completion and checks the result.
    pub fn run_chain<'s>(&self, s: &mut Scope<'s>, obj: Local<'s>, depth: usize) {
        s.scope(|s| {
            let mut susp = Suspension::new();
            for i in 0..depth {
                let mut c = Capture::begin_link(s, &self.ft, u32::from(i != 0)).expect("capture");
                c.set_ref(0, Some(obj)).set_u64(0, i as u64);
                c.link(&mut susp);
            }
            let out = resume_chain(s, susp.head().unwrap()).expect("resume");
            let expect: u64 = (0..depth as u64).sum();
            assert_eq!(out, ChainOutcome::Completed(Value::Data(expect)));
        })
    }
}

/// Nanoseconds per frame to capture a chain of `depth` frames and resume it.
fn suspend_resume(depth: usize, placement: ContinuationPlacement, opts: &Options) -> f64 {
    let b = ChainBench::new(placement);
    let mut m = b.heap.mutator();
    let chains = (opts.frames / depth).max(1);
    m.scope(|s| {
        let obj = s.alloc(b.obj).unwrap();
        for _ in 0..chains / 10 {
            b.run_chain(s, obj, depth);
        }
        let mut times = Vec::new();
        for _ in 0..opts.runs {
            let t = Instant::now();
            for _ in 0..chains {
                b.run_chain(s, obj, depth);
            }
            times.push(t.elapsed().as_nanos() as f64 / (chains * depth) as f64);
        }
        median(times)
    })
}

/// Suspends `frames` frames (promoted, so old) each next to a target object, then
/// captures raw byrefs (as generated code does, resolved by the next collection) from
/// the first `byrefs` frames into their targets' payloads. Returns handles keeping the
/// frames and the targets alive.
pub fn hold_byrefs(heap: &Heap, m: &mut Mutator, frames: usize, byrefs: usize) -> [Persistent; 2] {
    let ft = FrameLayout::new("ByrefFrame")
        .byrefs(1)
        .data_bytes(8)
        // Never resumed: the frames only hold their byrefs.
        .register(heap, |_| Outcome::Return(Value::Unit))
        .unwrap();
    let target = heap
        .register_type(&TypeDescriptor::fixed("Target", 32))
        .unwrap();
    let holder = heap
        .register_type(&TypeDescriptor::array("Frames", 0, 8).with_elem_refs(&[0]))
        .unwrap();
    let frames = frames.max(byrefs);
    m.scope(|s| {
        let all = s.alloc_array(holder, frames as u32).unwrap();
        let targets = s.alloc_array(holder, frames as u32).unwrap();
        for i in 0..frames {
            s.scope(|s| {
                let t = s.alloc(target).unwrap();
                s.set_ref(targets, i * 8, Some(t));
                let k = Capture::begin(s, &ft, None, 0).unwrap().finish();
                s.set_ref(all, i * 8, Some(k.local()));
            });
        }
        // Everything old (targets need two survivals), nothing to resolve yet.
        s.collect(CollectionKind::Minor);
        s.collect(CollectionKind::Minor);
        for i in 0..byrefs {
            s.scope(|s| {
                let k = s.get_ref(all, i * 8).unwrap();
                let t = s.get_ref(targets, i * 8).unwrap();
                let (ko, to) = (s.raw(k), s.raw(t));
                // SAFETY: `k` is a live continuation of layout `ft`, whose byref slot 0
                // is at ft.byref_offset(0); the address is inside `t`'s payload.
                unsafe {
                    s.mutator()
                        .store_byref(ko, ft.byref_offset(0), to.payload() as usize + 16)
                };
            });
        }
        [s.persist(all), s.persist(targets)]
    })
}

/// (first minor pause after capturing `n` byrefs, median of the following ones), µs.
/// The same number of suspended frames exists whatever `n` is.
fn byref_gc(n: usize, opts: &Options) -> (f64, f64) {
    let heap = heap_for(ContinuationPlacement::Nursery);
    let mut m = heap.mutator();
    let _keep = hold_byrefs(&heap, &mut m, opts.byrefs, n);
    heap.reset_pause_stats();
    for _ in 0..opts.gcs {
        m.collect(CollectionKind::Minor);
    }
    let pauses = heap.pauses();
    assert_eq!(pauses.iter().map(|p| p.byrefs_resolved).sum::<usize>(), n);
    let first = pauses[0].duration.as_secs_f64() * 1e6;
    let rest: Vec<f64> = pauses[1..]
        .iter()
        .map(|p| p.duration.as_secs_f64() * 1e6)
        .collect();
    (first, median(rest))
}
