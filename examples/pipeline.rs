//! An async2 pipeline on contgc's executor: producers send over a bounded channel
//! (sleeping now and then), a consumer sums until the channel closes, and a task stuck
//! on a completion nobody sets is inspected (what it waits on, its async stack) and
//! then cancelled. Run with `cargo run --example pipeline`.
//!
//! Frames keep only heap data (here integers); Rust handles a frame needs (the
//! channel's senders) live in the embedder's state, found by index.

use contgc::continuation::{
    Capture, Continuation, Frame, FrameLayout, FrameType, Outcome, ResultKind, Value,
};
use contgc::executor::{
    channel, Completion, Cx, FaultKind, Receiver, Runtime, Sender, Step, TaskError, TaskState,
};
use contgc::{Config, Heap, Scope};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PRODUCERS: u64 = 4;
const ITEMS: u64 = 50;

struct Vm {
    producer: FrameType<Cx<Vm>>,
    consumer: FrameType<Cx<Vm>>,
    senders: Arc<Mutex<Vec<Option<Sender>>>>,
    rx: Arc<Receiver>,
}

/// `async2 fn producer(id) { for k in 0..ITEMS { if k % 10 == 9 { sleep(100us).await } send(id * 1000 + k).await } }`
fn producer<'s>(
    s: &mut Scope<'s>,
    cx: &mut Cx<Vm>,
    reuse: Option<Continuation<'s>>,
    id: u64,
    mut k: u64,
) -> Step<'s> {
    loop {
        if k == 2 * ITEMS {
            // Done: drop this producer's sender (the channel closes after the last).
            cx.state().senders.lock().unwrap()[id as usize] = None;
            return Step::Return(Value::Unit);
        }
        // Even steps send item k / 2; odd steps sleep when the next item is a tenth.
        let step = if k.is_multiple_of(2) {
            let tx = cx.state().senders.lock().unwrap()[id as usize]
                .as_ref()
                .unwrap()
                .clone();
            cx.send(s, &tx, Value::Data(id * 1000 + k / 2))
        } else if (k / 2) % 10 == 9 {
            cx.sleep(s, Duration::from_micros(100))
        } else {
            Step::Return(Value::Unit)
        };
        k += 1;
        match step {
            Step::Return(_) => {}
            Step::Throw(e) => return Step::Throw(e),
            Step::Suspend(mut chain) => {
                let ft = cx.state().producer;
                let mut c = Capture::begin(s, &ft, reuse, 1).unwrap();
                c.set_u64(0, id).set_u64(8, k);
                c.link(&mut chain);
                return Step::Suspend(chain);
            }
        }
    }
}

fn resume_producer<'s>(f: &mut Frame<'_, 's, Cx<Vm>>) -> Outcome<'s> {
    let ft = f.frame_type();
    let (id, k) = (f.u64(ft, 0), f.u64(ft, 8));
    let me = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    producer(s, cx, Some(me), id, k).into_outcome()
}

/// `async2 fn consumer() -> u64 { let mut sum = 0; loop { try { sum += rx.recv().await } catch ChannelClosed { return sum } } }`
fn consumer<'s>(
    s: &mut Scope<'s>,
    cx: &mut Cx<Vm>,
    reuse: Option<Continuation<'s>>,
    mut sum: u64,
    mut got: Option<Step<'s>>,
) -> Step<'s> {
    loop {
        let step = got.take().unwrap_or_else(|| {
            let rx = cx.state().rx.clone();
            cx.recv(s, &rx)
        });
        match step {
            Step::Return(Value::Data(x)) => sum += x,
            Step::Return(_) => {}
            Step::Throw(e) if cx.fault_kind(s, e) == Some(FaultKind::ChannelClosed) => {
                return Step::Return(Value::Data(sum));
            }
            Step::Throw(e) => return Step::Throw(e),
            Step::Suspend(mut chain) => {
                let ft = cx.state().consumer;
                let mut c = Capture::begin(s, &ft, reuse, 1).unwrap();
                c.set_u64(0, sum);
                c.link(&mut chain);
                return Step::Suspend(chain);
            }
        }
    }
}

fn resume_consumer<'s>(f: &mut Frame<'_, 's, Cx<Vm>>) -> Outcome<'s> {
    let ft = f.frame_type();
    let sum = f.u64(ft, 0);
    let got = match f.take_exception(ft) {
        Some(e) => Step::Throw(e),
        None => Step::Return(Value::Data(f.result_u64(ft))),
    };
    let me = f.continuation();
    let (s, cx) = f.scope_and_ctx();
    consumer(s, cx, Some(me), sum, Some(got)).into_outcome()
}

fn main() {
    // GC-stress (a minor collection every 64 allocations) and the verifier: frames move
    // while tasks are suspended, and every collection is checked.
    let config = Config::builder()
        .nursery_size(256 << 10)
        .gc_stress(64)
        .verify_after_gc(true)
        .build()
        .unwrap();
    let heap = Heap::new(config).unwrap();
    let producer_ft = FrameLayout::new("producer")
        .data_bytes(16)
        .register_with_context::<Cx<Vm>>(&heap, resume_producer)
        .unwrap();
    let consumer_ft = FrameLayout::new("consumer")
        .data_bytes(8)
        .result(ResultKind::Data)
        .handles_exceptions(true)
        .register_with_context::<Cx<Vm>>(&heap, resume_consumer)
        .unwrap();
    let (tx, rx) = channel(8);
    let senders = (0..PRODUCERS).map(|_| Some(tx.clone())).collect();
    drop(tx);
    let vm = Vm {
        producer: producer_ft,
        consumer: consumer_ft,
        senders: Arc::new(Mutex::new(senders)),
        rx: Arc::new(rx),
    };
    let mut rt = Runtime::new(&heap, vm).unwrap();
    let mut m = heap.mutator();

    for id in 0..PRODUCERS {
        rt.spawn(move |s, cx| producer(s, cx, None, id, 0));
    }
    let sum = rt.spawn(|s, cx| consumer(s, cx, None, 0, None));
    let never = Completion::new();
    let waits = never.clone();
    let stuck = rt.spawn(move |s, cx| cx.await_completion(s, &waits));

    // Runs until only the stuck task is left (nothing on this thread can wake it).
    let stalled = rt.run(&mut m).unwrap_err();
    let expected: u64 = (0..PRODUCERS)
        .flat_map(|id| (0..ITEMS).map(move |k| id * 1000 + k))
        .sum();
    let got = sum.result().unwrap().unwrap().data().unwrap();
    println!("consumer: sum {got} (expected {expected})");
    assert_eq!(got, expected);
    println!("{stalled}; the stuck task is {:?}", stuck.state());
    if let Some(stack) = m.scope(|s| stuck.async_stack(s)) {
        println!("its async stack:\n{stack}");
    }
    stuck.cancel();
    rt.run(&mut m).unwrap();
    assert_eq!(stuck.state(), TaskState::Cancelled);
    assert!(matches!(
        stuck.result(),
        Some(Err(TaskError::Cancelled(Some(_))))
    ));
    println!("after cancel: {:?}", stuck.state());
    let st = heap.stats();
    println!(
        "{} minor collections ran meanwhile, each verified",
        st.minor_collections
    );
    drop(never);
}
