//! The boxed-futures baseline of the executor benchmarks: a minimal single-thread
//! executor for `Pin<Box<dyn Future>>` tasks, with a waker per task that re-queues it,
//! a yield future and a single-thread channel. Used by `executor_bench` and
//! `microbench` (which also drive single futures with [`block_on`]).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

/// Tasks to poll: (slot, generation). Wakers may be sent to other threads, so the
/// queue they push to is behind a mutex.
#[derive(Default)]
struct Queue(Mutex<Vec<(usize, u64)>>);

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Vec<(usize, u64)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A task's waker: queues the task once until it is polled again.
struct TaskWaker {
    slot: usize,
    generation: u64,
    queued: AtomicBool,
    queue: Arc<Queue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.queue.lock().push((self.slot, self.generation));
        }
    }
}

struct Live {
    future: Pin<Box<dyn Future<Output = ()>>>,
    flag: Arc<TaskWaker>,
    waker: Waker,
}

/// A slot of the task table; its generation tells a waker of an ended task (whose
/// slot may hold another task by now) from the current one's.
struct Slot {
    generation: u64,
    task: Option<Live>,
}

/// The executor: a task table and the run queue.
pub(crate) struct Executor {
    slots: Vec<Slot>,
    free: Vec<usize>,
    queue: Arc<Queue>,
    batch: Vec<(usize, u64)>,
    live: usize,
}

/// A spawned task's result, once it has ended.
pub(crate) struct JoinHandle<T>(Rc<Cell<Option<T>>>);

impl<T> JoinHandle<T> {
    pub(crate) fn take(&self) -> Option<T> {
        self.0.take()
    }
}

impl Executor {
    pub(crate) fn new() -> Executor {
        Executor {
            slots: Vec::new(),
            free: Vec::new(),
            queue: Arc::default(),
            batch: Vec::new(),
            live: 0,
        }
    }

    /// Spawns `f` (queued: it runs at the next [`run`](Self::run)).
    pub(crate) fn spawn<F: Future + 'static>(&mut self, f: F) -> JoinHandle<F::Output> {
        let out = Rc::new(Cell::new(None));
        let result = out.clone();
        let future = Box::pin(async move { result.set(Some(f.await)) });
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot {
                generation: 0,
                task: None,
            });
            self.slots.len() - 1
        });
        let s = &mut self.slots[slot];
        s.generation += 1;
        let flag = Arc::new(TaskWaker {
            slot,
            generation: s.generation,
            queued: AtomicBool::new(false),
            queue: self.queue.clone(),
        });
        let waker = Waker::from(flag.clone());
        waker.wake_by_ref();
        s.task = Some(Live {
            future,
            flag,
            waker,
        });
        self.live += 1;
        JoinHandle(out)
    }

    /// Polls queued tasks until none is queued; returns how many tasks are left
    /// (pending, waiting for a wake).
    pub(crate) fn run(&mut self) -> usize {
        loop {
            std::mem::swap(&mut self.batch, &mut *self.queue.lock());
            if self.batch.is_empty() {
                return self.live;
            }
            for (slot, generation) in self.batch.drain(..) {
                let s = &mut self.slots[slot];
                if s.generation != generation {
                    continue; // a stale wake of an ended task
                }
                let Some(task) = s.task.as_mut() else {
                    continue; // a stale wake of an ended task
                };
                // Cleared before the poll: a wake during the poll queues it again.
                task.flag.queued.swap(false, Ordering::AcqRel);
                let mut cx = Context::from_waker(&task.waker);
                if task.future.as_mut().poll(&mut cx).is_ready() {
                    s.task = None;
                    self.free.push(slot);
                    self.live -= 1;
                }
            }
        }
    }
}

/// Yields once: wakes its task and returns pending, then is ready.
pub(crate) fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

/// A bounded single-producer, single-consumer channel of `u64`s for tasks of one
/// thread (no closing: both ends stay for the whole exchange).
struct Chan {
    buf: VecDeque<u64>,
    cap: usize,
    receiver: Option<Waker>,
    sender: Option<Waker>,
}

pub(crate) struct LocalSender(Rc<RefCell<Chan>>);
pub(crate) struct LocalReceiver(Rc<RefCell<Chan>>);

pub(crate) fn channel(cap: usize) -> (LocalSender, LocalReceiver) {
    let c = Rc::new(RefCell::new(Chan {
        buf: VecDeque::with_capacity(cap.max(1)),
        cap: cap.max(1),
        receiver: None,
        sender: None,
    }));
    (LocalSender(c.clone()), LocalReceiver(c))
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl LocalSender {
    /// Sends `v`, waiting while the buffer is full.
    pub(crate) async fn send(&self, v: u64) {
        poll_fn(|cx| {
            let mut c = self.0.borrow_mut();
            if c.buf.len() < c.cap {
                c.buf.push_back(v);
                if let Some(w) = c.receiver.take() {
                    w.wake();
                }
                Poll::Ready(())
            } else {
                register(&mut c.sender, cx);
                Poll::Pending
            }
        })
        .await
    }
}

impl LocalReceiver {
    /// Receives the next message, waiting while there is none.
    pub(crate) async fn recv(&self) -> u64 {
        poll_fn(|cx| {
            let mut c = self.0.borrow_mut();
            match c.buf.pop_front() {
                Some(v) => {
                    if let Some(w) = c.sender.take() {
                        w.wake();
                    }
                    Poll::Ready(v)
                }
                None => {
                    register(&mut c.receiver, cx);
                    Poll::Pending
                }
            }
        })
        .await
    }
}

/// Drives one future to its end on this thread: polls it with a waker that does
/// nothing, again at once whenever it returns pending. The cheapest executor a single
/// future can have (no queue, no waker allocation); for futures that only ever wait on
/// [`yield_now`] (which wakes itself before returning pending), nothing is lost by not
/// waiting for the wake.
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
