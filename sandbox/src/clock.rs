//! Two clocks: a virtual wall clock that tests can move forward, and a real monotonic one.
//!
//! The virtual clock (real time plus an offset set through the admin API) drives everything that
//! expires: codes, tokens, pending sign-ins and rate-limit windows, so tests never sleep. The
//! monotonic clock only timestamps the request log, where tests need real overlap, not virtual time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub struct Clock {
    started: Instant,
    offset_ms: AtomicU64,
}

impl Clock {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            offset_ms: AtomicU64::new(0),
        }
    }

    /// Virtual epoch milliseconds.
    pub fn now_ms(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        real.saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    pub fn advance_ms(&self, ms: u64) {
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(ms))
            });
    }

    pub fn offset_ms(&self) -> u64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    pub fn reset_offset(&self) {
        self.offset_ms.store(0, Ordering::Relaxed);
    }

    /// Real microseconds since the sandbox started.
    pub fn monotonic_us(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_virtual_time_only() {
        let c = Clock::new();
        let before = c.now_ms();
        c.advance_ms(61_000);
        let after = c.now_ms();
        assert!(after >= before + 61_000 && after < before + 71_000);
        assert_eq!(c.offset_ms(), 61_000);
        c.reset_offset();
        assert!(c.now_ms() < before + 10_000);
        assert!(c.monotonic_us() < 10_000_000);
    }
}
