//! Instants as milliseconds since the Unix epoch, supplied by the caller.
//!
//! The core never reads a clock: every function that needs "now" takes a [`Timestamp`], so tests
//! drive time by hand and the browser layer passes `Date.now()`.

use serde::{Deserialize, Serialize};

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    pub const fn plus_millis(self, ms: u64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    pub const fn plus_secs(self, secs: u64) -> Self {
        self.plus_millis(secs.saturating_mul(1000))
    }

    pub const fn minus_millis(self, ms: u64) -> Self {
        Self(self.0.saturating_sub(ms))
    }

    /// Milliseconds from `self` until `later`, zero when `later` is not after `self`.
    pub const fn millis_until(self, later: Timestamp) -> u64 {
        later.0.saturating_sub(self.0)
    }

    /// Whole seconds from `self` until `later`, rounded up, zero when `later` is not after `self`.
    pub const fn secs_until_ceil(self, later: Timestamp) -> u64 {
        self.millis_until(later).div_ceil(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        let t = Timestamp::from_millis(u64::MAX - 5);
        assert_eq!(t.plus_secs(10).as_millis(), u64::MAX);
        assert_eq!(Timestamp::from_millis(3).minus_millis(10).as_millis(), 0);
        assert_eq!(Timestamp::from_secs(u64::MAX).as_millis(), u64::MAX);
    }

    #[test]
    fn durations_between_instants() {
        let a = Timestamp::from_secs(100);
        assert_eq!(a.millis_until(a.plus_millis(1500)), 1500);
        assert_eq!(a.secs_until_ceil(a.plus_millis(1500)), 2);
        assert_eq!(a.plus_secs(5).millis_until(a), 0);
    }
}
