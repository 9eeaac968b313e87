//! Shared frames for the executor tests: a loop that awaits something N times.
#![allow(dead_code)]

use contgc_collector::{Config, Heap, Scope, Typed};
use contgc_continuation::{
    Capture, Continuation, Frame, FrameLayout, FrameType, Outcome, ResultKind, Value,
};
use contgc_executor::{Cx, Step};

/// The embedder's state in these tests: the frame types.
#[derive(Clone, Copy)]
pub struct Vm {
    pub looper: FrameType<Cx<Vm>>,
    /// A caller of loopers: 8 data bytes (its round), data result.
    pub caller: FrameType<Cx<Vm>>,
    pub num: Typed<u64>,
}

pub type C = Cx<Vm>;

pub fn heap(stress: Option<u32>) -> Heap {
    let mut b = Config::builder()
        .nursery_size(256 << 10)
        .verify_after_gc(true);
    if let Some(n) = stress {
        b = b.gc_stress(n);
    }
    Heap::new(b.build().unwrap()).unwrap()
}

pub fn vm(heap: &Heap) -> Vm {
    Vm {
        looper: FrameLayout::new("Looper")
            .data_bytes(24)
            .refs(1)
            .byrefs(1)
            .result(ResultKind::Data)
            .register_with_context::<C>(heap, looper_resume)
            .unwrap(),
        caller: FrameLayout::new("Caller")
            .data_bytes(16)
            .result(ResultKind::Data)
            .register_with_context::<C>(heap, caller_resume)
            .unwrap(),
        num: heap.register_plain::<u64>("Num").unwrap(),
    }
}

/// What the looper awaits each round.
#[derive(Clone, Copy)]
pub enum Op {
    Yield,
    SleepMicros(u64),
}

/// `async fn looper(n, op) -> u64 { let mut acc = 0; for i in 0..n { acc += op.await? + i; } acc }`
/// with a fresh heap object kept live across every await, and a byref into it (both
/// checked at every resumption).
pub fn looper<'s>(s: &mut Scope<'s>, cx: &mut C, n: u64, op: u64) -> Step<'s> {
    body(s, cx, None, 0, n, op, 0)
}

fn body<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    reuse: Option<Continuation<'s>>,
    mut i: u64,
    n: u64,
    op: u64,
    mut acc: u64,
) -> Step<'s> {
    loop {
        if i == n {
            return Step::Return(Value::Data(acc));
        }
        let step = match op {
            0 => cx.yield_now(s),
            us => cx.sleep(s, std::time::Duration::from_micros(us)),
        };
        match step {
            Step::Return(_) => {
                acc += i;
                i += 1;
            }
            Step::Throw(e) => return Step::Throw(e),
            Step::Suspend(mut chain) => {
                let (ft, num) = (cx.state().looper, cx.state().num);
                let keep = s.alloc_value(num, i * 7).unwrap();
                let mut c = Capture::begin(s, &ft, reuse, 1).unwrap();
                c.set_u64(0, i).set_u64(8, n).set_u64(16, op | (acc << 20));
                c.set_ref(0, Some(keep));
                c.set_byref(0, keep, 0).unwrap();
                c.link(&mut chain);
                return Step::Suspend(chain);
            }
        }
    }
}

fn looper_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let i = f.u64(ft, 0);
    let n = f.u64(ft, 8);
    let w = f.u64(ft, 16);
    let keep = f.get_ref(ft, 0).unwrap();
    assert_eq!(
        f.u64_via_byref(ft, 0),
        i * 7,
        "a frame's byref lost its target"
    );
    let k = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    let num = cx.state().num;
    assert_eq!(s.value(num, keep), i * 7, "a frame's object lost its data");
    let (op, acc) = (w & 0xfffff, w >> 20);
    body(s, cx, Some(k), i + 1, n, op, acc + i).into_outcome()
}

pub fn expected(n: u64) -> u64 {
    (0..n).sum()
}

/// `async fn caller() -> u64 { let mut sum = 0; for r in 0..3 { sum += looper(2 + r).await } sum }`,
/// each looper call made in a nested scope (its temporaries released), from the entry
/// and from the resumed caller frame.
pub fn caller<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    reuse: Option<Continuation<'s>>,
    mut round: u64,
    mut sum: u64,
) -> Step<'s> {
    loop {
        if round == 3 {
            return Step::Return(Value::Data(sum));
        }
        let n = 2 + round;
        match Step::nested(s, |i| {
            // Garbage local to the nested scope.
            let num = cx.state().num;
            let _tmp = i.alloc_value(num, 1).unwrap();
            looper(i, cx, n, 0)
        }) {
            Step::Return(Value::Data(x)) => {
                sum += x;
                round += 1;
            }
            Step::Suspend(mut chain) => {
                let ft = cx.state().caller;
                let mut c = Capture::begin(s, &ft, reuse, 1).unwrap();
                c.set_u64(0, round).set_u64(8, sum);
                c.link(&mut chain);
                return Step::Suspend(chain);
            }
            other => return other,
        }
    }
}

fn caller_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let (round, sum, got) = (f.u64(ft, 0), f.u64(ft, 8), f.result_u64(ft));
    let k = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    caller(s, cx, Some(k), round + 1, sum + got).into_outcome()
}
