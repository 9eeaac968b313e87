//! Model test of the executor: random async programs run on both schedulers, compared
//! with a plain-Rust reference interpreter.
//!
//! A program (`model/program.rs`) is a set of async functions made of statements:
//! arithmetic on an accumulator, yields, microsecond sleeps, calls, throws, panics,
//! try/catch/finally (catch-all or user-exceptions-only filters, nested three deep),
//! loops, awaits on completions (set with a value, a boxed value or an exception by a
//! task of the executor, set by a plain thread, or abandoned), on Rust futures (ready at once or
//! woken by a thread; giving a value, a fault, or panicking in `poll`), awaits on
//! things that never happen (a completion nobody sets, a receive nobody sends to, a
//! send into a full channel nobody drains: the task waits there until it is
//! cancelled), awaits started and dropped, sends on channels (each drained by a
//! dedicated consumer task, which checks every sender's messages arrive in order),
//! spawns and joins of tasks running other functions, and task-local context writes
//! and reads. Function `f` calls and spawns only functions above it, so every program
//! ends.
//!
//! Each outcome is deterministic whatever the schedule: a task's result depends only on
//! its own statements and on values the program fixes (completion and future values,
//! its children's outcomes, the context it was spawned with); a consumer's result is
//! the count and sum of the messages sent on its channel; a task is cancelled only
//! while it waits on something that never happens (by a canceller task on the
//! current-thread runtime, by the test thread on the multi-threaded executor), so the
//! handlers and finally blocks that the cancellation runs are fixed too.
//!
//! The contgc side (`model/frames.rs`, with its tables in `model/shared.rs` and the
//! harness's own tasks in `model/tasks.rs`) compiles each function to flat code with an
//! exception table and interprets it in one generic frame type that resumes from its
//! saved pc; the reference (`model/reference.rs`) walks the statement tree. Compared,
//! per task (by its spawn path): the result (value, exception code, cancelled or
//! panicked) and the log of catches, finally blocks and context reads. Every case runs
//! on a heap with the verifier after each collection and GC-stress at every 1..24
//! allocations (nursery or old-generation continuations, each root mode, promotion
//! ages 1..3), and every frame checks the heap objects it keeps across its awaits (and
//! the task-local context, after a leaf await) when it resumes.
//!
//! Cases: `CONTGC_EXEC_CASES` per scheduler (default 1000; the same programs run on
//! both); `CONTGC_EXEC_SEED` sets the base seed (fixed by default; `random` for a new
//! one each run; printed); a failure
//! prints the case's seed, which `CONTGC_EXEC_REPLAY=<seed>` runs alone.

#[path = "model/frames.rs"]
mod frames;
#[path = "model/harness.rs"]
mod harness;
#[path = "model/program.rs"]
mod program;
#[path = "model/reference.rs"]
mod reference;
#[path = "model/shared.rs"]
mod shared;
#[path = "model/tasks.rs"]
mod tasks;

use harness::Sched;
use program::{generate, Program, Rng};
use reference::Expected;
use std::time::Instant;

/// Statements the reference may execute in one program (bounds a case's run time).
const MAX_STEPS: u64 = 3000;
/// Tasks one program may have.
const MAX_TASKS: usize = 60;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={v} is not a number")))
}

fn case_seed(base: u64, i: u64) -> u64 {
    Rng::new(base ^ i.wrapping_mul(0xA076_1D64_78BD_642F)).next_u64()
}

/// The program of a case: generated from its seed, again until it is small enough.
fn program(seed: u64) -> (Program, Expected) {
    let mut rng = Rng::new(seed);
    loop {
        let p = generate(&mut rng);
        let e = reference::run(&p, MAX_STEPS);
        if !e.too_big && e.tasks.len() <= MAX_TASKS {
            return (p, e);
        }
    }
}

fn run_case(sched: Sched, seed: u64) -> [u64; 4] {
    let (p, expected) = program(seed);
    let label = format!("{sched:?}, case seed {seed:#x}");
    let observed = match harness::run(&p, &expected, sched, &label) {
        Ok(o) => o,
        Err(msg) => panic!("{sched:?}, case seed {seed:#x}: {msg}\n{p}"),
    };
    if observed.tasks != expected.tasks {
        let mut diff = String::new();
        let paths: std::collections::BTreeSet<_> =
            expected.tasks.keys().chain(observed.tasks.keys()).collect();
        for path in paths {
            let (e, o) = (expected.tasks.get(path), observed.tasks.get(path));
            if e != o {
                diff += &format!("task {path:?}:\n  expected {e:?}\n  observed {o:?}\n");
            }
        }
        panic!(
            "{sched:?}, case seed {seed:#x} (rerun alone with CONTGC_EXEC_REPLAY={seed:#x}):\n\
             {diff}program:\n{p}"
        );
    }
    observed.counts
}

/// Hides the panics the programs cause on purpose (frame code, a future's `poll`).
fn quiet_deliberate_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&program::DELIBERATE) {
                previous(info);
            }
        }));
    });
}

fn check(sched: Sched) {
    quiet_deliberate_panics();
    let start = Instant::now();
    if let Some(seed) = env_u64("CONTGC_EXEC_REPLAY") {
        run_case(sched, seed);
        return;
    }
    let cases = env_u64("CONTGC_EXEC_CASES").unwrap_or(1000);
    // One base seed per run, so that both schedulers run the same programs.
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| {
        // Fixed by default, so that a run is reproducible (CI runs the same
        // programs every time); `CONTGC_EXEC_SEED=random` picks a new base.
        if std::env::var("CONTGC_EXEC_SEED").as_deref() == Ok("random") {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            t.map_or(0, |d| d.as_nanos() as u64)
        } else {
            env_u64("CONTGC_EXEC_SEED").unwrap_or(0x5eed_c0de_2026_1202)
        }
    });
    eprintln!("{sched:?}: {cases} cases, CONTGC_EXEC_SEED={base:#x}");
    let mut n = [0; 4];
    for i in 0..cases {
        let c = run_case(sched, case_seed(base, i));
        (0..4).for_each(|j| n[j] += c[j]);
    }
    eprintln!(
        "{sched:?}: {cases} cases in {:.1} s: {} collections; frames suspended {} times, \
         resumed {} times ({} with an exception)",
        start.elapsed().as_secs_f64(),
        n[0],
        n[1],
        n[2],
        n[3]
    );
    assert!(cases == 0 || n[0] > 0, "GC-stress never collected");
}

#[test]
fn programs_on_the_current_thread_runtime_match_the_reference() {
    check(Sched::Runtime);
}

#[test]
fn programs_on_the_multi_threaded_executor_match_the_reference() {
    check(Sched::Executor);
}
