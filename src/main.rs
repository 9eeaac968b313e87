//! The `contgc` command-line tool: runs the project's benchmarks.
//!
//! `cargo run --release` runs the main job, the suspended-tasks GC pause benchmark at
//! its defaults (10,000 tasks x 100 frames, heap frames, grouped roots). See `--help`
//! for the other benchmarks and options.

use clap::{Parser, Subcommand, ValueEnum};
use contgc::{ContinuationPlacement, RootMode};
use contgc_bench::suspended_tasks::{self, FramesKind, Report};
use contgc_bench::{executor_bench, heap_bench, microbench, suspend_bench};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "contgc", version, about = "contgc benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Placement {
    Nursery,
    Old,
    Both,
}

#[derive(Clone, Copy, ValueEnum)]
enum Frames {
    Heap,
    Tasklet,
}

#[derive(Clone, Copy, ValueEnum)]
enum Roots {
    Naive,
    Aged,
    Grouped,
}

#[derive(Clone, Copy, ValueEnum)]
enum Micro {
    Fib,
    Depth,
    Sawtooth,
    Thunk,
    Lifetime,
    Eh,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: minor-GC pauses with many suspended tasks (docs/BENCHMARKS.md section 1).
    SuspendedTasks {
        /// How frames are kept: continuation objects or off-heap tasklets.
        #[arg(long, value_enum, default_value = "heap")]
        frames: Frames,
        /// How suspended-task roots are found.
        #[arg(long, value_enum, default_value = "grouped")]
        roots: Roots,
        /// Suspended tasks.
        #[arg(long, default_value_t = 10_000)]
        tasks: usize,
        /// Frames per task.
        #[arg(long, default_value_t = 100)]
        depth: usize,
        /// Forced minor collections.
        #[arg(long, default_value_t = 100)]
        gcs: usize,
        /// Run N = 0, 100, 1000, 10000, 100000 in every roots mode and frames kind,
        /// and draw the median pause against N (--tasks, --frames and --roots are
        /// then not used).
        #[arg(long, conflicts_with_all = ["tasks", "frames", "roots"])]
        sweep: bool,
        /// Where `--sweep` writes its chart (SVG).
        #[arg(long, default_value = "suspended-tasks-sweep.svg")]
        chart: PathBuf,
        /// Run the heap verifier after every collection (slow).
        #[arg(long)]
        verify: bool,
        /// Percent of the tasks resumed to a random depth and re-suspended (fresh
        /// young frames under old callers) before every forced minor collection; heap
        /// frames only.
        #[arg(long, default_value_t = 0.0)]
        churn: f64,
        /// Forced major collections after the minor ones, reported apart.
        #[arg(long, default_value_t = 0)]
        majors: usize,
        /// GC worker threads (default: the number of cores, at most 64).
        #[arg(long)]
        gc_workers: Option<usize>,
    },
    /// Heap micro-benchmarks: allocation, write barrier, minor-GC pause, binary trees.
    HeapBench {
        /// Allocations per timed run.
        #[arg(long, default_value_t = heap_bench::Options::default().allocs)]
        allocs: usize,
        /// Timed runs per figure (medians are reported).
        #[arg(long, default_value_t = heap_bench::Options::default().runs)]
        runs: usize,
        /// Minor collections timed per old-generation size.
        #[arg(long, default_value_t = heap_bench::Options::default().gcs)]
        gcs: usize,
        /// Old objects in the large minor-GC case.
        #[arg(long, default_value_t = heap_bench::Options::default().old_objects)]
        old_objects: usize,
        /// Maximum depth of binary-trees.
        #[arg(long, default_value_t = heap_bench::Options::default().depth)]
        depth: u32,
        /// Nursery size in KiB for the allocation and binary-trees benchmarks.
        #[arg(long)]
        nursery_kib: Option<usize>,
        /// Surviving objects of the survivor benchmark (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = heap_bench::Options::default().survivor_objects)]
        survivors: Vec<usize>,
        /// Shapes of the survivor benchmark (comma-separated: list, wide); both by default.
        #[arg(long, value_delimiter = ',', value_parser = ["list", "wide"])]
        survivor_shapes: Vec<String>,
        /// Where the survivor benchmark copies (comma-separated: survivor, old); both by
        /// default.
        #[arg(long, value_delimiter = ',', value_parser = ["survivor", "old"])]
        survivor_to: Vec<String>,
        /// GC worker counts of the survivor benchmark (comma-separated; the first is
        /// the baseline of the speed-up).
        #[arg(long, value_delimiter = ',', default_values_t = heap_bench::Options::default().survivor_workers)]
        survivor_workers: Vec<usize>,
        /// Suspended tasks of the major-collection benchmark.
        #[arg(long, default_value_t = heap_bench::Options::default().major_tasks)]
        major_tasks: usize,
        /// Frames per task of the major-collection benchmark.
        #[arg(long, default_value_t = heap_bench::Options::default().major_depth)]
        major_depth: usize,
        /// GC worker counts of the major-collection benchmark (comma-separated; the
        /// first is the baseline of the speed-up).
        #[arg(long, value_delimiter = ',', default_values_t = heap_bench::Options::default().major_workers)]
        major_workers: Vec<usize>,
        /// Run only these sections (comma-separated); all by default.
        #[arg(long, value_delimiter = ',', value_parser = [
            "alloc", "barrier", "safe-access", "minor-gc", "survivors", "binary-trees",
            "tagged", "weak", "ephemerons", "verify", "major",
        ])]
        only: Vec<String>,
    },
    /// Suspension benchmarks: allocations per suspension, suspend+resume per frame,
    /// minor-GC cost of byrefs.
    SuspendBench {
        /// Frames per timed suspend-resume run.
        #[arg(long, default_value_t = suspend_bench::Options::default().frames)]
        frames: usize,
        /// Timed runs per figure (medians are reported).
        #[arg(long, default_value_t = suspend_bench::Options::default().runs)]
        runs: usize,
        /// Byrefs in the large byref-gc case.
        #[arg(long, default_value_t = suspend_bench::Options::default().byrefs)]
        byrefs: usize,
        /// Minor collections timed per byref-gc case.
        #[arg(long, default_value_t = suspend_bench::Options::default().gcs)]
        gcs: usize,
        /// Where continuations are allocated: nursery, old, or both.
        #[arg(long, value_enum, default_value = "both")]
        placement: Placement,
        /// Chain depths of the suspend-resume benchmark (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 8, 64])]
        depths: Vec<usize>,
    },
    /// Executor benchmarks: spawn+complete, yield round trip, ping-pong and minor-GC
    /// pauses with many suspended tasks, against tokio and boxed Rust futures.
    ExecutorBench {
        /// Tasks per spawn-complete run.
        #[arg(long, default_value_t = executor_bench::Options::default().tasks)]
        tasks: usize,
        /// Tasks spawned before they are run and their results read.
        #[arg(long, default_value_t = executor_bench::Options::default().batch)]
        batch: usize,
        /// Tasks of the yield benchmark.
        #[arg(long, default_value_t = executor_bench::Options::default().yield_tasks)]
        yield_tasks: usize,
        /// Yields per task.
        #[arg(long, default_value_t = executor_bench::Options::default().yields)]
        yields: usize,
        /// Messages of the ping-pong (both directions counted).
        #[arg(long, default_value_t = executor_bench::Options::default().messages)]
        messages: usize,
        /// Suspended tasks of the large many-suspended case.
        #[arg(long, default_value_t = executor_bench::Options::default().suspended)]
        suspended: usize,
        /// Suspended tasks of the small many-suspended case.
        #[arg(long, default_value_t = executor_bench::Options::default().suspended_small)]
        suspended_small: usize,
        /// Forced minor collections per many-suspended case.
        #[arg(long, default_value_t = executor_bench::Options::default().gcs)]
        gcs: usize,
        /// Timed runs per figure (medians are reported).
        #[arg(long, default_value_t = executor_bench::Options::default().runs)]
        runs: usize,
        /// Worker threads of contgc's multi-thread executor and of tokio's (1 to 256).
        #[arg(long, default_value_t = executor_bench::Options::default().workers as u64,
              value_parser = clap::value_parser!(u64).range(1..=256))]
        workers: u64,
    },
    /// The runtime-async experiment's microbenchmarks (fib, depth, sawtooth, thunk,
    /// lifetime) and its EH table, against boxed Rust futures and tokio in the same run
    /// (docs/BENCHMARKS.md section 7). Without NAME: all of them.
    Microbench {
        /// One microbenchmark.
        #[arg(value_enum)]
        name: Option<Micro>,
        /// Timed rounds per figure (medians are reported).
        #[arg(long, default_value_t = microbench::Options::default().runs)]
        runs: usize,
        /// The EH table's window in ms (published: 250).
        #[arg(long, default_value_t = 250)]
        window_ms: u64,
        /// fib's argument (2 to 35: the recursion makes fib(n) calls by the
        /// exponential, and fib(93) no longer fits a u64).
        #[arg(long, default_value_t = microbench::Options::default().fib_n,
              value_parser = clap::value_parser!(u64).range(2..=35))]
        fib_n: u64,
        /// The folder the SVG charts are written to.
        #[arg(long, default_value = "charts")]
        charts: PathBuf,
        /// Write no charts.
        #[arg(long)]
        no_charts: bool,
        /// The depths of `depth` and of the EH table (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = [1u64, 2, 4, 8, 16, 32, 64])]
        depths: Vec<u64>,
    },
}

fn print_results(lines: impl IntoIterator<Item = heap_bench::ResultLine>) {
    println!();
    for r in lines {
        println!("{r}");
    }
}

fn suspended_tasks_main(opts: suspended_tasks::Options) -> ExitCode {
    println!(
        "== suspended-tasks: {} tasks x {} frames, {} frames, {} roots, {} forced minor collections ==",
        opts.tasks,
        opts.depth,
        opts.frames.name(),
        suspended_tasks::roots_name(opts.roots),
        opts.gcs
    );
    let r = suspended_tasks::run(&opts);
    suspended_tasks::print_header();
    suspended_tasks::print_row(&r);
    println!();
    suspended_tasks::print_reference();
    print_results(std::iter::once(r.result_line()).chain(r.major_result_line()));
    if r.data_ok {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "data check FAILED: {} of {} frames checked",
            r.frames_checked,
            opts.tasks * opts.depth
        );
        ExitCode::FAILURE
    }
}

/// Tasks churned before every forced collection in the sweep's churn rows.
const CHURNED_TASKS: usize = 100;

/// `--sweep`: every frames kind and root mode at every N of `SWEEP_TASKS`, then heap
/// frames with grouped roots and a fixed number of tasks churned, beside them.
fn sweep_main(base: suspended_tasks::Options, chart: PathBuf) -> ExitCode {
    println!(
        "== suspended-tasks sweep: N x {} frames, {} forced minor collections each ==",
        base.depth, base.gcs
    );
    suspended_tasks::print_header();
    let mut reports: Vec<Report> = Vec::new();
    for frames in [FramesKind::Heap, FramesKind::Tasklet] {
        for roots in [RootMode::Naive, RootMode::Aged, RootMode::Grouped] {
            for &tasks in &suspended_tasks::SWEEP_TASKS {
                let r = suspended_tasks::run(&suspended_tasks::Options {
                    frames,
                    roots,
                    tasks,
                    // Churn needs heap frames: tasklet rows stay quiet.
                    churn: if frames == FramesKind::Heap {
                        base.churn
                    } else {
                        0.0
                    },
                    ..base.clone()
                });
                suspended_tasks::print_row(&r);
                reports.push(r);
            }
        }
    }
    // Churn beside the quiet rows: a fixed number of tasks churned before every
    // forced collection, so the surviving bytes are the same at every N and the pause
    // must not grow with N.
    println!(
        "\n-- heap / grouped with {CHURNED_TASKS} tasks churned per collection (the same surviving bytes at every N) --"
    );
    suspended_tasks::print_header();
    let mut churned: Vec<Report> = Vec::new();
    for &tasks in suspended_tasks::SWEEP_TASKS.iter().filter(|&&n| n > 0) {
        let r = suspended_tasks::run(&suspended_tasks::Options {
            frames: FramesKind::Heap,
            roots: RootMode::Grouped,
            tasks,
            churn: (CHURNED_TASKS as f64 * 100.0 / tasks as f64).min(100.0),
            ..base.clone()
        });
        suspended_tasks::print_row(&r);
        churned.push(r);
    }
    if let (Some(first), Some(last)) = (
        churned.iter().find(|r| r.options.tasks >= 1_000),
        churned.last(),
    ) {
        println!(
            "churn pause median, {} tasks against {}: {:.2}x ({:.1} / {:.1} us)",
            last.options.tasks,
            first.options.tasks,
            last.median_us / first.median_us,
            last.median_us,
            first.median_us
        );
    }
    let chart_ok = match suspended_tasks::write_chart(&chart, &reports) {
        Ok(()) => {
            println!("\nchart: {}", chart.display());
            true
        }
        Err(e) => {
            eprintln!("\ncould not write the chart to {}: {e}", chart.display());
            false
        }
    };
    print_results(reports.iter().chain(&churned).map(|r| r.result_line()));
    if !reports.iter().chain(&churned).all(|r| r.data_ok) {
        eprintln!("data check FAILED in at least one configuration");
        ExitCode::FAILURE
    } else if !chart_ok {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => suspended_tasks_main(suspended_tasks::Options::default()),
        Some(Command::SuspendedTasks {
            frames,
            roots,
            tasks,
            depth,
            gcs,
            sweep,
            chart,
            verify,
            churn,
            majors,
            gc_workers,
        }) => {
            if gc_workers.is_some_and(|w| !(1..=contgc::MAX_GC_WORKERS).contains(&w)) {
                eprintln!("--gc-workers takes 1 to {} threads", contgc::MAX_GC_WORKERS);
                return ExitCode::FAILURE;
            }
            if !(0.0..=100.0).contains(&churn) || (churn > 0.0 && matches!(frames, Frames::Tasklet))
            {
                eprintln!("--churn takes a percentage (0 to 100) and needs --frames heap");
                return ExitCode::FAILURE;
            }
            if depth == 0 || gcs == 0 {
                eprintln!("--depth and --gcs take 1 or more");
                return ExitCode::FAILURE;
            }
            // Each frame takes about 100-160 bytes of heap: more than this many would not
            // fit the machines this runs on (and the product would overflow first).
            const MAX_FRAMES: usize = 1 << 27;
            if tasks.checked_mul(depth).is_none_or(|f| f > MAX_FRAMES) {
                eprintln!(
                    "--tasks x --depth takes at most {MAX_FRAMES} frames (got {tasks} x {depth})"
                );
                return ExitCode::FAILURE;
            }
            let opts = suspended_tasks::Options {
                frames: match frames {
                    Frames::Heap => FramesKind::Heap,
                    Frames::Tasklet => FramesKind::Tasklet,
                },
                roots: match roots {
                    Roots::Naive => RootMode::Naive,
                    Roots::Aged => RootMode::Aged,
                    Roots::Grouped => RootMode::Grouped,
                },
                tasks,
                depth,
                gcs,
                verify,
                progress: true,
                churn,
                majors,
                gc_workers,
            };
            if sweep {
                sweep_main(opts, chart)
            } else {
                suspended_tasks_main(opts)
            }
        }
        Some(Command::HeapBench {
            allocs,
            runs,
            gcs,
            old_objects,
            depth,
            nursery_kib,
            survivors,
            only,
            survivor_shapes,
            survivor_to,
            survivor_workers,
            major_tasks,
            major_depth,
            major_workers,
        }) => {
            if let Some(&w) = major_workers
                .iter()
                .chain(&survivor_workers)
                .find(|&&w| !(1..=contgc::MAX_GC_WORKERS).contains(&w))
            {
                eprintln!(
                    "--major-workers and --survivor-workers take 1 to {} threads (got {w})",
                    contgc::MAX_GC_WORKERS
                );
                return ExitCode::FAILURE;
            }
            if allocs == 0 {
                eprintln!("--allocs takes 1 or more");
                return ExitCode::FAILURE;
            }
            let nursery = match nursery_kib.map(|k| k.checked_mul(1 << 10)) {
                None => None,
                Some(Some(n)) if contgc::Config::builder().nursery_size(n).build().is_ok() => {
                    Some(n)
                }
                Some(_) => {
                    let e = contgc::Config::builder()
                        .nursery_size(nursery_kib.unwrap_or(0).saturating_mul(1 << 10))
                        .build()
                        .err();
                    eprintln!(
                        "--nursery-kib: not a valid nursery size{}",
                        e.map_or(String::new(), |e| format!(": {e}"))
                    );
                    return ExitCode::FAILURE;
                }
            };
            let results = heap_bench::run(&heap_bench::Options {
                allocs,
                runs: runs.max(1),
                gcs: gcs.max(1),
                old_objects,
                depth: depth.max(4),
                nursery,
                survivor_objects: survivors,
                only,
                survivor_shapes,
                survivor_to,
                survivor_workers,
                major_tasks: major_tasks.max(1),
                major_depth: major_depth.max(1),
                major_workers,
            });
            print_results(results);
            ExitCode::SUCCESS
        }
        Some(Command::SuspendBench {
            frames,
            runs,
            byrefs,
            gcs,
            placement,
            depths,
        }) => {
            let placements = match placement {
                Placement::Nursery => vec![ContinuationPlacement::Nursery],
                Placement::Old => vec![ContinuationPlacement::OldGeneration],
                Placement::Both => vec![
                    ContinuationPlacement::Nursery,
                    ContinuationPlacement::OldGeneration,
                ],
            };
            let results = suspend_bench::run(&suspend_bench::Options {
                frames: frames.max(64),
                runs: runs.max(1),
                byrefs,
                gcs: gcs.max(2),
                placements,
                depths: depths.into_iter().map(|d| d.max(1)).collect(),
            });
            print_results(results);
            ExitCode::SUCCESS
        }
        Some(Command::ExecutorBench {
            tasks,
            batch,
            yield_tasks,
            yields,
            messages,
            suspended,
            suspended_small,
            gcs,
            runs,
            workers,
        }) => {
            let report = executor_bench::run(&executor_bench::Options {
                tasks: tasks.max(1),
                batch: batch.max(1),
                yield_tasks: yield_tasks.max(1),
                yields: yields.max(1),
                messages: messages.max(2),
                suspended: suspended.max(1),
                suspended_small: suspended_small.max(1),
                gcs: gcs.max(1),
                runs: runs.max(1),
                workers: workers as usize,
            });
            print_results(report.lines);
            ExitCode::SUCCESS
        }
        Some(Command::Microbench {
            name,
            runs,
            window_ms,
            fib_n,
            charts,
            no_charts,
            depths,
        }) => {
            let names = match name {
                None => microbench::Name::ALL.to_vec(),
                Some(n) => vec![match n {
                    Micro::Fib => microbench::Name::Fib,
                    Micro::Depth => microbench::Name::Depth,
                    Micro::Sawtooth => microbench::Name::Sawtooth,
                    Micro::Thunk => microbench::Name::Thunk,
                    Micro::Lifetime => microbench::Name::Lifetime,
                    Micro::Eh => microbench::Name::Eh,
                }],
            };
            let report = microbench::run(&microbench::Options {
                names,
                runs: runs.max(1),
                window: std::time::Duration::from_millis(window_ms.max(1)),
                fib_n: fib_n.max(2),
                charts: (!no_charts).then_some(charts),
                depths: depths.into_iter().map(|d| d.max(1)).collect(),
                ..microbench::Options::default()
            });
            print_results(report.lines);
            ExitCode::SUCCESS
        }
    }
}
