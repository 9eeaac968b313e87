//! The `contgc` command-line tool: runs the project's benchmarks.
//!
//! `cargo run --release` runs the main job; `cargo run --release -- heap-bench` the
//! heap micro-benchmarks. See `--help`.

use clap::{Parser, Subcommand, ValueEnum};
use contgc::{heap_bench, suspend_bench, ContinuationPlacement};

#[derive(Clone, Copy, ValueEnum)]
enum Placement {
    Nursery,
    Old,
    Both,
}

#[derive(Parser)]
#[command(name = "contgc", version, about = "contgc benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
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
        #[arg(long, default_value = "both")]
        placement: Placement,
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
    },
}

fn main() {
    let cli = Cli::parse();
    if let Some(Command::SuspendBench {
        frames,
        runs,
        byrefs,
        gcs,
        placement,
    }) = cli.command
    {
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
        });
        println!();
        for r in results {
            println!("{r}");
        }
        return;
    }
    let opts = match cli.command {
        // Until the suspended-tasks benchmark exists, the main job is the heap
        // benchmarks at their defaults.
        None => heap_bench::Options::default(),
        Some(Command::HeapBench {
            allocs,
            runs,
            gcs,
            old_objects,
            depth,
            nursery_kib,
        }) => heap_bench::Options {
            nursery: nursery_kib.map(|k| k << 10),
            allocs,
            runs: runs.max(1),
            gcs: gcs.max(1),
            old_objects,
            depth: depth.max(4),
        },
        Some(Command::SuspendBench { .. }) => unreachable!("handled above"),
    };
    let results = heap_bench::run(&opts);
    println!();
    for r in results {
        println!("{r}");
    }
}
