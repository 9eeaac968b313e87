//! Bounded multi-producer channels between tasks, with one (shareable) receiver handle.
//!
//! A send into a full channel suspends the sender until the receiver makes room; a
//! receive from an empty one suspends the receiver until a message arrives. A message
//! is handed straight to a waiting receiver (it never waits in the buffer then). The
//! [`Receiver`] is one handle, but it may be shared (an `Arc`): several tasks
//! awaiting it at once are served in the order they began to wait, and all see the
//! close.
//! Messages are values: unit, a `u64`, or a reference (kept alive by the channel while
//! it is in flight).
//!
//! Closing: when every [`Sender`] is dropped, a receive from the drained channel
//! throws a [`FaultKind::ChannelClosed`](crate::FaultKind) exception; when the
//! [`Receiver`] is dropped, every send (waiting or new) throws one, and the buffered
//! messages are dropped. No await on a closed channel waits forever.

use crate::sync::{Mutex, MutexGuard};
use crate::task::{Delivery, Task, Wakes};
use crate::FaultKind;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) struct Chan {
    pub(crate) id: u64,
    state: Mutex<ChanState>,
}

struct ChanState {
    buf: VecDeque<Delivery>,
    cap: usize,
    /// Receives waiting for a message, oldest first. A `Receiver` is one handle, but
    /// it can be shared (`Arc`), so several tasks may await it at once: each gets a
    /// message, or the close, in turn (a second waiter must not replace the first,
    /// which would then wait forever).
    receivers: VecDeque<(Arc<Task>, u64)>,
    senders_waiting: VecDeque<(Arc<Task>, u64, Delivery)>,
    senders: usize,
    receiver_alive: bool,
}

/// Why a message could not be sent or received without waiting.
#[derive(Debug, PartialEq, Eq)]
pub enum TryError {
    /// The channel is full (send) or empty (receive).
    WouldBlock,
    /// The other side is gone.
    Closed,
}

impl fmt::Display for TryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryError::WouldBlock => write!(f, "the channel is full (or empty)"),
            TryError::Closed => write!(f, "the channel is closed"),
        }
    }
}

impl std::error::Error for TryError {}

/// The sending side of a channel; clone it for more producers.
pub struct Sender {
    chan: Arc<Chan>,
    /// This sender holds one of the channel's `senders` counts (false once a
    /// registered send took it over).
    counted: bool,
}

/// The receiving side of a channel (one per channel).
pub struct Receiver {
    chan: Arc<Chan>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sender({})", self.chan.id)
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Receiver({})", self.chan.id)
    }
}

/// A channel that buffers up to `capacity` messages (at least 1: a capacity of 0 is
/// taken as 1).
///
/// Await a send with [`TaskCx::send`](crate::TaskCx::send) and a receive with
/// [`TaskCx::recv`](crate::TaskCx::recv); code outside tasks uses
/// [`Sender::try_send_data`] and [`Receiver::try_recv_data`].
pub fn channel(capacity: usize) -> (Sender, Receiver) {
    let chan = Arc::new(Chan {
        id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        state: Mutex::new(ChanState {
            buf: VecDeque::with_capacity(capacity.clamp(1, 1024)),
            cap: capacity.max(1),
            receivers: VecDeque::new(),
            senders_waiting: VecDeque::new(),
            senders: 1,
            receiver_alive: true,
        }),
    });
    (
        Sender {
            chan: chan.clone(),
            counted: true,
        },
        Receiver { chan },
    )
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        self.chan.lock().senders += 1;
        Sender {
            chan: self.chan.clone(),
            counted: true,
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        let mut g = self.chan.lock();
        g.senders -= 1;
        if g.senders == 0 {
            let waiting = std::mem::take(&mut g.receivers);
            drop(g);
            for (t, seq) in waiting {
                let _ = t.wake(seq, Delivery::Fault(FaultKind::ChannelClosed));
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut g = self.chan.lock();
        g.receiver_alive = false;
        g.buf.clear();
        let waiting = std::mem::take(&mut g.senders_waiting);
        // Each waiting send held a sender count.
        g.senders -= waiting.len();
        drop(g);
        for (t, seq, _) in waiting {
            let _ = t.wake(seq, Delivery::Fault(FaultKind::ChannelClosed));
        }
    }
}

impl Sender {
    /// The channel's id (as [`WaitOn::ChannelSend`](crate::WaitOn) names it).
    pub fn id(&self) -> u64 {
        self.chan.id
    }

    /// Sends a data message if it can without waiting (any thread; no mutator).
    pub fn try_send_data(&self, x: u64) -> Result<(), TryError> {
        match self.chan.send_now(Delivery::Data(x), None) {
            SendNow::Sent => Ok(()),
            SendNow::Full(_) => Err(TryError::WouldBlock),
            SendNow::Closed => Err(TryError::Closed),
        }
    }

    pub(crate) fn chan(&self) -> &Arc<Chan> {
        &self.chan
    }

    /// Registers a suspended send of `msg` (task `task` at `seq`), taking over this
    /// sender's count: a send waiting for room keeps the channel open, like a sender.
    pub(crate) fn register(mut self, task: Arc<Task>, seq: u64, msg: Delivery, local: Wakes<'_>) {
        self.counted = false;
        self.chan.register_sender(task, seq, msg, local);
    }
}

impl Receiver {
    /// The channel's id (as [`WaitOn::ChannelRecv`](crate::WaitOn) names it).
    pub fn id(&self) -> u64 {
        self.chan.id
    }

    /// Receives a data message if one is there (any thread; no mutator). A reference
    /// or unit message is left in the channel (`WouldBlock`).
    pub fn try_recv_data(&self) -> Result<u64, TryError> {
        let mut g = self.chan.lock();
        if let Some(Delivery::Data(_)) = g.buf.front() {
            let Some(Delivery::Data(x)) = self.chan.pop_locked(&mut g, None) else {
                unreachable!("checked")
            };
            return Ok(x);
        }
        if g.buf.is_empty() && g.senders == 0 {
            return Err(TryError::Closed);
        }
        Err(TryError::WouldBlock)
    }

    pub(crate) fn chan(&self) -> &Arc<Chan> {
        &self.chan
    }
}

pub(crate) enum SendNow {
    Sent,
    Full(Delivery),
    Closed,
}

pub(crate) enum RecvNow {
    Got(Delivery),
    Empty,
    Closed,
}

impl Chan {
    fn lock(&self) -> MutexGuard<'_, ChanState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `msg` to the waiting receiver or buffers it, if either can be done now.
    pub(crate) fn send_now(&self, msg: Delivery, local: Wakes<'_>) -> SendNow {
        let mut g = self.lock();
        self.send_locked(&mut g, msg, local)
    }

    fn send_locked(
        &self,
        g: &mut MutexGuard<'_, ChanState>,
        mut msg: Delivery,
        mut local: Wakes<'_>,
    ) -> SendNow {
        if !g.receiver_alive {
            return SendNow::Closed;
        }
        while let Some((t, seq)) = g.receivers.pop_front() {
            match t.wake_to(seq, msg, local.as_deref_mut()) {
                Ok(()) => return SendNow::Sent,
                // That receive was cancelled meanwhile: the next one, or the buffer.
                Err(m) => msg = m,
            }
        }
        if g.buf.len() < g.cap {
            g.buf.push_back(msg);
            SendNow::Sent
        } else {
            SendNow::Full(msg)
        }
    }

    /// Pops a buffered message and lets the first waiting sender (if any) refill the
    /// buffer.
    fn pop_locked(
        &self,
        g: &mut MutexGuard<'_, ChanState>,
        mut local: Wakes<'_>,
    ) -> Option<Delivery> {
        let m = g.buf.pop_front()?;
        while let Some((t, seq, msg)) = g.senders_waiting.pop_front() {
            // The waiting send's sender count is released (its message is in, or it
            // was cancelled); the receiver (the caller) sees a close once the buffer
            // is empty.
            g.senders -= 1;
            if t.wake_to(seq, Delivery::Unit, local.as_deref_mut()).is_ok() {
                g.buf.push_back(msg);
                break;
            }
            // A cancelled sender: its message is not sent.
        }
        Some(m)
    }

    pub(crate) fn recv_now(&self, local: Wakes<'_>) -> RecvNow {
        let mut g = self.lock();
        match self.pop_locked(&mut g, local) {
            Some(m) => RecvNow::Got(m),
            None if g.senders == 0 => RecvNow::Closed,
            None => RecvNow::Empty,
        }
    }

    pub(crate) fn register_sender(
        &self,
        task: Arc<Task>,
        seq: u64,
        msg: Delivery,
        mut local: Wakes<'_>,
    ) {
        // The caller hands over one `senders` count: a waiting send keeps it (until it
        // is popped); one that completes now releases it (after its message is in,
        // so the receiver sees the message before it sees the channel closed).
        let mut g = self.lock();
        let done = match self.send_locked(&mut g, msg, local.as_deref_mut()) {
            SendNow::Sent => Delivery::Unit,
            SendNow::Closed => Delivery::Fault(FaultKind::ChannelClosed),
            SendNow::Full(msg) => {
                g.senders_waiting.push_back((task, seq, msg));
                return;
            }
        };
        g.senders -= 1;
        let closed = g.senders == 0 && g.buf.is_empty();
        let waiting = if closed {
            std::mem::take(&mut g.receivers)
        } else {
            VecDeque::new()
        };
        drop(g);
        let _ = task.wake_to(seq, done, local.as_deref_mut());
        for (t, rseq) in waiting {
            let _ = t.wake_to(
                rseq,
                Delivery::Fault(FaultKind::ChannelClosed),
                local.as_deref_mut(),
            );
        }
    }

    pub(crate) fn register_receiver(&self, task: Arc<Task>, seq: u64, mut local: Wakes<'_>) {
        let mut g = self.lock();
        match self.pop_locked(&mut g, local.as_deref_mut()) {
            Some(m) => {
                drop(g);
                if let Err(m) = task.wake_to(seq, m, local) {
                    // Cancelled meanwhile: the message goes back to the front.
                    self.lock().buf.push_front(m);
                }
            }
            None if g.senders == 0 => {
                drop(g);
                let _ = task.wake_to(seq, Delivery::Fault(FaultKind::ChannelClosed), local);
            }
            None => g.receivers.push_back((task, seq)),
        }
    }
}
