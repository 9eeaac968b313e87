//! The reference interpreter: runs a program's statements as plain Rust (a tree
//! walk, `Result` for exceptions, no contgc), one task at a time. A task's outcome
//! depends only on its own program and on values fixed by the program (completion
//! values, its children's outcomes, the context it started with), so running each
//! spawned task to its end at its spawn gives what any schedule gives.

use super::program::{
    consumer_result, mix, seed, CompletionValue, Event, FutureOut, Program, Stmt, ABANDONED,
    ABANDONED_AWAIT, CANCELLED, CONSUMER_PATH, FAULT_BASE, PANIC, PANICKED, REGS, SENT, SLEPT,
    YIELDED,
};
use std::collections::BTreeMap;

/// How a task ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Value(u64),
    /// An exception (its code) left the root frame.
    Threw(u64),
    /// A cancellation exception left the root frame.
    Cancelled,
    /// Frame code panicked.
    Panicked,
    /// Anything else (a panic, a dispatch error): never expected.
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskEnd {
    pub outcome: Outcome,
    pub events: Vec<Event>,
}

/// What the reference says about a program.
#[derive(Debug, Default)]
pub struct Expected {
    /// Every task by path: roots `[i]`, consumers `[CONSUMER_PATH + k]`, a task's
    /// `n`-th spawn is its path plus `[n]`.
    pub tasks: BTreeMap<Vec<u32>, TaskEnd>,
    /// Messages sent on each channel.
    pub sends: Vec<u64>,
    /// Times a task waits on the never-set completion (each is cancelled there).
    pub cancels: u64,
    /// Statements executed (a bound on the program's size).
    pub steps: u64,
    /// The step bound was hit: the program is too large and the rest is meaningless.
    pub too_big: bool,
}

struct Run<'p> {
    p: &'p Program,
    out: Expected,
    sums: Vec<u64>,
    /// The outcome of each spawned task, by spawn order.
    children: Vec<Outcome>,
    limit: u64,
}

struct TaskState {
    path: Vec<u32>,
    ctx: u64,
    spawns: u32,
    events: Vec<Event>,
}

struct FrameState {
    acc: u64,
    regs: [Option<usize>; REGS],
}

/// Runs `p`; gives up (with `too_big`) after `limit` statements.
pub fn run(p: &Program, limit: u64) -> Expected {
    let mut r = Run {
        p,
        out: Expected {
            sends: vec![0; p.channels.len()],
            ..Expected::default()
        },
        sums: vec![0; p.channels.len()],
        children: Vec::new(),
        limit,
    };
    for (i, &f) in p.roots.iter().enumerate() {
        r.task(vec![i as u32], f, 0);
    }
    for k in 0..p.channels.len() {
        let end = TaskEnd {
            outcome: Outcome::Value(consumer_result(r.out.sends[k], r.sums[k])),
            events: Vec::new(),
        };
        r.out.tasks.insert(vec![CONSUMER_PATH + k as u32], end);
    }
    r.out
}

impl Run<'_> {
    fn task(&mut self, path: Vec<u32>, f: usize, ctx: u64) -> Outcome {
        let mut t = TaskState {
            path,
            ctx,
            spawns: 0,
            events: Vec::new(),
        };
        let outcome = match self.call(&mut t, f) {
            Ok(v) => Outcome::Value(v),
            Err(CANCELLED) => Outcome::Cancelled,
            Err(PANIC) => Outcome::Panicked,
            Err(e) => Outcome::Threw(e),
        };
        let end = TaskEnd {
            outcome: outcome.clone(),
            events: t.events,
        };
        self.out.tasks.insert(t.path, end);
        outcome
    }

    fn call(&mut self, t: &mut TaskState, f: usize) -> Result<u64, u64> {
        let mut fr = FrameState {
            acc: seed(f),
            regs: [None; REGS],
        };
        let p = self.p;
        self.block(t, &mut fr, &p.funcs[f])?;
        Ok(fr.acc)
    }

    fn block(&mut self, t: &mut TaskState, fr: &mut FrameState, body: &[Stmt]) -> Result<(), u64> {
        for s in body {
            self.stmt(t, fr, s)?;
        }
        Ok(())
    }

    fn stmt(&mut self, t: &mut TaskState, fr: &mut FrameState, s: &Stmt) -> Result<(), u64> {
        self.out.steps += 1;
        if self.out.steps > self.limit {
            self.out.too_big = true;
        }
        if self.out.too_big {
            return Ok(());
        }
        match *s {
            Stmt::Mix(k) => fr.acc = mix(fr.acc, k),
            Stmt::Yield => fr.acc = mix(fr.acc, YIELDED),
            Stmt::SleepMicros(_) => fr.acc = mix(fr.acc, SLEPT),
            Stmt::Call(f) => {
                let v = self.call(t, f)?;
                fr.acc = mix(fr.acc, v);
            }
            Stmt::Throw(code) => return Err(code),
            Stmt::Await(c) => match self.p.completions[c].value {
                CompletionValue::Data(v) | CompletionValue::Boxed(v) => fr.acc = mix(fr.acc, v),
                CompletionValue::Exception(code) => return Err(code),
                CompletionValue::Abandon => return Err(ABANDONED),
            },
            Stmt::Abandon(_) => fr.acc = mix(fr.acc, ABANDONED_AWAIT),
            Stmt::AwaitNever(_) => {
                self.out.cancels += 1;
                return Err(CANCELLED);
            }
            Stmt::AwaitFuture(f) => match f.out {
                FutureOut::Data(v) => fr.acc = mix(fr.acc, v),
                FutureOut::Fault(kind) => return Err(FAULT_BASE + kind),
                FutureOut::Panic => return Err(PANICKED),
            },
            Stmt::Panic => return Err(PANIC),
            Stmt::Send(k, v) => {
                self.out.sends[k] += 1;
                self.sums[k] = self.sums[k].wrapping_add(v);
                fr.acc = mix(fr.acc, SENT);
            }
            Stmt::Spawn(r, f) => {
                let mut path = t.path.clone();
                path.push(t.spawns);
                t.spawns += 1;
                let outcome = self.task(path, f, t.ctx);
                self.children.push(outcome);
                fr.regs[r] = Some(self.children.len() - 1);
            }
            Stmt::Join(r) => match fr.regs[r].map(|i| self.children[i].clone()) {
                None => fr.acc = mix(fr.acc, 0),
                Some(Outcome::Value(v)) => fr.acc = mix(fr.acc, v),
                Some(Outcome::Threw(e)) => return Err(e),
                Some(Outcome::Cancelled) => return Err(CANCELLED),
                Some(Outcome::Panicked) => return Err(PANICKED),
                Some(Outcome::Failed(m)) => unreachable!("the reference never fails: {m}"),
            },
            Stmt::SetCtx(v) => t.ctx = v,
            Stmt::GetCtx => {
                t.events.push(Event::Ctx(t.ctx));
                fr.acc = mix(fr.acc, t.ctx);
            }
            Stmt::Try {
                id,
                ref body,
                ref catch,
                ref finally,
            } => {
                let mut r = self.block(t, fr, body);
                if r == Err(PANIC) {
                    // A panic unwinds the Rust stack: no catch or finally runs.
                    return r;
                }
                if let (Err(code), Some((filter, handler))) = (r, catch) {
                    if filter.matches(code) {
                        t.events.push(Event::Caught(id, code));
                        fr.acc = mix(fr.acc, code);
                        r = self.block(t, fr, handler);
                    }
                }
                if r == Err(PANIC) {
                    return r;
                }
                if let Some(fin) = finally {
                    t.events.push(Event::Finally(id));
                    self.block(t, fr, fin)?;
                }
                return r;
            }
            Stmt::Repeat(n, ref body) => {
                for _ in 0..n {
                    self.block(t, fr, body)?;
                }
            }
        }
        Ok(())
    }
}
