//! The simulated clock and the queue of everything that is due to happen: timers, messages
//! between tabs, requests reaching the server and answers reaching a page.
//!
//! Events are ordered by time, then by the order they were scheduled in, so a run never depends
//! on anything but its seed. A sleeping laptop is a jump of the clock: what was due meanwhile on
//! the laptop happens at the wake-up, in its old order ([`World::take_before`]).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::server::Response;

/// How a request failed before any answer reached the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No HTTP answer: offline, connection reset (`TypeError: Failed to fetch`).
    Lost,
    /// The page's own 30 s abort timer fired first.
    TimedOut,
}

/// A page's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// The session's one wake-up (`WakeAt`); stale generations are ignored.
    Wake { generation: u64 },
    /// The lock holder's wait for answers to its ask.
    AskWait { acquisition: u64 },
    /// The coordinator's heartbeat interval.
    Heartbeat,
    /// The 30 s abort of request `http`.
    Abort { http: u64 },
}

/// Something due at an instant.
#[derive(Debug, Clone)]
pub enum Ev {
    Timer {
        page: u64,
        timer: Timer,
    },
    /// Request `http` reaches the server.
    ServerGets {
        http: u64,
    },
    /// The answer to `http` reaches its page.
    ClientGets {
        http: u64,
        result: Result<Response, Failure>,
    },
    /// Text `from` posted on `channel`, for `to`.
    Deliver {
        to: u64,
        from: u64,
        channel: String,
        text: String,
    },
}

impl Ev {
    /// Whether this happens on the laptop (and so waits while it sleeps).
    pub fn on_laptop(&self) -> bool {
        !matches!(self, Ev::ServerGets { .. })
    }
}

struct Entry {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The clock (milliseconds since the run's epoch) and the queue.
pub struct World {
    pub now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Entry>>,
}

impl World {
    pub fn new(start: u64) -> Self {
        Self {
            now: start,
            seq: 0,
            queue: BinaryHeap::new(),
        }
    }

    pub fn at(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Entry {
            at: at.max(self.now),
            seq: self.seq,
            ev,
        }));
    }

    pub fn after(&mut self, ms: u64, ev: Ev) {
        self.at(self.now + ms, ev);
    }

    /// When the next event is due.
    pub fn next_at(&self) -> Option<u64> {
        self.queue.peek().map(|Reverse(e)| e.at)
    }

    /// The next event, with the clock moved to it.
    pub fn pop(&mut self) -> Option<Ev> {
        let Reverse(e) = self.queue.pop()?;
        self.now = self.now.max(e.at);
        Some(e.ev)
    }

    /// Takes every event due before `t`, in order, with its time.
    pub fn take_before(&mut self, t: u64) -> Vec<(u64, Ev)> {
        let mut out = Vec::new();
        while let Some(Reverse(e)) = self.queue.peek() {
            if e.at >= t {
                break;
            }
            let Some(Reverse(e)) = self.queue.pop() else {
                break;
            };
            out.push((e.at, e.ev));
        }
        out
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_in_time_order_then_in_the_order_scheduled() {
        let mut w = World::new(0);
        let hb = |page| Ev::Timer {
            page,
            timer: Timer::Heartbeat,
        };
        w.at(50, hb(1));
        w.at(10, hb(2));
        w.at(50, hb(3));
        let order: Vec<u64> = std::iter::from_fn(|| w.pop())
            .map(|e| match e {
                Ev::Timer { page, .. } => page,
                _ => 0,
            })
            .collect();
        assert_eq!(order, [2, 1, 3]);
        assert_eq!(w.now, 50);
    }
}
