//! One-shot completion sources (the TaskCompletionSource analogue): set once, with a
//! value or an exception, and awaited by any number of tasks.

use crate::sync::{AtomicUsize, Mutex, MutexGuard};
use crate::task::{Delivery, Task};
use contgc_collector::{Local, Scope};
use contgc_continuation::Value;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Why a completion could not be set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionError {
    /// It was set already (a completion is set once; the first value stands).
    AlreadySet,
}

impl fmt::Display for CompletionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the completion was set already (it is set once)")
    }
}

impl std::error::Error for CompletionError {}

pub(crate) struct CompletionInner {
    pub(crate) id: u64,
    state: Mutex<CState>,
    /// `Completion` handles alive; when the last goes before the completion is set,
    /// its waiters are woken with [`FaultKind::Abandoned`](crate::FaultKind).
    handles: AtomicUsize,
}

struct CState {
    value: Option<Delivery>,
    waiters: Vec<(Arc<Task>, u64)>,
}

/// A one-shot completion source: [`set_result`](Completion::set_result) (or
/// [`set_exception`](Completion::set_exception)) once, from frame code or from any
/// thread; every task awaiting it ([`TaskCx::await_completion`](crate::TaskCx::await_completion))
/// resumes with the value (or the exception thrown into it), and every later await
/// completes at once. Clones are handles to the same completion.
///
/// Setting it a second time is refused with [`CompletionError::AlreadySet`]. If every
/// handle is dropped before it is set, its waiters resume with a
/// [`FaultKind::Abandoned`](crate::FaultKind) exception instead of waiting forever.
pub struct Completion {
    inner: Arc<CompletionInner>,
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("id", &self.inner.id)
            .field("set", &self.is_set())
            .finish()
    }
}

impl Default for Completion {
    fn default() -> Self {
        Completion::new()
    }
}

impl Clone for Completion {
    fn clone(&self) -> Self {
        self.inner.handles.fetch_add(1, Ordering::Relaxed);
        Completion {
            inner: self.inner.clone(),
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if self.inner.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut g = self.inner.lock();
            if g.value.is_none() {
                g.value = Some(Delivery::Fault(crate::FaultKind::Abandoned));
                let waiters = std::mem::take(&mut g.waiters);
                drop(g);
                for (t, seq) in waiters {
                    let _ = t.wake(seq, Delivery::Fault(crate::FaultKind::Abandoned));
                }
            }
        }
    }
}

impl Completion {
    /// A completion that is not set.
    pub fn new() -> Completion {
        Completion {
            inner: Arc::new(CompletionInner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                state: Mutex::new(CState {
                    value: None,
                    waiters: Vec::new(),
                }),
                handles: AtomicUsize::new(1),
            }),
        }
    }

    /// Its id (as [`WaitOn::Completion`](crate::WaitOn) names it).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// True once it is set.
    pub fn is_set(&self) -> bool {
        self.inner.lock().value.is_some()
    }

    /// Sets the value its awaiters resume with (a reference is kept alive by the
    /// completion from now on).
    pub fn set_result<'s>(&self, s: &mut Scope<'s>, v: Value<'s>) -> Result<(), CompletionError> {
        let d = match v {
            Value::Unit => Delivery::Unit,
            Value::Data(x) => Delivery::Data(x),
            Value::Ref(r) => Delivery::Ref(r.map(|r| s.persist(r))),
        };
        self.inner.set(d)
    }

    /// Sets a data value; needs no mutator (any thread may call it).
    pub fn set_data(&self, x: u64) -> Result<(), CompletionError> {
        self.inner.set(Delivery::Data(x))
    }

    /// Sets the exception its awaiters resume with: the awaiting frame sees it thrown
    /// by its await.
    pub fn set_exception<'s>(
        &self,
        s: &mut Scope<'s>,
        e: Local<'s>,
    ) -> Result<(), CompletionError> {
        self.inner.set(Delivery::Throw(s.persist(e)))
    }

    pub(crate) fn inner(&self) -> &Arc<CompletionInner> {
        &self.inner
    }
}

impl CompletionInner {
    fn lock(&self) -> MutexGuard<'_, CState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, d: Delivery) -> Result<(), CompletionError> {
        let mut g = self.lock();
        if g.value.is_some() {
            return Err(CompletionError::AlreadySet);
        }
        let waiters = std::mem::take(&mut g.waiters);
        let copies: Vec<Delivery> = waiters.iter().map(|_| d.duplicate()).collect();
        g.value = Some(d);
        drop(g);
        for ((t, seq), d) in waiters.into_iter().zip(copies) {
            let _ = t.wake(seq, d);
        }
        Ok(())
    }

    /// The value, if set (a copy for one awaiter).
    pub(crate) fn value(&self) -> Option<Delivery> {
        self.lock().value.as_ref().map(Delivery::duplicate)
    }

    pub(crate) fn add_waiter(&self, task: Arc<Task>, seq: u64) {
        let mut g = self.lock();
        if let Some(v) = &g.value {
            let d = v.duplicate();
            drop(g);
            let _ = task.wake(seq, d);
            return;
        }
        // Drop waiters that were cancelled meanwhile, so a completion awaited in a
        // loop of cancelled tasks does not grow without bound.
        if g.waiters.len() >= 64 && g.waiters.len().is_power_of_two() {
            g.waiters.retain(|(t, s)| t.waits_at(*s));
        }
        g.waiters.push((task, seq));
    }
}
