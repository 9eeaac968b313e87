//! The contgc side of the model: one generic frame type that interprets a compiled
//! function from a saved pc, on the executor's awaiters.
//!
//! A frame keeps its registers in data slots and its heap state in reference slots: a
//! box holding the frame's nonce, a list of cells recording the accumulator and pc of
//! its last suspensions, and one pending-exception slot per try nesting level (a
//! finally running with an exception to rethrow). On every resumption it checks the
//! box and the cells against its registers, and, after a leaf await, that the
//! task-local context is the one it suspended with; with GC-stress on, the frame has
//! usually been moved in between.
//!
//! A suspension's state is `pc << 1 | covered`: the frame type handles exceptions at
//! the odd states only, so the dispatcher unwinds through frames suspended outside
//! any try and stops at those inside one (which rethrow what their table does not
//! take).

use super::program::{
    mix, seed, Abandoned, Code, CompletionValue, Event, FutureOut, FutureSpec, Never, Op,
    ABANDONED_AWAIT, DELIBERATE, FAULT_BASE, MAX_LOOP_DEPTH, MAX_TRY_DEPTH, REGS, SENT, SLEPT,
    YIELDED,
};
use super::shared::{lock, Env, Shared, TaskRec, Types, C, CAUGHT_BY_STATE, RESUMED, SUSPENDED};
use super::tasks::await_boxed;
use contgc_collector::{Local, Scope};
use contgc_continuation::{Capture, Continuation, Frame, Outcome, Suspension, Value};
use contgc_executor::{FaultKind, FutureOutput, Step};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Data bytes of an interpreter frame: func, pc, acc, nonce, task, ctx check, cells,
/// then the registers and the loop counters.
pub const FN_DATA: u32 = 8 * (7 + REGS + MAX_LOOP_DEPTH) as u32;
/// Where the registers and the loop counters start in the data.
const REGS_AT: u32 = 56;
const LOOPS_AT: u32 = REGS_AT + 8 * REGS as u32;
/// Longest cell list a frame keeps.
const MAX_CELLS: u64 = 6;

/// A frame's registers (its data slots).
#[derive(Clone, Copy, Debug)]
struct Regs {
    func: usize,
    pc: usize,
    acc: u64,
    nonce: u64,
    task: usize,
    /// The context value plus one at a leaf await (0 at a call).
    ctx_check: u64,
    cells: u64,
    regs: [u64; REGS],
    loops: [u64; MAX_LOOP_DEPTH],
}

/// A frame's heap state, rooted in the scope while it runs.
struct Live<'s> {
    keep: Local<'s>,
    cells: Option<Local<'s>>,
    pending: [Option<Local<'s>>; MAX_TRY_DEPTH],
}

enum Input<'s> {
    Start,
    /// The op at pc completed with this value.
    Value(u64),
    /// The op at pc threw.
    Throw(Local<'s>),
}

fn exc_code<'s>(s: &mut Scope<'s>, cx: &mut C, e: Local<'s>) -> u64 {
    match cx.fault_kind(s, e) {
        Some(k) => FAULT_BASE + k as u64,
        None => {
            let exc = cx.state().types.exc;
            s.value(exc, e)
        }
    }
}

fn ctx_value(s: &mut Scope<'_>, cx: &mut C) -> u64 {
    let ty = cx.state().types.ctx;
    cx.context(s).map_or(0, |o| s.value(ty, o))
}

/// Calls function `func` of the program in task `task`: the frame starts running now.
pub fn call<'s>(s: &mut Scope<'s>, cx: &mut C, func: usize, task: usize) -> Step<'s> {
    let Env { types, shared } = cx.state();
    let (types, nonce) = (*types, shared.nonce.fetch_add(1, Ordering::Relaxed));
    let keep = s.alloc_value(types.num, nonce).unwrap();
    let g = Regs {
        func,
        pc: 0,
        acc: seed(func),
        nonce,
        task,
        ctx_check: 0,
        cells: 0,
        regs: [0; REGS],
        loops: [0; MAX_LOOP_DEPTH],
    };
    let live = Live {
        keep,
        cells: None,
        pending: [None; MAX_TRY_DEPTH],
    };
    run(s, cx, g, live, None, Input::Start)
}

/// Interprets the frame's function from `g.pc`, after taking `input` (what the op at
/// pc gave), until it returns, throws or suspends.
fn run<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    mut g: Regs,
    mut live: Live<'s>,
    reuse: Option<Continuation<'s>>,
    mut input: Input<'s>,
) -> Step<'s> {
    let (types, shared) = (cx.state().types, cx.state().shared.clone());
    let code = &shared.code[g.func];
    let rec = shared.task(g.task);
    let log = |e: Event| lock(&rec.events).push(e);
    // The exception on its way to the handler at pc.
    let mut current = None;
    loop {
        match input {
            Input::Start => {}
            Input::Value(v) => {
                g.acc = match code.ops[g.pc] {
                    Op::Yield => mix(g.acc, YIELDED),
                    Op::SleepMicros(_) => mix(g.acc, SLEPT),
                    Op::Call(_) | Op::Await(_) | Op::Join(_) | Op::AwaitFuture(_) => mix(g.acc, v),
                    Op::Send(k, _) => {
                        shared.sent_one(k);
                        mix(g.acc, SENT)
                    }
                    Op::AwaitNever(n) => panic!("an await on {n:?} that never happens returned"),
                    op => unreachable!("{op:?} does not await"),
                };
                g.pc += 1;
            }
            Input::Throw(e) => {
                let c = exc_code(s, cx, e);
                match code.handler(g.pc, c) {
                    Some(target) => {
                        g.pc = target;
                        current = Some(e);
                    }
                    None => return Step::Throw(e),
                }
            }
        }
        let step = loop {
            let Some(&op) = code.ops.get(g.pc) else {
                return Step::Return(Value::Data(g.acc));
            };
            match op {
                Op::Mix(k) => g.acc = mix(g.acc, k),
                Op::Jump(t) => {
                    g.pc = t;
                    continue;
                }
                Op::Catch(id) => {
                    let e = current
                        .take()
                        .expect("a catch is entered with an exception");
                    let c = exc_code(s, cx, e);
                    log(Event::Caught(id, c));
                    g.acc = mix(g.acc, c);
                }
                Op::FinallyNormal(id) => log(Event::Finally(id)),
                Op::FinallyExc(id, slot) => {
                    live.pending[slot] = Some(current.take().expect("an exception is pending"));
                    log(Event::Finally(id));
                }
                Op::Rethrow(slot) => {
                    break Step::Throw(live.pending[slot].take().expect("a pending exception"))
                }
                Op::Throw(c) => break Step::Throw(s.alloc_value(types.exc, c).unwrap()),
                Op::Panic => std::panic::panic_any(DELIBERATE),
                Op::SetCtx(v) => {
                    let obj = (v != 0).then(|| s.alloc_value(types.ctx, v).unwrap());
                    cx.set_context(s, obj);
                }
                Op::GetCtx => {
                    let v = ctx_value(s, cx);
                    log(Event::Ctx(v));
                    g.acc = mix(g.acc, v);
                }
                Op::Spawn(r, f) => g.regs[r] = spawn(cx, &rec, f) as u64 + 1,
                Op::Abandon(a) => {
                    // Whatever the await gives (a chain, a value, an exception) is
                    // dropped; a later await replaces it.
                    let _ = abandon(s, cx, &shared, a, &g);
                    g.acc = mix(g.acc, ABANDONED_AWAIT);
                }
                Op::LoopInit(l, n) => g.loops[l] = n,
                Op::LoopNext(l, start) => {
                    g.loops[l] -= 1;
                    if g.loops[l] > 0 {
                        g.pc = start;
                        continue;
                    }
                }
                Op::Call(f) => {
                    g.ctx_check = 0;
                    break call(s, cx, f, g.task);
                }
                leaf => {
                    g.ctx_check = ctx_value(s, cx) + 1;
                    break leaf_await(s, cx, &shared, leaf, &g);
                }
            }
            g.pc += 1;
        };
        input = match step {
            Step::Return(Value::Unit) => Input::Value(0),
            Step::Return(Value::Data(x)) => Input::Value(x),
            Step::Return(v) => panic!("an await gave {v:?} to a data frame"),
            Step::Throw(e) => Input::Throw(e),
            Step::Suspend(mut chain) => {
                shared.count(SUSPENDED);
                suspend(s, types, code, &g, &live, reuse, &mut chain);
                return Step::Suspend(chain);
            }
        };
    }
}

fn spawn(cx: &mut C, parent: &TaskRec, func: usize) -> usize {
    let shared = cx.state().shared.clone();
    let mut path = parent.path.clone();
    path.push(parent.spawns.fetch_add(1, Ordering::Relaxed));
    let t = shared.add_task(path);
    let h = cx.spawn(move |s, cx| call(s, cx, func, t));
    assert!(shared.task(t).handle.set(h).is_ok());
    t
}

fn leaf_await<'s>(s: &mut Scope<'s>, cx: &mut C, shared: &Shared, op: Op, g: &Regs) -> Step<'s> {
    match op {
        Op::Yield => cx.yield_now(s),
        Op::SleepMicros(us) => cx.sleep(s, Duration::from_micros(us as u64)),
        Op::Await(c) => match shared.completion(c) {
            Some(comp) if matches!(shared.spec.completions[c].value, CompletionValue::Boxed(_)) => {
                await_boxed(s, cx, &comp)
            }
            Some(comp) => cx.await_completion(s, &comp),
            // Abandoned before this await: every handle is gone, so none can be awaited.
            None => Step::Throw(cx.fault(s, FaultKind::Abandoned)),
        },
        Op::AwaitNever(Never::Completion) => cx.await_completion(s, &shared.never),
        Op::AwaitNever(Never::Recv) => cx.recv(s, &shared.never_recv.1),
        Op::AwaitNever(Never::Send) => cx.send(s, &shared.never_send.0, Value::Data(0)),
        Op::AwaitFuture(spec) => cx.await_future(s, RustFuture::new(spec)),
        Op::Send(k, v) => {
            let seq = shared.task(g.task).next_send(k);
            let msg = [v, g.task as u64, seq];
            let msg = s.alloc_value(cx.state().types.msg, msg).unwrap();
            let tx = lock(&shared.senders[k]).clone();
            let tx = tx.expect("a send on a channel closed after its last send");
            cx.send(s, &tx, Value::Ref(Some(msg)))
        }
        Op::Join(r) => match g.regs[r] {
            0 => Step::Return(Value::Data(0)),
            t => {
                let t = shared.task(t as usize - 1);
                cx.join(s, t.handle.get().expect("a spawned task has its handle"))
            }
        },
        op => unreachable!("{op:?} is not a leaf await"),
    }
}

fn abandon<'s>(s: &mut Scope<'s>, cx: &mut C, shared: &Shared, a: Abandoned, g: &Regs) -> Step<'s> {
    match a {
        Abandoned::Yield => cx.yield_now(s),
        Abandoned::Sleep => cx.sleep(s, Duration::from_micros(1)),
        Abandoned::Completion(c) => match shared.completion(c) {
            Some(comp) => cx.await_completion(s, &comp),
            None => Step::Return(Value::Unit),
        },
        Abandoned::Never => cx.await_completion(s, &shared.never),
        Abandoned::Join(r) => match g.regs[r] {
            0 => Step::Return(Value::Unit),
            t => {
                let t = shared.task(t as usize - 1);
                cx.join(s, t.handle.get().expect("a spawned task has its handle"))
            }
        },
    }
}

/// The Rust future of `Op::AwaitFuture`: ready at its first poll, or once a thread
/// that sleeps for its delay wakes it (so the await completes on that thread's poll).
struct RustFuture {
    spec: FutureSpec,
    /// Started, done, and the waker to wake when done.
    state: Arc<Mutex<(bool, bool, Option<Waker>)>>,
}

impl RustFuture {
    fn new(spec: FutureSpec) -> RustFuture {
        RustFuture {
            spec,
            state: Arc::default(),
        }
    }
}

impl Future for RustFuture {
    type Output = FutureOutput;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<FutureOutput> {
        if let Some(us) = self.spec.delay_micros {
            let mut g = lock(&self.state);
            if !g.1 {
                g.2 = Some(cx.waker().clone());
                if !g.0 {
                    g.0 = true;
                    let state = self.state.clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_micros(us as u64));
                        let waker = {
                            let mut g = lock(&state);
                            g.1 = true;
                            g.2.take()
                        };
                        if let Some(w) = waker {
                            w.wake();
                        }
                    });
                }
                return Poll::Pending;
            }
        }
        Poll::Ready(match self.spec.out {
            FutureOut::Data(v) => FutureOutput::Data(v),
            FutureOut::Fault(k) => FutureOutput::Fault(match k {
                1 => FaultKind::Cancelled,
                2 => FaultKind::ChannelClosed,
                3 => FaultKind::Abandoned,
                _ => FaultKind::Panicked,
            }),
            FutureOut::Panic => std::panic::panic_any(DELIBERATE),
        })
    }
}

fn suspend<'s>(
    s: &mut Scope<'s>,
    types: Types,
    code: &Code,
    g: &Regs,
    live: &Live<'s>,
    reuse: Option<Continuation<'s>>,
    chain: &mut Suspension<'s>,
) {
    let (tail, cells) = match g.cells < MAX_CELLS {
        true => (live.cells, g.cells + 1),
        false => (None, 1),
    };
    let cell = s.alloc(types.cell).unwrap();
    s.set_ref(cell, 0, tail);
    s.write_u64(cell, 8, g.acc);
    s.write_u64(cell, 16, g.pc as u64);
    let state = (g.pc as u32) << 1 | code.covered(g.pc) as u32;
    let mut c = match reuse {
        // A fresh frame: half of them take the chain-building path (no local).
        None if g.nonce.is_multiple_of(2) => Capture::begin_link(s, &types.func, state),
        _ => Capture::begin(s, &types.func, reuse, state),
    }
    .unwrap();
    c.set_u64(0, g.func as u64)
        .set_u64(8, g.pc as u64)
        .set_u64(16, g.acc)
        .set_u64(24, g.nonce)
        .set_u64(32, g.task as u64)
        .set_u64(40, g.ctx_check)
        .set_u64(48, cells);
    for (r, &v) in g.regs.iter().enumerate() {
        c.set_u64(REGS_AT + 8 * r as u32, v);
    }
    for (l, &v) in g.loops.iter().enumerate() {
        c.set_u64(LOOPS_AT + 8 * l as u32, v);
    }
    c.set_ref(0, Some(live.keep)).set_ref(1, Some(cell));
    for (i, &p) in live.pending.iter().enumerate() {
        c.set_ref(2 + i as u32, p);
    }
    c.link(chain);
}

pub(super) fn fn_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let mut g = Regs {
        func: f.u64(ft, 0) as usize,
        pc: f.u64(ft, 8) as usize,
        acc: f.u64(ft, 16),
        nonce: f.u64(ft, 24),
        task: f.u64(ft, 32) as usize,
        ctx_check: f.u64(ft, 40),
        cells: f.u64(ft, 48),
        regs: [0; REGS],
        loops: [0; MAX_LOOP_DEPTH],
    };
    for r in 0..REGS {
        g.regs[r] = f.u64(ft, REGS_AT + 8 * r as u32);
    }
    for l in 0..MAX_LOOP_DEPTH {
        g.loops[l] = f.u64(ft, LOOPS_AT + 8 * l as u32);
    }
    let state = f.state();
    assert_eq!(
        state >> 1,
        g.pc as u32,
        "the suspension state is not the saved pc"
    );
    let keep = f.get_ref(ft, 0).expect("a frame keeps its box");
    let cells = f.get_ref(ft, 1);
    let pending = std::array::from_fn(|i| f.get_ref(ft, 2 + i as u32));
    let exception = f.take_exception(ft);
    let result = f.result_u64(ft);
    let k = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    let types = cx.state().types;
    assert_eq!(
        s.value(types.num, keep),
        g.nonce,
        "a frame's box lost its value"
    );
    check_cells(s, types, cells, &g);
    if g.ctx_check != 0 {
        let now = ctx_value(s, cx) + 1;
        assert_eq!(
            now, g.ctx_check,
            "the task-local context changed across an await"
        );
    }
    assert!(
        exception.is_none() || state & 1 == 1,
        "an exception was delivered outside a handler"
    );
    let live = Live {
        keep,
        cells,
        pending,
    };
    let shared = cx.state().shared.clone();
    shared.count(RESUMED);
    let input = match exception {
        Some(e) => {
            shared.count(CAUGHT_BY_STATE);
            Input::Throw(e)
        }
        None => Input::Value(result),
    };
    run(s, cx, g, live, Some(k), input).into_outcome()
}

fn check_cells<'s>(s: &mut Scope<'s>, types: Types, head: Option<Local<'s>>, g: &Regs) {
    let head = head.expect("a suspended frame has a cell");
    assert_eq!(
        s.read_u64(head, 8),
        g.acc,
        "the frame's cell lost its accumulator"
    );
    assert_eq!(
        s.read_u64(head, 16),
        g.pc as u64,
        "the frame's cell lost its pc"
    );
    let (mut n, mut at) = (0, Some(head));
    while let Some(c) = at {
        assert_eq!(
            s.type_index(c),
            types.cell.index(),
            "a cell's next is not a cell"
        );
        n += 1;
        at = s.get_ref(c, 0);
    }
    assert_eq!(n, g.cells, "the frame's cell list changed length");
}
