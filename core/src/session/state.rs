//! Where a session is, as one enum whose variants carry only what that state needs, so an
//! impossible combination (a refresh in flight while signed out, a lock held with nothing to
//! refresh) cannot be written down. The transitions live in the parent module.

use crate::error::ApiError;
use crate::time::Timestamp;

use super::callback::Exchange;
use super::event::{CallId, StoredSession};
use super::verify::Check;

pub(super) enum State {
    SignedOut,
    /// The browser is on its way to the authorize page: `navigate_to` waits for the pending record
    /// to be stored (without it the callback could only be refused), then it is gone.
    Authorizing {
        navigate_to: Option<String>,
    },
    /// A code is being exchanged for tokens (or waits to be sent again).
    Exchanging(Exchanging),
    /// The tokens came with an ID token, which is being checked before anyone is signed in.
    Verifying(Verifying),
    SignedIn(SignedIn),
}

pub(super) struct Verifying {
    /// The session the sign-in becomes once the ID token is verified (no identity yet).
    pub session: StoredSession,
    pub check: Check,
    /// Failed fetches of the key set so far.
    pub failures: u32,
    /// The latest transient failure, shown while the fetch is retried.
    pub problem: Option<ApiError>,
}

pub(super) struct Exchanging {
    pub exchange: Exchange,
    pub attempt: Attempt,
    /// Failed attempts so far.
    pub failures: u32,
    /// The latest transient failure, shown while the exchange is retried.
    pub problem: Option<ApiError>,
}

/// The token request of an exchange.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Attempt {
    InFlight(u64),
    RetryAt(Timestamp),
}

pub(super) struct SignedIn {
    pub current: StoredSession,
    pub refresh: Refresh,
    /// Consecutive failed refreshes; sets the backoff.
    pub failures: u32,
    /// The latest failed refresh and how many times in a row it failed that way.
    pub problem: Option<(ApiError, u32)>,
    /// A refresh timed out since the last one that worked: the server may have replaced the
    /// refresh token without this tab learning the new one.
    pub unsure: bool,
    /// The ID token the last refresh brought, on its way through the key and signature checks.
    pub check: Option<Check>,
}

impl SignedIn {
    pub fn new(current: StoredSession) -> Self {
        Self {
            current,
            refresh: Refresh::Idle,
            failures: 0,
            problem: None,
            unsure: false,
            check: None,
        }
    }

    /// Drops what the session rode out: the last refresh worked, or another tab's did.
    pub fn recovered(&mut self) {
        self.failures = 0;
        self.problem = None;
        self.unsure = false;
    }

    /// Takes the API calls that wait for the refresh to end.
    pub fn take_waiting(&mut self) -> Vec<CallId> {
        match &mut self.refresh {
            Refresh::AwaitingLock { waiting, .. } | Refresh::InFlight { waiting, .. } => {
                std::mem::take(waiting)
            }
            Refresh::Idle | Refresh::Backoff { .. } => Vec::new(),
        }
    }

    /// This tab holds the grant's cross-tab lock exactly while a refresh POST it sent behind the
    /// lock is in flight.
    pub fn holds_lock(&self) -> bool {
        matches!(self.refresh, Refresh::InFlight { locked: true, .. })
    }
}

/// The refresh of a signed-in session.
pub(super) enum Refresh {
    /// Nothing under way; the next refresh is due by the tokens' lifetime.
    Idle,
    /// The last refresh failed transiently; the next attempt is due `at`.
    Backoff { at: Timestamp },
    /// The grant's lock was asked for at `since`. If newer tokens arrive from another tab
    /// meanwhile, the refresh is no longer needed: the request is withdrawn. If the lock has not
    /// come by [`LOCK_WAIT_LIMIT_MS`](super::policy::LOCK_WAIT_LIMIT_MS), the refresh goes ahead
    /// without it. Once it is `taken` (this tab holds it and asks the other tabs for newer tokens
    /// first) the wait is no longer given up: that ask ends within its own short wait.
    AwaitingLock {
        since: Timestamp,
        taken: bool,
        waiting: Vec<CallId>,
    },
    /// Refresh request `id` is in flight: behind the lock, or (`locked: false`) after the wait
    /// for it was given up.
    InFlight {
        id: u64,
        locked: bool,
        waiting: Vec<CallId>,
    },
}
