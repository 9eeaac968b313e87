//! `contgc suspended-tasks`: the project's main job, the GC-impact benchmark of the
//! reference document ("Impact on GC"; docs/BENCHMARKS.md section 1).
//!
//! One mutator suspends N tasks, each D frames deep; every frame keeps one fresh heap
//! object and one integer alive across its await. Frames are kept either as
//! continuation objects on the heap (`heap`, the JIT state-machine design) or as
//! off-heap captured frames (`tasklet`, the unwinder design), and their roots are found
//! `naive`ly (every suspended task at every collection), `aged` (each task aged alone,
//! the document's tasklet aging) or `grouped` (group aging, the default). With all
//! tasks suspended, G minor collections are forced with very little garbage between
//! them, and each pause is recorded (a pause is the whole stop-the-world collection:
//! nothing is deferred or done in the background). Then every task is resumed and
//! every frame's object and integer are checked; a mismatch fails the run.
//!
//! Reported: minor pause median, p99 and max (µs), live heap after the collections
//! (MiB), and the process's peak resident set (MiB, reset at the start of each run).

use crate::heap_bench::ResultLine;
use crate::{
    CollectionKind, Config, Heap, Resumed, RootMode, Scope, TaskRoot, TaskletWord, TypeDescriptor,
    TypeId,
};
use contgc_continuation::{
    resume_chain_with, Capture, ChainOutcome, Continuation, Frame, FrameLayout, FrameType, Outcome,
    ResultKind, Suspension, Value,
};
use indicatif::{ProgressBar, ProgressStyle};

/// How suspended frames are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramesKind {
    /// Continuation objects on the heap.
    Heap,
    /// Off-heap captured frames (tasklets).
    Tasklet,
}

impl FramesKind {
    /// The name used on the command line and in RESULT lines.
    pub fn name(self) -> &'static str {
        match self {
            FramesKind::Heap => "heap",
            FramesKind::Tasklet => "tasklet",
        }
    }
}

/// The name of a root mode as used on the command line and in RESULT lines.
pub fn roots_name(r: RootMode) -> &'static str {
    match r {
        RootMode::Naive => "naive",
        RootMode::Aged => "aged",
        RootMode::Grouped => "grouped",
    }
}

/// One configuration of the benchmark.
#[derive(Clone, Debug)]
pub struct Options {
    /// Heap or tasklet frames.
    pub frames: FramesKind,
    /// How suspended-task roots are found.
    pub roots: RootMode,
    /// Suspended tasks.
    pub tasks: usize,
    /// Frames per task.
    pub depth: usize,
    /// Forced minor collections.
    pub gcs: usize,
    /// Run the heap verifier after every collection (slow; for tests).
    pub verify: bool,
    /// Show a progress bar (for runs longer than a few seconds).
    pub progress: bool,
    /// Percent of the tasks churned before every forced minor collection (heap frames
    /// only; 0: a quiet heap): each is resumed up to a random depth, and the frame it
    /// stops at re-suspends with a new object and integer, under fresh young frames
    /// down to the full depth (see `churn_frame`).
    pub churn: f64,
    /// Forced major collections after the minor ones (their pauses are reported
    /// apart, see [`MajorFigures`]).
    pub majors: usize,
    /// GC worker threads (`Config::gc_workers`); `None`: the default.
    pub gc_workers: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            frames: FramesKind::Heap,
            roots: RootMode::Grouped,
            tasks: 10_000,
            depth: 100,
            gcs: 100,
            verify: false,
            progress: true,
            churn: 0.0,
            majors: 0,
            gc_workers: None,
        }
    }
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The configuration.
    pub options: Options,
    /// Every forced minor pause, in µs.
    pub pauses_us: Vec<f64>,
    /// Median pause (µs).
    pub median_us: f64,
    /// 99th percentile (µs).
    pub p99_us: f64,
    /// Longest pause (µs).
    pub max_us: f64,
    /// Forced collections that had to run as major ones (0 in a healthy run).
    pub majors: usize,
    /// Live heap after the collections (MiB).
    pub heap_mb: f64,
    /// Peak resident set of the process during the run (MiB).
    pub peak_rss_mb: f64,
    /// Frames whose object and integer came back intact.
    pub frames_checked: usize,
    /// Frames resumed and checked by `--churn` on the way (each churned task's frames
    /// up to and including the one that re-suspended).
    pub frames_churned: usize,
    /// True if every frame came back intact.
    pub data_ok: bool,
    /// Where the minor pauses went (medians).
    pub parts: PauseMedians,
    /// The forced major collections' pauses, if any ran.
    pub major: Option<MajorFigures>,
}

/// Medians of the forced major collections' pauses and of their parts (ms).
#[derive(Clone, Debug, Default)]
pub struct MajorFigures {
    /// GC workers that marked and swept (the most any of the majors used).
    pub workers: usize,
    /// Major collections measured.
    pub runs: usize,
    /// The whole pause.
    pub pause_ms: f64,
    /// Marking.
    pub mark_ms: f64,
    /// Sweeping (old space, large objects, young marks).
    pub sweep_ms: f64,
    /// The nursery evacuation that ends the collection (roots, task groups, copy).
    pub evacuate_ms: f64,
}

/// Medians of the forced minor pauses' parts (see `PauseParts`) and of what they
/// copied.
#[derive(Clone, Debug, Default)]
pub struct PauseMedians {
    /// Root slots (µs).
    pub roots_us: f64,
    /// Young suspended-task groups (µs).
    pub task_groups_us: f64,
    /// The remembered set (µs).
    pub remembered_us: f64,
    /// The transitive copy, promotion included (µs).
    pub copy_us: f64,
    /// Everything else (µs).
    pub other_us: f64,
    /// Bytes copied to the survivor space or promoted (KiB).
    pub copied_kib: f64,
    /// The part of those promoted (KiB).
    pub promoted_kib: f64,
    /// The most GC workers a forced minor's copy ran on (see
    /// `PauseRecord::gc_workers`).
    pub gc_workers_max: usize,
}

impl Report {
    /// The machine-readable line.
    pub fn result_line(&self) -> ResultLine {
        let o = &self.options;
        let f = |k: &str, v: String| (k.to_string(), v);
        ResultLine {
            bench: "suspended-tasks",
            fields: vec![
                f("frames", o.frames.name().into()),
                f("roots", roots_name(o.roots).into()),
                f("tasks", o.tasks.to_string()),
                f("depth", o.depth.to_string()),
                f("churn_percent", format!("{}", o.churn)),
                f("gen0_pause_us_median", format!("{:.2}", self.median_us)),
                f("gen0_pause_us_p99", format!("{:.2}", self.p99_us)),
                f("gen0_pause_us_max", format!("{:.2}", self.max_us)),
                f("copied_kib_median", format!("{:.1}", self.parts.copied_kib)),
                f(
                    "promoted_kib_median",
                    format!("{:.1}", self.parts.promoted_kib),
                ),
                f("minor_workers_max", self.parts.gc_workers_max.to_string()),
                f("roots_us", format!("{:.2}", self.parts.roots_us)),
                f(
                    "task_groups_us",
                    format!("{:.2}", self.parts.task_groups_us),
                ),
                f("remembered_us", format!("{:.2}", self.parts.remembered_us)),
                f("copy_us", format!("{:.2}", self.parts.copy_us)),
                f("other_us", format!("{:.2}", self.parts.other_us)),
                f("heap_mb", format!("{:.1}", self.heap_mb)),
                f("peak_rss_mb", format!("{:.1}", self.peak_rss_mb)),
                f(
                    "data_check",
                    if self.data_ok { "ok" } else { "FAILED" }.into(),
                ),
            ],
        }
    }
}

impl Report {
    /// The forced major collections' line, if any ran.
    pub fn major_result_line(&self) -> Option<ResultLine> {
        let m = self.major.as_ref()?;
        let o = &self.options;
        let f = |k: &str, v: String| (k.to_string(), v);
        Some(ResultLine {
            bench: "major",
            fields: vec![
                f("tasks", o.tasks.to_string()),
                f("depth", o.depth.to_string()),
                f("heap_mb", format!("{:.1}", self.heap_mb)),
                f("workers", m.workers.to_string()),
                f("runs", m.runs.to_string()),
                f("pause_ms_median", format!("{:.2}", m.pause_ms)),
                f("mark_ms", format!("{:.2}", m.mark_ms)),
                f("sweep_ms", format!("{:.2}", m.sweep_ms)),
                f("evacuate_ms", format!("{:.2}", m.evacuate_ms)),
                f(
                    "data_check",
                    if self.data_ok { "ok" } else { "FAILED" }.into(),
                ),
            ],
        })
    }
}

const MAGIC: u64 = 0x9E37_79B9_7F4A_7C15;

/// The integer frame `frame` of task `task` keeps; its object holds `int ^ MAGIC`.
fn int_of(task: usize, depth: usize, frame: usize) -> u64 {
    (task * depth + frame) as u64
}

/// The context of a chain's frames while it is resumed: the next expected integer,
/// the frames checked and the errors found.
#[derive(Default)]
struct Check {
    expected: u64,
    frames: usize,
    errors: usize,
    /// Frames return their integer (the churn layout has a data result slot).
    data_results: bool,
    /// Set while a task is churned.
    churn: Option<Churn>,
}

/// One task's churn: return through `pop` frames, then re-suspend the next one.
struct Churn {
    task: usize,
    depth: usize,
    pop: usize,
    popped: usize,
    /// The churn round, kept in the integers' top 16 bits.
    round: u64,
    obj_ty: TypeId,
}

/// The frame's position in the benchmark's integer sequence (the top 16 bits hold
/// the churn round that last wrote it).
const SEQ_MASK: u64 = (1 << 48) - 1;

/// The resume function of every benchmark frame: checks the frame's integer against
/// the expected sequence and its object against the integer.
fn check_frame<'s>(f: &mut Frame<'_, 's, Check>) -> Outcome<'s> {
    let ft = *f.frame_type();
    let i = f.u64(&ft, 0);
    let v = match f.get_ref(&ft, 0) {
        Some(o) => f.scope().read_u64(o, 0),
        None => !(i ^ MAGIC),
    };
    // The frame below this one returned its integer into this frame's result slot
    // (a data write into a continuation that is usually old).
    let got = (f.ctx().data_results && f.ctx().frames > 0).then(|| f.result_u64(&ft));
    let c = f.ctx();
    let callee = c.expected.wrapping_add(1);
    let bad = (i & SEQ_MASK) != c.expected
        || v != i ^ MAGIC
        || got.is_some_and(|g| g & SEQ_MASK != callee);
    c.expected = c.expected.wrapping_sub(1);
    c.frames += 1;
    c.errors += bad as usize;
    if c.churn.as_ref().is_some_and(|ch| ch.popped == ch.pop) {
        return churn_frame(f, &ft, i);
    }
    if let Some(ch) = c.churn.as_mut() {
        ch.popped += 1;
    }
    if c.data_results {
        Outcome::Return(Value::Data(i))
    } else {
        Outcome::Return(Value::Unit)
    }
}

/// Re-suspends the frame being resumed (whose integer was `i`) with a new object and
/// integer, under fresh young frames for every position below it down to the full
/// depth: fresh continuations under an old caller, and a young object stored into
/// the reused (usually old) continuation.
fn churn_frame<'s>(f: &mut Frame<'_, 's, Check>, ft: &FrameType<Check>, i: u64) -> Outcome<'s> {
    let (t, depth, round, obj_ty) = {
        let ch = f.ctx().churn.as_ref().expect("churning");
        (ch.task, ch.depth, ch.round, ch.obj_ty)
    };
    let pos = ((i & SEQ_MASK) as usize) - t * depth;
    let me = f.continuation();
    let s = f.scope();
    let mut susp = Suspension::new();
    let mut frame = |s: &mut Scope<'s>, k: Option<Continuation<'s>>, p: usize| {
        let i = int_of(t, depth, p) | (round << 48);
        let obj = s.alloc(obj_ty).expect("frame object");
        s.write_u64(obj, 0, i ^ MAGIC);
        let mut c = match k {
            Some(k) => Capture::begin(s, ft, Some(k), 0),
            None => Capture::begin_link(s, ft, 0),
        }
        .expect("capture");
        c.set_ref(0, Some(obj)).set_u64(0, i);
        c.link(&mut susp);
    };
    for p in (pos + 1..depth).rev() {
        frame(s, None, p);
    }
    frame(s, Some(me), pos);
    Outcome::Suspend(susp.head().expect("at least the frame itself"))
}

/// A small deterministic generator (xorshift64*), so that runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Churns `opts.churn` percent of the tasks (round `round`): each is resumed from its
/// leaf through a random number of frames (1 to depth - 1; each checks itself and
/// returns its integer into its caller), and the frame reached re-suspends (see
/// [`churn_frame`]). Returns (frames checked, errors).
fn churn_tasks(
    s: &mut Scope<'_>,
    roots: &mut [Option<TaskRoot>],
    opts: &Options,
    obj_ty: TypeId,
    round: u64,
    rng: &mut Rng,
) -> (usize, usize) {
    let n = ((roots.len() as f64 * opts.churn / 100.0).round() as usize).min(roots.len());
    let (mut frames, mut errors) = (0, 0);
    for _ in 0..n {
        let t = rng.below(roots.len());
        let Some(root) = roots[t].take() else {
            continue;
        };
        let pop = 1 + rng.below(opts.depth.max(2) - 1);
        let pop = pop.min(opts.depth - 1);
        let mut check = Check {
            expected: int_of(t, opts.depth, opts.depth - 1),
            data_results: true,
            churn: Some(Churn {
                task: t,
                depth: opts.depth,
                pop,
                popped: 0,
                round,
                obj_ty,
            }),
            ..Check::default()
        };
        s.scope(|s| {
            let leaf = s.resume_task(root).into_heap().expect("a heap task");
            let k = Continuation::from_local(s, leaf).expect("a continuation");
            match resume_chain_with(s, k, &mut check) {
                Ok(ChainOutcome::Suspended(leaf)) => {
                    roots[t] = Some(s.suspend_task(leaf.local()));
                }
                other => panic!("suspended-tasks --churn: a churned task ended: {other:?}"),
            }
        });
        frames += check.frames;
        errors += check.errors + usize::from(check.frames != pop + 1);
    }
    (frames, errors)
}

fn progress(show: bool, len: usize, what: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} tasks ({elapsed})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// Resets the peak resident set the kernel reports (Linux; ignored elsewhere).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set in MiB (VmHWM), or 0 where unavailable.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Runs one configuration.
pub fn run(opts: &Options) -> Report {
    reset_peak_rss();
    let frames_total = opts.tasks * opts.depth;
    let limit = (1usize << 30).max(frames_total * 160);
    let heap = Heap::new(
        Config::builder()
            .root_mode(opts.roots)
            .heap_limit(limit)
            .verify_after_gc(opts.verify)
            .gc_workers(opts.gc_workers.unwrap_or(Config::default().gc_workers()))
            .build()
            .expect("valid configuration"),
    )
    .expect("heap");
    let obj_ty = heap
        .register_type(&TypeDescriptor::fixed("FrameLocal", 8))
        .expect("type");
    assert!(
        opts.churn <= 0.0 || opts.frames == FramesKind::Heap,
        "suspended-tasks: --churn needs heap frames"
    );
    let churn = opts.churn > 0.0;
    // With churn, frames return their integers into their callers' result slots.
    let ft = FrameLayout::new("AsyncFrame")
        .refs(1)
        .data_bytes(8)
        .result(if churn {
            ResultKind::Data
        } else {
            ResultKind::None
        })
        .register_with_context::<Check>(&heap, check_frame)
        .expect("frame layout");
    let show = opts.progress && frames_total >= 2_000_000;

    let roots = match opts.frames {
        FramesKind::Heap => suspend_heap_tasks(&heap, &ft, obj_ty, opts, show),
        FramesKind::Tasklet => suspend_tasklets(&heap, obj_ty, opts, show),
    };

    let mut roots: Vec<Option<TaskRoot>> = roots.into_iter().map(Some).collect();
    let mut m = heap.mutator();
    // Settle: the old generation holds exactly the live frames.
    m.collect(CollectionKind::Major);
    heap.reset_pause_stats();
    let (mut churned, mut churn_errors) = (0, 0);
    let mut rng = Rng(0x5EED_0000_0000_0001 ^ opts.tasks as u64);
    for round in 0..opts.gcs {
        m.scope(|s| {
            if churn {
                let (f, e) = churn_tasks(s, &mut roots, opts, obj_ty, round as u64 + 1, &mut rng);
                churned += f;
                churn_errors += e;
            } else {
                // very little garbage between collections
                for _ in 0..8 {
                    s.scope(|s| {
                        s.alloc(obj_ty).expect("garbage");
                    });
                }
            }
        });
        m.collect(CollectionKind::Minor);
    }
    let forced_minors = heap.pauses().len();
    for _ in 0..opts.majors {
        m.collect(CollectionKind::Major);
    }
    let roots: Vec<TaskRoot> = roots
        .into_iter()
        .map(|r| r.expect("every task is suspended"))
        .collect();
    let mut records = heap.pauses();
    let major_records = records.split_off(forced_minors.min(records.len()));
    let major = major_figures(&major_records);
    let mut pauses_us: Vec<f64> = records
        .iter()
        .filter(|r| r.kind == CollectionKind::Minor)
        .map(|r| r.duration.as_secs_f64() * 1e6)
        .collect();
    let majors = records
        .iter()
        .filter(|r| r.kind == CollectionKind::Major)
        .count();
    // Medians of the minor pauses' parts (µs) and of the bytes they copied (KiB).
    let minors: Vec<_> = records
        .iter()
        .filter(|r| r.kind == CollectionKind::Minor)
        .collect();
    let med = |f: &dyn Fn(&crate::PauseRecord) -> f64| {
        let mut v: Vec<f64> = minors.iter().map(|r| f(r)).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        percentile(&v, 0.5)
    };
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let parts = PauseMedians {
        roots_us: med(&|r| us(r.parts.roots)),
        task_groups_us: med(&|r| us(r.parts.task_groups)),
        remembered_us: med(&|r| us(r.parts.remembered)),
        copy_us: med(&|r| us(r.parts.copy)),
        other_us: med(&|r| us(r.parts.other)),
        // `survivor_bytes` counts every survivor, promoted ones included.
        copied_kib: med(&|r| r.survivor_bytes as f64 / 1024.0),
        promoted_kib: med(&|r| r.promoted_bytes as f64 / 1024.0),
        gc_workers_max: minors.iter().map(|r| r.gc_workers).max().unwrap_or(1),
    };
    let st = heap.stats();
    let heap_mb = (st.young_bytes + st.old_bytes + st.large_bytes) as f64 / (1 << 20) as f64;
    drop(m);

    let (frames_checked, errors) = resume_tasks(&heap, roots, opts, show);
    let errors = errors + churn_errors;
    let peak = peak_rss_mb();
    let in_order = pauses_us.clone();
    pauses_us.sort_by(|a, b| a.total_cmp(b));
    Report {
        options: opts.clone(),
        median_us: percentile(&pauses_us, 0.5),
        p99_us: percentile(&pauses_us, 0.99),
        max_us: pauses_us.last().copied().unwrap_or(0.0),
        pauses_us: in_order,
        majors,
        heap_mb,
        peak_rss_mb: peak,
        frames_checked,
        frames_churned: churned,
        parts,
        major,
        data_ok: errors == 0 && frames_checked == frames_total,
    }
}

/// The medians of the forced major collections' pauses (`None` if none ran).
fn major_figures(records: &[crate::PauseRecord]) -> Option<MajorFigures> {
    if records.is_empty() {
        return None;
    }
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let med = |f: &dyn Fn(&crate::PauseRecord) -> f64| {
        let mut v: Vec<f64> = records.iter().map(f).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        percentile(&v, 0.5)
    };
    Some(MajorFigures {
        workers: records.iter().map(|r| r.gc_workers).max().unwrap_or(1),
        runs: records.len(),
        pause_ms: med(&|r| ms(r.duration)),
        mark_ms: med(&|r| ms(r.parts.mark)),
        sweep_ms: med(&|r| ms(r.parts.sweep)),
        evacuate_ms: med(&|r| ms(r.parts.roots + r.parts.task_groups + r.parts.copy)),
    })
}

/// Calls `f` for each task index, with a progress bar when `show`.
fn for_each_task(show: bool, n: usize, what: &str, mut f: impl FnMut(usize)) {
    let pb = progress(show, n, what);
    for t in 0..n {
        f(t);
        if t % 256 == 0 {
            pb.set_position(t as u64);
        }
    }
    pb.finish_and_clear();
}

fn suspend_heap_tasks(
    heap: &Heap,
    ft: &FrameType<Check>,
    obj_ty: TypeId,
    opts: &Options,
    show: bool,
) -> Vec<TaskRoot> {
    let mut roots = Vec::with_capacity(opts.tasks);
    let mut m = heap.mutator();
    m.scope(|s| {
        for_each_task(show, opts.tasks, "suspending", |t| {
            let root = s.scope(|s| {
                let mut susp = Suspension::new();
                // The leaf (deepest frame) suspends first; each caller on the way up
                // captures its own continuation and links it.
                for f in (0..opts.depth).rev() {
                    let i = int_of(t, opts.depth, f);
                    let obj = s.alloc(obj_ty).expect("frame object");
                    s.write_u64(obj, 0, i ^ MAGIC);
                    let mut c = Capture::begin_link(s, ft, 0).expect("capture");
                    c.set_ref(0, Some(obj)).set_u64(0, i);
                    c.link(&mut susp);
                }
                susp.head().map(|leaf| s.suspend_task(leaf.local()))
            });
            roots.extend(root);
        });
    });
    roots
}

fn suspend_tasklets(heap: &Heap, obj_ty: TypeId, opts: &Options, show: bool) -> Vec<TaskRoot> {
    let mut roots = Vec::with_capacity(opts.tasks);
    let mut m = heap.mutator();
    m.scope(|s| {
        for_each_task(show, opts.tasks, "suspending", |t| {
            let root = s.scope(|s| {
                let mut root = s.new_tasklet();
                for f in 0..opts.depth {
                    let i = int_of(t, opts.depth, f);
                    let obj = s.alloc(obj_ty).expect("frame object");
                    s.write_u64(obj, 0, i ^ MAGIC);
                    s.tasklet_push_ref(&mut root, Some(obj));
                    s.tasklet_push_data(&mut root, i);
                }
                root
            });
            roots.push(root);
        });
    });
    roots
}

/// Resumes every task and checks every frame; returns (frames checked, errors).
fn resume_tasks(heap: &Heap, roots: Vec<TaskRoot>, opts: &Options, show: bool) -> (usize, usize) {
    let mut m = heap.mutator();
    let (mut errors, mut frames) = (0, 0);
    let n = roots.len();
    let mut roots = roots.into_iter();
    for_each_task(show, n, "resuming", |t| {
        let root = roots.next().expect("one root per task");
        let (f, e) = m.scope(|s| match opts.frames {
            FramesKind::Heap => check_heap_task(s, root, t, opts),
            FramesKind::Tasklet => check_tasklet(s, root, t, opts),
        });
        frames += f;
        errors += e;
    });
    (frames, errors)
}

/// Resumes a heap-frames task's chain; each frame checks itself (see `check_frame`).
fn check_heap_task(s: &mut Scope<'_>, root: TaskRoot, t: usize, opts: &Options) -> (usize, usize) {
    let mut check = Check {
        expected: int_of(t, opts.depth, opts.depth - 1),
        data_results: opts.churn > 0.0,
        ..Check::default()
    };
    let leaf = s.resume_task(root).into_heap().expect("a heap task");
    let completed = match Continuation::from_local(s, leaf) {
        Some(k) => matches!(
            resume_chain_with(s, k, &mut check).expect("resume"),
            ChainOutcome::Completed(_)
        ),
        None => false,
    };
    let (f, e) = (check.frames, check.errors);
    (f, e + usize::from(!completed || f != opts.depth))
}

/// Takes a tasklet task and checks each frame's object and integer.
fn check_tasklet(s: &mut Scope<'_>, root: TaskRoot, t: usize, opts: &Options) -> (usize, usize) {
    let Resumed::Tasklet(words) = s.resume_task(root) else {
        return (0, 1);
    };
    let mut errors = usize::from(words.len() != 2 * opts.depth);
    let mut frames = 0;
    for (f, pair) in words.chunks(2).enumerate() {
        let i = int_of(t, opts.depth, f);
        let ok = match pair {
            [TaskletWord::Ref(Some(o)), TaskletWord::Data(d)] => {
                *d == i && s.read_u64(*o, 0) == i ^ MAGIC
            }
            _ => false,
        };
        frames += 1;
        errors += usize::from(!ok);
    }
    (frames, errors)
}

/// Prints the table header.
pub fn print_header() {
    println!(
        "{:<8} {:<8} {:>7} {:>5} {:>12} {:>12} {:>12} {:>9} {:>9} {:>6}",
        "frames",
        "roots",
        "tasks",
        "depth",
        "median us",
        "p99 us",
        "max us",
        "heap MiB",
        "RSS MiB",
        "check"
    );
}

/// Prints one table row.
pub fn print_row(r: &Report) {
    let o = &r.options;
    println!(
        "{:<8} {:<8} {:>7} {:>5} {:>12.2} {:>12.2} {:>12.2} {:>9.1} {:>9.1} {:>6}",
        o.frames.name(),
        roots_name(o.roots),
        o.tasks,
        o.depth,
        r.median_us,
        r.p99_us,
        r.max_us,
        r.heap_mb,
        r.peak_rss_mb,
        if r.data_ok { "ok" } else { "FAILED" }
    );
    if r.majors > 0 {
        println!(
            "  ({} forced collections ran as major collections)",
            r.majors
        );
    }
    if let Some(m) = &r.major {
        println!(
            "  major collections ({} runs, {} GC workers): pause median {:.2} ms (mark {:.2}, sweep {:.2}, evacuate {:.2})",
            m.runs, m.workers, m.pause_ms, m.mark_ms, m.sweep_ms, m.evacuate_ms
        );
    }
}

/// The reference document's published figures, for the table.
pub fn print_reference() {
    println!("reference (.NET, AMD 5950X, 10,000 x 100, from the runtime-async experiment):");
    for (name, pause, heap) in [
        ("classic async (heap state machines)", "120", "130"),
        ("runtime async, JIT state machines", "100", "105-157"),
        ("captured frames, every tasklet reported", "48,690", "28"),
        ("captured frames, tasklet aging", "480", "28"),
    ] {
        println!("  {name:<42} gen0 pause {pause:>7} us, managed heap {heap} MB");
    }
}

/// The N values of `--sweep`.
pub const SWEEP_TASKS: [usize; 5] = [0, 100, 1_000, 10_000, 100_000];

/// Writes an SVG chart (drawn with plotters, both axes logarithmic) of the median
/// pause against N for each series; N = 0 is drawn at 10.
pub fn write_chart(path: &std::path::Path, reports: &[Report]) -> std::io::Result<()> {
    let mut series: Vec<crate::charts::Series> = Vec::new();
    let mut keys: Vec<(FramesKind, RootMode)> = Vec::new();
    for r in reports {
        let k = (r.options.frames, r.options.roots);
        let i = match keys.iter().position(|&x| x == k) {
            Some(i) => i,
            None => {
                keys.push(k);
                series.push(crate::charts::Series {
                    name: format!("{} / {}", k.0.name(), roots_name(k.1)),
                    points: Vec::new(),
                    dashed: false,
                });
                keys.len() - 1
            }
        };
        let x = r.options.tasks.max(10) as f64;
        series[i].points.push((x, r.median_us.max(0.01)));
    }
    let depth = reports.first().map_or(0, |r| r.options.depth);
    crate::charts::write_line_chart(
        path,
        &crate::charts::LineChart {
            title: "minor GC pause (median) against suspended tasks".into(),
            x_label: format!("suspended tasks, each {depth} frames deep (0 drawn at 10)"),
            y_label: "median pause (us)".into(),
            x_log: true,
            y_log: true,
            series,
        },
    )
}
