//! The session's rules as plain functions: when a refresh is due, how long to wait before the next
//! attempt, which failures end a session, and when a failure may be called a CORS problem.

use crate::error::{ApiError, ErrorKind};
use crate::time::Timestamp;
use crate::token::TokenSet;

/// Refresh margin: this share of the lifetime...
pub const REFRESH_MARGIN_DIVISOR: u64 = 10;
/// ...but at least this much...
pub const MIN_REFRESH_MARGIN_MS: u64 = 30_000;
// ...and never more than half the lifetime, or short-lived tokens would be refreshed on arrival.

/// First retry delay after a transient failure; doubled each attempt.
pub const BACKOFF_BASE_MS: u64 = 1_000;
/// Longest wait between automatic refresh attempts.
pub const BACKOFF_CAP_MS: u64 = 60_000;
/// A code lives about 60 s: after this many failed exchange attempts the sign-in is abandoned.
pub const MAX_EXCHANGE_ATTEMPTS: u32 = 4;
/// A request that failed while its server answered a plain probe is called a CORS problem only
/// after this many such failures in a row: one failure on a flaky network looks exactly the same.
pub const CORS_SUSPECT_AFTER: u32 = 3;
/// How long a refresh waits for the grant's cross-tab lock before it goes ahead without it. A tab
/// of the session holds the lock for its 200 ms ask and one refresh POST, which the browser layer
/// gives up after 30 s; twice that is not a peer refreshing. It is another page of the origin
/// (which sees the lock's name in `navigator.locks.query()` and can hold it forever), or a peer
/// that cannot run. Waiting on would let that page stop every refresh until the session dies. A
/// wait whose wake-up comes a whole limit late spanned a freeze (a sleeping laptop): it starts
/// again, as the peers it waits for were frozen too.
pub const LOCK_WAIT_LIMIT_MS: u64 = 60_000;

/// When to refresh: when less than a tenth of the lifetime is left, with the margin at least 30 s
/// and at most half the lifetime.
pub fn refresh_due_at(tokens: &TokenSet) -> Option<Timestamp> {
    let expires_at = tokens.expires_at?;
    let lifetime_ms = tokens.issued_at.millis_until(expires_at);
    let margin = (lifetime_ms / REFRESH_MARGIN_DIVISOR)
        .max(MIN_REFRESH_MARGIN_MS)
        .min(lifetime_ms / 2);
    Some(expires_at.minus_millis(margin))
}

/// Delay before retry number `attempt` (1-based): 1 s, 2 s, 4 s ... capped at 60 s, and never
/// shorter than the server's `Retry-After`.
pub fn backoff_ms(attempt: u32, retry_after_secs: Option<u64>) -> u64 {
    let exp = BACKOFF_BASE_MS.saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
    let backoff = exp.min(BACKOFF_CAP_MS);
    backoff.max(retry_after_secs.unwrap_or(0).saturating_mul(1000))
}

/// The one rule for ending a session on a failed refresh: only the server saying so does
/// ([`ApiError::ends_session`]: `invalid_grant` and the other OAuth refusals). A dropped
/// connection, a timeout, a 5xx, a 429, an unreadable answer or a blocked response proves nothing
/// about the grant, so the session carries on and tries again.
pub fn refresh_failure_ends_session(error: &ApiError) -> bool {
    error.ends_session()
}

/// Whether a code exchange that failed with `error` may be sent again: only when the server
/// cannot have redeemed the code (no answer at all, a 5xx, a 429), not after a timeout.
pub fn may_resend_code(error: &ApiError) -> bool {
    error.is_transient() && error.kind != ErrorKind::Timeout
}

/// What to tell the user about a failure seen `repeats` times in a row. A request whose server
/// answered a plain probe looks like a CORS refusal, but a flaky network produces the same
/// picture once; it is reported as a failed connection until it has repeated
/// [`CORS_SUSPECT_AFTER`] times.
pub fn shown_problem(error: &ApiError, repeats: u32) -> ApiError {
    if error.kind == ErrorKind::Cors && repeats < CORS_SUSPECT_AFTER {
        ApiError {
            kind: ErrorKind::Network,
            server_message: Some(
                "the request failed although the server answered a plain check".into(),
            ),
            ..error.clone()
        }
    } else {
        error.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_server_ends_a_session() {
        let ends = |kind| refresh_failure_ends_session(&ApiError::new(kind));
        assert!(ends(ErrorKind::InvalidGrant));
        assert!(ends(ErrorKind::InvalidClient));
        for kind in [
            ErrorKind::Network,
            ErrorKind::Timeout,
            ErrorKind::Cors,
            ErrorKind::ServerError,
            ErrorKind::ServerUnavailable,
            ErrorKind::TemporarilyUnavailable,
            ErrorKind::RateLimited,
            ErrorKind::BadResponse,
            ErrorKind::Http,
        ] {
            assert!(!ends(kind.clone()), "{kind:?} must not end a session");
        }
    }

    #[test]
    fn a_code_is_sent_again_only_when_the_server_cannot_have_redeemed_it() {
        assert!(may_resend_code(&ApiError::network("http://x", "offline")));
        assert!(may_resend_code(&ApiError::new(
            ErrorKind::ServerUnavailable
        )));
        assert!(may_resend_code(&ApiError::new(ErrorKind::RateLimited)));
        assert!(!may_resend_code(&ApiError::timeout("http://x", 30)));
        assert!(!may_resend_code(&ApiError::new(ErrorKind::InvalidGrant)));
    }

    #[test]
    fn a_blocked_response_is_called_cors_only_when_it_repeats() {
        let cors = ApiError::cors("http://127.0.0.1:5001");
        for repeats in 1..CORS_SUSPECT_AFTER {
            let shown = shown_problem(&cors, repeats);
            assert_eq!(shown.kind, ErrorKind::Network);
            assert!(!shown.title().contains("CORS"), "{}", shown.title());
            assert!(shown.title().contains("http://127.0.0.1:5001"));
        }
        assert_eq!(shown_problem(&cors, CORS_SUSPECT_AFTER), cors);
        let offline = ApiError::network("http://x", "offline");
        assert_eq!(shown_problem(&offline, 1), offline);
    }
}
