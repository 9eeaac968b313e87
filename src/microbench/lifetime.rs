//! `lifetime`: long-lived against short-lived suspended state.
//!
//! Every tick starts `batch` tasks, each a chain of `depth` frames whose leaf awaits a
//! completion of its own, then completes the tasks started `lifetime` ticks before
//! (0: the tasks started this tick), runs what is ready, and (contgc) forces a minor
//! collection. With lifetime 0 every suspended chain is resumed and gone before the
//! next collection (short-lived state: it dies young, nothing is copied); with a long
//! lifetime every chain stays suspended over that many collections (it is copied to a
//! survivor space and promoted once, then costs nothing per minor collection: its
//! task group ages). Reported: time per task (start, suspension, resumption, end),
//! the median minor pause and the bytes the collector copied per task; the baselines
//! run the same program (boxed futures on the minimal multi-task executor with a
//! waker per task; tokio's `LocalSet` with a oneshot channel per task).

use super::contgc_side;
use super::{fmt_ratio, Contgc, Report};
use crate::heap_bench::{median, ResultLine};
use crate::local_executor::Executor;
use crate::CollectionKind;
use contgc_executor::{Completion, JoinHandle, TaskResult};
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

/// The lifetime benchmark's sizes.
#[derive(Clone, Debug)]
pub struct Options {
    /// Tasks started per tick.
    pub batch: usize,
    /// Frames per task.
    pub depth: u64,
    /// Ticks per run.
    pub ticks: usize,
    /// The lifetimes compared, in ticks (the first is the short one).
    pub lifetimes: Vec<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch: 1_000,
            depth: 10,
            ticks: 100,
            lifetimes: vec![0, 20],
        }
    }
}

impl Options {
    /// Tiny sizes for tests.
    pub fn small() -> Options {
        Options {
            batch: 7,
            depth: 3,
            ticks: 6,
            lifetimes: vec![0, 2],
        }
    }
}

/// What one contgc run measured.
struct ContgcRun {
    secs: f64,
    pause_us: f64,
    copied_bytes: f64,
}

fn contgc_run(c: &mut Contgc, o: &Options, lifetime: usize) -> ContgcRun {
    let depth = o.depth;
    let mut pending: Vec<Vec<Completion>> = Vec::new();
    let mut handles: Vec<JoinHandle> = Vec::with_capacity(o.batch * o.ticks);
    let mut pauses = Vec::new();
    let mut copied = 0usize;
    let start = Instant::now();
    for t in 0..o.ticks + lifetime {
        if t < o.ticks {
            let mut tick = Vec::with_capacity(o.batch);
            for _ in 0..o.batch {
                let done = Completion::new();
                let mine = done.clone();
                handles.push(c.rt.spawn(move |s, cx| contgc_side::life_entry(s, cx, depth, &mine)));
                tick.push(done);
            }
            pending.push(tick);
            c.rt.run_ready(&mut c.m);
        }
        if t >= lifetime {
            for done in &pending[t - lifetime] {
                done.set_data(1).expect("a fresh completion");
            }
            c.rt.run_ready(&mut c.m);
        }
        let p = c.m.scope(|s| s.collect(CollectionKind::Minor));
        pauses.push(p.duration.as_secs_f64() * 1e6);
        copied += p.survivor_bytes + p.promoted_bytes;
    }
    let secs = start.elapsed().as_secs_f64();
    let mut sum = 0;
    for h in &handles {
        match h.result() {
            Some(Ok(TaskResult::Data(x))) => sum += x,
            other => panic!("microbench lifetime: a task ended with {other:?}"),
        }
    }
    assert_eq!(
        sum,
        depth * handles.len() as u64,
        "microbench lifetime: wrong results"
    );
    let tasks = handles.len() as f64;
    ContgcRun {
        secs,
        pause_us: median(pauses),
        copied_bytes: copied as f64 / tasks,
    }
}

/// A single-thread completion for the boxed baseline.
#[derive(Default)]
struct LocalCompletion(RefCell<(Option<u64>, Option<Waker>)>);

impl LocalCompletion {
    fn set(&self, v: u64) {
        let mut g = self.0.borrow_mut();
        g.0 = Some(v);
        if let Some(w) = g.1.take() {
            w.wake();
        }
    }

    fn wait(self: Rc<Self>) -> impl Future<Output = u64> {
        poll_fn(move |cx| {
            let mut g = self.0.borrow_mut();
            match g.0 {
                Some(v) => Poll::Ready(v),
                None => {
                    g.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
    }
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T>>>;

fn life_boxed(level: u64, depth: u64, c: Rc<LocalCompletion>) -> BoxFut<u64> {
    Box::pin(async move {
        if level == depth {
            c.wait().await
        } else {
            life_boxed(level + 1, depth, c).await + 1
        }
    })
}

fn life_tokio(level: u64, depth: u64, rx: tokio::sync::oneshot::Receiver<u64>) -> BoxFut<u64> {
    Box::pin(async move {
        if level == depth {
            rx.await.expect("a completed task")
        } else {
            life_tokio(level + 1, depth, rx).await + 1
        }
    })
}

fn boxed_run(o: &Options, lifetime: usize) -> f64 {
    let mut ex = Executor::new();
    let mut pending: Vec<Vec<Rc<LocalCompletion>>> = Vec::new();
    let mut handles = Vec::with_capacity(o.batch * o.ticks);
    let start = Instant::now();
    for t in 0..o.ticks + lifetime {
        if t < o.ticks {
            let mut tick = Vec::with_capacity(o.batch);
            for _ in 0..o.batch {
                let c = Rc::new(LocalCompletion::default());
                handles.push(ex.spawn(life_boxed(1, o.depth, c.clone())));
                tick.push(c);
            }
            pending.push(tick);
            ex.run();
        }
        if t >= lifetime {
            for c in &pending[t - lifetime] {
                c.set(1);
            }
            ex.run();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let sum: u64 = handles.iter().map(|h| h.take().expect("ended")).sum();
    assert_eq!(
        sum,
        o.depth * handles.len() as u64,
        "boxed lifetime: wrong results"
    );
    secs
}

fn tokio_run(rt: &tokio::runtime::Runtime, o: &Options, lifetime: usize) -> f64 {
    let local = tokio::task::LocalSet::new();
    local.block_on(rt, async {
        let mut pending: Vec<Vec<tokio::sync::oneshot::Sender<u64>>> = Vec::new();
        let mut handles = Vec::with_capacity(o.batch * o.ticks);
        let start = Instant::now();
        for t in 0..o.ticks + lifetime {
            if t < o.ticks {
                let mut tick = Vec::with_capacity(o.batch);
                for _ in 0..o.batch {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    handles.push(tokio::task::spawn_local(life_tokio(1, o.depth, rx)));
                    tick.push(tx);
                }
                pending.push(tick);
                tokio::task::yield_now().await;
            }
            if t >= lifetime {
                for tx in std::mem::take(&mut pending[t - lifetime]) {
                    tx.send(1).expect("a waiting task");
                }
                tokio::task::yield_now().await;
            }
        }
        let mut sum = 0;
        for h in handles {
            sum += h.await.expect("a task");
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(
            sum,
            o.depth * (o.batch * o.ticks) as u64,
            "tokio lifetime: wrong results"
        );
        secs
    })
}

pub(super) fn run(opts: &super::Options, tokio: &tokio::runtime::Runtime, report: &mut Report) {
    let o = &opts.lifetime;
    println!(
        "\n== microbench lifetime: {} tasks per tick x {} ticks, chains of {} frames awaiting a completion; a forced minor collection per tick ==",
        o.batch, o.ticks, o.depth
    );
    println!(
        "{:<10} {:>12} {:>12} {:>12} {:>9} {:>14} {:>16}",
        "lifetime",
        "contgc ns",
        "boxed ns",
        "tokio ns",
        "vs boxed",
        "minor pause us",
        "copied B/task"
    );
    let tasks = (o.batch * o.ticks) as f64;
    for &lt in &o.lifetimes {
        let (mut c, mut b, mut t, mut p, mut cp) = (vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..opts.runs.max(1) {
            let mut sys = Contgc::new(opts.config());
            let r = contgc_run(&mut sys, o, lt);
            c.push(r.secs * 1e9 / tasks);
            p.push(r.pause_us);
            cp.push(r.copied_bytes);
            b.push(boxed_run(o, lt) * 1e9 / tasks);
            t.push(tokio_run(tokio, o, lt) * 1e9 / tasks);
        }
        let (c, b, t, p, cp) = (median(c), median(b), median(t), median(p), median(cp));
        let name = if lt == o.lifetimes[0] {
            "short"
        } else {
            "long"
        };
        println!(
            "{:<10} {c:>12.1} {b:>12.1} {t:>12.1} {:>9.3} {p:>14.2} {cp:>16.1}",
            format!("{lt} ({name})"),
            c / b
        );
        report.lines.push(ResultLine {
            bench: "lifetime",
            fields: vec![
                ("lifetime".into(), name.into()),
                ("ticks".into(), lt.to_string()),
                ("tasks".into(), (o.batch * o.ticks).to_string()),
                ("depth".into(), o.depth.to_string()),
                ("contgc_ns_per_task".into(), format!("{c:.1}")),
                ("boxed_ns_per_task".into(), format!("{b:.1}")),
                ("tokio_ns_per_task".into(), format!("{t:.1}")),
                ("contgc_minor_pause_us".into(), format!("{p:.2}")),
                ("contgc_copied_bytes_per_task".into(), format!("{cp:.1}")),
                ("ratio_vs_boxed".into(), fmt_ratio(c / b)),
                ("ratio_vs_tokio".into(), fmt_ratio(c / t)),
            ],
        });
    }
}
