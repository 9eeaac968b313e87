//! The microbenchmarks' async2 functions on contgc's executor.
//!
//! Each function is written the way a compiler would lower an async2 method: a plain
//! Rust function that runs until it returns, throws or an await suspends; on a
//! suspension it captures its live state into its continuation (a fresh one linked
//! under the chain on the way up, or the one it was resumed from, reused) and passes
//! the chain up. Its resume function reads the state back and goes on from the
//! suspension point. Nothing is allocated unless a frame suspends.
//!
//! One task runs a whole timed batch: the driver frame calls the benchmark's body
//! `iters` times and sums what each call returns (or, for a thrown exception, the
//! integer the exception object holds), so a batch costs one task spawn.

use crate::{Heap, Scope, Typed};
use contgc_continuation::{
    Capture, Continuation, Frame, FrameLayout, FrameType, Outcome, ResultKind, ResumeFn, Value,
};
use contgc_executor::{Cx, Runtime, Step, TaskError, TaskResult};

/// The frames' context.
pub(crate) type C = Cx<Micro>;

/// A benchmark body: one iteration, called by the driver frame.
pub(crate) type Body = for<'s> fn(&mut Scope<'s>, &mut C) -> Step<'s>;

/// Parameters of the EH shapes (also the depth benchmark's: suspend, return, no finally).
#[derive(Clone, Copy, Debug)]
pub(crate) struct EhShape {
    /// Frames of the recursion (the leaf is at this level; level 1 is called by the driver).
    pub depth: u64,
    /// The leaf awaits a yield before it ends.
    pub suspend: bool,
    /// The leaf ends by throwing a new exception object (holding its level) instead of
    /// returning 1.
    pub throw: bool,
    /// Levels 1..=finallies run a finally block (counted in [`Micro::finally_runs`])
    /// around their call, whether it returns or throws.
    pub finallies: u64,
}

/// The embedder state of the microbenchmarks' runtime.
pub(crate) struct Micro {
    types: Types,
    /// What the driver calls.
    body: Body,
    /// fib: yield at every `yield_every`-th call (0: never).
    yield_every: u64,
    /// fib: calls so far.
    calls: u64,
    /// fib: the argument.
    fib_n: u64,
    /// EH and depth shape.
    eh: EhShape,
    /// sawtooth: cycles per program.
    cycles: u64,
    /// Finally blocks run (a check that they ran).
    pub finally_runs: u64,
}

#[derive(Clone, Copy)]
struct Types {
    /// The driver: `i`, `n`, `acc`; catches exceptions.
    driver: FrameType<C>,
    /// fib: `n`, `a`.
    fib: FrameType<C>,
    /// The recursion of depth and eh: `level`.
    rec: FrameType<C>,
    /// The same with a finally block around its call (handles exceptions).
    rec_finally: FrameType<C>,
    /// sawtooth's descent to level 10: `level`.
    saw_top: FrameType<C>,
    /// sawtooth's loop at level 10: `c`, `acc`.
    tooth: FrameType<C>,
    /// sawtooth's climb: `level`, `suspend_at`.
    climb: FrameType<C>,
    /// lifetime's chain: `level`, `depth`.
    life: FrameType<C>,
    /// An exception object: the level that threw it.
    exc: Typed<u64>,
}

impl Types {
    fn register(heap: &Heap) -> Types {
        let frame = |name: &str, bytes: u32, handles: bool, resume: ResumeFn<C>| {
            FrameLayout::new(name)
                .data_bytes(bytes)
                .result(ResultKind::Data)
                .handles_exceptions(handles)
                .register_with_context::<C>(heap, resume)
                .expect("frame layout")
        };
        Types {
            driver: frame("micro.Driver", 24, true, driver_resume),
            fib: frame("micro.Fib", 16, false, fib_resume),
            rec: frame("micro.Rec", 8, false, rec_resume),
            rec_finally: frame("micro.RecFinally", 8, true, rec_resume),
            saw_top: frame("micro.SawTop", 8, false, saw_top_resume),
            tooth: frame("micro.Tooth", 16, false, tooth_resume),
            climb: frame("micro.Climb", 16, false, climb_resume),
            life: frame("micro.Life", 16, false, life_resume),
            exc: heap.register_plain::<u64>("micro.Exception").expect("type"),
        }
    }
}

/// A runtime with the microbenchmarks' frame types, on `heap`.
pub(crate) fn runtime(heap: &Heap) -> Runtime<Micro> {
    let types = Types::register(heap);
    let state = Micro {
        types,
        body: fib_body,
        yield_every: 0,
        calls: 0,
        fib_n: 0,
        eh: EhShape {
            depth: 1,
            suspend: false,
            throw: false,
            finallies: 0,
        },
        cycles: 1,
        finally_runs: 0,
    };
    Runtime::new(heap, state).expect("runtime")
}

/// What one batch is.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Work {
    /// fib(n), yielding at every k-th call (0: never).
    Fib { n: u64, k: u64 },
    /// The depth / EH recursion.
    Rec(EhShape),
    /// The sawtooth program with this many cycles.
    Saw { cycles: u64 },
}

/// Sets what the driver runs.
pub(crate) fn set_work(rt: &mut Runtime<Micro>, w: Work) {
    let st = rt.state();
    match w {
        Work::Fib { n, k } => {
            st.body = fib_body;
            st.fib_n = n;
            st.yield_every = k;
            st.calls = 0;
        }
        Work::Rec(shape) => {
            st.body = rec_body;
            st.eh = shape;
        }
        Work::Saw { cycles } => {
            st.body = saw_body;
            st.cycles = cycles;
        }
    }
}

/// Runs `iters` iterations of the current work in one task on `m`; returns the sum of
/// what they returned (a thrown exception counts its level).
pub(crate) fn run_batch(rt: &mut Runtime<Micro>, m: &mut crate::Mutator, iters: u64) -> u64 {
    let out = rt
        .block_on(m, move |s, cx| driver(s, cx, None, 0, iters, 0))
        .expect("a microbenchmark task cannot stall");
    match out {
        Ok(TaskResult::Data(x)) => x,
        Ok(other) => panic!("microbench: the driver returned {other:?}"),
        Err(TaskError::Threw(_)) => panic!("microbench: an exception escaped the driver"),
        Err(e) => panic!("microbench: the driver failed: {e}"),
    }
}

fn data(v: Value<'_>) -> u64 {
    match v {
        Value::Data(x) => x,
        other => panic!("microbench: expected data, got {other:?}"),
    }
}

/// A frame's code after the call it awaited at suspension point `state`: a value
/// goes on as `then` says, an exception propagates, and a suspension captures the
/// frame's live `words` into a continuation of `ft` linked under the chain.
#[inline(always)]
fn awaited<'s>(
    s: &mut Scope<'s>,
    ft: FrameType<C>,
    reuse: Option<Continuation<'s>>,
    state: u32,
    words: &[u64],
    r: Step<'s>,
    then: impl FnOnce(u64) -> Step<'s>,
) -> Step<'s> {
    match r {
        Step::Return(v) => then(data(v)),
        Step::Throw(e) => Step::Throw(e),
        Step::Suspend(chain) => suspend(s, &ft, reuse, state, words, chain),
    }
}

/// Links a fresh continuation of `ft` (or reuses `reuse`, the one the frame was
/// resumed from) holding `words` under `chain`.
#[inline]
fn suspend<'s>(
    s: &mut Scope<'s>,
    ft: &FrameType<C>,
    reuse: Option<Continuation<'s>>,
    state: u32,
    words: &[u64],
    mut chain: contgc_continuation::Suspension<'s>,
) -> Step<'s> {
    let c = match reuse {
        Some(k) => Capture::begin(s, ft, Some(k), state),
        None => Capture::begin_link(s, ft, state),
    };
    let mut c = c.expect("microbench: out of memory capturing a frame");
    for (i, &w) in words.iter().enumerate() {
        c.set_u64(i as u32 * 8, w);
    }
    c.link(&mut chain);
    Step::Suspend(chain)
}

// ---------------------------------------------------------------------------------
// The driver.

/// `for i in 0..n { acc += try { body().await } catch (e) { e.level } }; acc`
fn driver<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    reuse: Option<Continuation<'s>>,
    mut i: u64,
    n: u64,
    mut acc: u64,
) -> Step<'s> {
    let body = cx.state().body;
    let exc = cx.state().types.exc;
    while i < n {
        // A body that throws without suspending leaves its exception object's local
        // in this scope; a nested scope per call keeps the scope from growing.
        let step = if cx.state().eh.throw {
            Step::nested(s, |inner| body(inner, cx))
        } else {
            body(s, cx)
        };
        match step {
            Step::Return(v) => acc += data(v),
            Step::Throw(e) => acc += s.value(exc, e),
            Step::Suspend(chain) => {
                let ft = cx.state().types.driver;
                return suspend(s, &ft, reuse, 0, &[i, n, acc], chain);
            }
        }
        i += 1;
    }
    Step::Return(Value::Data(acc))
}

fn driver_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = *f.frame_type();
    let (i, n, mut acc) = (f.u64(&ft, 0), f.u64(&ft, 8), f.u64(&ft, 16));
    match f.take_exception(&ft) {
        Some(e) => {
            let exc = f.ctx().state().types.exc;
            acc += f.scope().value(exc, e);
        }
        None => acc += f.result_u64(&ft),
    }
    let k = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    driver(s, cx, Some(k), i + 1, n, acc).into_outcome()
}

// ---------------------------------------------------------------------------------
// fib.

fn fib_body<'s>(s: &mut Scope<'s>, cx: &mut C) -> Step<'s> {
    let n = cx.state().fib_n;
    fib_call(s, cx, n)
}

const FIB_START: u32 = 0;
const FIB_AFTER_FIRST: u32 = 1;
const FIB_AFTER_SECOND: u32 = 2;

/// `async2 u64 Fib(n) { if (++calls % k == 0) await Yield(); if (n < 2) return n;
/// return await Fib(n - 1) + await Fib(n - 2); }`
fn fib_call<'s>(s: &mut Scope<'s>, cx: &mut C, n: u64) -> Step<'s> {
    let st = cx.state();
    if st.yield_every != 0 {
        st.calls += 1;
        if st.calls.is_multiple_of(st.yield_every) {
            match cx.yield_now(s) {
                Step::Return(_) => {}
                Step::Throw(e) => return Step::Throw(e),
                Step::Suspend(chain) => {
                    let ft = cx.state().types.fib;
                    return suspend(s, &ft, None, FIB_START, &[n, 0], chain);
                }
            }
        }
    }
    fib_from(s, cx, None, n, FIB_START, 0, 0)
}

/// Fib from suspension point `pc`, `a` the first call's value, `v` the awaited one.
fn fib_from<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    reuse: Option<Continuation<'s>>,
    n: u64,
    pc: u32,
    mut a: u64,
    v: u64,
) -> Step<'s> {
    if pc == FIB_START {
        if n < 2 {
            return Step::Return(Value::Data(n));
        }
        match fib_call(s, cx, n - 1) {
            Step::Return(x) => a = data(x),
            Step::Throw(e) => return Step::Throw(e),
            Step::Suspend(chain) => {
                let ft = cx.state().types.fib;
                return suspend(s, &ft, reuse, FIB_AFTER_FIRST, &[n, 0], chain);
            }
        }
    } else if pc == FIB_AFTER_FIRST {
        a = v;
    } else {
        return Step::Return(Value::Data(a + v));
    }
    let r = fib_call(s, cx, n - 2);
    let ft = cx.state().types.fib;
    awaited(s, ft, reuse, FIB_AFTER_SECOND, &[n, a], r, |x| {
        Step::Return(Value::Data(a + x))
    })
}

fn fib_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = *f.frame_type();
    let (n, a) = (f.u64(&ft, 0), f.u64(&ft, 8));
    let pc = f.state();
    let v = if pc == FIB_START {
        0
    } else {
        f.result_u64(&ft)
    };
    let k = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    fib_from(s, cx, Some(k), n, pc, a, v).into_outcome()
}

// ---------------------------------------------------------------------------------
// depth and eh: recursion to a depth, an optional yield at the leaf, return or throw.

fn rec_body<'s>(s: &mut Scope<'s>, cx: &mut C) -> Step<'s> {
    rec_call(s, cx, 1)
}

const REC_LEAF_YIELDED: u32 = 0;
const REC_AWAITING: u32 = 1;

/// `async2 u64 Rec(level) { if (level == depth) { if (suspend) await Yield();
/// if (throw) throw new Exc(level); return 1; } try { return await Rec(level + 1) + 1; }
/// finally { runs++; } }` (the try/finally only at levels 1..=finallies).
fn rec_call<'s>(s: &mut Scope<'s>, cx: &mut C, level: u64) -> Step<'s> {
    let shape = cx.state().eh;
    if level == shape.depth {
        if shape.suspend {
            match cx.yield_now(s) {
                Step::Return(_) => {}
                Step::Throw(e) => return Step::Throw(e),
                Step::Suspend(chain) => {
                    let ft = rec_type(cx, level);
                    return suspend(s, &ft, None, REC_LEAF_YIELDED, &[level], chain);
                }
            }
        }
        return rec_leaf_end(s, cx, level);
    }
    let r = rec_call(s, cx, level + 1);
    rec_after(s, cx, None, level, r)
}

fn rec_type(cx: &mut C, level: u64) -> FrameType<C> {
    let st = cx.state();
    if level <= st.eh.finallies {
        st.types.rec_finally
    } else {
        st.types.rec
    }
}

fn rec_leaf_end<'s>(s: &mut Scope<'s>, cx: &mut C, level: u64) -> Step<'s> {
    let st = cx.state();
    let finally = level <= st.eh.finallies;
    if st.eh.throw {
        let exc = st.types.exc;
        if finally {
            st.finally_runs += 1;
        }
        let e = s
            .alloc_value(exc, level)
            .expect("microbench: out of memory allocating an exception");
        Step::Throw(e)
    } else {
        if finally {
            st.finally_runs += 1;
        }
        Step::Return(Value::Data(1))
    }
}

/// Level `level`'s frame after its call returned `r`.
fn rec_after<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    reuse: Option<Continuation<'s>>,
    level: u64,
    r: Step<'s>,
) -> Step<'s> {
    let st = cx.state();
    let finally = level <= st.eh.finallies;
    match r {
        Step::Return(v) => {
            if finally {
                st.finally_runs += 1;
            }
            Step::Return(Value::Data(data(v) + 1))
        }
        Step::Throw(e) => {
            if finally {
                st.finally_runs += 1;
            }
            Step::Throw(e)
        }
        Step::Suspend(chain) => {
            let ft = rec_type(cx, level);
            suspend(s, &ft, reuse, REC_AWAITING, &[level], chain)
        }
    }
}

fn rec_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = *f.frame_type();
    let level = f.u64(&ft, 0);
    if f.state() == REC_LEAF_YIELDED {
        let (s, cx) = f.scope_and_ctx();
        return rec_leaf_end(s, cx, level).into_outcome();
    }
    let r = match f.take_exception(&ft) {
        Some(e) => Step::Throw(e),
        None => Step::Return(Value::Data(f.result_u64(&ft))),
    };
    // The callee has returned or thrown: this frame cannot suspend again, so it needs
    // no local of its continuation for a reuse.
    let (s, cx) = f.scope_and_ctx();
    rec_after(s, cx, None, level, r).into_outcome()
}

// ---------------------------------------------------------------------------------
// sawtooth: descend to level 10, climb to 30 (suspending once at 20), then `cycles - 1`
// times: suspend at level 10, climb to 30 and return to 10.

/// The level the sawtooth returns to.
pub(crate) const SAW_LOW: u64 = 10;
/// The level of the first suspension.
pub(crate) const SAW_FIRST: u64 = 20;
/// The level the sawtooth climbs to.
pub(crate) const SAW_HIGH: u64 = 30;

fn saw_body<'s>(s: &mut Scope<'s>, cx: &mut C) -> Step<'s> {
    saw_top(s, cx, 1)
}

/// `async2 u64 Top(level) { if (level == 10) return await Tooth(); return await Top(level + 1) + 1; }`
fn saw_top<'s>(s: &mut Scope<'s>, cx: &mut C, level: u64) -> Step<'s> {
    let r = if level == SAW_LOW {
        tooth(s, cx, None, 0, 0, None)
    } else {
        saw_top(s, cx, level + 1)
    };
    saw_top_after(s, cx, None, level, r)
}

fn saw_top_after<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    reuse: Option<Continuation<'s>>,
    level: u64,
    r: Step<'s>,
) -> Step<'s> {
    let ft = cx.state().types.saw_top;
    awaited(s, ft, reuse, 0, &[level], r, |v| {
        Step::Return(Value::Data(v + 1))
    })
}

fn saw_top_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = *f.frame_type();
    let level = f.u64(&ft, 0);
    let v = f.result_u64(&ft);
    // After its callee returned the frame cannot suspend again (no reuse needed).
    let (s, cx) = f.scope_and_ctx();
    saw_top_after(s, cx, None, level, Step::Return(Value::Data(v))).into_outcome()
}

const TOOTH_AFTER_YIELD: u32 = 0;
const TOOTH_AFTER_CLIMB: u32 = 1;

/// `async2 u64 Tooth() { acc = await Climb(11, 20); for (c = 1; c < cycles; c++) {
/// await Yield(); acc += await Climb(11, none); } return acc; }`. `got` is the value
/// of the climb of cycle `c` if the frame resumes after it.
fn tooth<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    reuse: Option<Continuation<'s>>,
    mut c: u64,
    mut acc: u64,
    mut got: Option<u64>,
) -> Step<'s> {
    let cycles = cx.state().cycles;
    loop {
        let v = match got.take() {
            Some(v) => v,
            None => {
                if c > 0 {
                    match cx.yield_now(s) {
                        Step::Return(_) => {}
                        Step::Throw(e) => return Step::Throw(e),
                        Step::Suspend(chain) => {
                            let ft = cx.state().types.tooth;
                            return suspend(s, &ft, reuse, TOOTH_AFTER_YIELD, &[c, acc], chain);
                        }
                    }
                }
                let at = if c == 0 { SAW_FIRST } else { u64::MAX };
                match climb(s, cx, SAW_LOW + 1, at) {
                    Step::Return(v) => data(v),
                    Step::Throw(e) => return Step::Throw(e),
                    Step::Suspend(chain) => {
                        let ft = cx.state().types.tooth;
                        return suspend(s, &ft, reuse, TOOTH_AFTER_CLIMB, &[c, acc], chain);
                    }
                }
            }
        };
        acc += v;
        c += 1;
        if c == cycles {
            return Step::Return(Value::Data(acc));
        }
    }
}

fn tooth_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = *f.frame_type();
    let (c, acc) = (f.u64(&ft, 0), f.u64(&ft, 8));
    let got = (f.state() == TOOTH_AFTER_CLIMB).then(|| f.result_u64(&ft));
    let k = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    match got {
        Some(v) => tooth(s, cx, Some(k), c, acc, Some(v)),
        // After the yield: the climb of cycle `c`, then the loop goes on.
        None => match climb(s, cx, SAW_LOW + 1, u64::MAX) {
            Step::Return(v) => tooth(s, cx, Some(k), c, acc, Some(data(v))),
            Step::Throw(e) => Step::Throw(e),
            Step::Suspend(chain) => {
                let ft = cx.state().types.tooth;
                suspend(s, &ft, Some(k), TOOTH_AFTER_CLIMB, &[c, acc], chain)
            }
        },
    }
    .into_outcome()
}

const CLIMB_AFTER_YIELD: u32 = 0;
const CLIMB_AWAITING: u32 = 1;

/// `async2 u64 Climb(level, at) { if (level == at) await Yield(); if (level == 30)
/// return 1; return await Climb(level + 1, at) + 1; }`
fn climb<'s>(s: &mut Scope<'s>, cx: &mut C, level: u64, at: u64) -> Step<'s> {
    if level == at {
        match cx.yield_now(s) {
            Step::Return(_) => {}
            Step::Throw(e) => return Step::Throw(e),
            Step::Suspend(chain) => {
                let ft = cx.state().types.climb;
                return suspend(s, &ft, None, CLIMB_AFTER_YIELD, &[level, at], chain);
            }
        }
    }
    climb_on(s, cx, None, level, at)
}

fn climb_on<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    reuse: Option<Continuation<'s>>,
    level: u64,
    at: u64,
) -> Step<'s> {
    if level == SAW_HIGH {
        return Step::Return(Value::Data(1));
    }
    let r = climb(s, cx, level + 1, at);
    climb_after(s, cx, reuse, level, at, r)
}

fn climb_after<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    reuse: Option<Continuation<'s>>,
    level: u64,
    at: u64,
    r: Step<'s>,
) -> Step<'s> {
    let ft = cx.state().types.climb;
    awaited(s, ft, reuse, CLIMB_AWAITING, &[level, at], r, |v| {
        Step::Return(Value::Data(v + 1))
    })
}

fn climb_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = *f.frame_type();
    let (level, at) = (f.u64(&ft, 0), f.u64(&ft, 8));
    let pc = f.state();
    if pc == CLIMB_AWAITING {
        // After its callee returned the frame cannot suspend again.
        let v = f.result_u64(&ft);
        let (s, cx) = f.scope_and_ctx();
        return climb_after(s, cx, None, level, at, Step::Return(Value::Data(v))).into_outcome();
    }
    let k = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    climb_on(s, cx, Some(k), level, at).into_outcome()
}

// ---------------------------------------------------------------------------------
// lifetime: a chain of `depth` frames whose leaf awaits a completion.

/// The entry of a lifetime task: `Life(1)`, whose leaf (at `depth`) awaits `c`.
pub(crate) fn life_entry<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    depth: u64,
    c: &contgc_executor::Completion,
) -> Step<'s> {
    life_call(s, cx, 1, depth, c)
}

/// `async2 u64 Life(level) { if (level == depth) return await c; return await Life(level + 1) + 1; }`
fn life_call<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    level: u64,
    depth: u64,
    c: &contgc_executor::Completion,
) -> Step<'s> {
    let r = if level == depth {
        cx.await_completion(s, c)
    } else {
        life_call(s, cx, level + 1, depth, c)
    };
    let ft = cx.state().types.life;
    awaited(s, ft, None, 0, &[level, depth], r, |v| {
        Step::Return(Value::Data(v + u64::from(level != depth)))
    })
}

fn life_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = *f.frame_type();
    let (level, depth) = (f.u64(&ft, 0), f.u64(&ft, 8));
    let v = f.result_u64(&ft);
    Outcome::Return(Value::Data(v + u64::from(level != depth)))
}
