//! The executor benchmarks (`contgc executor-bench`) at a tiny scale: every workload on
//! every system must compute the right answer (task results, yield loop sums, every
//! ping-pong message), and the many-suspended tasks must all be suspended, checked and
//! cancelled. No timing is asserted.

use contgc_bench::executor_bench::{
    many_suspended, ping_pong, run, spawn_complete, yield_roundtrip, Comparison, Options, System,
};

fn tiny() -> Options {
    Options {
        tasks: 1_000,
        batch: 64,
        yield_tasks: 7,
        yields: 50,
        messages: 400,
        suspended: 300,
        suspended_small: 30,
        gcs: 5,
        runs: 2,
        workers: 2,
    }
}

/// Every system computed `want`, and has a (positive) figure.
fn check(c: &Comparison, ops: usize, want: (u64, u64)) {
    assert_eq!(c.ops, ops, "{}", c.bench);
    assert_eq!(c.expected, want, "{}", c.bench);
    for sys in System::ALL {
        let got = c.results.iter().find(|(s, _)| *s == sys).map(|(_, r)| *r);
        assert_eq!(got, Some(want), "{} on {}", c.bench, sys.name());
        assert!(
            c.ns_of(sys) > 0.0,
            "{} on {}: no figure",
            c.bench,
            sys.name()
        );
    }
}

#[test]
fn spawn_complete_returns_every_task_result() {
    let o = tiny();
    // Tasks 0..1000, summed; 1000 results read.
    check(&spawn_complete(&o), 1_000, (999 * 1_000 / 2, 1_000));
    // A batch that does not divide the task count.
    let c = spawn_complete(&Options {
        tasks: 101,
        batch: 10,
        ..o
    });
    check(&c, 101, (100 * 101 / 2, 101));
}

#[test]
fn yield_roundtrip_runs_every_loop_to_its_end() {
    // 7 tasks, each returning 0 + 1 + ... + 49.
    check(&yield_roundtrip(&tiny()), 350, (7 * (49 * 50 / 2), 7));
}

#[test]
fn ping_pong_delivers_every_message_and_reply() {
    // 200 round trips: ping receives 1..=200, pong receives 0..200.
    check(&ping_pong(&tiny()), 400, (200 * 201 / 2, 199 * 200 / 2));
}

#[test]
fn many_suspended_tasks_are_collected_checked_and_cancelled() {
    let r = many_suspended(&tiny());
    assert_eq!((r.tasks, r.small_tasks), (300, 30));
    assert_eq!(
        r.pauses.0 + r.majors.0,
        5,
        "every forced collection recorded"
    );
    assert_eq!(
        r.pauses.1 + r.majors.1,
        5,
        "every forced collection recorded"
    );
    assert!(r.median_us > 0.0 && r.small_median_us > 0.0);
    assert_eq!(r.checked, (300, 30), "every frame checked its object");
    assert_eq!(r.cancelled, (300, 30), "every task ended cancelled");
}

#[test]
fn the_whole_command_prints_its_result_lines() {
    let r = run(&Options {
        tasks: 200,
        yields: 10,
        messages: 40,
        runs: 1,
        ..tiny()
    });
    let lines: Vec<String> = r.lines.iter().map(|l| l.to_string()).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for (line, bench) in lines.iter().zip([
        "spawn-complete",
        "yield-roundtrip",
        "ping-pong",
        "many-suspended",
    ]) {
        assert!(
            line.starts_with(&format!("RESULT bench={bench} ")),
            "{line}"
        );
    }
    for key in [
        "tasks=200",
        "contgc_ns=",
        "contgc_mt_ns=",
        "tokio_ct_ns=",
        "tokio_mt_ns=",
        "boxed_ns=",
        "ratio_vs_tokio_ct=",
        "ratio_vs_boxed=",
    ] {
        assert!(lines[0].contains(key), "{key} missing: {}", lines[0]);
    }
    assert!(lines[2].contains("messages=40 "), "{}", lines[2]);
    assert!(lines[2].contains("contgc_ms="), "{}", lines[2]);
    for key in [
        "tasks=300",
        "gen0_median_us=",
        "tasks30_gen0_median_us=",
        "ratio=",
    ] {
        assert!(lines[3].contains(key), "{key} missing: {}", lines[3]);
    }
}
