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

impl Timestamp {
    /// RFC 3339 / ISO 8601 in UTC with milliseconds, as RingCentral writes and reads them:
    /// `2026-11-26T14:03:11.000Z`.
    pub fn to_rfc3339(self) -> String {
        let ms = self.0 % 1000;
        let secs = self.0 / 1000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formatting() {
        assert_eq!(
            Timestamp::from_millis(0).to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_millis(784_111_777_123).to_rfc3339(),
            "1994-11-06T08:49:37.123Z"
        );
        assert_eq!(
            Timestamp::from_secs(1_582_977_600).to_rfc3339(),
            "2020-02-29T12:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_secs(1_798_761_599).to_rfc3339(),
            "2026-12-31T23:59:59.000Z"
        );
    }

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
