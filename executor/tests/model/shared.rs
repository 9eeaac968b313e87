//! The embedder state of a case: the heap types every worker uses, and the tables
//! frames reach by index (the program's code, completions, channels, the tasks and
//! their logs).

use super::frames::{fn_resume, FN_DATA};
use super::program::{
    compile, Code, CompletionValue, Event, Program, Setter, DELIBERATE, MAX_OPS, MAX_TRY_DEPTH,
};
use super::tasks::{boxed_resume, canceller_resume, consumer_resume, setter_resume};
use contgc_collector::{Heap, Scope, TypeDescriptor, TypeId, Typed};
use contgc_continuation::{FrameLayout, FrameType, ResultKind, Value};
use contgc_executor::{
    channel, Completion, Cx, JoinHandle, Receiver, Sender, Step, TaskError, TaskState, TryError,
    WaitOn,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub type C = Cx<Env>;

/// A task's entry function, boxed so that both schedulers' spawns take it.
pub type Entry = Box<dyn for<'s> FnOnce(&mut Scope<'s>, &mut C) -> Step<'s> + Send + 'static>;

/// The per-worker embedder state: the heap types and the case's shared tables.
pub struct Env {
    pub types: Types,
    pub shared: Arc<Shared>,
}

#[derive(Clone, Copy)]
pub struct Types {
    pub func: FrameType<C>,
    pub consumer: FrameType<C>,
    pub setter: FrameType<C>,
    pub canceller: FrameType<C>,
    pub await_box: FrameType<C>,
    pub num: Typed<u64>,
    /// A channel message: value, sending task, that task's sequence number on the
    /// channel.
    pub msg: Typed<[u64; 3]>,
    pub exc: Typed<u64>,
    pub ctx: Typed<u64>,
    pub cell: TypeId,
}

impl Types {
    pub fn register(heap: &Heap) -> Types {
        let handler_states: Vec<u32> = (0..MAX_OPS as u32).map(|pc| pc << 1 | 1).collect();
        let layout = |name: &str| FrameLayout::new(name);
        Types {
            func: layout("model.Fn")
                .refs(2 + MAX_TRY_DEPTH as u32)
                .data_bytes(FN_DATA)
                .result(ResultKind::Data)
                .handles_exceptions_at(&handler_states)
                .register_with_context::<C>(heap, fn_resume)
                .unwrap(),
            consumer: layout("model.Consumer")
                .refs(1)
                .data_bytes(24)
                .result(ResultKind::Ref)
                .handles_exceptions(true)
                .register_with_context::<C>(heap, consumer_resume)
                .unwrap(),
            setter: layout("model.Setter")
                .data_bytes(8)
                .register_with_context::<C>(heap, setter_resume)
                .unwrap(),
            canceller: layout("model.Canceller")
                .register_with_context::<C>(heap, canceller_resume)
                .unwrap(),
            await_box: layout("model.AwaitBox")
                .result(ResultKind::Ref)
                .register_with_context::<C>(heap, boxed_resume)
                .unwrap(),
            num: heap.register_plain::<u64>("model.Num").unwrap(),
            msg: heap.register_plain::<[u64; 3]>("model.Msg").unwrap(),
            exc: heap.register_plain::<u64>("model.Exc").unwrap(),
            ctx: heap.register_plain::<u64>("model.Ctx").unwrap(),
            cell: heap
                .register_type(&TypeDescriptor::fixed("model.Cell", 24).with_refs(&[0]))
                .unwrap(),
        }
    }
}

/// A task of the program: its path (see `Expected::tasks`), handle and log.
pub struct TaskRec {
    pub path: Vec<u32>,
    pub handle: OnceLock<JoinHandle>,
    pub events: Mutex<Vec<Event>>,
    pub spawns: AtomicU32,
    /// Messages this task sent on each channel so far.
    sends: Mutex<Vec<u64>>,
}

impl TaskRec {
    /// The sequence number of this task's next message on channel `k`.
    pub fn next_send(&self, k: usize) -> u64 {
        let mut v = lock(&self.sends);
        if v.len() <= k {
            v.resize(k + 1, 0);
        }
        v[k] += 1;
        v[k] - 1
    }
}

/// What every worker shares in one case.
pub struct Shared {
    pub code: Vec<Code>,
    pub spec: Program,
    pub completions: Vec<Mutex<Option<Completion>>>,
    /// What tasks wait on forever, until cancelled: a completion nobody sets, a channel
    /// nobody sends on and a full one nobody receives from (both ends kept here).
    pub never: Completion,
    pub never_recv: (Sender, Receiver),
    pub never_send: (Sender, Receiver),
    /// The never channels were used once all cancellations were done (so that their
    /// stale waiters are met).
    poked: AtomicBool,
    polls: AtomicU64,
    pub senders: Vec<Mutex<Option<Sender>>>,
    pub receivers: Vec<Receiver>,
    /// Per channel, by sending task: the sequence number of the next message its
    /// consumer must receive (each sender's messages arrive in order).
    pub received: Vec<Mutex<HashMap<u64, u64>>>,
    pub sent: Vec<AtomicU64>,
    pub expected_sends: Vec<u64>,
    pub tasks: Mutex<Vec<Arc<TaskRec>>>,
    pub nonce: AtomicU64,
    pub expected_cancels: u64,
    pub cancelled: AtomicU64,
    pub deadline: Instant,
    /// Interpreter frames that suspended, that were resumed, and that were resumed
    /// with an exception (the dispatcher stopped at their handler state).
    pub counts: [AtomicU64; 3],
}

pub const SUSPENDED: usize = 0;
pub const RESUMED: usize = 1;
pub const CAUGHT_BY_STATE: usize = 2;

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(p: &Program, sends: &[u64], cancels: u64, deadline: Instant) -> Arc<Shared> {
        let (senders, receivers): (Vec<_>, Vec<_>) = p
            .channels
            .iter()
            .zip(sends)
            .map(|(&cap, &n)| {
                let (tx, rx) = channel(cap);
                // A channel nobody sends on is closed from the start.
                (Mutex::new((n > 0).then_some(tx)), rx)
            })
            .unzip();
        Arc::new(Shared {
            code: p.funcs.iter().map(|b| compile(b)).collect(),
            spec: p.clone(),
            completions: p
                .completions
                .iter()
                .map(|_| Mutex::new(Some(Completion::new())))
                .collect(),
            never: Completion::new(),
            never_recv: channel(1),
            never_send: {
                let (tx, rx) = channel(1);
                tx.try_send_data(0).unwrap();
                (tx, rx)
            },
            poked: AtomicBool::new(false),
            polls: AtomicU64::new(0),
            senders,
            received: receivers.iter().map(|_| Mutex::default()).collect(),
            receivers,
            sent: sends.iter().map(|_| AtomicU64::new(0)).collect(),
            expected_sends: sends.to_vec(),
            tasks: Mutex::new(Vec::new()),
            nonce: AtomicU64::new(1),
            expected_cancels: cancels,
            cancelled: AtomicU64::new(0),
            deadline,
            counts: Default::default(),
        })
    }

    /// Records a task of the program; returns its index.
    pub fn add_task(&self, path: Vec<u32>) -> usize {
        let mut t = lock(&self.tasks);
        t.push(Arc::new(TaskRec {
            path,
            handle: OnceLock::new(),
            events: Mutex::new(Vec::new()),
            spawns: AtomicU32::new(0),
            sends: Mutex::new(Vec::new()),
        }));
        t.len() - 1
    }

    pub fn task(&self, i: usize) -> Arc<TaskRec> {
        lock(&self.tasks)[i].clone()
    }

    /// The completions the setter task sets, in order, with the delay before each.
    pub fn items(&self, setter: Setter) -> impl Iterator<Item = (usize, u32)> + '_ {
        (self.spec.completions.iter().enumerate())
            .filter(move |(_, c)| c.setter == setter)
            .map(|(i, c)| (i, c.delay_micros))
    }

    /// A handle to completion `c`, if it was not abandoned.
    ///
    /// Never hold one of these tables' locks across anything that allocates: the
    /// allocation may start a collection, which waits for every other worker to reach a
    /// safepoint, and one blocked on the lock never does.
    pub fn completion(&self, c: usize) -> Option<Completion> {
        lock(&self.completions[c]).clone()
    }

    /// Sets (or abandons) completion `c` as the program says.
    pub fn settle(&self, s: Option<(&mut Scope<'_>, Types)>, c: usize) {
        match (self.spec.completions[c].value, s) {
            (CompletionValue::Data(v), _) => self.completion(c).unwrap().set_data(v).unwrap(),
            (CompletionValue::Exception(code), Some((s, types))) => {
                let e = s.alloc_value(types.exc, code).unwrap();
                self.completion(c).unwrap().set_exception(s, e).unwrap()
            }
            (CompletionValue::Boxed(v), Some((s, types))) => {
                let b = s.alloc_value(types.num, v).unwrap();
                let comp = self.completion(c).unwrap();
                comp.set_result(s, Value::Ref(Some(b))).unwrap()
            }
            (CompletionValue::Exception(_) | CompletionValue::Boxed(_), None) => {
                unreachable!("threads set data only")
            }
            // The awaiter's own handle (see `leaf_await`) may be the last one.
            (CompletionValue::Abandon, _) => drop(lock(&self.completions[c]).take()),
        }
    }

    /// The plain-thread setter's work: sleep, then set, for each of its completions.
    pub fn run_thread_setter(&self) {
        for (c, us) in self.items(Setter::Thread) {
            std::thread::sleep(Duration::from_micros(us as u64));
            self.settle(None, c);
        }
    }

    pub fn count(&self, what: usize) {
        self.counts[what].fetch_add(1, Ordering::Relaxed);
    }

    pub fn sent_one(&self, k: usize) {
        let n = self.sent[k].fetch_add(1, Ordering::AcqRel) + 1;
        assert!(
            n <= self.expected_sends[k],
            "more sends on channel {k} than the reference made"
        );
        if n == self.expected_sends[k] {
            // The last message is in: close the channel (its consumer then drains it).
            drop(lock(&self.senders[k]).take());
        }
    }

    /// True if a task ended by an unexpected panic (a failed check: tasks waiting on it
    /// may never finish).
    pub fn failed(&self) -> bool {
        lock(&self.tasks).iter().any(|t| {
            t.handle
                .get()
                .and_then(JoinHandle::result)
                .is_some_and(|r| matches!(r, Err(TaskError::Panicked(m)) if m != DELIBERATE))
        })
    }

    /// Cancels every task waiting on something that never happens; true once all the
    /// cancellations the reference expects are done (or the deadline has passed, or a
    /// task failed).
    pub fn cancel_blocked(&self) -> bool {
        let nevers = [
            WaitOn::Completion(self.never.id()),
            WaitOn::ChannelRecv(self.never_recv.1.id()),
            WaitOn::ChannelSend(self.never_send.0.id()),
        ];
        let tasks = lock(&self.tasks).clone();
        for t in tasks {
            let Some(h) = t.handle.get() else { continue };
            // Only a cancellation wakes a task waiting there, and only this canceller
            // cancels: the state cannot change between the two calls.
            if matches!(h.state(), TaskState::Suspended(on) if nevers.contains(&on)) {
                assert!(h.cancel(), "a suspended task refused its cancellation");
                self.cancelled.fetch_add(1, Ordering::AcqRel);
            }
        }
        let done = self.cancelled.load(Ordering::Acquire) >= self.expected_cancels;
        if done && !self.poked.swap(true, Ordering::AcqRel) {
            // Nobody waits on them any more: a message for the stale receivers, and
            // room for the stale (cancelled) senders, whose messages are dropped.
            assert_eq!(self.never_recv.0.try_send_data(1), Ok(()));
            assert_eq!(self.never_send.1.try_recv_data(), Ok(0));
            assert_eq!(self.never_send.1.try_recv_data(), Err(TryError::WouldBlock));
        }
        let polls = self.polls.fetch_add(1, Ordering::Relaxed);
        done || Instant::now() > self.deadline || (polls % 64 == 63 && self.failed())
    }
}
