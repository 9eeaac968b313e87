//! Running a program on either scheduler and reading back what every task did.

use super::frames::call;
use super::program::{Program, CONSUMER_PATH, DELIBERATE, FAULT_BASE};
use super::reference::{Expected, Outcome, TaskEnd};
use super::shared::{lock, Entry, Env, Shared, Types};
use super::tasks::{cancel_victims, consume, set_completions};
use contgc_collector::{
    CollectionKind, Config, ContinuationPlacement, Heap, Local, RootMode, Scope,
};
use contgc_executor::{
    Executor, FaultKind, JoinHandle, Runtime, Shutdown, TaskError, TaskResult, TaskState,
};
use std::collections::BTreeMap;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How long one case may take before it is reported as hung.
const DEADLINE: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sched {
    /// The current-thread `Runtime`, run on the test thread.
    Runtime,
    /// The multi-threaded `Executor` with two workers.
    Executor,
}

/// What a run observed.
pub struct Observed {
    pub tasks: BTreeMap<Vec<u32>, TaskEnd>,
    /// Collections (minor and major), then the interpreter's counts (see
    /// `Shared::counts`).
    pub counts: [u64; 4],
}

pub fn heap_for(p: &Program) -> Heap {
    let h = p.heap;
    let config = Config::builder()
        .nursery_size(h.nursery_kib << 10)
        .verify_after_gc(true)
        .gc_stress(h.stress)
        .promotion_age(h.promotion_age)
        .root_mode([RootMode::Naive, RootMode::Aged, RootMode::Grouped][h.root_mode as usize])
        .continuation_placement(if h.old_continuations {
            ContinuationPlacement::OldGeneration
        } else {
            ContinuationPlacement::Nursery
        })
        .build()
        .unwrap();
    Heap::new(config).unwrap()
}

/// The tasks a case starts with: each root and consumer of the program (with its
/// record), the completion setter and, on the current-thread runtime, the canceller.
fn initial(shared: &Arc<Shared>, p: &Program, sched: Sched) -> Vec<(Option<usize>, Entry)> {
    let mut v: Vec<(Option<usize>, Entry)> = Vec::new();
    for (i, &f) in p.roots.iter().enumerate() {
        let t = shared.add_task(vec![i as u32]);
        v.push((Some(t), Box::new(move |s, cx| call(s, cx, f, t))));
    }
    for k in 0..p.channels.len() {
        let t = shared.add_task(vec![CONSUMER_PATH + k as u32]);
        v.push((Some(t), Box::new(move |s, cx| consume(s, cx, k))));
    }
    v.push((None, Box::new(set_completions)));
    if sched == Sched::Runtime && shared.expected_cancels > 0 {
        v.push((None, Box::new(cancel_victims)));
    }
    v
}

/// Aborts the test process if a case has not finished well after its deadline (a
/// scheduler that parks forever cannot report it itself), after printing what waits.
struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    fn start(label: String, shared: Arc<Shared>) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(DEADLINE * 2) {
                eprintln!("{label}: {}", hung(&shared, "watchdog"));
                std::process::abort();
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.0.take());
    }
}

/// Runs `p` on `sched`; `Err` describes a hang. `label` names the case.
pub fn run(p: &Program, exp: &Expected, sched: Sched, label: &str) -> Result<Observed, String> {
    let heap = heap_for(p);
    let types = Types::register(&heap);
    let deadline = Instant::now() + DEADLINE;
    let shared = Shared::new(p, &exp.sends, exp.cancels, deadline);
    let _watchdog = Watchdog::start(format!("{label}\n{p}"), shared.clone());
    let entries = initial(&shared, p, sched);
    let thread_setter = {
        let shared = shared.clone();
        move || shared.run_thread_setter()
    };
    let mut harness = Vec::new();
    let tasks = match sched {
        Sched::Runtime => {
            let env = Env {
                types,
                shared: shared.clone(),
            };
            let mut rt = Runtime::new(&heap, env).unwrap();
            let mut m = heap.mutator();
            for (rec, entry) in entries {
                let h = rt.spawn(entry);
                register(&shared, rec, h, &mut harness);
            }
            let setter = std::thread::spawn(thread_setter);
            loop {
                let setter_done = setter.is_finished();
                match rt.run(&mut m) {
                    Ok(()) => break,
                    // Every wake from the setter thread came before this run: stuck.
                    Err(stalled) if setter_done => return Err(hung(&shared, &stalled.to_string())),
                    Err(_) if Instant::now() > deadline => return Err(hung(&shared, "deadline")),
                    Err(_) => m.blocking(|| std::thread::sleep(Duration::from_micros(30))),
                }
            }
            setter.join().unwrap();
            m.scope(|s| collect(s, &shared, &harness, types, |s, e| rt.fault_kind(s, e)))
        }
        Sched::Executor => {
            let ex = Executor::new(&heap, 2, {
                let shared = shared.clone();
                move |_| Env {
                    types,
                    shared: shared.clone(),
                }
            })
            .unwrap();
            for (rec, entry) in entries {
                let h = ex.spawn(entry).unwrap();
                register(&shared, rec, h, &mut harness);
            }
            let setter = std::thread::spawn(thread_setter);
            // This thread is the canceller.
            let mut cancels_done = false;
            let mut polls = 0u32;
            while ex.live_tasks() > 0 {
                if !cancels_done {
                    cancels_done = shared.cancel_blocked();
                }
                polls = polls.wrapping_add(1);
                let failed = polls.is_multiple_of(256) && shared.failed();
                if failed || Instant::now() > deadline {
                    let msg = hung(&shared, if failed { "a task failed" } else { "deadline" });
                    // Its workers may never finish: leave them be.
                    std::mem::forget(ex);
                    return Err(msg);
                }
                std::thread::sleep(Duration::from_micros(30));
            }
            setter.join().unwrap();
            let mut m = heap.mutator();
            let tasks =
                m.scope(|s| collect(s, &shared, &harness, types, |s, e| ex.fault_kind(s, e)));
            drop(m);
            ex.shutdown(Shutdown::Drain);
            tasks
        }
    };
    let st = heap.stats();
    let c = |i: usize| shared.counts[i].load(std::sync::atomic::Ordering::Relaxed);
    Ok(Observed {
        tasks,
        counts: [
            st.minor_collections + st.major_collections,
            c(0),
            c(1),
            c(2),
        ],
    })
}

fn register(shared: &Shared, rec: Option<usize>, h: JoinHandle, harness: &mut Vec<JoinHandle>) {
    match rec {
        Some(t) => assert!(lock(&shared.tasks)[t].handle.set(h).is_ok()),
        None => harness.push(h),
    }
}

fn hung(shared: &Shared, why: &str) -> String {
    let mut s = format!("the case did not finish ({why}); unfinished and failed tasks:\n");
    for t in lock(&shared.tasks).iter() {
        let Some(h) = t.handle.get() else { continue };
        match h.result() {
            None => s += &format!("  {:?}: {:?}\n", t.path, h.state()),
            Some(Err(TaskError::Panicked(m))) if m != DELIBERATE => {
                s += &format!("  {:?}: panicked: {m}\n", t.path)
            }
            Some(_) => {}
        }
    }
    s
}

/// Every program task's outcome and log; checks that the harness tasks returned.
fn collect<'s>(
    s: &mut Scope<'s>,
    shared: &Shared,
    harness: &[JoinHandle],
    types: Types,
    fault_kind: impl Fn(&mut Scope<'s>, Local<'s>) -> Option<FaultKind>,
) -> BTreeMap<Vec<u32>, TaskEnd> {
    // Every task has ended: their chains are garbage now, panicked ones included.
    s.collect(CollectionKind::Major); // verified
    for h in harness {
        let out = h.result().expect("the harness tasks ended");
        assert!(
            matches!(out, Ok(TaskResult::Unit)),
            "a harness task failed: {out:?}"
        );
    }
    let code = |s: &mut Scope<'s>, e| match fault_kind(s, e) {
        Some(k) => FAULT_BASE + k as u64,
        None => s.value(types.exc, e),
    };
    let mut out = BTreeMap::new();
    for t in lock(&shared.tasks).iter() {
        let h = t.handle.get().expect("every task was spawned");
        let result = h.result().expect("every task ended");
        let state = match &result {
            Ok(_) => TaskState::Completed,
            Err(TaskError::Cancelled(_)) => TaskState::Cancelled,
            Err(_) => TaskState::Faulted,
        };
        let outcome = match result {
            _ if h.state() != state => {
                Outcome::Failed(format!("ended in state {:?}, not {state:?}", h.state()))
            }
            Ok(TaskResult::Data(v)) => Outcome::Value(v),
            Ok(other) => Outcome::Failed(format!("returned {other:?}")),
            Err(TaskError::Threw(p)) => {
                let e = s.get_persistent(&p);
                Outcome::Threw(code(s, e))
            }
            Err(TaskError::Cancelled(_)) => Outcome::Cancelled,
            Err(TaskError::Panicked(m)) if m == DELIBERATE => Outcome::Panicked,
            Err(e) => Outcome::Failed(e.to_string()),
        };
        let end = TaskEnd {
            outcome,
            events: lock(&t.events).clone(),
        };
        assert!(
            out.insert(t.path.clone(), end).is_none(),
            "two tasks at {:?}",
            t.path
        );
    }
    out
}
