//! RingCentral's rate-limit groups: a fixed one-minute window per user and group.
//!
//! Going over the limit starts a 60 s penalty, and (as RingCentral documents) every request made
//! during the penalty restarts it, so a client that keeps retrying stays locked out. Windows run on
//! the virtual clock, so tests move past them with the admin clock instead of sleeping.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue};

use crate::config::RateLimits;

/// The window and the penalty length, in seconds.
pub const WINDOW_SECS: u64 = 60;

/// The headers RingCentral sends with every rate-limited call, listed in
/// `Access-Control-Expose-Headers` only when the sandbox is asked to.
pub const EXPOSED_HEADERS: &str = "Retry-After, X-Rate-Limit-Group, X-Rate-Limit-Limit, X-Rate-Limit-Remaining, X-Rate-Limit-Window";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    Light,
    Heavy,
    Auth,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Self::Light => "Light",
            Self::Heavy => "Heavy",
            Self::Auth => "Auth",
        }
    }

    fn limit(self, limits: &RateLimits) -> u32 {
        match self {
            Self::Light => limits.light,
            Self::Heavy => limits.heavy,
            Self::Auth => limits.auth,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: u64,
    count: u32,
    blocked_until_ms: Option<u64>,
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub group: Group,
    pub limit: u32,
    pub remaining: u32,
    /// `Some(seconds)` when the request is refused with 429.
    pub retry_after_secs: Option<u64>,
}

impl Decision {
    /// Adds `X-Rate-Limit-*` (and `Retry-After` when refused) to a response.
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(
            "x-rate-limit-group",
            HeaderValue::from_static(self.group.name()),
        );
        headers.insert("x-rate-limit-limit", HeaderValue::from(self.limit));
        headers.insert("x-rate-limit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-rate-limit-window", HeaderValue::from(WINDOW_SECS));
        if let Some(secs) = self.retry_after_secs {
            headers.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
    }
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: HashMap<(String, Group), Window>,
}

impl RateLimiter {
    pub fn reset(&mut self) {
        self.windows.clear();
    }

    /// Counts one request of `key` (a user) in `group` at `now_ms`.
    pub fn check(&mut self, limits: &RateLimits, key: &str, group: Group, now_ms: u64) -> Decision {
        let limit = group.limit(limits);
        let window_ms = WINDOW_SECS * 1000;
        let w = self
            .windows
            .entry((key.to_owned(), group))
            .or_insert(Window {
                start_ms: now_ms,
                count: 0,
                blocked_until_ms: None,
            });
        let refuse = |w: &mut Window| {
            w.blocked_until_ms = Some(now_ms + window_ms);
            Decision {
                group,
                limit,
                remaining: 0,
                retry_after_secs: Some(WINDOW_SECS),
            }
        };
        if let Some(until) = w.blocked_until_ms {
            if now_ms < until {
                return refuse(w);
            }
            *w = Window {
                start_ms: now_ms,
                count: 0,
                blocked_until_ms: None,
            };
        }
        if now_ms >= w.start_ms.saturating_add(window_ms) || now_ms < w.start_ms {
            *w = Window {
                start_ms: now_ms,
                count: 0,
                blocked_until_ms: None,
            };
        }
        if w.count >= limit {
            return refuse(w);
        }
        w.count += 1;
        Decision {
            group,
            limit,
            remaining: limit - w.count,
            retry_after_secs: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: RateLimits = RateLimits {
        light: 3,
        heavy: 2,
        auth: 1,
    };

    #[test]
    fn counts_per_user_and_group() {
        let mut r = RateLimiter::default();
        assert_eq!(r.check(&LIMITS, "a", Group::Heavy, 0).remaining, 1);
        assert_eq!(r.check(&LIMITS, "a", Group::Heavy, 1).remaining, 0);
        assert_eq!(
            r.check(&LIMITS, "a", Group::Heavy, 2).retry_after_secs,
            Some(60)
        );
        assert_eq!(
            r.check(&LIMITS, "b", Group::Heavy, 3).retry_after_secs,
            None
        );
        assert_eq!(
            r.check(&LIMITS, "a", Group::Light, 4).retry_after_secs,
            None
        );
    }

    #[test]
    fn penalty_restarts_with_each_limited_request() {
        let mut r = RateLimiter::default();
        r.check(&LIMITS, "a", Group::Auth, 0);
        assert!(
            r.check(&LIMITS, "a", Group::Auth, 1_000)
                .retry_after_secs
                .is_some()
        );
        // 59 s after the refusal: still limited, and the penalty restarts.
        assert!(
            r.check(&LIMITS, "a", Group::Auth, 60_000)
                .retry_after_secs
                .is_some()
        );
        assert!(
            r.check(&LIMITS, "a", Group::Auth, 119_000)
                .retry_after_secs
                .is_some()
        );
        // Waiting out the full penalty without calling works.
        assert!(
            r.check(&LIMITS, "a", Group::Auth, 179_000)
                .retry_after_secs
                .is_none()
        );
    }

    #[test]
    fn window_rolls_over() {
        let mut r = RateLimiter::default();
        r.check(&LIMITS, "a", Group::Auth, 0);
        assert!(
            r.check(&LIMITS, "a", Group::Auth, 60_000)
                .retry_after_secs
                .is_none()
        );
    }
}
