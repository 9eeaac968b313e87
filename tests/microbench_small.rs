//! Every microbenchmark computes the right answer on small inputs, on contgc (with
//! the heap verifier after every collection and GC-stress) and on every baseline: the
//! benchmark functions check each run's result against the closed form and panic on a
//! mismatch; this runs them all once. Not timed.

use contgc_bench::microbench::{self, Name, Options};

fn run(name: Name) -> Vec<String> {
    let report = microbench::run(&Options {
        names: vec![name],
        ..Options::small()
    });
    report.lines.iter().map(|l| l.to_string()).collect()
}

#[test]
fn fib_computes_fib_on_every_system() {
    let lines = run(Name::Fib);
    assert_eq!(lines.len(), 4, "{lines:?}"); // never, 1, 8, 64
    assert!(lines.iter().all(|l| l.contains("contgc_ns_per_call=")));
}

#[test]
fn depth_returns_the_depth_on_every_system() {
    let lines = run(Name::Depth);
    assert_eq!(lines.len(), Options::small().depths.len(), "{lines:?}");
}

#[test]
fn sawtooth_returns_its_climbs_on_every_system() {
    assert_eq!(run(Name::Sawtooth).len(), 1);
}

#[test]
fn thunk_returns_one_on_every_system() {
    assert_eq!(run(Name::Thunk).len(), 1);
}

#[test]
fn lifetime_ends_every_task_with_its_result() {
    let lines = run(Name::Lifetime);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("lifetime=short") && lines[1].contains("lifetime=long"));
}

#[test]
fn eh_returns_and_throws_and_runs_finally_blocks_on_every_system() {
    let lines = run(Name::Eh);
    let depths = Options::small().depths.len();
    let eh = lines
        .iter()
        .filter(|l| l.starts_with("RESULT bench=eh "))
        .count();
    let fin = lines
        .iter()
        .filter(|l| l.starts_with("RESULT bench=eh-finally "))
        .count();
    assert_eq!(eh, depths * 4, "{lines:?}");
    assert_eq!(fin, 12, "{lines:?}");
}
