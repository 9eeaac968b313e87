//! `contgc heap-bench`: the heap micro-benchmarks of docs/BENCHMARKS.md section 4, each
//! measured against its baseline in the same run, printed as a table and as `RESULT`
//! lines.
//!
//! - `alloc`: allocating objects with `size` payload bytes that die at once, against
//!   `Box::new` of the same payload (both write one word of it), collections included;
//! - `barrier`: a reference store into an old object through the write barrier, against
//!   a plain store;
//! - `safe-access`: a data read and a barriered reference store into an old object
//!   through the safe API's field tokens (`Scope::get`, `Scope::set_field`) and its
//!   checked accessors (`Scope::read_u64`, `Scope::set_ref`), against the raw layer's
//!   (`ObjectRef::load_u64`, `Mutator::store_ref`);
//! - `minor-gc`: the pause of a minor collection with an empty nursery, with no old
//!   objects and with 1,000,000 (it must not grow with the old generation);
//! - `survivors` (run last but `major`: with 2 workers it starts GC worker threads):
//!   the pause per surviving object of a minor collection that copies young linked
//!   lists (one list, or 1,000), to the to-space or into the old generation, with each
//!   number of GC workers asked for (1 and 2 by default) and the speed-up over the
//!   first;
//! - `major` (run last: it starts GC worker threads): the pause of a major collection of the main job's heap (suspended
//!   tasks' frames, 10,000 x 100 by default), with each number of GC workers asked
//!   for (1 and 2 by default), in the same run, and the speed-up over one worker;
//! - `binary-trees`: the classic GC benchmark through the safe API and through the raw
//!   layer, against the same trees built with `Box` and with gc-arena;
//! - `tagged`: an interpreter loop (`v[i] = v[i] + v[i + 1]` over a vector of 1,000
//!   values) through the safe API with integers as tagged immediates, against the same
//!   loop with every integer boxed (an allocation per add);
//! - `ephemerons`: the major pause of a heap holding a table of 100,000 ephemerons
//!   whose keys live, against the same table of plain reference pairs;
//! - `weak`: minor and major pauses of a heap of 1,000,000 old objects with a weak
//!   reference to each (weak slots of one array, or weak handles), against the same
//!   heap with none;
//! - `verify`: what the heap verifier (`Config::verify_after_gc`) adds to one
//!   collection of a heap with about 10 MB of live objects, old and young, referring to
//!   each other.

use crate::{CollectionKind, Config, Heap, Mutator, TypeDescriptor};
use std::hint::black_box;
use std::time::Instant;

mod binary_trees;
mod survivors;
use binary_trees::binary_trees;
pub use binary_trees::TreesFigures;
pub use survivors::{survivors, Destination, Shape, SurvivorFigures, WIDE_LISTS};

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Allocations per timed run of the allocation benchmark.
    pub allocs: usize,
    /// Timed runs per figure (the median is reported).
    pub runs: usize,
    /// Minor collections timed per old-generation size.
    pub gcs: usize,
    /// Old objects for the large minor-GC case.
    pub old_objects: usize,
    /// Maximum depth of the binary-trees benchmark.
    pub depth: u32,
    /// Nursery (eden) bytes for the allocation and binary-trees benchmarks; `None`
    /// uses the heap's default.
    pub nursery: Option<usize>,
    /// Young objects kept alive in the survivor benchmark (one figure per count).
    pub survivor_objects: Vec<usize>,
    /// Shapes of the survivor benchmark (`list`, `wide`); empty runs both.
    pub survivor_shapes: Vec<String>,
    /// Destinations of the survivor benchmark (`survivor`, `old`); empty runs both.
    pub survivor_to: Vec<String>,
    /// GC worker counts of the survivor benchmark (the first is the baseline of the
    /// speed-up).
    pub survivor_workers: Vec<usize>,
    /// Suspended tasks of the major-collection benchmark.
    pub major_tasks: usize,
    /// Frames per task of the major-collection benchmark.
    pub major_depth: usize,
    /// GC worker counts of the major-collection benchmark (the first is the baseline).
    pub major_workers: Vec<usize>,
    /// Sections to run (`alloc`, `barrier`, `safe-access`, `minor-gc`, `survivors`, `binary-trees`,
    /// `tagged`, `weak`, `ephemerons`, `verify`, `major`); empty runs them all.
    pub only: Vec<String>,
}

impl Options {
    fn runs_section(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == name)
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allocs: 2_000_000,
            runs: 7,
            gcs: 201,
            old_objects: 1_000_000,
            depth: 16,
            nursery: None,
            survivor_objects: vec![10_000, 100_000, 1_000_000],
            major_tasks: 10_000,
            major_depth: 100,
            major_workers: vec![1, 2],
            only: Vec::new(),
            survivor_shapes: Vec::new(),
            survivor_to: Vec::new(),
            survivor_workers: vec![1, 2],
        }
    }
}

/// One `RESULT` line: the bench name and its key/value pairs.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultLine {
    /// `bench=` value.
    pub bench: &'static str,
    /// The other keys, in order.
    pub fields: Vec<(String, String)>,
}

impl std::fmt::Display for ResultLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RESULT bench={}", self.bench)?;
        for (k, v) in &self.fields {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub(crate) fn line(bench: &'static str, fields: &[(&str, String)]) -> ResultLine {
    ResultLine {
        bench,
        fields: fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

/// Runs every heap benchmark, printing the table as it goes; returns the RESULT lines.
pub fn run(opts: &Options) -> Vec<ResultLine> {
    let mut out = Vec::new();
    println!("== heap-bench (medians of {} runs) ==", opts.runs);
    println!(
        "{:<28} {:>14} {:>14} {:>9}",
        "benchmark", "contgc", "baseline", "ratio"
    );
    for size in [16usize, 64, 256] {
        if !opts.runs_section("alloc") {
            break;
        }
        let (c, b) = alloc(size, opts);
        println!(
            "{:<28} {:>11.2} ns {:>11.2} ns {:>8.2}x",
            format!("alloc {size} B (vs Box::new)"),
            c,
            b,
            b / c
        );
        out.push(line(
            "alloc",
            &[
                ("size", size.to_string()),
                ("contgc_ns", format!("{c:.2}")),
                ("box_ns", format!("{b:.2}")),
                ("speedup", format!("{:.2}", b / c)),
            ],
        ));
    }
    if opts.runs_section("barrier") {
        let (c, p) = barrier(opts);
        println!(
            "{:<28} {:>11.2} ns {:>11.2} ns {:>8.2}x",
            "ref store (vs plain store)",
            c,
            p,
            c / p
        );
        out.push(line(
            "barrier",
            &[
                ("contgc_ns", format!("{c:.2}")),
                ("plain_ns", format!("{p:.2}")),
            ],
        ));
    }
    if opts.runs_section("safe-access") {
        out.extend(safe_access_section(opts));
    }
    if opts.runs_section("minor-gc") {
        let mut pauses = Vec::new();
        for old in [0, opts.old_objects] {
            let (us, parts) = minor_pause(old, opts);
            println!(
                "{:<28} {:>11.2} us  ({})",
                format!("minor GC, {old} old objects"),
                us,
                parts_text(&parts)
            );
            pauses.push(us);
            out.push(line(
                "minor-gc",
                &[
                    ("old_objects", old.to_string()),
                    ("pause_us_median", format!("{us:.2}")),
                ],
            ));
        }
        println!(
            "{:<28} {:>13.2}x",
            "minor GC pause ratio",
            pauses[1] / pauses[0]
        );
    }
    if opts.runs_section("binary-trees") {
        out.extend(binary_trees_section(opts));
    }
    if opts.runs_section("tagged") {
        out.push(tagged_section(opts));
    }
    if opts.runs_section("weak") {
        out.extend(weak_section(opts));
    }
    if opts.runs_section("ephemerons") {
        out.push(ephemeron_section(opts));
    }
    if opts.runs_section("verify") {
        let (live_mb, verify_ms) = verify_cost(opts);
        println!(
            "{:<28} {:>11.3} ms  ({live_mb:.1} MB live)",
            "verifier, one collection", verify_ms
        );
        out.push(line(
            "verify",
            &[
                ("live_mb", format!("{live_mb:.1}")),
                ("verify_ms", format!("{verify_ms:.3}")),
            ],
        ));
    }
    // Last, these two: they start GC worker threads (see `bench_config`).
    if opts.runs_section("survivors") {
        out.extend(survivor_section(opts));
    }
    if opts.runs_section("major") {
        out.extend(major_section(opts));
    }
    out
}

/// The survivor benchmark's rows: every shape, count and destination.
fn survivor_section(opts: &Options) -> Vec<ResultLine> {
    let mut out = Vec::new();
    let picked = |list: &[String], name: &str| list.is_empty() || list.iter().any(|s| s == name);
    for shape in [Shape::List, Shape::Wide] {
        if !picked(&opts.survivor_shapes, shape.name()) {
            continue;
        }
        for &n in &opts.survivor_objects {
            for to in [Destination::Survivor, Destination::Old] {
                if !picked(&opts.survivor_to, to.name()) {
                    continue;
                }
                let mut base = None;
                for &workers in &opts.survivor_workers {
                    let s = survivors(shape, n, to, workers, opts.runs);
                    let speedup = *base.get_or_insert(s.ns_per_object) / s.ns_per_object;
                    println!(
                        "{:<34} {:>8.2} ns per object, {speedup:.2}x ({:.0} us: {})",
                        format!(
                            "survivors {} {n} -> {}, {workers}w",
                            shape.name(),
                            to.name()
                        ),
                        s.ns_per_object,
                        s.pause_us,
                        parts_text(&s.parts),
                    );
                    out.push(line(
                        "survivors",
                        &[
                            ("shape", shape.name().to_string()),
                            ("objects", n.to_string()),
                            ("workers", workers.to_string()),
                            ("workers_used", s.workers_used.to_string()),
                            ("to", to.name().to_string()),
                            ("ns_per_object", format!("{:.2}", s.ns_per_object)),
                            ("speedup", format!("{speedup:.2}")),
                            ("pause_us", format!("{:.1}", s.pause_us)),
                            ("roots_us", us(s.parts.roots)),
                            ("copy_us", us(s.parts.copy)),
                            ("other_us", us(s.parts.other)),
                        ],
                    ));
                }
            }
        }
    }
    out
}

/// The major-collection rows: the main job's heap built once per worker count, then
/// `max(runs, 5)` forced major collections each; the speed-up is over the first count.
fn major_section(opts: &Options) -> Vec<ResultLine> {
    use crate::suspended_tasks as st;
    let mut out = Vec::new();
    let mut base = None;
    for &workers in &opts.major_workers {
        let report = st::run(&st::Options {
            tasks: opts.major_tasks,
            depth: opts.major_depth,
            gcs: 2,
            majors: opts.runs.max(5),
            gc_workers: Some(workers),
            progress: false,
            ..st::Options::default()
        });
        let (Some(m), Some(mut line)) = (report.major.clone(), report.major_result_line()) else {
            continue;
        };
        let base_ms = *base.get_or_insert(m.pause_ms);
        println!(
            "{:<28} {:>11.2} ms {:>11.2} ms {:>8.2}x  (mark {:.2}, sweep {:.2}, evacuate {:.2} ms)",
            format!("major GC, {} worker(s)", m.workers),
            m.pause_ms,
            base_ms,
            base_ms / m.pause_ms,
            m.mark_ms,
            m.sweep_ms,
            m.evacuate_ms
        );
        line.fields.push((
            "speedup_vs_first".to_string(),
            format!("{:.2}", base_ms / m.pause_ms),
        ));
        out.push(line);
    }
    out
}

/// The binary-trees rows.
fn binary_trees_section(opts: &Options) -> Vec<ResultLine> {
    let t = binary_trees(opts, opts.runs.min(3));
    let d = opts.depth;
    for (name, ms) in [
        ("safe API", t.safe_ms),
        ("raw layer", t.raw_ms),
        ("gc-arena", t.gc_arena_ms),
    ] {
        println!(
            "{:<28} {:>11.1} ms {:>11.1} ms {:>8.2}x",
            format!("binary-trees {d}, {name}"),
            ms,
            t.box_ms,
            t.box_ms / ms
        );
    }
    vec![line(
        "binary-trees",
        &[
            ("depth", d.to_string()),
            ("contgc_safe_ms", format!("{:.1}", t.safe_ms)),
            ("contgc_raw_ms", format!("{:.1}", t.raw_ms)),
            ("box_ms", format!("{:.1}", t.box_ms)),
            ("gc_arena_ms", format!("{:.1}", t.gc_arena_ms)),
            ("ratio_safe_vs_box", format!("{:.2}", t.safe_ms / t.box_ms)),
            (
                "ratio_safe_vs_gc_arena",
                format!("{:.2}", t.safe_ms / t.gc_arena_ms),
            ),
            ("ratio_raw_vs_box", format!("{:.2}", t.raw_ms / t.box_ms)),
        ],
    )]
}

/// The configuration every heap-bench heap starts from, but the `major` section's and
/// the survivor section's rows with more workers: one GC worker. A major collection with more starts threads, and once a process has had
/// a second thread glibc's `malloc` leaves its single-thread fast path for good, which
/// makes the `Box` and gc-arena baselines up to twice as slow (measured: binary-trees'
/// `Box` 197 ms before, 394 ms after); these benchmarks are single-threaded, so their
/// baselines must not pay for the collector's helpers. The `survivors` and `major`
/// sections run last for the same reason.
fn bench_config() -> crate::ConfigBuilder {
    Config::builder().gc_workers(1)
}

fn heap_with(config: Config) -> Heap {
    Heap::new(config).expect("heap")
}

/// Nanoseconds per allocation: (contgc, Box).
fn default_config(opts: &Options) -> Config {
    let b = bench_config();
    match opts.nursery {
        Some(n) => b.nursery_size(n),
        None => b,
    }
    .build()
    .expect("a valid nursery size")
}

fn alloc(size: usize, opts: &Options) -> (f64, f64) {
    let heap = heap_with(default_config(opts));
    let ty = heap
        .register_type(&TypeDescriptor::fixed("Payload", size as u32))
        .unwrap();
    let mut m = heap.mutator();
    let n = opts.allocs;
    let contgc = |m: &mut Mutator| {
        let t = Instant::now();
        for i in 0..n {
            let o = m.alloc_raw(ty).expect("alloc");
            // SAFETY: a fresh object with at least 8 payload bytes, written before any
            // further allocation.
            unsafe { (o.payload() as *mut usize).write(i) };
            black_box(o);
        }
        t.elapsed().as_nanos() as f64 / n as f64
    };
    fn boxed<const N: usize>(n: usize) -> f64 {
        let t = Instant::now();
        for i in 0..n {
            let mut a = [0usize; N];
            a[0] = i;
            black_box(Box::new(a));
        }
        t.elapsed().as_nanos() as f64 / n as f64
    }
    let boxf = || match size {
        16 => boxed::<2>(n),
        64 => boxed::<8>(n),
        256 => boxed::<32>(n),
        _ => unreachable!("sizes are fixed"),
    };
    contgc(&mut m);
    boxf();
    let mut cs = Vec::new();
    let mut bs = Vec::new();
    for _ in 0..opts.runs {
        cs.push(contgc(&mut m));
        bs.push(boxf());
    }
    (median(cs), median(bs))
}

/// Nanoseconds per reference store: (with barrier into an old object, plain store).
fn barrier(opts: &Options) -> (f64, f64) {
    let heap = heap_with(bench_config().promotion_age(1).build().unwrap());
    let ty = heap
        .register_type(&TypeDescriptor::fixed("Pair", 16).with_refs(&[0, 8]))
        .unwrap();
    let mut m = heap.mutator();
    let base = m.roots_len();
    let a = m.alloc_raw(ty).unwrap();
    // SAFETY: `a` was allocated just now, with no allocation since.
    let ia = unsafe { m.push_root(Some(a)) };
    let b = m.alloc_raw(ty).unwrap();
    // SAFETY: as for `a`.
    let ib = unsafe { m.push_root(Some(b)) };
    m.collect(CollectionKind::Minor); // both old now
    let (a, b) = (m.root(ia).unwrap(), m.root(ib).unwrap());
    let n = opts.allocs * 5;
    let mut cs = Vec::new();
    let mut ps = Vec::new();
    let mut plain = [0usize; 2];
    for _ in 0..=opts.runs {
        let t = Instant::now();
        for i in 0..n {
            let v = if i & 1 == 0 { a } else { b };
            // SAFETY: `a` is live (rooted, and no collection runs in this loop) and 0
            // is its reference slot; `v` is live.
            unsafe { m.store_ref(black_box(a), 0, Some(black_box(v))) };
        }
        cs.push(t.elapsed().as_nanos() as f64 / n as f64);
        let t = Instant::now();
        for i in 0..n {
            let v = if i & 1 == 0 { a.addr() } else { b.addr() };
            let p = black_box(&mut plain);
            p[0] = black_box(v);
        }
        ps.push(t.elapsed().as_nanos() as f64 / n as f64);
    }
    // SAFETY: only the two roots pushed above are released; no scope is open.
    unsafe { m.truncate_roots(base) };
    (median(cs), median(ps))
}

/// One field access through the safe API (a field token through an object view, a
/// field token on a local, a checked accessor) and through the raw layer, ns each:
/// (data read, reference store with the barrier), each as (view, token, checked, raw).
#[allow(clippy::type_complexity)]
fn safe_access(opts: &Options) -> ((f64, f64, f64, f64), (f64, f64, f64, f64)) {
    let heap = heap_with(bench_config().promotion_age(1).build().unwrap());
    let ty = heap
        .register_type(&TypeDescriptor::fixed("Pair", 24).with_refs(&[0, 8]))
        .unwrap();
    let n = opts.allocs * 5;
    let (data, next) = (
        heap.data_field(ty, 16).unwrap(),
        heap.ref_field(ty, 0).unwrap(),
    );
    let mut m = heap.mutator();
    m.scope(|s| {
        let (a, b) = (s.alloc(ty).unwrap(), s.alloc(ty).unwrap());
        s.write_u64(a, 16, 3);
        s.collect(CollectionKind::Minor); // both old: stores take the barrier's old path
        let (ra, rb) = (s.raw(a), s.raw(b));
        let (mut read, mut read_raw, mut store, mut store_raw) = (vec![], vec![], vec![], vec![]);
        let (mut read_tok, mut store_tok) = (vec![], vec![]);
        let (mut read_view, mut store_view) = (vec![], vec![]);
        for _ in 0..=opts.runs {
            // A view is made once and used for many accesses, as the raw layer's
            // address is.
            let t = Instant::now();
            let mut sum = 0u64;
            let view = s.view(a);
            for _ in 0..n {
                // Not black-boxed, like the raw read: the field check is loop-invariant
                // and the compiler may hoist it, as it would in an embedder's loop; the
                // load itself is atomic and is never hoisted.
                sum = sum.wrapping_add(view.get(data));
            }
            black_box(sum);
            read_view.push(t.elapsed().as_nanos() as f64 / n as f64);
            let t = Instant::now();
            let mut w = s.view_mut(a);
            for i in 0..n {
                let v = if i & 1 == 0 { a } else { b };
                w.set_field(next, Some(black_box(v)));
            }
            store_view.push(t.elapsed().as_nanos() as f64 / n as f64);
            let t = Instant::now();
            let mut sum = 0u64;
            for _ in 0..n {
                sum = sum.wrapping_add(s.get(black_box(a), data));
            }
            black_box(sum);
            read_tok.push(t.elapsed().as_nanos() as f64 / n as f64);
            let t = Instant::now();
            for i in 0..n {
                let v = if i & 1 == 0 { a } else { b };
                s.set_field(black_box(a), next, Some(black_box(v)));
            }
            store_tok.push(t.elapsed().as_nanos() as f64 / n as f64);
            let t = Instant::now();
            let mut sum = 0u64;
            for _ in 0..n {
                sum = sum.wrapping_add(s.read_u64(black_box(a), 16));
            }
            black_box(sum);
            read.push(t.elapsed().as_nanos() as f64 / n as f64);
            let t = Instant::now();
            let mut sum = 0u64;
            for _ in 0..n {
                // SAFETY: `ra` is live (a local; no collection runs in this loop) and
                // word 16 is data.
                sum = sum.wrapping_add(unsafe { ra.load_u64(16) });
            }
            black_box(sum);
            read_raw.push(t.elapsed().as_nanos() as f64 / n as f64);
            let t = Instant::now();
            for i in 0..n {
                let v = if i & 1 == 0 { a } else { b };
                s.set_ref(black_box(a), 0, Some(black_box(v)));
            }
            store.push(t.elapsed().as_nanos() as f64 / n as f64);
            let t = Instant::now();
            for i in 0..n {
                let v = if i & 1 == 0 { ra } else { rb };
                // SAFETY: live objects (locals; no collection runs in this loop); 0 is
                // a reference slot of `ra`.
                unsafe { s.mutator().store_ref(black_box(ra), 0, Some(black_box(v))) };
            }
            store_raw.push(t.elapsed().as_nanos() as f64 / n as f64);
        }
        (
            (
                median(read_view),
                median(read_tok),
                median(read),
                median(read_raw),
            ),
            (
                median(store_view),
                median(store_tok),
                median(store),
                median(store_raw),
            ),
        )
    })
}

/// The safe-access rows: a data read and a barriered reference store through the
/// safe API against the raw layer, in the same run.
fn safe_access_section(opts: &Options) -> Vec<ResultLine> {
    let (read, store) = safe_access(opts);
    let mut out = Vec::new();
    for (op, (view, token, checked, raw)) in [("read", read), ("store", store)] {
        println!(
            "{:<28} {:>11.2} ns {:>11.2} ns {:>8.2}x  (token on a local {token:.2} ns, checked accessor {checked:.2} ns)",
            format!("safe {op}, view (vs raw)"),
            view,
            raw,
            view / raw
        );
        out.push(line(
            "safe-access",
            &[
                ("op", op.to_string()),
                ("contgc_ns", format!("{view:.2}")),
                ("raw_ns", format!("{raw:.2}")),
                ("ratio", format!("{:.2}", view / raw)),
                ("token_ns", format!("{token:.2}")),
                ("checked_ns", format!("{checked:.2}")),
                ("checked_ratio", format!("{:.2}", checked / raw)),
            ],
        ));
    }
    out
}

/// Values in the interpreter loop's vector.
const LOOP_VALUES: usize = 1000;
/// Passes over the vector per timed run.
const LOOP_PASSES: usize = 200;

/// The interpreter loop: `v[i] = v[i] + v[i + 1]` (wrapping, mod 2^32) over a value
/// vector, through the safe API, with every integer a tagged immediate; ns per
/// operation (two reads, an add, a write).
fn loop_tagged(opts: &Options) -> f64 {
    use crate::{TagScheme, Tagged};
    let heap = heap_with(default_config(opts));
    let values = heap
        .register_type(
            &TypeDescriptor::array("Values", 0, 8).with_elem_tagged(&[0], TagScheme::LOW_BIT),
        )
        .unwrap();
    let mut m = heap.mutator();
    let int = |w: u64| w >> 1;
    m.scope(|s| {
        let v = s.alloc_array(values, LOOP_VALUES as u32).unwrap();
        for i in 0..LOOP_VALUES {
            s.set_tagged(v, 8 * i, Tagged::Imm(((i as u64) << 1) | 1))
                .unwrap();
        }
        let t = Instant::now();
        for _ in 0..LOOP_PASSES {
            for i in 0..LOOP_VALUES {
                let j = (i + 1) % LOOP_VALUES;
                let (Tagged::Imm(a), Tagged::Imm(b)) =
                    (s.get_tagged(v, 8 * i), s.get_tagged(v, 8 * j))
                else {
                    unreachable!("only integers")
                };
                let sum = (int(a) + int(b)) & 0xFFFF_FFFF;
                s.set_tagged(v, 8 * i, Tagged::Imm((sum << 1) | 1)).unwrap();
            }
        }
        let ns = t.elapsed().as_nanos() as f64 / (LOOP_PASSES * LOOP_VALUES) as f64;
        black_box(s.get_tagged(v, 0));
        ns
    })
}

/// The same loop with every integer boxed: the vector holds references to `Int`
/// objects, and every add allocates the box of its result.
fn loop_boxed(opts: &Options) -> f64 {
    let heap = heap_with(default_config(opts));
    let values = heap
        .register_type(&TypeDescriptor::array("Values", 0, 8).with_elem_refs(&[0]))
        .unwrap();
    let int = heap
        .register_type(&TypeDescriptor::fixed("Int", 8))
        .unwrap();
    let mut m = heap.mutator();
    m.scope(|s| {
        let v = s.alloc_array(values, LOOP_VALUES as u32).unwrap();
        for i in 0..LOOP_VALUES {
            s.scope(|s| {
                let b = s.alloc(int).unwrap();
                s.write_u64(b, 0, i as u64);
                s.set_ref(v, 8 * i, Some(b));
            });
        }
        let t = Instant::now();
        for _ in 0..LOOP_PASSES {
            for i in 0..LOOP_VALUES {
                let j = (i + 1) % LOOP_VALUES;
                s.scope(|s| {
                    let (a, b) = (s.get_ref(v, 8 * i).unwrap(), s.get_ref(v, 8 * j).unwrap());
                    let sum = (s.read_u64(a, 0) + s.read_u64(b, 0)) & 0xFFFF_FFFF;
                    let r = s.alloc(int).unwrap();
                    s.write_u64(r, 0, sum);
                    s.set_ref(v, 8 * i, Some(r));
                });
            }
        }
        let ns = t.elapsed().as_nanos() as f64 / (LOOP_PASSES * LOOP_VALUES) as f64;
        black_box(s.get_ref(v, 0));
        ns
    })
}

/// The tagged row: the interpreter loop with tagged immediates against boxed
/// integers, medians of `runs` interleaved runs.
fn tagged_section(opts: &Options) -> ResultLine {
    let (mut t, mut b) = (Vec::new(), Vec::new());
    for _ in 0..opts.runs {
        t.push(loop_tagged(opts));
        b.push(loop_boxed(opts));
    }
    let (t, b) = (median(t), median(b));
    println!(
        "{:<28} {:>11.2} ns {:>11.2} ns {:>8.2}x",
        "value loop, tagged (vs boxed)",
        t,
        b,
        b / t
    );
    line(
        "tagged",
        &[
            ("workload", "value-loop".to_string()),
            ("values", LOOP_VALUES.to_string()),
            ("tagged_ns_per_op", format!("{t:.2}")),
            ("boxed_ns_per_op", format!("{b:.2}")),
            ("speedup", format!("{:.2}", b / t)),
        ],
    )
}

/// Entries of the ephemeron benchmark's table.
const EPHEMERONS: usize = 100_000;

/// Median major pause (µs) of a heap holding a table of `EPHEMERONS` entries, each a
/// key (kept alive by a list) and a value of its own: ephemerons if `weak`, else the
/// same pairs as plain reference slots. The keys are listed in the opposite order of
/// the entries, so marking meets most entries before their keys.
fn ephemeron_pause(weak: bool, opts: &Options) -> f64 {
    let heap = heap_with(bench_config().nursery_size(16 << 20).build().unwrap());
    let table = if weak {
        TypeDescriptor::array("WeakMap", 0, 16).with_elem_ephemerons(&[0])
    } else {
        TypeDescriptor::array("Map", 0, 16).with_elem_refs(&[0, 8])
    };
    let table = heap.register_type(&table).unwrap();
    let node = heap
        .register_type(&TypeDescriptor::fixed("Node", 16).with_refs(&[0]))
        .unwrap();
    let mut m = heap.mutator();
    m.scope(|s| {
        let t = s.alloc_array(table, EPHEMERONS as u32).unwrap();
        let keys = s.alloc(node).unwrap();
        for e in (0..EPHEMERONS).rev() {
            s.scope(|i| {
                let (k, v) = (i.alloc(node).unwrap(), i.alloc(node).unwrap());
                let head = i.get_ref(keys, 0);
                i.set_ref(k, 0, head);
                i.set_ref(keys, 0, Some(k));
                if weak {
                    i.set_ephemeron(t, 16 * e, Some(k), Some(v));
                } else {
                    i.set_ref(t, 16 * e, Some(k));
                    i.set_ref(t, 16 * e + 8, Some(v));
                }
            });
        }
        s.collect(CollectionKind::Major);
        heap.reset_pause_stats();
        for _ in 0..opts.runs.max(3) {
            s.collect(CollectionKind::Major);
        }
        if weak {
            let (k, v) = s.get_ephemeron(t, 0);
            assert!(k.is_some() && v.is_some(), "live keys keep their entries");
        }
    });
    heap.pause_summary(CollectionKind::Major).median_ns as f64 / 1000.0
}

/// The ephemeron row: major pauses with a table of ephemerons against the same table
/// of plain reference pairs, in the same run.
fn ephemeron_section(opts: &Options) -> ResultLine {
    let e = ephemeron_pause(true, opts);
    let r = ephemeron_pause(false, opts);
    println!(
        "{:<28} {:>11.0} us {:>11.0} us {:>8.2}x",
        format!("major GC, {EPHEMERONS} ephemerons (vs strong pairs)"),
        e,
        r,
        e / r
    );
    line(
        "ephemerons",
        &[
            ("n", EPHEMERONS.to_string()),
            ("major_pause_us", format!("{e:.0}")),
            ("strong_pairs_major_pause_us", format!("{r:.0}")),
            ("ratio", format!("{:.2}", e / r)),
        ],
    )
}

/// How the weak benchmark holds its weak references.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum WeakKind {
    /// None: the baseline.
    None,
    /// Weak slots: one large old array of weak slots, one per old object.
    Slots,
    /// Weak handles, one per old object.
    Handles,
}

/// Median minor and major pauses (µs) of a heap holding `old` old objects and, as
/// `kind` says, one weak reference to each.
fn weak_pauses(kind: WeakKind, old: usize, opts: &Options) -> (f64, f64) {
    let (heap, keep) = old_generation(old);
    let table = heap
        .register_type(&TypeDescriptor::array("WeakTable", 0, 8).with_elem_weak_refs(&[0]))
        .unwrap();
    let mut m = heap.mutator();
    let mut handles = Vec::new();
    let _table = m.scope(|s| {
        let holder = s.get_persistent(&keep);
        let t = (kind == WeakKind::Slots)
            .then(|| s.alloc_array(table, old as u32).expect("the weak table"));
        if let Some(cur) = s.get_ref(holder, 0) {
            let mut i = 0;
            loop {
                match (kind, t) {
                    (WeakKind::Slots, Some(t)) => s.set_weak(t, 8 * i, Some(cur)),
                    (WeakKind::Handles, _) => handles.push(s.weak_handle(cur)),
                    _ => {}
                }
                i += 1;
                // Walks the list in one local.
                if !s.load_into(cur, cur, 0) {
                    break;
                }
            }
        }
        t.map(|t| s.persist(t))
    });
    m.collect(CollectionKind::Major);
    m.collect(CollectionKind::Minor);
    heap.reset_pause_stats();
    for _ in 0..opts.gcs {
        m.collect(CollectionKind::Minor);
    }
    let minor = heap.pause_summary(CollectionKind::Minor).median_ns as f64 / 1000.0;
    heap.reset_pause_stats();
    for _ in 0..opts.runs.max(3) {
        m.collect(CollectionKind::Major);
    }
    let major = heap.pause_summary(CollectionKind::Major).median_ns as f64 / 1000.0;
    if kind == WeakKind::Handles {
        m.scope(|s| {
            let alive = handles
                .iter()
                .filter(|w| s.get_weak_handle(w).is_some())
                .count();
            assert_eq!(alive, old, "every old object is still alive");
        });
    }
    (minor, major)
}

/// The weak rows: minor and major pauses with one weak reference to each of
/// `old_objects` old objects (as weak slots, as weak handles), against the same heap
/// with none, in the same run.
fn weak_section(opts: &Options) -> Vec<ResultLine> {
    let n = opts.old_objects;
    let (base_minor, base_major) = weak_pauses(WeakKind::None, n, opts);
    let mut out = Vec::new();
    for (kind, name) in [(WeakKind::Slots, "slots"), (WeakKind::Handles, "handles")] {
        let (minor, major) = weak_pauses(kind, n, opts);
        println!(
            "{:<28} {:>11.2} us {:>11.2} us {:>8.2}x  (major {:.0} us, with none {:.0} us)",
            format!("minor GC, {n} weak {name}"),
            minor,
            base_minor,
            minor / base_minor,
            major,
            base_major
        );
        out.push(line(
            "weak",
            &[
                ("refs", n.to_string()),
                ("kind", name.to_string()),
                ("minor_pause_us", format!("{minor:.2}")),
                ("minor_pause_us_none", format!("{base_minor:.2}")),
                ("minor_ratio", format!("{:.2}", minor / base_minor)),
                ("major_pause_us", format!("{major:.0}")),
                ("major_pause_us_none", format!("{base_major:.0}")),
            ],
        ));
    }
    out
}

/// Median minor-GC pause in µs with an empty nursery and `old` old objects, and the
/// parts of the median pause. In both cases the only root is one persistent handle to a
/// holder object (old as well) that refers to the list of old objects, or to nothing,
/// so the root set is the same.
fn minor_pause(old: usize, opts: &Options) -> (f64, crate::PauseParts) {
    let (heap, _keep) = old_generation(old);
    let mut m = heap.mutator();
    m.collect(CollectionKind::Minor);
    heap.reset_pause_stats();
    for _ in 0..opts.gcs {
        m.collect(CollectionKind::Minor);
    }
    let st = heap.stats();
    assert_eq!(st.young_bytes, 0, "the nursery must be empty");
    assert!(
        st.old_bytes >= (old + 1) * 24,
        "the old objects must be in the old generation"
    );
    let parts = median_record(heap.pauses()).parts;
    (
        heap.pause_summary(CollectionKind::Minor).median_ns as f64 / 1000.0,
        parts,
    )
}

/// The record of the median pause.
fn median_record(mut records: Vec<crate::PauseRecord>) -> crate::PauseRecord {
    records.sort_by_key(|r| r.duration);
    records.swap_remove(records.len() / 2)
}

/// Microseconds, for RESULT fields.
fn us(d: std::time::Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e6)
}

/// A pause's non-zero parts in µs (see `PauseParts`), for the table.
pub fn parts_text(p: &crate::PauseParts) -> String {
    let all = [
        ("stop", p.stop),
        ("mark", p.mark),
        ("sweep", p.sweep),
        ("roots", p.roots),
        ("tasks", p.task_groups),
        ("remset", p.remembered),
        ("copy", p.copy),
        ("byref-index", p.byref_index),
        ("verify", p.verify),
        ("other", p.other),
    ];
    let text: Vec<String> = all
        .iter()
        .filter(|(_, d)| !d.is_zero())
        .map(|(k, d)| format!("{k} {:.2}", d.as_secs_f64() * 1e6))
        .collect();
    if text.is_empty() {
        "no part timed".to_string()
    } else {
        text.join(", ")
    }
}

/// A heap whose old generation holds a holder object and a list of `old` objects
/// behind it (16-byte payloads), the holder kept by the returned handle: the setup of
/// the minor-GC benchmark (shared with the criterion bench).
pub fn old_generation(old: usize) -> (Heap, crate::Persistent) {
    let heap = heap_with(
        bench_config()
            .nursery_size(64 << 20)
            .promotion_age(1)
            .build()
            .unwrap(),
    );
    let node = heap
        .register_type(&TypeDescriptor::fixed("Node", 16).with_refs(&[0]))
        .unwrap();
    let mut m = heap.mutator();
    let keep = m.scope(|s| {
        let holder = s.alloc(node).unwrap();
        let keep = s.persist(holder);
        let mut list = None;
        for i in 0..old {
            list = s.scope_escape(|s| {
                let n = s.alloc(node).unwrap();
                s.write_u64(n, 8, i as u64);
                s.set_ref(n, 0, list);
                Some(n)
            });
        }
        s.set_ref(holder, 0, list);
        s.collect(CollectionKind::Major);
        keep
    });
    drop(m);
    (heap, keep)
}

/// Live bytes the verifier benchmark builds: old objects, and young ones that stay
/// young (in the survivor spaces) through the timed collections.
const VERIFY_OLD_BYTES: usize = 7 << 20;
const VERIFY_YOUNG_BYTES: usize = 3 << 20;

/// What the heap verifier adds to one minor collection: `(live MB, ms)`. Two identical
/// heaps are built, one with the verifier on; the figure is the difference of their
/// median minor pauses (each collection copies the same young survivors, so the
/// difference is the verification).
fn verify_cost(opts: &Options) -> (f64, f64) {
    let mut medians = [0.0; 2];
    let mut live = 0;
    for (i, verify) in [false, true].into_iter().enumerate() {
        let (heap, keep) = verify_heap(verify);
        let st = heap.stats();
        live = st.old_bytes + st.large_bytes + st.young_bytes;
        let mut m = heap.mutator();
        let mut pauses = Vec::new();
        for _ in 0..opts.runs.max(3) {
            m.collect(CollectionKind::Minor);
            let p = heap.pauses();
            pauses.push(p.last().expect("a pause").duration.as_secs_f64() * 1e3);
        }
        medians[i] = median(pauses);
        drop(keep);
    }
    (live as f64 / (1 << 20) as f64, medians[1] - medians[0])
}

/// The verifier benchmark's heap: a list of old (pretenured) nodes and a list of young
/// nodes, each young node referring to the previous one and to an old node, and one
/// old node in 64 referring back to a young one (so the remembered set is not empty).
/// Nodes have two reference slots and two data words (40 bytes). The young nodes
/// are promoted only after 15 collections, so they stay young while timed.
fn verify_heap(verify: bool) -> (Heap, crate::Persistent) {
    let heap = heap_with(
        bench_config()
            .nursery_size(64 << 20)
            .promotion_age(15)
            .verify_after_gc(verify)
            .build()
            .unwrap(),
    );
    let old = heap
        .register_type(
            &TypeDescriptor::fixed("OldNode", 32)
                .with_refs(&[0, 8])
                .pretenured(true),
        )
        .unwrap();
    let young = heap
        .register_type(&TypeDescriptor::fixed("YoungNode", 32).with_refs(&[0, 8]))
        .unwrap();
    let mut m = heap.mutator();
    let keep = m.scope(|s| {
        let holder = s.alloc(young).unwrap();
        let keep = s.persist(holder);
        let mut olds = None;
        for i in 0..VERIFY_OLD_BYTES / 40 {
            olds = s.scope_escape(|s| {
                let n = s.alloc(old).unwrap();
                s.write_u64(n, 16, i as u64);
                s.set_ref(n, 0, olds);
                Some(n)
            });
        }
        let olds = olds.expect("old nodes");
        s.set_ref(holder, 8, Some(olds));
        let cursor = s.dup(olds);
        let mut youngs = None;
        for i in 0..VERIFY_YOUNG_BYTES / 40 {
            youngs = s.scope_escape(|s| {
                let n = s.alloc(young).unwrap();
                s.write_u64(n, 16, i as u64);
                s.set_ref(n, 0, youngs);
                s.set_ref(n, 8, Some(cursor));
                if i % 64 == 0 {
                    s.set_ref(cursor, 8, Some(n));
                }
                Some(n)
            });
            // Walk the old list twice as fast, wrapping around.
            for _ in 0..2 {
                if !s.load_into(cursor, cursor, 0) {
                    s.set_local(cursor, olds);
                }
            }
        }
        s.set_ref(holder, 0, youngs);
        s.collect(CollectionKind::Major);
        keep
    });
    drop(m);
    (heap, keep)
}
