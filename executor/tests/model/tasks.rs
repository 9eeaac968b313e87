//! The harness's own tasks: a consumer per channel, the completion setter and (on the
//! current-thread runtime) the canceller.

use super::program::{consumer_result, Setter};
use super::shared::{lock, Env, C};
use contgc_collector::{Local, Scope};
use contgc_continuation::{Capture, Continuation, Frame, Outcome, Value};
use contgc_executor::{Completion, FaultKind, Step};
use std::time::Duration;

/// A consumer task: receives messages from channel `k` until it is closed;
/// returns `consumer_result(count, sum)`.
pub fn consume<'s>(s: &mut Scope<'s>, cx: &mut C, k: usize) -> Step<'s> {
    consume_from(s, cx, k, 0, 0, None)
}

fn consume_from<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    k: usize,
    mut count: u64,
    mut sum: u64,
    reuse: Option<Continuation<'s>>,
) -> Step<'s> {
    loop {
        let shared = cx.state().shared.clone();
        let step = cx.recv(s, &shared.receivers[k]);
        match step {
            Step::Return(v) => received(s, cx, k, v, &mut count, &mut sum),
            Step::Throw(e) => return closed(s, cx, e, count, sum),
            Step::Suspend(mut chain) => {
                let types = cx.state().types;
                let keep = s.alloc_value(types.num, sum ^ count).unwrap();
                let mut c = Capture::begin(s, &types.consumer, reuse, 0).unwrap();
                c.set_u64(0, k as u64).set_u64(8, count).set_u64(16, sum);
                c.set_ref(0, Some(keep));
                c.link(&mut chain);
                return Step::Suspend(chain);
            }
        }
    }
}

/// Takes message `v` from channel `k`: checks it is its sender's next, and counts it.
fn received<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    k: usize,
    v: Value<'s>,
    count: &mut u64,
    sum: &mut u64,
) {
    let Value::Ref(Some(msg)) = v else {
        panic!("a consumer received {v:?}, not a message")
    };
    let Env { types, shared } = cx.state();
    let [value, sender, seq] = s.value(types.msg, msg);
    let mut next = lock(&shared.received[k]);
    let next = next.entry(sender).or_insert(0);
    assert_eq!(
        seq, *next,
        "channel {k}: task {sender}'s messages out of order"
    );
    *next += 1;
    *sum = sum.wrapping_add(value);
    *count += 1;
}

fn closed<'s>(s: &mut Scope<'s>, cx: &mut C, e: Local<'s>, count: u64, sum: u64) -> Step<'s> {
    match cx.fault_kind(s, e) {
        Some(FaultKind::ChannelClosed) => Step::Return(Value::Data(consumer_result(count, sum))),
        _ => Step::Throw(e),
    }
}

pub(super) fn consumer_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let (k, mut count, mut sum) = (f.u64(ft, 0) as usize, f.u64(ft, 8), f.u64(ft, 16));
    let keep = f.get_ref(ft, 0).expect("a consumer keeps its box");
    let exception = f.take_exception(ft);
    let msg = f.result_ref(ft);
    let reuse = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    let num = cx.state().types.num;
    assert_eq!(
        s.value(num, keep),
        sum ^ count,
        "a consumer's box lost its value"
    );
    if let Some(e) = exception {
        return closed(s, cx, e, count, sum).into_outcome();
    }
    received(s, cx, k, Value::Ref(msg), &mut count, &mut sum);
    consume_from(s, cx, k, count, sum, Some(reuse)).into_outcome()
}

/// The setter task: for each completion it owns, waits its delay (a yield for none)
/// and sets it.
pub fn set_completions<'s>(s: &mut Scope<'s>, cx: &mut C) -> Step<'s> {
    setter_from(s, cx, 0, None)
}

fn setter_from<'s>(
    s: &mut Scope<'s>,
    cx: &mut C,
    mut i: usize,
    reuse: Option<Continuation<'s>>,
) -> Step<'s> {
    loop {
        let shared = cx.state().shared.clone();
        let Some((_, us)) = shared.items(Setter::Task).nth(i) else {
            return Step::Return(Value::Unit);
        };
        let step = match us {
            0 => cx.yield_now(s),
            us => cx.sleep(s, Duration::from_micros(us as u64)),
        };
        match step {
            Step::Return(_) => i = set_item(s, cx, i),
            Step::Throw(e) => return Step::Throw(e),
            Step::Suspend(mut chain) => {
                let ft = cx.state().types.setter;
                let mut c = Capture::begin(s, &ft, reuse, 0).unwrap();
                c.set_u64(0, i as u64);
                c.link(&mut chain);
                return Step::Suspend(chain);
            }
        }
    }
}

/// Sets the setter's item `i`; returns the next item's index.
fn set_item(s: &mut Scope<'_>, cx: &mut C, i: usize) -> usize {
    let Env { types, shared } = cx.state();
    let (c, _) = shared.items(Setter::Task).nth(i).expect("an item");
    shared.settle(Some((s, *types)), c);
    i + 1
}

pub(super) fn setter_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let i = f.u64(ft, 0) as usize;
    let reuse = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    let i = set_item(s, cx, i);
    setter_from(s, cx, i, Some(reuse)).into_outcome()
}

/// The canceller task (current-thread runtime): cancels each task that waits on the
/// never-set completion, polling every few microseconds, until all expected
/// cancellations are done.
pub fn cancel_victims<'s>(s: &mut Scope<'s>, cx: &mut C) -> Step<'s> {
    canceller_from(s, cx, None)
}

fn canceller_from<'s>(s: &mut Scope<'s>, cx: &mut C, reuse: Option<Continuation<'s>>) -> Step<'s> {
    loop {
        if cx.state().shared.cancel_blocked() {
            return Step::Return(Value::Unit);
        }
        match cx.sleep(s, Duration::from_micros(20)) {
            Step::Return(_) => {}
            Step::Throw(e) => return Step::Throw(e),
            Step::Suspend(mut chain) => {
                let ft = cx.state().types.canceller;
                Capture::begin(s, &ft, reuse, 0).unwrap().link(&mut chain);
                return Step::Suspend(chain);
            }
        }
    }
}

pub(super) fn canceller_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let reuse = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    canceller_from(s, cx, Some(reuse)).into_outcome()
}

/// Awaits completion `comp`, set with a boxed number: in a frame of its own, whose
/// result slot holds a reference; returns the number. Exceptions unwind through it.
pub fn await_boxed<'s>(s: &mut Scope<'s>, cx: &mut C, comp: &Completion) -> Step<'s> {
    match cx.await_completion(s, comp) {
        Step::Return(v) => Step::Return(Value::Data(unbox(s, cx, v))),
        Step::Throw(e) => Step::Throw(e),
        Step::Suspend(mut chain) => {
            let ft = cx.state().types.await_box;
            Capture::begin_link(s, &ft, 0).unwrap().link(&mut chain);
            Step::Suspend(chain)
        }
    }
}

fn unbox<'s>(s: &mut Scope<'s>, cx: &mut C, v: Value<'s>) -> u64 {
    let Value::Ref(Some(b)) = v else {
        panic!("a boxed completion delivered {v:?}")
    };
    s.value(cx.state().types.num, b)
}

pub(super) fn boxed_resume<'s>(f: &mut Frame<'_, 's, C>) -> Outcome<'s> {
    let ft = f.frame_type();
    let b = f.result_ref(ft);
    let (s, cx) = f.scope_and_ctx();
    Outcome::Return(Value::Data(unbox(s, cx, Value::Ref(b))))
}
