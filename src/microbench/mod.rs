//! `contgc microbench [NAME]`: the runtime-async experiment's microbenchmarks and its
//! EH table, on contgc's executor, with the same programs as Rust `async fn`s beside
//! them in the same process (docs/BENCHMARKS.md section 7).
//!
//! The systems:
//! - `contgc`: async2 functions (see `contgc_side.rs`) on the current-thread
//!   `Runtime`, one task per timed batch;
//! - `boxed`: the same program as recursive Rust `async fn`s, each call's future boxed
//!   (`Pin<Box<dyn Future>>`), driven by a minimal executor that polls the one future
//!   in a loop (a yield wakes and re-polls it; no queue);
//! - `tokio`: the same boxed futures on tokio's current-thread runtime (`block_on`,
//!   `tokio::task::yield_now`), the analogue of classic heap-allocated async;
//! - for `eh` also `boxed-panic`: the exception is a panic caught by `catch_unwind`
//!   around the poll (boxed-futures' `Err` propagation is the `boxed` column).
//!
//! Every figure is a median of `runs` rounds (each round runs every system once, one
//! after the other), or for `eh` the iterations in a window (250 ms, as published);
//! every run's result is checked. Ratios are contgc's time over the baseline's (below
//! 1: contgc is faster).

pub(crate) mod contgc_side;
mod lifetime;
mod published;
mod rust_side;

use crate::charts::{write_line_chart, LineChart, Series};
use crate::heap_bench::{line, median, ResultLine};
use crate::local_executor::block_on;
use crate::{Config, Heap, Mutator};
use contgc_continuation::Value;
use contgc_executor::{Called, Runtime, Step, TaskResult};
use contgc_side::{EhShape, Micro, Work};
use indicatif::{ProgressBar, ProgressStyle};
use rust_side::{Mini, Shape, Tokio};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The microbenchmarks, in the reference document's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name {
    /// Recursive async fibonacci, with and without yields.
    Fib,
    /// Suspend and resume at depths 1..64.
    Depth,
    /// Suspend at 20, climb to 30, return to 10 and suspend, ...
    Sawtooth,
    /// An entry thunk into an async2 function that does nothing.
    Thunk,
    /// Long-lived against short-lived suspended state.
    Lifetime,
    /// The EH table: Return/Throw x NoSuspend/Suspend x depth, and finally blocks.
    Eh,
}

impl Name {
    /// Every microbenchmark.
    pub const ALL: [Name; 6] = [
        Name::Fib,
        Name::Depth,
        Name::Sawtooth,
        Name::Thunk,
        Name::Lifetime,
        Name::Eh,
    ];
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The benchmarks to run.
    pub names: Vec<Name>,
    /// Timed rounds per figure (medians are reported).
    pub runs: usize,
    /// How long one timed run of a fixed-work benchmark should take (its iteration
    /// count is calibrated on contgc to about this).
    pub target: Duration,
    /// fib's argument.
    pub fib_n: u64,
    /// The depths of `depth` and of the EH table.
    pub depths: Vec<u64>,
    /// Cycles of one sawtooth program.
    pub cycles: u64,
    /// The EH table's window (published: 250 ms).
    pub window: Duration,
    /// Where the charts go (none: no charts).
    pub charts: Option<PathBuf>,
    /// Show progress bars.
    pub progress: bool,
    /// The lifetime benchmark's options.
    pub lifetime: lifetime::Options,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            names: Name::ALL.to_vec(),
            runs: 5,
            target: Duration::from_millis(40),
            fib_n: 25,
            depths: published::DEPTHS.to_vec(),
            cycles: 100,
            window: Duration::from_millis(250),
            charts: Some(PathBuf::from("charts")),
            progress: true,
            lifetime: lifetime::Options::default(),
        }
    }
}

impl Options {
    /// Tiny sizes for tests: every benchmark runs a few iterations once, with the heap
    /// verifier after every collection and GC-stress on contgc's heap.
    pub fn small() -> Options {
        Options {
            runs: 1,
            target: Duration::ZERO,
            fib_n: 12,
            depths: vec![1, 2, 7],
            cycles: 5,
            window: Duration::ZERO,
            charts: None,
            progress: false,
            lifetime: lifetime::Options::small(),
            ..Options::default()
        }
    }

    fn is_small(&self) -> bool {
        self.target.is_zero()
    }

    fn config(&self) -> Config {
        if self.is_small() {
            Config::builder()
                .verify_after_gc(true)
                .gc_stress(7)
                .build()
                .expect("config")
        } else {
            Config::default()
        }
    }
}

/// What a run measured.
pub struct Report {
    /// The RESULT lines.
    pub lines: Vec<ResultLine>,
    /// The charts written.
    pub charts: Vec<PathBuf>,
}

/// contgc's side: a heap, its runtime and the benchmark thread's mutator.
pub(crate) struct Contgc {
    rt: Runtime<Micro>,
    m: Mutator,
    _heap: Heap,
}

impl Contgc {
    pub(crate) fn new(config: Config) -> Contgc {
        let heap = Heap::new(config).expect("heap");
        let rt = contgc_side::runtime(&heap);
        let m = heap.mutator();
        Contgc { rt, m, _heap: heap }
    }

    fn batch(&mut self, w: Work, iters: u64) -> u64 {
        contgc_side::set_work(&mut self.rt, w);
        contgc_side::run_batch(&mut self.rt, &mut self.m, iters)
    }

    fn finally_runs(&mut self) -> u64 {
        std::mem::take(&mut self.rt.state().finally_runs)
    }

    /// `iters` entry thunks ([`Runtime::call`]) into a function that returns 1 at once.
    fn thunks(&mut self, iters: u64) -> u64 {
        let mut acc = 0;
        for _ in 0..iters {
            match self
                .rt
                .call(&mut self.m, |_, _| Step::Return(Value::Data(1)))
            {
                Called::Done(Ok(TaskResult::Data(x))) => acc += x,
                other => panic!("microbench thunk: {other:?}"),
            }
        }
        acc
    }

    /// The same through [`Runtime::start`], which makes a task for every call.
    fn task_thunks(&mut self, iters: u64) -> u64 {
        let mut acc = 0;
        for _ in 0..iters {
            let h = self
                .rt
                .start(&mut self.m, |_, _| Step::Return(Value::Data(1)));
            match h.result() {
                Some(Ok(TaskResult::Data(x))) => acc += x,
                other => panic!("microbench thunk: {other:?}"),
            }
        }
        acc
    }
}

/// A system under measurement: its name and what runs `iters` iterations.
type System<'a> = (&'static str, Box<dyn FnMut(u64) -> u64 + 'a>);

/// Times `f(iters)`, checking its result.
fn timed(name: &str, f: &mut dyn FnMut(u64) -> u64, iters: u64, expect: u64) -> f64 {
    let t = Instant::now();
    let got = f(iters);
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(
        got, expect,
        "microbench: {name} computed {got}, expected {expect} ({iters} iterations)"
    );
    dt
}

/// Seconds per iteration of each system (medians of `opts.runs` rounds after one
/// warm-up round), the iteration count calibrated on the first system to take about
/// `opts.target` per run. `per_iter` is what one iteration returns.
fn compare(opts: &Options, systems: &mut [System<'_>], per_iter: u64) -> Vec<f64> {
    let mut iters = 1u64;
    if !opts.is_small() {
        let (name, f) = &mut systems[0];
        loop {
            let dt = timed(name, f.as_mut(), iters, iters * per_iter);
            if dt >= opts.target.as_secs_f64() / 4.0 || iters >= 1 << 40 {
                let scale = opts.target.as_secs_f64() / dt.max(1e-9);
                iters = ((iters as f64 * scale).ceil() as u64).max(1);
                break;
            }
            iters *= 4;
        }
    }
    let mut times = vec![Vec::new(); systems.len()];
    for round in 0..=opts.runs {
        for (i, (name, f)) in systems.iter_mut().enumerate() {
            let dt = timed(name, f.as_mut(), iters, iters * per_iter);
            if round > 0 || opts.is_small() {
                times[i].push(dt / iters as f64);
            }
        }
    }
    times.into_iter().map(median).collect()
}

/// Iterations of `f` in `window` (scaled to exactly the window), in batches that
/// double while they are short; each batch's result checked (`per_iter` each).
fn per_window(name: &str, f: &mut dyn FnMut(u64) -> u64, per_iter: u64, window: Duration) -> f64 {
    let start = Instant::now();
    let mut batch = 1u64;
    let mut total = 0u64;
    loop {
        let t = Instant::now();
        timed(name, f, batch, batch * per_iter);
        total += batch;
        let elapsed = start.elapsed();
        if elapsed >= window {
            if window.is_zero() {
                return total as f64;
            }
            return total as f64 * window.as_secs_f64() / elapsed.as_secs_f64();
        }
        if t.elapsed() < window / 50 {
            batch *= 2;
        }
    }
}

fn fmt_ns(x: f64) -> String {
    format!("{x:.2}")
}

fn fmt_ratio(x: f64) -> String {
    format!("{x:.3}")
}

fn progress(opts: &Options, len: u64, what: &str) -> ProgressBar {
    if !opts.progress {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} ({elapsed})")
            .expect("template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// Runs the chosen microbenchmarks, printing their tables; panics if any system
/// computes a wrong result.
pub fn run(opts: &Options) -> Report {
    let mut report = Report {
        lines: Vec::new(),
        charts: Vec::new(),
    };
    let tokio = rust_side::tokio_rt();
    for &name in &opts.names {
        match name {
            Name::Fib => fib(opts, &tokio, &mut report),
            Name::Depth => depth(opts, &tokio, &mut report),
            Name::Sawtooth => sawtooth(opts, &tokio, &mut report),
            Name::Thunk => thunk(opts, &tokio, &mut report),
            Name::Lifetime => lifetime::run(opts, &tokio, &mut report),
            Name::Eh => eh(opts, &tokio, &mut report),
        }
    }
    report
}

/// Calls of fib(n).
fn fib_calls(n: u64) -> u64 {
    let (mut a, mut b) = (1u64, 1u64); // calls of fib(0), fib(1)
    for _ in 1..n {
        (a, b) = (b, 1 + a + b);
    }
    if n == 0 {
        1
    } else {
        b
    }
}

fn fib_value(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a + b);
    }
    a
}

fn three_way_line(
    bench: &'static str,
    keys: &[(&str, String)],
    unit: &str,
    t: &[f64],
) -> ResultLine {
    let mut fields: Vec<(String, String)> = keys
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    for (sys, v) in ["contgc", "boxed", "tokio"].iter().zip(t) {
        fields.push((format!("{sys}_{unit}"), fmt_ns(*v)));
    }
    fields.push(("ratio_vs_boxed".into(), fmt_ratio(t[0] / t[1])));
    fields.push(("ratio_vs_tokio".into(), fmt_ratio(t[0] / t[2])));
    ResultLine { bench, fields }
}

fn print_three_header(what: &str, unit: &str) {
    println!(
        "{what:<24} {:>12} {:>12} {:>12} {:>9} {:>9}",
        format!("contgc {unit}"),
        "boxed",
        "tokio",
        "vs boxed",
        "vs tokio"
    );
}

fn print_three(label: &str, t: &[f64]) {
    println!(
        "{label:<24} {:>12.2} {:>12.2} {:>12.2} {:>9.3} {:>9.3}",
        t[0],
        t[1],
        t[2],
        t[0] / t[1],
        t[0] / t[2]
    );
}

fn fib(opts: &Options, tokio: &tokio::runtime::Runtime, report: &mut Report) {
    let n = opts.fib_n;
    let calls = fib_calls(n);
    println!(
        "\n== microbench fib: fib({n}) = {} ({calls} calls), ns per call ==",
        fib_value(n)
    );
    print_three_header("yield every", "ns");
    let mut contgc = Contgc::new(opts.config());
    for k in [0u64, 1, 8, 64] {
        let mut systems: Vec<System<'_>> = vec![
            (
                "contgc",
                Box::new(|it| contgc.batch(Work::Fib { n, k }, it)),
            ),
            (
                "boxed",
                Box::new(|it| {
                    rust_side::reset_calls();
                    block_on(rust_side::fib_loop::<Mini>(it, n, k))
                }),
            ),
            (
                "tokio",
                Box::new(|it| {
                    rust_side::reset_calls();
                    tokio.block_on(rust_side::fib_loop::<Tokio>(it, n, k))
                }),
            ),
        ];
        let t: Vec<f64> = compare(opts, &mut systems, fib_value(n))
            .into_iter()
            .map(|s| s * 1e9 / calls as f64)
            .collect();
        let label = if k == 0 {
            "never".to_string()
        } else {
            format!("{k} calls")
        };
        print_three(&label, &t);
        report.lines.push(three_way_line(
            "fib",
            &[("n", n.to_string()), ("yield_every", k.to_string())],
            "ns_per_call",
            &t,
        ));
    }
}

fn depth_shape(depth: u64, suspend: bool, throw: bool, finallies: u64) -> (EhShape, Shape) {
    (
        EhShape {
            depth,
            suspend,
            throw,
            finallies,
        },
        Shape {
            depth,
            suspend,
            throw,
            finallies,
        },
    )
}

fn depth(opts: &Options, tokio: &tokio::runtime::Runtime, report: &mut Report) {
    println!("\n== microbench depth: suspend at the leaf, resume, return through every frame; ns per frame ==");
    print_three_header("depth", "ns");
    let mut contgc = Contgc::new(opts.config());
    let mut series = [
        ("contgc", Vec::new()),
        ("boxed futures", Vec::new()),
        ("tokio", Vec::new()),
    ];
    for &d in &opts.depths {
        let (c, r) = depth_shape(d, true, false, 0);
        let mut systems: Vec<System<'_>> = vec![
            ("contgc", Box::new(|it| contgc.batch(Work::Rec(c), it))),
            (
                "boxed",
                Box::new(|it| block_on(rust_side::eh_err_loop::<Mini>(it, r))),
            ),
            (
                "tokio",
                Box::new(|it| tokio.block_on(rust_side::eh_err_loop::<Tokio>(it, r))),
            ),
        ];
        let t: Vec<f64> = compare(opts, &mut systems, d)
            .into_iter()
            .map(|s| s * 1e9 / d as f64)
            .collect();
        print_three(&d.to_string(), &t);
        for (i, s) in series.iter_mut().enumerate() {
            s.1.push((d as f64, t[i]));
        }
        report.lines.push(three_way_line(
            "depth",
            &[("depth", d.to_string())],
            "ns_per_frame",
            &t,
        ));
    }
    chart(
        opts,
        report,
        "depth.svg",
        LineChart {
            title: "suspend + resume: time per frame by stack depth".into(),
            x_label: "stack depth (frames)".into(),
            y_label: "ns per frame".into(),
            x_log: true,
            y_log: true,
            series: series
                .into_iter()
                .map(|(name, points)| Series {
                    name: name.into(),
                    points,
                    dashed: false,
                })
                .collect(),
        },
    );
}

fn sawtooth(opts: &Options, tokio: &tokio::runtime::Runtime, report: &mut Report) {
    use contgc_side::{SAW_FIRST, SAW_HIGH, SAW_LOW};
    let cycles = opts.cycles;
    println!(
        "\n== microbench sawtooth: suspend at depth {SAW_FIRST}, climb to {SAW_HIGH}, then {} times return to {SAW_LOW}, suspend, climb to {SAW_HIGH}; ns per cycle ==",
        cycles - 1
    );
    print_three_header("cycles", "ns");
    let mut contgc = Contgc::new(opts.config());
    let per_iter = (SAW_HIGH - SAW_LOW) * cycles + SAW_LOW;
    let mut systems: Vec<System<'_>> = vec![
        (
            "contgc",
            Box::new(|it| contgc.batch(Work::Saw { cycles }, it)),
        ),
        (
            "boxed",
            Box::new(|it| block_on(rust_side::saw_loop::<Mini>(it, cycles))),
        ),
        (
            "tokio",
            Box::new(|it| tokio.block_on(rust_side::saw_loop::<Tokio>(it, cycles))),
        ),
    ];
    let t: Vec<f64> = compare(opts, &mut systems, per_iter)
        .into_iter()
        .map(|s| s * 1e9 / cycles as f64)
        .collect();
    print_three(&cycles.to_string(), &t);
    report.lines.push(three_way_line(
        "sawtooth",
        &[
            ("low", SAW_LOW.to_string()),
            ("high", SAW_HIGH.to_string()),
            ("cycles", cycles.to_string()),
        ],
        "ns_per_cycle",
        &t,
    ));
}

async fn nothing() -> u64 {
    1
}

fn thunk(opts: &Options, tokio: &tokio::runtime::Runtime, report: &mut Report) {
    println!("\n== microbench thunk: call an async function that returns at once from synchronous code; ns per call ==");
    print_three_header("", "ns");
    let mut contgc = Contgc::new(opts.config());
    let mut systems: Vec<System<'_>> = vec![
        ("contgc", Box::new(|it| contgc.thunks(it))),
        (
            "boxed",
            Box::new(|it| {
                let mut acc = 0;
                for _ in 0..it {
                    // black_box: without it the whole call folds into a constant.
                    let f: std::pin::Pin<Box<dyn std::future::Future<Output = u64>>> =
                        std::hint::black_box(Box::pin(nothing()));
                    acc += block_on(f);
                }
                acc
            }),
        ),
        (
            "tokio",
            Box::new(|it| {
                let mut acc = 0;
                for _ in 0..it {
                    acc += tokio.block_on(std::hint::black_box(nothing()));
                }
                acc
            }),
        ),
    ];
    let t: Vec<f64> = compare(opts, &mut systems, 1)
        .into_iter()
        .map(|s| s * 1e9)
        .collect();
    drop(systems);
    let mut with_task: Vec<System<'_>> =
        vec![("contgc-start", Box::new(|it| contgc.task_thunks(it)))];
    let start_ns = compare(opts, &mut with_task, 1)[0] * 1e9;
    print_three("thunk (Runtime::call)", &t);
    println!("{:<24} {start_ns:>12.2}", "a task (Runtime::start)");
    let mut l = three_way_line("thunk", &[], "ns_per_call", &t);
    l.fields
        .insert(3, ("contgc_start_ns_per_call".into(), fmt_ns(start_ns)));
    report.lines.push(l);
}

/// The EH systems' columns.
const EH_SYSTEMS: [&str; 4] = ["contgc", "boxed", "boxed_panic", "tokio"];

/// Iterations per window of each EH system for one shape.
fn eh_cell(
    opts: &Options,
    contgc: &mut Contgc,
    tokio: &tokio::runtime::Runtime,
    depth: u64,
    suspend: bool,
    throw: bool,
    finallies: u64,
) -> [f64; 4] {
    let (c, r) = depth_shape(depth, suspend, throw, finallies);
    let w = opts.window;
    let mut out = [0.0; 4];
    out[0] = per_window("contgc", &mut |it| contgc.batch(Work::Rec(c), it), depth, w);
    out[1] = per_window(
        "boxed",
        &mut |it| block_on(rust_side::eh_err_loop::<Mini>(it, r)),
        depth,
        w,
    );
    out[2] = rust_side::quiet_panics(|| {
        per_window(
            "boxed-panic",
            &mut |it| block_on(rust_side::eh_panic_loop::<Mini>(it, r)),
            depth,
            w,
        )
    });
    out[3] = per_window(
        "tokio",
        &mut |it| tokio.block_on(rust_side::eh_err_loop::<Tokio>(it, r)),
        depth,
        w,
    );
    out
}

const SCENARIOS: [(&str, bool, bool); 4] = [
    ("Return NoSuspend", false, false),
    ("Throw NoSuspend", true, false),
    ("Return Suspend", false, true),
    ("Throw Suspend", true, true),
];

fn eh(opts: &Options, tokio: &tokio::runtime::Runtime, report: &mut Report) {
    let ms = opts.window.as_millis();
    println!("\n== microbench eh: iterations per {ms} ms (higher is better) ==");
    println!("   contgc = the Async2 columns; boxed (Err), boxed panic (catch_unwind) and tokio (Err) in place of Task/ValueTask;");
    println!(
        "   .NET Task / Async2: the published figures (another machine), for their shape only"
    );
    let mut contgc = Contgc::new(opts.config());
    let depths = &opts.depths;
    let pb = progress(
        opts,
        (depths.len() * 4 + published::FINALLY_COUNTS.len() * 2) as u64,
        "eh",
    );
    // [scenario][depth index][system]
    let mut table = vec![vec![[0.0f64; 4]; depths.len()]; 4];
    for (di, &d) in depths.iter().enumerate() {
        for (si, &(_, throw, suspend)) in SCENARIOS.iter().enumerate() {
            table[si][di] = eh_cell(opts, &mut contgc, tokio, d, suspend, throw, 0);
            pb.inc(1);
        }
    }
    let mut finally = vec![[[0.0f64; 4]; 2]; published::FINALLY_COUNTS.len()];
    let fd = if opts.is_small() {
        3
    } else {
        published::FINALLY_DEPTH
    };
    let mut finally_ok = true;
    for (fi, &k) in published::FINALLY_COUNTS.iter().enumerate() {
        let k = k.min(fd);
        for (j, suspend) in [false, true].into_iter().enumerate() {
            contgc.finally_runs();
            rust_side::FINALLY_RUNS.with(|c| c.set(0));
            finally[fi][j] = eh_cell(opts, &mut contgc, tokio, fd, suspend, true, k);
            finally_ok &=
                contgc.finally_runs() > 0 && rust_side::FINALLY_RUNS.with(|c| c.get()) > 0;
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    assert!(finally_ok, "microbench eh: a finally block never ran");
    for (si, &(name, throw, suspend)) in SCENARIOS.iter().enumerate() {
        println!("\n{name}");
        println!(
            "{:>6} {:>12} {:>12} {:>12} {:>12} {:>9} | {:>13} {:>13}",
            "depth",
            "contgc",
            "boxed Err",
            "boxed panic",
            "tokio Err",
            "vs boxed",
            ".NET Task*",
            ".NET Async2*"
        );
        for (di, &d) in depths.iter().enumerate() {
            let c = table[si][di];
            let p = published::DEPTHS
                .iter()
                .position(|&x| x == d)
                .map(|i| published::EH[i][si]);
            let (pt, pa) = p.map_or((String::from("-"), String::from("-")), |(t, a)| {
                (format!("{t:.0}"), format!("{a:.0}"))
            });
            println!(
                "{d:>6} {:>12.0} {:>12.0} {:>12.0} {:>12.0} {:>9.3} | {pt:>13} {pa:>13}",
                c[0],
                c[1],
                c[2],
                c[3],
                c[1] / c[0]
            );
            let mut fields = vec![
                ("case", if throw { "throw" } else { "return" }.to_string()),
                ("suspend", if suspend { "yes" } else { "no" }.to_string()),
                ("depth", d.to_string()),
            ];
            for (k, v) in EH_SYSTEMS.iter().zip(c) {
                fields.push((k, format!("{v:.0}")));
            }
            let mut l = line("eh", &fields);
            for f in l.fields.iter_mut().skip(3) {
                f.0 = format!("{}_iters", f.0);
            }
            l.fields
                .push(("ratio_vs_boxed".into(), fmt_ratio(c[1] / c[0])));
            l.fields
                .push(("ratio_vs_tokio".into(), fmt_ratio(c[3] / c[0])));
            report.lines.push(l);
        }
    }
    // Throw's cost over return's, by depth (time ratio: return iterations over throw).
    println!("\nthrow's cost relative to return's (time ratio; the published Async2 Suspend figure at depth 64 is 5.6, Task's 81)");
    println!(
        "{:>6} {:>14} {:>14} {:>14} {:>14}",
        "depth", "contgc NoSusp", "contgc Susp", "boxed NoSusp", "boxed Susp"
    );
    for (di, &d) in depths.iter().enumerate() {
        let r = |si_ret: usize, si_throw: usize, sys: usize| {
            table[si_ret][di][sys] / table[si_throw][di][sys]
        };
        println!(
            "{d:>6} {:>14.2} {:>14.2} {:>14.2} {:>14.2}",
            r(0, 1, 0),
            r(2, 3, 0),
            r(0, 1, 1),
            r(2, 3, 1)
        );
        let mut fields = vec![("depth", d.to_string())];
        for (sys, name) in EH_SYSTEMS.iter().enumerate() {
            fields.push((name, format!("{:.3}", r(0, 1, sys))));
        }
        for (sys, name) in EH_SYSTEMS.iter().enumerate() {
            fields.push((name, format!("{:.3}", r(2, 3, sys))));
        }
        let mut l = line("eh-throw-over-return", &fields);
        for (i, f) in l.fields.iter_mut().skip(1).enumerate() {
            f.0 = format!("{}_{}", f.0, if i < 4 { "nosuspend" } else { "suspend" });
        }
        report.lines.push(l);
    }
    println!("\nThrow with finally blocks on a stack {fd} deep, iterations per {ms} ms");
    println!(
        "{:>8} {:>12} {:>12} {:>12} {:>12} | {:>12} {:>12} {:>12} {:>12} | published NoSusp Task/Async2, Susp Task/Async2",
        "finally", "contgc NoS", "boxed NoS", "panic NoS", "tokio NoS", "contgc Sus", "boxed Sus", "panic Sus", "tokio Sus"
    );
    for (fi, &k) in published::FINALLY_COUNTS.iter().enumerate() {
        let [a, b] = finally[fi];
        let [pn, ps] = published::FINALLY[fi];
        println!(
            "{k:>8} {:>12.0} {:>12.0} {:>12.0} {:>12.0} | {:>12.0} {:>12.0} {:>12.0} {:>12.0} | {:.0}/{:.0}, {:.0}/{:.0}",
            a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3], pn.0, pn.1, ps.0, ps.1
        );
        for (suspend, c) in [("no", a), ("yes", b)] {
            let mut fields = vec![
                ("finallies", k.min(fd).to_string()),
                ("depth", fd.to_string()),
                ("suspend", suspend.to_string()),
            ];
            for (name, v) in EH_SYSTEMS.iter().zip(c) {
                fields.push((name, format!("{v:.0}")));
            }
            let mut l = line("eh-finally", &fields);
            for f in l.fields.iter_mut().skip(3) {
                f.0 = format!("{}_iters", f.0);
            }
            l.fields
                .push(("ratio_vs_boxed".into(), fmt_ratio(c[1] / c[0])));
            report.lines.push(l);
        }
    }
    eh_charts(opts, report, depths, &table, &finally);
}

fn eh_charts(
    opts: &Options,
    report: &mut Report,
    depths: &[u64],
    table: &[Vec<[f64; 4]>],
    finally: &[[[f64; 4]; 2]],
) {
    let by_depth = |f: &dyn Fn(usize) -> f64| -> Vec<(f64, f64)> {
        depths
            .iter()
            .enumerate()
            .map(|(di, &d)| (d as f64, f(di)))
            .collect()
    };
    let published_by_depth = |f: &dyn Fn(usize) -> f64| -> Vec<(f64, f64)> {
        published::DEPTHS
            .iter()
            .enumerate()
            .map(|(i, &d)| (d as f64, f(i)))
            .collect()
    };
    let series = |name: &str, points: Vec<(f64, f64)>, dashed: bool| Series {
        name: name.into(),
        points,
        dashed,
    };
    // 1. Throw relative to return, % (the document's first graph).
    let mut rel = Vec::new();
    for (sys, name) in [(0, "contgc"), (1, "boxed Err"), (2, "boxed panic")] {
        rel.push(series(
            &format!("{name} NoSuspend"),
            by_depth(&|di| 100.0 * table[1][di][sys] / table[0][di][sys]),
            false,
        ));
        rel.push(series(
            &format!("{name} Suspend"),
            by_depth(&|di| 100.0 * table[3][di][sys] / table[2][di][sys]),
            false,
        ));
    }
    rel.push(series(
        ".NET Async2 Suspend (published)",
        published_by_depth(&|i| 100.0 * published::EH[i][3].1 / published::EH[i][2].1),
        true,
    ));
    rel.push(series(
        ".NET Task Suspend (published)",
        published_by_depth(&|i| 100.0 * published::EH[i][3].0 / published::EH[i][2].0),
        true,
    ));
    chart(
        opts,
        report,
        "eh-throw-relative.svg",
        LineChart {
            title: "throwing relative to returning, by stack depth".into(),
            x_label: "stack depth".into(),
            y_label: "throw iterations as % of return iterations".into(),
            x_log: true,
            y_log: true,
            series: rel,
        },
    );
    // 2. Throw performance by depth (iterations per window).
    let mut raw = Vec::new();
    for (sys, name) in [
        (0, "contgc"),
        (1, "boxed Err"),
        (2, "boxed panic"),
        (3, "tokio Err"),
    ] {
        raw.push(series(
            &format!("{name} Throw Suspend"),
            by_depth(&|di| table[3][di][sys]),
            false,
        ));
    }
    raw.push(series(
        "contgc Throw NoSuspend",
        by_depth(&|di| table[1][di][0]),
        false,
    ));
    raw.push(series(
        "boxed Err Throw NoSuspend",
        by_depth(&|di| table[1][di][1]),
        false,
    ));
    raw.push(series(
        ".NET Async2 Throw Suspend (published)",
        published_by_depth(&|i| published::EH[i][3].1),
        true,
    ));
    raw.push(series(
        ".NET Task Throw Suspend (published)",
        published_by_depth(&|i| published::EH[i][3].0),
        true,
    ));
    chart(
        opts,
        report,
        "eh-throw-by-depth.svg",
        LineChart {
            title: format!(
                "throw performance by stack depth (iterations per {} ms)",
                opts.window.as_millis()
            ),
            x_label: "stack depth".into(),
            y_label: "iterations".into(),
            x_log: true,
            y_log: true,
            series: raw,
        },
    );
    // 3. contgc relative to the boxed futures, per scenario (% > 100: contgc faster).
    let rel_boxed = SCENARIOS
        .iter()
        .enumerate()
        .map(|(si, (name, _, _))| {
            series(
                name,
                by_depth(&|di| 100.0 * table[si][di][0] / table[si][di][1]),
                false,
            )
        })
        .collect();
    chart(
        opts,
        report,
        "eh-contgc-vs-boxed.svg",
        LineChart {
            title: "contgc relative to boxed Rust futures (Err), by stack depth".into(),
            x_label: "stack depth".into(),
            y_label: "contgc iterations as % of boxed futures' (above 100: faster)".into(),
            x_log: true,
            y_log: true,
            series: rel_boxed,
        },
    );
    // 4. Finally blocks.
    let by_k = |f: &dyn Fn(usize) -> f64| -> Vec<(f64, f64)> {
        published::FINALLY_COUNTS
            .iter()
            .enumerate()
            .map(|(i, &k)| (k as f64, f(i)))
            .collect()
    };
    let mut fin = Vec::new();
    for (sys, name) in [(0, "contgc"), (1, "boxed Err"), (2, "boxed panic")] {
        fin.push(series(
            &format!("{name} NoSuspend"),
            by_k(&|i| finally[i][0][sys]),
            false,
        ));
        fin.push(series(
            &format!("{name} Suspend"),
            by_k(&|i| finally[i][1][sys]),
            false,
        ));
    }
    fin.push(series(
        ".NET Async2 Suspend (published)",
        by_k(&|i| published::FINALLY[i][1].1),
        true,
    ));
    fin.push(series(
        ".NET Task Suspend (published)",
        by_k(&|i| published::FINALLY[i][1].0),
        true,
    ));
    chart(
        opts,
        report,
        "eh-finally.svg",
        LineChart {
            title: "throw with finally blocks on the stack".into(),
            x_label: "frames with a finally block".into(),
            y_label: format!("iterations per {} ms", opts.window.as_millis()),
            x_log: true,
            y_log: true,
            series: fin,
        },
    );
}

fn chart(opts: &Options, report: &mut Report, file: &str, c: LineChart) {
    let Some(dir) = &opts.charts else {
        return;
    };
    let path = Path::new(dir).join(file);
    // The charts' folder (`--charts`) is made if it is missing.
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!(
            "could not make the folder {}: {e}",
            Path::new(dir).display()
        );
        return;
    }
    match write_line_chart(&path, &c) {
        Ok(()) => {
            println!("chart: {}", path.display());
            report.charts.push(path);
        }
        Err(e) => eprintln!("could not write the chart {}: {e}", path.display()),
    }
}
