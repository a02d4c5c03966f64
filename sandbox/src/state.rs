//! The state every handler and layer shares: configuration, clocks, the seeded call logs and the
//! five mutable parts (authorization store, request log, fault queue, rate limiter, OpenID keys and
//! planted defects).
//!
//! It sits below every area and layer (they import it; it imports none of them) and above the plain
//! data modules it holds. Each mutable part is reached only through its lock helper, so every
//! caller treats a poisoned lock the same way.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::clock::Clock;
use crate::config::{ClientRegistration, SandboxConfig};
use crate::faults::FaultQueue;
use crate::idtoken::Oidc;
use crate::ratelimit::RateLimiter;
use crate::reqlog::RequestLog;
use crate::seed::{CallRecord, call_log};
use crate::store::Store;

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    pub config: SandboxConfig,
    /// `http://` + the bound address, no trailing slash; also the `iss` of callbacks and the
    /// OpenID issuer.
    pub base_url: String,
    pub clock: Clock,
    /// Each user's seeded call log, newest first, indexed like `config.users`.
    pub call_logs: Vec<Vec<CallRecord>>,
    store: Mutex<Store>,
    log: Mutex<RequestLog>,
    faults: Mutex<FaultQueue>,
    rate: Mutex<RateLimiter>,
    oidc: Mutex<Oidc>,
}

/// A cheap handle on [`Shared`].
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No code holding these locks can panic on outside data; if one ever did, the data is
    // still consistent enough for a test server, so keep serving rather than cascade panics.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AppState {
    pub fn new(config: SandboxConfig, base_url: String) -> Self {
        let clock = Clock::new();
        let start_ms = i64::try_from(clock.now_ms()).unwrap_or(i64::MAX);
        let call_logs = config
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| call_log(i, u, start_ms))
            .collect();
        let store = Store::new(&config.users);
        Self(Arc::new(Shared {
            config,
            base_url,
            clock,
            call_logs,
            store: Mutex::new(store),
            log: Mutex::new(RequestLog::default()),
            faults: Mutex::new(FaultQueue::default()),
            rate: Mutex::new(RateLimiter::default()),
            oidc: Mutex::new(Oidc::default()),
        }))
    }

    pub fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    pub fn log(&self) -> MutexGuard<'_, RequestLog> {
        lock(&self.log)
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultQueue> {
        lock(&self.faults)
    }

    pub fn rate(&self) -> MutexGuard<'_, RateLimiter> {
        lock(&self.rate)
    }

    pub fn oidc(&self) -> MutexGuard<'_, Oidc> {
        lock(&self.oidc)
    }

    pub fn client(&self, client_id: &str) -> Option<&ClientRegistration> {
        self.config
            .clients
            .iter()
            .find(|c| c.client_id == client_id)
    }

    /// Forgets grants, codes, pending sign-ins, faults, the request log, rate-limit counters and
    /// the clock offset, and the planted ID-token defects (the signing keys stay).
    pub fn reset(&self) {
        self.oidc().clear();
        self.store().reset();
        self.log().clear();
        self.faults().clear();
        self.rate().reset();
        self.clock.reset_offset();
    }
}
