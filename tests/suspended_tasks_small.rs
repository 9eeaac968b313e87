//! The suspended-tasks benchmark (`contgc suspended-tasks`) at a small scale, in every
//! configuration: heap and tasklet frames, naive, aged and grouped roots. 200 tasks of
//! 20 frames each, 20 forced collections, the verifier on after every collection; every
//! frame's object and integer must come back intact, and every forced collection must
//! be accounted for (as a minor pause, or as a major collection).

use contgc::RootMode;
use contgc_bench::suspended_tasks::{run, FramesKind, Options};

const TASKS: usize = 200;
const DEPTH: usize = 20;
const GCS: usize = 20;

fn check(frames: FramesKind, roots: RootMode) {
    let report = run(&Options {
        frames,
        roots,
        tasks: TASKS,
        depth: DEPTH,
        gcs: GCS,
        verify: true,
        progress: false,
        churn: 0.0,
        majors: 0,
        gc_workers: None,
    });
    let what = format!("{} frames, {roots:?} roots", frames.name());
    assert!(report.data_ok, "{what}: data check failed: {report:?}");
    assert_eq!(report.frames_checked, TASKS * DEPTH, "{what}: {report:?}");
    assert_eq!(
        report.pauses_us.len() + report.majors,
        GCS,
        "{what}: every forced collection is recorded: {report:?}"
    );
}

#[test]
fn heap_frames_naive_roots() {
    check(FramesKind::Heap, RootMode::Naive);
}

#[test]
fn heap_frames_aged_roots() {
    check(FramesKind::Heap, RootMode::Aged);
}

#[test]
fn heap_frames_grouped_roots() {
    check(FramesKind::Heap, RootMode::Grouped);
}

#[test]
fn tasklet_frames_naive_roots() {
    check(FramesKind::Tasklet, RootMode::Naive);
}

#[test]
fn tasklet_frames_aged_roots() {
    check(FramesKind::Tasklet, RootMode::Aged);
}

#[test]
fn tasklet_frames_grouped_roots() {
    check(FramesKind::Tasklet, RootMode::Grouped);
}

/// `--churn`: before every forced collection 10% of the tasks are resumed to a random
/// depth (every frame on the way checked, and each returning its integer into its
/// caller) and re-suspended with new objects and integers under fresh young frames;
/// with the verifier on, every frame must still come back intact at the end.
#[test]
fn heap_frames_with_churn_keep_every_frame_intact() {
    for roots in [RootMode::Grouped, RootMode::Aged, RootMode::Naive] {
        let report = run(&Options {
            frames: FramesKind::Heap,
            roots,
            tasks: TASKS,
            depth: DEPTH,
            gcs: GCS,
            verify: true,
            progress: false,
            churn: 10.0,
            majors: 0,
            gc_workers: None,
        });
        assert!(report.data_ok, "{roots:?}: data check failed: {report:?}");
        assert_eq!(
            report.frames_checked,
            TASKS * DEPTH,
            "{roots:?}: {report:?}"
        );
        assert!(
            report.frames_churned >= GCS * TASKS / 10,
            "{roots:?}: {report:?}"
        );
    }
}

/// `--majors`: forced major collections after the minors, with 1 and 2 GC workers;
/// every frame must come back intact and the majors must be reported.
#[test]
fn forced_majors_are_reported_and_keep_every_frame_intact() {
    for workers in [1, 2] {
        let report = run(&Options {
            frames: FramesKind::Heap,
            roots: RootMode::Grouped,
            tasks: TASKS,
            depth: DEPTH,
            gcs: 4,
            verify: true,
            progress: false,
            churn: 0.0,
            majors: 3,
            gc_workers: Some(workers),
        });
        assert!(report.data_ok, "{workers} workers: {report:?}");
        // The heap is under the parallel threshold: one worker marks either way.
        let major = report.major.clone().expect("majors ran");
        assert_eq!((major.runs, major.workers), (3, 1), "{report:?}");
    }
}
