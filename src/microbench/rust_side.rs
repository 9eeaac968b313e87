//! The microbenchmarks as Rust `async fn`s: recursive futures boxed at every call
//! (`Pin<Box<dyn Future>>`, the only way Rust recursion through `async fn` compiles),
//! generic over where a yield goes, so the same code runs on this crate's minimal
//! executor ([`Mini`]) and on tokio's current-thread runtime ([`Tokio`]).
//!
//! Exceptions are Rust's two ways: `Err` propagation (an allocated error value, passed
//! up by `?`; a finally block is code after the awaited call that runs on both paths)
//! and a panic caught by `catch_unwind` around the poll (a finally block is a drop
//! guard).

use crate::local_executor;
use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Where an `async fn` yields to.
pub(crate) trait Yield {
    /// A future that is pending once (after waking its task), then ready.
    fn yield_now() -> impl Future<Output = ()>;
}

/// The minimal executor of [`local_executor`]: one future polled in a loop.
pub(crate) struct Mini;

impl Yield for Mini {
    fn yield_now() -> impl Future<Output = ()> {
        local_executor::yield_now()
    }
}

/// tokio's current-thread runtime (`tokio::task::yield_now`).
pub(crate) struct Tokio;

impl Yield for Tokio {
    fn yield_now() -> impl Future<Output = ()> {
        tokio::task::yield_now()
    }
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

thread_local! {
    /// fib's call counter (for its yield every k calls).
    static CALLS: Cell<u64> = const { Cell::new(0) };
    /// Finally blocks run.
    pub(crate) static FINALLY_RUNS: Cell<u64> = const { Cell::new(0) };
}

/// Resets fib's call counter.
pub(crate) fn reset_calls() {
    CALLS.with(|c| c.set(0));
}

/// `async fn fib(n)`, yielding at every `k`-th call (0: never).
pub(crate) fn fib<Y: Yield + 'static>(n: u64, k: u64) -> BoxFut<'static, u64> {
    Box::pin(async move {
        if k != 0 {
            let c = CALLS.with(|c| {
                let v = c.get() + 1;
                c.set(v);
                v
            });
            if c.is_multiple_of(k) {
                Y::yield_now().await;
            }
        }
        if n < 2 {
            return n;
        }
        fib::<Y>(n - 1, k).await + fib::<Y>(n - 2, k).await
    })
}

/// The shape of one depth / EH iteration (see `contgc_side::EhShape`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub depth: u64,
    pub suspend: bool,
    pub throw: bool,
    pub finallies: u64,
}

/// The error an iteration throws: allocated, like an exception object.
#[derive(Debug)]
pub(crate) struct Thrown {
    /// The level that threw it.
    pub level: u64,
}

fn finally_ran() {
    FINALLY_RUNS.with(|c| c.set(c.get() + 1));
}

/// The recursion with `Err` propagation.
pub(crate) fn rec_err<Y: Yield + 'static>(
    level: u64,
    shape: Shape,
) -> BoxFut<'static, Result<u64, Box<Thrown>>> {
    Box::pin(async move {
        let finally = level <= shape.finallies;
        if level == shape.depth {
            if shape.suspend {
                Y::yield_now().await;
            }
            if finally {
                finally_ran();
            }
            if shape.throw {
                return Err(Box::new(Thrown { level }));
            }
            return Ok(1);
        }
        let r = rec_err::<Y>(level + 1, shape).await;
        if finally {
            finally_ran();
        }
        Ok(r? + 1)
    })
}

/// Runs a finally block when dropped (also while a panic unwinds).
struct Finally(bool);

impl Drop for Finally {
    fn drop(&mut self) {
        if self.0 {
            finally_ran();
        }
    }
}

/// The recursion that throws by panicking (with a [`Thrown`] payload).
pub(crate) fn rec_panic<Y: Yield + 'static>(level: u64, shape: Shape) -> BoxFut<'static, u64> {
    Box::pin(async move {
        let _finally = Finally(level <= shape.finallies);
        if level == shape.depth {
            if shape.suspend {
                Y::yield_now().await;
            }
            if shape.throw {
                std::panic::panic_any(Thrown { level });
            }
            return 1;
        }
        rec_panic::<Y>(level + 1, shape).await + 1
    })
}

/// Polls `f` inside `catch_unwind`: a panic with a [`Thrown`] payload becomes an `Err`.
pub(crate) struct CatchThrown<F>(pub F);

impl<F: Future + Unpin> Future for CatchThrown<F> {
    type Output = Result<F::Output, Box<Thrown>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut self.0).poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => match payload.downcast::<Thrown>() {
                Ok(t) => Poll::Ready(Err(t)),
                Err(other) => std::panic::resume_unwind(other),
            },
        }
    }
}

/// Runs `f` with a panic hook that prints nothing (the panic benchmark panics on
/// purpose, millions of times), then puts the previous hook back.
pub(crate) fn quiet_panics<R>(f: impl FnOnce() -> R) -> R {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = catch_unwind(AssertUnwindSafe(f));
    std::panic::set_hook(prev);
    r.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// `for i in 0..iters { acc += rec(1).await.unwrap_or_else(|e| e.level) }` with `Err`.
pub(crate) async fn eh_err_loop<Y: Yield + 'static>(iters: u64, shape: Shape) -> u64 {
    let mut acc = 0;
    for _ in 0..iters {
        acc += match rec_err::<Y>(1, shape).await {
            Ok(v) => v,
            Err(e) => e.level,
        };
    }
    acc
}

/// The same with panics caught at the driver.
pub(crate) async fn eh_panic_loop<Y: Yield + 'static>(iters: u64, shape: Shape) -> u64 {
    let mut acc = 0;
    for _ in 0..iters {
        acc += match CatchThrown(rec_panic::<Y>(1, shape)).await {
            Ok(v) => v,
            Err(e) => e.level,
        };
    }
    acc
}

/// `iters` times fib(n).
pub(crate) async fn fib_loop<Y: Yield + 'static>(iters: u64, n: u64, k: u64) -> u64 {
    let mut acc = 0;
    for _ in 0..iters {
        acc += fib::<Y>(n, k).await;
    }
    acc
}

/// The sawtooth levels (the same as contgc's).
use super::contgc_side::{SAW_FIRST, SAW_HIGH, SAW_LOW};

fn saw_top<Y: Yield + 'static>(level: u64, cycles: u64) -> BoxFut<'static, u64> {
    Box::pin(async move {
        if level == SAW_LOW {
            tooth::<Y>(cycles).await + 1
        } else {
            saw_top::<Y>(level + 1, cycles).await + 1
        }
    })
}

fn tooth<Y: Yield + 'static>(cycles: u64) -> BoxFut<'static, u64> {
    Box::pin(async move {
        let mut acc = climb::<Y>(SAW_LOW + 1, SAW_FIRST).await;
        for _ in 1..cycles {
            Y::yield_now().await;
            acc += climb::<Y>(SAW_LOW + 1, u64::MAX).await;
        }
        acc
    })
}

fn climb<Y: Yield + 'static>(level: u64, at: u64) -> BoxFut<'static, u64> {
    Box::pin(async move {
        if level == at {
            Y::yield_now().await;
        }
        if level == SAW_HIGH {
            return 1;
        }
        climb::<Y>(level + 1, at).await + 1
    })
}

/// `iters` sawtooth programs of `cycles` cycles.
pub(crate) async fn saw_loop<Y: Yield + 'static>(iters: u64, cycles: u64) -> u64 {
    let mut acc = 0;
    for _ in 0..iters {
        acc += saw_top::<Y>(1, cycles).await;
    }
    acc
}

/// A tokio current-thread runtime.
pub(crate) fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}
