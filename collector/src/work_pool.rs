//! The GC workers' shared work: packets of work items handed between the threads of a
//! parallel collection phase, and the protocol that tells them when the phase is over.
//!
//! Each worker keeps its own work (a private mark stack) and touches this pool only
//! when it runs dry or when another worker is idle ([`WorkPool::wants_work`]): it then
//! moves part of its stack into a [`Packet`] and [`share`](WorkPool::share)s it. A
//! worker that has run dry calls [`take`](WorkPool::take), which hands it a packet,
//! or waits for one, or returns `None` once the phase is over.
//!
//! # Termination
//! The phase is over when every worker is idle in `take` and no packet is waiting. A
//! worker that holds work is not idle, and only a worker that holds work shares
//! packets, so once all `n` are idle with the pool empty no work exists anywhere and
//! none can appear: the last worker to become idle sees that, marks the pool done and
//! wakes the others. Every change of the idle count and of the packet list happens
//! under one lock, so no packet shared just before a worker becomes idle can be missed
//! (no lost wake-up), and nobody spins. (A wake-up lost anyway would cost only
//! parallelism: the sharer takes its own packet back when it runs dry.) `tests/loom_work_pool.rs` model-checks it:
//! every item processed exactly once, every worker returns, whatever the interleaving.
//!
//! The lock is taken once per packet, never per item, so its cost is amortised over
//! hundreds of objects.
//!
//! # Spinning before sleeping
//! A worker that runs dry first spins for a few tens of microseconds, watching an
//! atomic copy of the packet count, and only then sleeps on the condition variable;
//! [`share`](WorkPool::share) signals only if some worker sleeps. Waking a sleeping
//! thread costs a system call on one side and tens of microseconds of scheduling on
//! the other (more in a virtual machine): a minor collection whose workers run dry
//! and are fed again many times would otherwise spend its pause waking them. The
//! world is stopped while workers spin, so the spinning takes no time from the
//! program. The spinner counts as idle, so the end of the phase is decided exactly as
//! without spinning. (Under loom there is no spinning: a spin is only a delay.)

use crate::sync::{lock, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering};

/// A batch of work items moved between workers.
pub type Packet<T> = Vec<T>;

/// The packets of a parallel phase and its termination state (see the module
/// documentation).
pub struct WorkPool<T> {
    state: Mutex<PoolState<T>>,
    wake: Condvar,
    /// Workers idle in `take`: a copy of `PoolState::idle`, written under the lock,
    /// read without it by [`wants_work`](Self::wants_work) (a hint only).
    idle_hint: AtomicUsize,
    /// Packets waiting, and whether the phase is over: copies of the state, written
    /// under the lock, read without it by spinning workers (hints only).
    waiting_hint: AtomicUsize,
    done_hint: AtomicBool,
    workers: usize,
}

struct PoolState<T> {
    packets: Vec<Packet<T>>,
    /// Workers in `take` (spinning or sleeping).
    idle: usize,
    /// Workers asleep on the condition variable.
    sleepers: usize,
    done: bool,
}

/// Spin iterations (each a processor pause) an idle worker waits for work before it
/// sleeps: a few tens of microseconds.
#[cfg(not(loom))]
const SPINS: usize = 1 << 12;

impl<T> WorkPool<T> {
    /// A pool for a phase run by `workers` threads (at least 1), starting with
    /// `packets` (empty packets are dropped).
    pub fn new(workers: usize, packets: Vec<Packet<T>>) -> Self {
        assert!(workers >= 1, "a phase needs a worker");
        let packets: Vec<_> = packets.into_iter().filter(|p| !p.is_empty()).collect();
        let waiting = packets.len();
        WorkPool {
            state: Mutex::new(PoolState {
                packets,
                idle: 0,
                sleepers: 0,
                done: false,
            }),
            wake: Condvar::new(),
            idle_hint: AtomicUsize::new(0),
            waiting_hint: AtomicUsize::new(waiting),
            done_hint: AtomicBool::new(false),
            workers,
        }
    }

    /// True if some worker is waiting for work: a worker with more than it needs
    /// should [`share`](Self::share) some. A hint: it may be stale by the time it is
    /// acted on, which costs a packet's move at worst.
    #[inline(always)]
    pub fn wants_work(&self) -> bool {
        self.idle_hint.load(Ordering::Relaxed) != 0
    }

    /// Hands `packet` to the other workers (an empty one is dropped). Only a worker
    /// that has not returned `None` from [`take`](Self::take) may share.
    pub fn share(&self, packet: Packet<T>) {
        if packet.is_empty() {
            return;
        }
        let mut s = lock(&self.state);
        debug_assert!(!s.done, "work shared after the phase ended");
        s.packets.push(packet);
        self.waiting_hint.store(s.packets.len(), Ordering::Relaxed);
        let wake = s.sleepers > 0;
        drop(s);
        if wake {
            self.wake.notify_one();
        }
    }

    /// A packet to work on: one that is waiting, or the next one shared, or `None`
    /// once every worker has run dry (the phase is over; every later call returns
    /// `None` too). The caller must hold no work of its own.
    pub fn take(&self) -> Option<Packet<T>> {
        let mut s = lock(&self.state);
        loop {
            if let Some(p) = s.packets.pop() {
                self.waiting_hint.store(s.packets.len(), Ordering::Relaxed);
                return Some(p);
            }
            if s.done {
                return None;
            }
            s.idle += 1;
            if s.idle == self.workers {
                // Everyone is idle and nothing is waiting: no work exists anywhere.
                s.done = true;
                self.done_hint.store(true, Ordering::Relaxed);
                s.idle -= 1;
                drop(s);
                self.wake.notify_all();
                return None;
            }
            self.idle_hint.store(s.idle, Ordering::Relaxed);
            drop(s);
            self.spin();
            s = lock(&self.state);
            if s.packets.is_empty() && !s.done {
                s.sleepers += 1;
                s = self.wake.wait(s).unwrap_or_else(|e| e.into_inner());
                s.sleepers -= 1;
            }
            s.idle -= 1;
            self.idle_hint.store(s.idle, Ordering::Relaxed);
        }
    }

    /// Waits a little, without the lock, for a packet or the end of the phase.
    fn spin(&self) {
        #[cfg(not(loom))]
        for _ in 0..SPINS {
            if self.waiting_hint.load(Ordering::Relaxed) != 0
                || self.done_hint.load(Ordering::Relaxed)
            {
                return;
            }
            std::hint::spin_loop();
        }
    }
}
