//! `contgc executor-bench`: the async2 executor (`contgc-executor`) against tokio and
//! against boxed Rust futures, each workload run on every system in the same process,
//! printed as a table and as `RESULT` lines. Times are medians of `runs` timed rounds;
//! each round runs every system once, one after the other, so that drift on a noisy
//! machine hits them alike. Ratios are contgc's figure over the baseline's (below 1:
//! contgc is faster).
//!
//! The systems:
//! - `contgc`: the current-thread `Runtime`, run on the benchmark thread's mutator;
//! - `contgc-mt`: the multi-thread `Executor` (`workers` worker threads, each with its
//!   own mutator), fed and awaited from the benchmark thread (which holds no mutator);
//! - `tokio-ct`: tokio's current-thread runtime, driven by `block_on`;
//! - `tokio-mt`: tokio's multi-thread runtime (`workers` worker threads), the driving
//!   future run by `block_on` on the benchmark thread;
//! - `boxed`: `Pin<Box<dyn Future>>` tasks on the minimal single-thread executor of
//!   this module (a run queue of task slots, a waker per task that re-queues it).
//!
//! The benchmarks (what each figure includes):
//! - `spawn-complete`: spawning an empty task that returns its index, running it and
//!   reading its result, per task, over `tasks` tasks spawned in batches of `batch`.
//!   Included: the spawn (contgc: task, boxed entry closure and `JoinHandle`; tokio: the
//!   task and its `JoinHandle`; boxed: the boxed future, its waker and a result slot),
//!   running the task, and observing its end: contgc reads `JoinHandle::result` after
//!   `Runtime::run` (current thread) or calls `JoinHandle::wait` (multi-thread); tokio
//!   awaits each `JoinHandle` from the `block_on` future; boxed reads the result slot
//!   after the run queue is empty. Every result is summed and checked.
//! - `yield-roundtrip`: one yield through the scheduler and back, per yield:
//!   `yield_tasks` tasks each yielding `yields` times (the spawns and joins are
//!   included but amortised). contgc: a frame that yields in a loop, capturing its
//!   state into its continuation at the first yield and reusing it at every later one;
//!   tokio: `tokio::task::yield_now().await`; boxed: a future that wakes itself once.
//! - `ping-pong`: two tasks exchanging `messages` messages (`messages / 2` round trips)
//!   over two channels of capacity 1: contgc `channel(1)`, tokio
//!   `tokio::sync::mpsc::channel(1)`, boxed: this module's single-thread channel. The
//!   figure is per message (one send and its receive); the total is printed in ms.
//!   Every reply is checked by the task that receives it.
//! - `many-suspended`: minor-GC pauses (medians, µs) with `suspended` contgc tasks
//!   suspended on a one-hour timer, each task's frame holding a fresh heap object,
//!   against the same with `suspended_small` tasks (two heaps in the same run, their
//!   `gcs` forced minor collections interleaved). Then every task is cancelled, and
//!   each frame checks its object as the cancellation unwinds through it; every task
//!   must end cancelled. contgc only.

use crate::heap_bench::{median, ResultLine};
use crate::{CollectionKind, Config, Heap, Mutator, Scope, Typed};
use contgc_continuation::{
    Capture, Continuation, Frame, FrameLayout, FrameType, Outcome, ResultKind, ResumeFn,
    Suspension, Value,
};
use contgc_executor::{
    channel, Cx, Executor, JoinHandle, Receiver, Runtime, Sender, Shutdown, Step, TaskOutput,
    TaskResult, TaskState, WaitOn,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Tasks spawned per timed spawn-complete run.
    pub tasks: usize,
    /// Tasks spawned before they are run and their results read.
    pub batch: usize,
    /// Tasks of the yield benchmark.
    pub yield_tasks: usize,
    /// Yields per task.
    pub yields: usize,
    /// Messages of the ping-pong benchmark (both directions counted; even).
    pub messages: usize,
    /// Suspended tasks of the large many-suspended case.
    pub suspended: usize,
    /// Suspended tasks of the small many-suspended case.
    pub suspended_small: usize,
    /// Forced minor collections per many-suspended case.
    pub gcs: usize,
    /// Timed rounds per figure (the median is reported).
    pub runs: usize,
    /// Worker threads of the multi-thread systems.
    pub workers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tasks: 1_000_000,
            batch: 10_000,
            yield_tasks: 100,
            yields: 10_000,
            messages: 1_000_000,
            suspended: 100_000,
            suspended_small: 1_000,
            gcs: 51,
            runs: 5,
            workers: 2,
        }
    }
}

/// A system a workload runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    /// contgc's current-thread `Runtime`.
    Contgc,
    /// contgc's multi-thread `Executor`.
    ContgcMt,
    /// tokio's current-thread runtime.
    TokioCt,
    /// tokio's multi-thread runtime.
    TokioMt,
    /// Boxed Rust futures on this module's single-thread executor.
    Boxed,
}

impl System {
    /// Every system, in table order.
    pub const ALL: [System; 5] = [
        System::Contgc,
        System::ContgcMt,
        System::TokioCt,
        System::TokioMt,
        System::Boxed,
    ];

    /// The name in the table.
    pub fn name(self) -> &'static str {
        match self {
            System::Contgc => "contgc",
            System::ContgcMt => "contgc-mt",
            System::TokioCt => "tokio-ct",
            System::TokioMt => "tokio-mt",
            System::Boxed => "boxed",
        }
    }

    /// The key prefix in RESULT lines.
    pub fn key(self) -> &'static str {
        match self {
            System::Contgc => "contgc",
            System::ContgcMt => "contgc_mt",
            System::TokioCt => "tokio_ct",
            System::TokioMt => "tokio_mt",
            System::Boxed => "boxed",
        }
    }
}

/// One workload measured on every system.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// The `bench=` name.
    pub bench: &'static str,
    /// Operations per timed run (tasks, yields or messages).
    pub ops: usize,
    /// The workload's other parameters, as RESULT-line fields (after the count).
    pub params: Vec<(String, String)>,
    /// Median nanoseconds per operation, per system (in [`System::ALL`] order).
    pub ns: Vec<(System, f64)>,
    /// What each system computed in its last run (checked against `expected`).
    pub results: Vec<(System, (u64, u64))>,
    /// The right answer.
    pub expected: (u64, u64),
}

impl Comparison {
    /// The median nanoseconds per operation of `sys`.
    pub fn ns_of(&self, sys: System) -> f64 {
        self.ns
            .iter()
            .find(|(s, _)| *s == sys)
            .map_or(f64::NAN, |(_, ns)| *ns)
    }

    /// contgc's figure over `baseline`'s.
    pub fn ratio_vs(&self, baseline: System) -> f64 {
        self.ns_of(System::Contgc) / self.ns_of(baseline)
    }
}

/// What the many-suspended benchmark measured.
#[derive(Clone, Debug)]
pub struct SuspendedReport {
    /// Tasks of the large case.
    pub tasks: usize,
    /// Tasks of the small case.
    pub small_tasks: usize,
    /// Median minor pause with `tasks` suspended (µs).
    pub median_us: f64,
    /// Median minor pause with `small_tasks` suspended (µs).
    pub small_median_us: f64,
    /// The first forced minor pause after the tasks suspended and the heap settled
    /// (large case, small case; µs): it ages the tasks' roots once.
    pub first_us: (f64, f64),
    /// Longest minor pause (large case, small case; µs).
    pub max_us: (f64, f64),
    /// Minor pauses recorded (large case, small case).
    pub pauses: (usize, usize),
    /// Forced collections that ran as major ones (large, small; 0 when healthy).
    pub majors: (usize, usize),
    /// Live heap bytes per suspended task after settling (large case).
    pub bytes_per_task: f64,
    /// Frames whose object was intact when their task was cancelled (large, small).
    pub checked: (usize, usize),
    /// Tasks that ended cancelled (large, small).
    pub cancelled: (usize, usize),
}

impl SuspendedReport {
    /// The large case's median pause over the small case's.
    pub fn ratio(&self) -> f64 {
        self.median_us / self.small_median_us
    }
}

/// Everything one `executor-bench` run measured, and its RESULT lines.
#[derive(Clone, Debug)]
pub struct Report {
    /// spawn-complete.
    pub spawn: Comparison,
    /// yield-roundtrip.
    pub yields: Comparison,
    /// ping-pong.
    pub ping_pong: Comparison,
    /// many-suspended.
    pub suspended: SuspendedReport,
    /// The RESULT lines, in order.
    pub lines: Vec<ResultLine>,
}

/// The pause ratio many-suspended aims at (large case over small case).
pub const TARGET_RATIO: f64 = 1.25;

/// Runs every executor benchmark, printing the table as it goes. Panics if any system
/// computes a wrong result.
pub fn run(opts: &Options) -> Report {
    let runs = opts.runs.max(1);
    println!(
        "== executor-bench (medians of {runs} runs; {} workers for contgc-mt and tokio-mt) ==",
        opts.workers
    );
    print!("{:<30}", "benchmark");
    for sys in System::ALL {
        print!(" {:>10}", sys.name());
    }
    println!(" {:>11} {:>9}", "vs tokio-ct", "vs boxed");
    let spawn = spawn_complete(opts);
    print_row("spawn-complete (ns/task)", &spawn, 1.0);
    let yields = yield_roundtrip(opts);
    print_row("yield-roundtrip (ns/yield)", &yields, 1.0);
    let ping_pong = ping_pong(opts);
    print_row("ping-pong (ns/message)", &ping_pong, 1.0);
    print_row(
        "ping-pong total (ms)",
        &ping_pong,
        ping_pong.ops as f64 * 1e-6,
    );
    let suspended = many_suspended(opts);
    let s = &suspended;
    println!();
    println!(
        "many-suspended: minor GC median {:>7.2} us (first {:>7.2}, max {:>7.2}) with {:>7} tasks suspended ({} pauses, {:.0} heap bytes/task)",
        s.median_us, s.first_us.0, s.max_us.0, s.tasks, s.pauses.0, s.bytes_per_task
    );
    println!(
        "                minor GC median {:>7.2} us (first {:>7.2}, max {:>7.2}) with {:>7} tasks suspended ({} pauses)",
        s.small_median_us, s.first_us.1, s.max_us.1, s.small_tasks, s.pauses.1
    );
    println!(
        "                ratio {:.3} (target <= {TARGET_RATIO}: {}); all {} + {} tasks cancelled, every frame's object intact",
        s.ratio(),
        if s.ratio() <= TARGET_RATIO { "met" } else { "NOT met" },
        s.cancelled.0,
        s.cancelled.1
    );
    if s.majors != (0, 0) {
        println!(
            "                ({} + {} forced collections ran as major ones)",
            s.majors.0, s.majors.1
        );
    }
    let mut lines: Vec<ResultLine> = [&spawn, &yields, &ping_pong]
        .into_iter()
        .map(result_line)
        .collect();
    lines.push(suspended_line(s));
    Report {
        spawn,
        yields,
        ping_pong,
        suspended,
        lines,
    }
}

fn print_row(label: &str, c: &Comparison, scale: f64) {
    print!("{label:<30}");
    for sys in System::ALL {
        print!(" {:>10.1}", c.ns_of(sys) * scale);
    }
    println!(
        " {:>10.2}x {:>8.2}x",
        c.ratio_vs(System::TokioCt),
        c.ratio_vs(System::Boxed)
    );
}

fn field(k: impl Into<String>, v: String) -> (String, String) {
    (k.into(), v)
}

fn result_line(c: &Comparison) -> ResultLine {
    let mut fields = Vec::new();
    let size = match c.bench {
        "spawn-complete" => "tasks",
        "yield-roundtrip" => "yields",
        _ => "messages",
    };
    fields.push(field(size, c.ops.to_string()));
    fields.extend(c.params.iter().cloned());
    for sys in System::ALL {
        fields.push(field(
            format!("{}_ns", sys.key()),
            format!("{:.1}", c.ns_of(sys)),
        ));
    }
    if c.bench == "ping-pong" {
        for sys in System::ALL {
            fields.push(field(
                format!("{}_ms", sys.key()),
                format!("{:.1}", c.ns_of(sys) * c.ops as f64 * 1e-6),
            ));
        }
    }
    fields.push(field(
        "ratio_vs_tokio_ct",
        format!("{:.2}", c.ratio_vs(System::TokioCt)),
    ));
    fields.push(field(
        "ratio_vs_boxed",
        format!("{:.2}", c.ratio_vs(System::Boxed)),
    ));
    ResultLine {
        bench: c.bench,
        fields,
    }
}

fn suspended_line(s: &SuspendedReport) -> ResultLine {
    ResultLine {
        bench: "many-suspended",
        fields: vec![
            field("tasks", s.tasks.to_string()),
            field("gen0_median_us", format!("{:.2}", s.median_us)),
            field(
                format!("tasks{}_gen0_median_us", s.small_tasks),
                format!("{:.2}", s.small_median_us),
            ),
            field("ratio", format!("{:.3}", s.ratio())),
        ],
    }
}

// ---------------------------------------------------------------------------------
// The contgc side: embedder state and frames.

/// The context of the benchmark's frames.
type C = Cx<Bench>;

/// The frame types and value type of the benchmark's tasks (registered once per heap;
/// every worker's state gets a copy).
#[derive(Clone, Copy)]
struct Types {
    /// yield-roundtrip: `i`, `n`, `acc`.
    yielder: FrameType<C>,
    /// ping-pong's ping: `i`, `n`, `acc`; suspension state: after a send or after a
    /// receive.
    ping: FrameType<C>,
    /// ping-pong's pong: the same layout as ping's.
    pong: FrameType<C>,
    /// many-suspended: the task's index and its object; handles the cancellation.
    sleeper: FrameType<C>,
    /// A frame's object: one `u64`.
    num: Typed<u64>,
}

impl Types {
    fn register(heap: &Heap) -> Types {
        let data_frame = |name: &str, bytes: u32, resume: ResumeFn<C>| {
            FrameLayout::new(name)
                .data_bytes(bytes)
                .result(ResultKind::Data)
                .register_with_context::<C>(heap, resume)
                .expect("frame layout")
        };
        Types {
            yielder: data_frame("bench.Yielder", 24, yield_resume),
            ping: data_frame("bench.Ping", 24, ping_resume),
            pong: data_frame("bench.Pong", 24, pong_resume),
            sleeper: FrameLayout::new("bench.Sleeper")
                .refs(1)
                .data_bytes(8)
                .handles_exceptions(true)
                .register_with_context::<C>(heap, sleeper_resume)
                .expect("frame layout"),
            num: heap.register_plain::<u64>("bench.Num").expect("value type"),
        }
    }
}

/// The two channels of the ping-pong: ping sends on `ping_*`, pong replies on `pong_*`.
struct PingPongChannels {
    ping_tx: Sender,
    ping_rx: Receiver,
    pong_tx: Sender,
    pong_rx: Receiver,
}

impl PingPongChannels {
    fn new() -> PingPongChannels {
        let (ping_tx, ping_rx) = channel(1);
        let (pong_tx, pong_rx) = channel(1);
        PingPongChannels {
            ping_tx,
            ping_rx,
            pong_tx,
            pong_rx,
        }
    }
}

/// The embedder state of the benchmark's runtimes (one per worker).
struct Bench {
    types: Types,
    /// Shared by every worker of a runtime (frames reach channels through their
    /// context: a frame holds only heap references and data).
    chans: Arc<PingPongChannels>,
    /// Sleeper frames that found their object intact.
    checked: usize,
}

impl Bench {
    fn new(types: Types, chans: Arc<PingPongChannels>) -> Bench {
        Bench {
            types,
            chans,
            checked: 0,
        }
    }
}

/// The data result of a task, or a loud failure.
fn task_data(what: &str, out: Option<TaskOutput>) -> u64 {
    match out {
        Some(Ok(TaskResult::Data(x))) => x,
        Some(Ok(other)) => panic!("{what}: a task returned {other:?} instead of data"),
        Some(Err(e)) => panic!("{what}: a task failed: {e}"),
        None => panic!("{what}: a task has not ended"),
    }
}

fn value_data(what: &str, v: Value<'_>) -> u64 {
    match v {
        Value::Data(x) => x,
        other => panic!("{what}: expected a data value, got {other:?}"),
    }
}

/// `async fn yielder(n) -> u64 { let mut acc = 0; for i in 0..n { yield_now().await; acc += i } acc }`
fn yield_loop<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    reuse: Option<Continuation<'s>>,
    mut i: u64,
    n: u64,
    mut acc: u64,
) -> Step<'s> {
    loop {
        if i == n {
            return Step::Return(Value::Data(acc));
        }
        match cx.yield_now(s) {
            Step::Return(_) => {
                acc += i;
                i += 1;
            }
            Step::Throw(e) => return Step::Throw(e),
            Step::Suspend(mut chain) => {
                let ft = cx.state().types.yielder;
                let mut c = Capture::begin(s, &ft, reuse, 0).expect("capture");
                c.set_u64(0, i).set_u64(8, n).set_u64(16, acc);
                c.link(&mut chain);
                return Step::Suspend(chain);
            }
        }
    }
}

fn yield_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let (i, n, acc) = (f.u64(ft, 0), f.u64(ft, 8), f.u64(ft, 16));
    let k = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    yield_loop(s, cx, Some(k), i + 1, n, acc + i).into_outcome()
}

/// A relay frame's loop variables.
#[derive(Clone, Copy)]
struct Relay {
    i: u64,
    n: u64,
    acc: u64,
}

const AFTER_SEND: u32 = 0;
const AFTER_RECV: u32 = 1;

/// Captures a relay frame (of the type `frame` picks: ping's or pong's) suspended at
/// `state` and links it under `chain`.
fn park_relay<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    reuse: Option<Continuation<'s>>,
    mut chain: Suspension<'s>,
    frame: fn(&Types) -> FrameType<C>,
    state: u32,
    r: Relay,
) -> Step<'s> {
    let ft = frame(&cx.state().types);
    let mut c = Capture::begin(s, &ft, reuse, state).expect("capture");
    c.set_u64(0, r.i).set_u64(8, r.n).set_u64(16, r.acc);
    c.link(&mut chain);
    Step::Suspend(chain)
}

fn read_relay(f: &mut Frame<'_, '_, C>) -> Relay {
    let ft = f.frame_type();
    Relay {
        i: f.u64(ft, 0),
        n: f.u64(ft, 8),
        acc: f.u64(ft, 16),
    }
}

/// Ping got reply `x` to message `r.i`.
fn ping_got(r: Relay, x: u64) -> Relay {
    assert_eq!(x, r.i + 1, "ping-pong (contgc): a wrong reply");
    Relay {
        i: r.i + 1,
        acc: r.acc + x,
        ..r
    }
}

/// `async fn ping(n) -> u64 { let mut acc = 0; for i in 0..n { ping_tx.send(i).await?;
/// let x = pong_rx.recv().await?; assert_eq!(x, i + 1); acc += x } acc }`
fn ping_loop<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    reuse: Option<Continuation<'s>>,
    mut r: Relay,
    mut sending: bool,
) -> Step<'s> {
    loop {
        let (st, tcx) = cx.split();
        if sending {
            if r.i == r.n {
                return Step::Return(Value::Data(r.acc));
            }
            match tcx.send(s, &st.chans.ping_tx, Value::Data(r.i)) {
                Step::Return(_) => sending = false,
                Step::Throw(e) => return Step::Throw(e),
                Step::Suspend(chain) => {
                    return park_relay(s, cx, reuse, chain, |t| t.ping, AFTER_SEND, r)
                }
            }
        } else {
            match tcx.recv(s, &st.chans.pong_rx) {
                Step::Return(v) => {
                    r = ping_got(r, value_data("ping-pong (contgc)", v));
                    sending = true;
                }
                Step::Throw(e) => return Step::Throw(e),
                Step::Suspend(chain) => {
                    return park_relay(s, cx, reuse, chain, |t| t.ping, AFTER_RECV, r)
                }
            }
        }
    }
}

fn ping_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let mut r = read_relay(f);
    let sending = f.state() == AFTER_RECV;
    if sending {
        r = ping_got(r, f.result_u64(ft));
    }
    let k = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    ping_loop(s, cx, Some(k), r, sending).into_outcome()
}

/// Pong got message `x` as its `r.i`th.
fn pong_got(r: Relay, x: u64) -> Relay {
    assert_eq!(x, r.i, "ping-pong (contgc): a wrong message");
    Relay {
        i: r.i + 1,
        acc: r.acc + x,
        ..r
    }
}

/// `async fn pong(n) -> u64 { let mut acc = 0; for i in 0..n { let x = ping_rx.recv().await?;
/// assert_eq!(x, i); acc += x; pong_tx.send(x + 1).await? } acc }`
fn pong_loop<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    reuse: Option<Continuation<'s>>,
    mut r: Relay,
    mut reply: Option<u64>,
) -> Step<'s> {
    loop {
        let (st, tcx) = cx.split();
        match reply {
            Some(x) => match tcx.send(s, &st.chans.pong_tx, Value::Data(x)) {
                Step::Return(_) => reply = None,
                Step::Throw(e) => return Step::Throw(e),
                Step::Suspend(chain) => {
                    return park_relay(s, cx, reuse, chain, |t| t.pong, AFTER_SEND, r)
                }
            },
            None => {
                if r.i == r.n {
                    return Step::Return(Value::Data(r.acc));
                }
                match tcx.recv(s, &st.chans.ping_rx) {
                    Step::Return(v) => {
                        let x = value_data("ping-pong (contgc)", v);
                        r = pong_got(r, x);
                        reply = Some(x + 1);
                    }
                    Step::Throw(e) => return Step::Throw(e),
                    Step::Suspend(chain) => {
                        return park_relay(s, cx, reuse, chain, |t| t.pong, AFTER_RECV, r)
                    }
                }
            }
        }
    }
}

fn pong_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let mut r = read_relay(f);
    let mut reply = None;
    if f.state() == AFTER_RECV {
        let x = f.result_u64(ft);
        r = pong_got(r, x);
        reply = Some(x + 1);
    }
    let k = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    pong_loop(s, cx, Some(k), r, reply).into_outcome()
}

/// What a sleeper's object holds: its task index, mixed.
const MAGIC: u64 = 0x9E37_79B9_7F4A_7C15;

/// `async fn sleeper(t) { let obj = Box::new(t ^ MAGIC); sleep(1 hour).await; check(obj) }`
/// (the check also runs when the sleep throws, and the exception goes on).
fn sleeper<'s>(s: &mut Scope<'s>, cx: &mut C, t: u64) -> Step<'s> {
    let Types { sleeper, num, .. } = cx.state().types;
    let obj = s.alloc_value(num, t ^ MAGIC).expect("frame object");
    match cx.sleep(s, Duration::from_secs(3600)) {
        Step::Suspend(mut chain) => {
            let mut c = Capture::begin_link(s, &sleeper, 0).expect("capture");
            c.set_ref(0, Some(obj)).set_u64(0, t);
            c.link(&mut chain);
            Step::Suspend(chain)
        }
        other => panic!("many-suspended: a one-hour sleep did not suspend: {other:?}"),
    }
}

fn sleeper_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let t = f.u64(ft, 0);
    let obj = f.get_ref(ft, 0);
    let exception = f.take_exception(ft);
    let (s, cx) = f.scope_and_ctx();
    let num = cx.state().types.num;
    let v = obj.map(|o| s.value(num, o));
    assert_eq!(
        v,
        Some(t ^ MAGIC),
        "many-suspended: task {t}'s frame object lost its data"
    );
    cx.state().checked += 1;
    match exception {
        Some(e) => Outcome::Throw(e),
        None => Outcome::Return(Value::Data(t)),
    }
}

// ---------------------------------------------------------------------------------
// The contestants of a workload.

/// Every system, ready to run a workload (built once per benchmark, reused by every
/// run of it).
struct Contestants {
    rt: Runtime<Bench>,
    /// The benchmark thread's mutator of `rt`'s heap (declared after `rt`: dropped
    /// after the runtime's queued jobs).
    m: Mutator,
    ex: Option<Executor<Bench>>,
    tokio_ct: tokio::runtime::Runtime,
    tokio_mt: tokio::runtime::Runtime,
    boxed: local::Executor,
}

impl Contestants {
    fn new(workers: usize) -> Contestants {
        let heap = Heap::new(Config::default()).expect("heap");
        let types = Types::register(&heap);
        let rt = Runtime::new(&heap, Bench::new(types, Arc::new(PingPongChannels::new())))
            .expect("runtime");
        let m = heap.mutator();
        let heap_mt = Heap::new(Config::default()).expect("heap");
        let types_mt = Types::register(&heap_mt);
        let chans_mt = Arc::new(PingPongChannels::new());
        let ex = Executor::new(&heap_mt, workers, move |_| {
            Bench::new(types_mt, chans_mt.clone())
        })
        .expect("executor");
        Contestants {
            rt,
            m,
            ex: Some(ex),
            tokio_ct: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("tokio runtime"),
            tokio_mt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .build()
                .expect("tokio runtime"),
            boxed: local::Executor::new(),
        }
    }

    fn ex(&self) -> &Executor<Bench> {
        self.ex.as_ref().expect("running")
    }

    /// Runs a workload once on `sys`; returns its wall time and what it computed.
    fn timed(
        &mut self,
        sys: System,
        work: fn(&mut Contestants, System, usize, usize) -> (u64, u64),
        a: usize,
        b: usize,
    ) -> (f64, (u64, u64)) {
        let t = Instant::now();
        let got = work(self, sys, a, b);
        (t.elapsed().as_secs_f64(), got)
    }
}

impl Drop for Contestants {
    fn drop(&mut self) {
        if let Some(ex) = self.ex.take() {
            ex.shutdown(Shutdown::Drain);
        }
    }
}

/// Runs `work(a, b)` on every system: a warm-up at a tenth of `a`, then `runs`
/// rounds; checks every result against `expected(a, b)`; returns the comparison with
/// `ops(a, b)` operations per run.
#[allow(clippy::too_many_arguments)]
fn compare(
    bench: &'static str,
    opts: &Options,
    a: usize,
    b: usize,
    ops: fn(usize, usize) -> usize,
    expected: fn(usize, usize) -> (u64, u64),
    work: fn(&mut Contestants, System, usize, usize) -> (u64, u64),
) -> Comparison {
    let mut c = Contestants::new(opts.workers);
    let check = |sys: System, a: usize, got: (u64, u64)| {
        let want = expected(a, b);
        assert_eq!(
            got,
            want,
            "{bench} on {}: wrong result (a = {a}, b = {b})",
            sys.name()
        );
    };
    let warm = (a / 10).max(2) & !1;
    for sys in System::ALL {
        let (_, got) = c.timed(sys, work, warm, b);
        check(sys, warm, got);
    }
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); System::ALL.len()];
    let mut results = Vec::new();
    for round in 0..opts.runs.max(1) {
        for (k, sys) in System::ALL.into_iter().enumerate() {
            let (t, got) = c.timed(sys, work, a, b);
            check(sys, a, got);
            secs[k].push(t);
            if round == 0 {
                results.push((sys, got));
            }
        }
    }
    let n = ops(a, b).max(1) as f64;
    Comparison {
        bench,
        ops: ops(a, b),
        params: Vec::new(),
        ns: System::ALL
            .into_iter()
            .zip(secs)
            .map(|(sys, t)| (sys, median(t) * 1e9 / n))
            .collect(),
        results,
        expected: expected(a, b),
    }
}

// ---------------------------------------------------------------------------------
// spawn-complete

/// The spawn-complete benchmark: `tasks` empty tasks spawned in batches of `batch`.
pub fn spawn_complete(opts: &Options) -> Comparison {
    let mut c = compare(
        "spawn-complete",
        opts,
        opts.tasks.max(1),
        opts.batch.max(1),
        |tasks, _| tasks,
        spawn_expected,
        spawn_work,
    );
    c.params = vec![field("batch", opts.batch.max(1).to_string())];
    c
}

/// What spawn-complete computes: the sum of the task indices and the task count.
pub fn spawn_expected(tasks: usize, _batch: usize) -> (u64, u64) {
    let n = tasks as u64;
    (n * n.saturating_sub(1) / 2, n)
}

fn batches(tasks: usize, batch: usize) -> impl Iterator<Item = std::ops::Range<u64>> {
    (0..tasks)
        .step_by(batch)
        .map(move |start| start as u64..(start + batch).min(tasks) as u64)
}

fn spawn_work(c: &mut Contestants, sys: System, tasks: usize, batch: usize) -> (u64, u64) {
    let what = "spawn-complete";
    let (mut sum, mut count) = (0u64, 0u64);
    match sys {
        System::Contgc => {
            let mut hs: Vec<JoinHandle> = Vec::with_capacity(batch);
            for range in batches(tasks, batch) {
                for i in range {
                    hs.push(c.rt.spawn(move |_s, _cx| Step::Return(Value::Data(i))));
                }
                c.rt.run(&mut c.m).expect("spawned tasks end");
                for h in hs.drain(..) {
                    sum += task_data(what, h.result());
                    count += 1;
                }
            }
        }
        System::ContgcMt => {
            let ex = c.ex();
            let mut hs: Vec<JoinHandle> = Vec::with_capacity(batch);
            for range in batches(tasks, batch) {
                for i in range {
                    hs.push(
                        ex.spawn(move |_s, _cx| Step::Return(Value::Data(i)))
                            .expect("spawn"),
                    );
                }
                for h in hs.drain(..) {
                    sum += task_data(what, Some(h.wait()));
                    count += 1;
                }
            }
        }
        System::TokioCt | System::TokioMt => {
            let rt = if sys == System::TokioCt {
                &c.tokio_ct
            } else {
                &c.tokio_mt
            };
            (sum, count) = rt.block_on(async move {
                let (mut sum, mut count) = (0u64, 0u64);
                let mut hs = Vec::with_capacity(batch);
                for range in batches(tasks, batch) {
                    for i in range {
                        hs.push(tokio::spawn(async move { i }));
                    }
                    for h in hs.drain(..) {
                        sum += h.await.expect("tokio task");
                        count += 1;
                    }
                }
                (sum, count)
            });
        }
        System::Boxed => {
            let ex = &mut c.boxed;
            let mut hs = Vec::with_capacity(batch);
            for range in batches(tasks, batch) {
                for i in range {
                    hs.push(ex.spawn(async move { i }));
                }
                assert_eq!(ex.run(), 0, "{what} (boxed): tasks left pending");
                for h in hs.drain(..) {
                    sum += h.take().expect("a finished task's result");
                    count += 1;
                }
            }
        }
    }
    (sum, count)
}

// ---------------------------------------------------------------------------------
// yield-roundtrip

/// The yield-roundtrip benchmark: `yield_tasks` tasks yielding `yields` times each.
pub fn yield_roundtrip(opts: &Options) -> Comparison {
    let mut c = compare(
        "yield-roundtrip",
        opts,
        opts.yields.max(1),
        opts.yield_tasks.max(1),
        |yields, tasks| yields * tasks,
        yield_expected,
        yield_work,
    );
    c.params = vec![field("tasks", opts.yield_tasks.max(1).to_string())];
    c
}

/// What yield-roundtrip computes: the sum of every task's result (each the sum of its
/// loop indices) and the task count.
pub fn yield_expected(yields: usize, tasks: usize) -> (u64, u64) {
    let k = yields as u64;
    (tasks as u64 * (k * k.saturating_sub(1) / 2), tasks as u64)
}

fn yield_work(c: &mut Contestants, sys: System, yields: usize, tasks: usize) -> (u64, u64) {
    let what = "yield-roundtrip";
    let k = yields as u64;
    let (mut sum, mut count) = (0u64, 0u64);
    match sys {
        System::Contgc => {
            let hs: Vec<JoinHandle> = (0..tasks)
                .map(|_| c.rt.spawn(move |s, cx| yield_loop(s, cx, None, 0, k, 0)))
                .collect();
            c.rt.run(&mut c.m).expect("yielding tasks end");
            for h in hs {
                sum += task_data(what, h.result());
                count += 1;
            }
        }
        System::ContgcMt => {
            let ex = c.ex();
            let hs: Vec<JoinHandle> = (0..tasks)
                .map(|_| {
                    ex.spawn(move |s, cx| yield_loop(s, cx, None, 0, k, 0))
                        .expect("spawn")
                })
                .collect();
            for h in hs {
                sum += task_data(what, Some(h.wait()));
                count += 1;
            }
        }
        System::TokioCt | System::TokioMt => {
            let rt = if sys == System::TokioCt {
                &c.tokio_ct
            } else {
                &c.tokio_mt
            };
            (sum, count) = rt.block_on(async move {
                let hs: Vec<_> = (0..tasks)
                    .map(|_| {
                        tokio::spawn(async move {
                            let mut acc = 0;
                            for i in 0..k {
                                tokio::task::yield_now().await;
                                acc += i;
                            }
                            acc
                        })
                    })
                    .collect();
                let (mut sum, mut count) = (0u64, 0u64);
                for h in hs {
                    sum += h.await.expect("tokio task");
                    count += 1;
                }
                (sum, count)
            });
        }
        System::Boxed => {
            let ex = &mut c.boxed;
            let hs: Vec<_> = (0..tasks)
                .map(|_| {
                    ex.spawn(async move {
                        let mut acc = 0;
                        for i in 0..k {
                            local::yield_now().await;
                            acc += i;
                        }
                        acc
                    })
                })
                .collect();
            assert_eq!(ex.run(), 0, "{what} (boxed): tasks left pending");
            for h in hs {
                sum += h.take().expect("a finished task's result");
                count += 1;
            }
        }
    }
    (sum, count)
}

// ---------------------------------------------------------------------------------
// ping-pong

/// The ping-pong benchmark: `messages` messages between two tasks.
pub fn ping_pong(opts: &Options) -> Comparison {
    compare(
        "ping-pong",
        opts,
        (opts.messages.max(2)) & !1,
        0,
        |messages, _| messages,
        ping_pong_expected,
        ping_pong_work,
    )
}

/// What ping-pong computes: the sums of the replies ping received (`i + 1` for its
/// `i`th message) and of the messages pong received, for `messages / 2` round trips.
pub fn ping_pong_expected(messages: usize, _: usize) -> (u64, u64) {
    let r = (messages / 2) as u64;
    (r * (r + 1) / 2, r * r.saturating_sub(1) / 2)
}

fn ping_pong_work(c: &mut Contestants, sys: System, messages: usize, _: usize) -> (u64, u64) {
    let what = "ping-pong";
    let rounds = (messages / 2) as u64;
    let start = Relay {
        i: 0,
        n: rounds,
        acc: 0,
    };
    match sys {
        System::Contgc => {
            let ping = c.rt.spawn(move |s, cx| ping_loop(s, cx, None, start, true));
            let pong = c.rt.spawn(move |s, cx| pong_loop(s, cx, None, start, None));
            c.rt.run(&mut c.m).expect("ping-pong tasks end");
            (
                task_data(what, ping.result()),
                task_data(what, pong.result()),
            )
        }
        System::ContgcMt => {
            let ex = c.ex();
            let ping = ex
                .spawn(move |s, cx| ping_loop(s, cx, None, start, true))
                .expect("spawn");
            let pong = ex
                .spawn(move |s, cx| pong_loop(s, cx, None, start, None))
                .expect("spawn");
            (
                task_data(what, Some(ping.wait())),
                task_data(what, Some(pong.wait())),
            )
        }
        System::TokioCt | System::TokioMt => {
            let rt = if sys == System::TokioCt {
                &c.tokio_ct
            } else {
                &c.tokio_mt
            };
            rt.block_on(async move {
                let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let ping = tokio::spawn(async move {
                    let mut acc = 0;
                    for i in 0..rounds {
                        ping_tx.send(i).await.expect("pong is there");
                        let x = pong_rx.recv().await.expect("a reply");
                        assert_eq!(x, i + 1, "ping-pong (tokio): a wrong reply");
                        acc += x;
                    }
                    acc
                });
                let pong = tokio::spawn(async move {
                    let mut acc = 0;
                    for i in 0..rounds {
                        let x = ping_rx.recv().await.expect("a message");
                        assert_eq!(x, i, "ping-pong (tokio): a wrong message");
                        acc += x;
                        pong_tx.send(x + 1).await.expect("ping is there");
                    }
                    acc
                });
                (
                    ping.await.expect("tokio task"),
                    pong.await.expect("tokio task"),
                )
            })
        }
        System::Boxed => {
            let ex = &mut c.boxed;
            let (ping_tx, ping_rx) = local::channel(1);
            let (pong_tx, pong_rx) = local::channel(1);
            let ping = ex.spawn(async move {
                let mut acc = 0;
                for i in 0..rounds {
                    ping_tx.send(i).await;
                    let x = pong_rx.recv().await;
                    assert_eq!(x, i + 1, "ping-pong (boxed): a wrong reply");
                    acc += x;
                }
                acc
            });
            let pong = ex.spawn(async move {
                let mut acc = 0;
                for i in 0..rounds {
                    let x = ping_rx.recv().await;
                    assert_eq!(x, i, "ping-pong (boxed): a wrong message");
                    acc += x;
                    pong_tx.send(x + 1).await;
                }
                acc
            });
            assert_eq!(ex.run(), 0, "{what} (boxed): tasks left pending");
            (
                ping.take().expect("ping's result"),
                pong.take().expect("pong's result"),
            )
        }
    }
}

// ---------------------------------------------------------------------------------
// many-suspended

/// `n` tasks suspended on one-hour timers on a heap of their own.
struct Sleepers {
    heap: Heap,
    rt: Runtime<Bench>,
    m: Mutator,
    handles: Vec<JoinHandle>,
}

impl Sleepers {
    fn suspend(n: usize) -> Sleepers {
        let heap = Heap::new(Config::default()).expect("heap");
        let types = Types::register(&heap);
        let mut rt = Runtime::new(&heap, Bench::new(types, Arc::new(PingPongChannels::new())))
            .expect("runtime");
        let mut m = heap.mutator();
        let handles: Vec<JoinHandle> = (0..n as u64)
            .map(|t| rt.spawn(move |s, cx| sleeper(s, cx, t)))
            .collect();
        rt.run_ready(&mut m);
        assert_eq!(rt.live_tasks(), n, "many-suspended: tasks ended early");
        for h in &handles {
            assert!(
                matches!(h.state(), TaskState::Suspended(WaitOn::Timer { .. })),
                "many-suspended: a task is not suspended on its timer: {:?}",
                h.state()
            );
        }
        assert_eq!(heap.stats().suspended_tasks, n, "one task root per task");
        // Settle: the old generation holds exactly the live frames.
        m.collect(CollectionKind::Major);
        heap.reset_pause_stats();
        Sleepers {
            heap,
            rt,
            m,
            handles,
        }
    }

    /// One forced minor collection, after a little garbage.
    fn collect(&mut self) {
        let num = self.rt.state().types.num;
        self.m.scope(|s| {
            for i in 0..8 {
                s.scope(|s| {
                    s.alloc_value(num, i).expect("garbage");
                });
            }
        });
        self.m.collect(CollectionKind::Minor);
    }

    /// (median, first and longest minor pause in µs, minor pauses, major collections).
    fn pauses(&self) -> (f64, f64, f64, usize, usize) {
        let records = self.heap.pauses();
        let minor: Vec<f64> = records
            .iter()
            .filter(|r| r.kind == CollectionKind::Minor)
            .map(|r| r.duration.as_secs_f64() * 1e6)
            .collect();
        let majors = records.len() - minor.len();
        let n = minor.len();
        let max = minor.iter().copied().fold(0.0, f64::max);
        let first = minor.first().copied().unwrap_or(f64::NAN);
        let med = if n == 0 { f64::NAN } else { median(minor) };
        (med, first, max, n, majors)
    }

    /// Cancels every task and runs them to their end; returns (frames checked, tasks
    /// ended cancelled).
    fn cancel(mut self) -> (usize, usize) {
        for h in &self.handles {
            assert!(h.cancel(), "many-suspended: a task ended before its cancel");
        }
        self.rt.run(&mut self.m).expect("cancelled tasks end");
        let cancelled = self
            .handles
            .iter()
            .filter(|h| h.state() == TaskState::Cancelled)
            .count();
        assert_eq!(
            cancelled,
            self.handles.len(),
            "many-suspended: tasks that did not end cancelled"
        );
        let checked = self.rt.state().checked;
        assert_eq!(
            checked,
            self.handles.len(),
            "many-suspended: frames that did not check their object"
        );
        (checked, cancelled)
    }
}

/// The many-suspended benchmark (contgc only).
pub fn many_suspended(opts: &Options) -> SuspendedReport {
    let mut big = Sleepers::suspend(opts.suspended);
    let st = big.heap.stats();
    let bytes_per_task =
        (st.young_bytes + st.old_bytes + st.large_bytes) as f64 / opts.suspended.max(1) as f64;
    let mut small = Sleepers::suspend(opts.suspended_small);
    for _ in 0..opts.gcs.max(1) {
        small.collect();
        big.collect();
    }
    let (median_us, first_big, max_big, n_big, majors_big) = big.pauses();
    let (small_median_us, first_small, max_small, n_small, majors_small) = small.pauses();
    let (tasks, small_tasks) = (big.handles.len(), small.handles.len());
    let big_end = big.cancel();
    let small_end = small.cancel();
    SuspendedReport {
        tasks,
        small_tasks,
        median_us,
        small_median_us,
        first_us: (first_big, first_small),
        max_us: (max_big, max_small),
        pauses: (n_big, n_small),
        majors: (majors_big, majors_small),
        bytes_per_task,
        checked: (big_end.0, small_end.0),
        cancelled: (big_end.1, small_end.1),
    }
}

// The boxed-futures baseline lives in `crate::local_executor`.
use crate::local_executor as local;
