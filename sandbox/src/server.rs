//! The shared state, the router that wires every module together, and the running server handle.
//!
//! Middleware order matters and is, outermost first: request log (so preflights and refusals are
//! logged) → CORS (so preflights never reach a fault and injected errors still carry CORS headers)
//! → faults → routes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::OriginalUri;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::{ClientRegistration, SandboxConfig, validate_origin, validate_redirect_uri};
use crate::errors::routing_error;
use crate::faults::FaultQueue;
use crate::ratelimit::RateLimiter;
use crate::reqlog::RequestLog;
use crate::seed::{CallRecord, call_log};
use crate::store::Store;
use crate::{admin, api, cors, faults, oauth, reqlog};

/// Largest request body accepted anywhere (16 KiB); larger ones get 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The admin API's path prefix.
pub const ADMIN_PREFIX: &str = "/__sandbox";

pub fn is_admin_path(path: &str) -> bool {
    path == ADMIN_PREFIX || path.starts_with("/__sandbox/")
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    pub config: SandboxConfig,
    /// `http://` + the bound address, no trailing slash; also the `iss` of callbacks.
    pub base_url: String,
    pub clock: Clock,
    /// Each user's seeded call log, newest first, indexed like `config.users`.
    pub call_logs: Vec<Vec<CallRecord>>,
    store: Mutex<Store>,
    log: Mutex<RequestLog>,
    faults: Mutex<FaultQueue>,
    rate: Mutex<RateLimiter>,
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

    pub fn client(&self, client_id: &str) -> Option<&ClientRegistration> {
        self.config
            .clients
            .iter()
            .find(|c| c.client_id == client_id)
    }

    /// Forgets grants, codes, pending sign-ins, faults, the request log, rate-limit counters and
    /// the clock offset.
    pub fn reset(&self) {
        self.store().reset();
        self.log().clear();
        self.faults().clear();
        self.rate().reset();
        self.clock.reset_offset();
    }
}

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads a whole request body, refusing more than [`MAX_BODY_BYTES`].
pub async fn read_body(body: Body) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt as _;
    match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Unreadable),
    }
}

async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    routing_error(
        uri.path(),
        StatusCode::NOT_FOUND,
        "AGW-404",
        "Resource not found",
    )
}

async fn method_not_allowed(OriginalUri(uri): OriginalUri) -> Response {
    routing_error(
        uri.path(),
        StatusCode::METHOD_NOT_ALLOWED,
        "AGW-405",
        "Method not allowed",
    )
}

/// The complete application.
pub fn router(state: AppState) -> Router {
    let admin = admin::router().route_layer(from_fn_with_state(state.clone(), admin::guard));
    Router::new()
        .route(
            "/restapi/oauth/authorize",
            get(oauth::authorize::show).post(oauth::authorize::decide),
        )
        .route("/restapi/oauth/token", post(oauth::token::handle))
        .route("/restapi/oauth/revoke", post(oauth::revoke::handle))
        .route("/restapi/v1.0/account/{account_id}", get(api::account))
        .route(
            "/restapi/v1.0/account/{account_id}/extension/{extension_id}",
            get(api::extension),
        )
        .route(
            "/restapi/v1.0/account/{account_id}/extension/{extension_id}/call-log",
            get(api::call_log),
        )
        .merge(admin)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), faults::layer))
        .layer(from_fn_with_state(state.clone(), cors::layer))
        .layer(from_fn_with_state(state.clone(), reqlog::layer))
        .with_state(state)
}

fn validate(config: &SandboxConfig) -> Result<(), String> {
    let mut ids = std::collections::HashSet::new();
    for client in &config.clients {
        if client.client_id.is_empty() {
            return Err("a client has an empty client_id".into());
        }
        if !ids.insert(client.client_id.as_str()) {
            return Err(format!("client {} is registered twice", client.client_id));
        }
        if client.redirect_uris.is_empty() {
            return Err(format!("client {} has no redirect URI", client.client_id));
        }
        for uri in &client.redirect_uris {
            validate_redirect_uri(uri)?;
        }
    }
    for origin in &config.allowed_origins {
        validate_origin(origin)?;
    }
    if config.access_ttl_secs == 0 || config.refresh_ttl_secs == 0 || config.code_ttl_secs == 0 {
        return Err("token and code lifetimes must be at least 1 second".into());
    }
    Ok(())
}

/// A sandbox serving in the background. Dropping it stops the server too (without waiting).
#[derive(Debug)]
pub struct RunningSandbox {
    base_url: String,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningSandbox {
    /// `http://` + the bound address, e.g. `http://127.0.0.1:43567`, no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets in-flight requests finish (at most 5 s), and returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }

    /// Serves until the server stops by itself (it does not, short of an I/O failure).
    pub async fn wait(mut self) -> std::io::Result<()> {
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves the sandbox on an already-bound listener, so callers can bind port 0 and learn the
/// address first. Fails with `InvalidInput` for an inconsistent config.
pub async fn spawn(
    config: SandboxConfig,
    listener: TcpListener,
) -> std::io::Result<RunningSandbox> {
    validate(&config).map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidInput, m))?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");
    let app = router(AppState::new(config, base_url.clone()));
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        })
        .await
    });
    Ok(RunningSandbox {
        base_url,
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

/// What the binary prints on start.
pub fn banner(config: &SandboxConfig, base_url: &str) -> String {
    let mut out = format!("RingCentral sandbox listening on {base_url}\n");
    for c in &config.clients {
        out.push_str(&format!(
            "  client {} -> {}  ({})\n",
            c.client_id,
            c.redirect_uris.join(", "),
            if c.permissions.is_empty() {
                "no permissions".to_owned()
            } else {
                c.permissions.join(", ")
            }
        ));
    }
    let mut users = config.users.iter();
    if let Some(first) = users.next() {
        let others: Vec<String> = users
            .map(|u| format!("{} / {}", u.email, u.password))
            .collect();
        out.push_str(&format!(
            "  sign in as {} / {}",
            first.email, first.password
        ));
        if !others.is_empty() {
            out.push_str(&format!("   (also {})", others.join(", ")));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "  CORS origins: {}\n",
        config.allowed_origins.join(", ")
    ));
    match &config.rate_limits {
        Some(r) => out.push_str(&format!(
            "  rate limits per user per minute: light {}, heavy {}, auth {}{}\n",
            r.light,
            r.heavy,
            r.auth,
            if config.expose_rate_limit_headers {
                " (headers exposed to JS)"
            } else {
                ""
            }
        )),
        None => out.push_str("  rate limits: off\n"),
    }
    out.push_str(&format!(
        "  admin API: {base_url}/__sandbox/ (see sandbox/README.md)\n"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_names_clients_users_and_admin() {
        let b = banner(&SandboxConfig::default(), "http://127.0.0.1:5001");
        assert!(b.starts_with("RingCentral sandbox listening on http://127.0.0.1:5001\n"));
        assert!(b.contains(
            "  client rc-pkce-demo -> http://localhost:5000/oauth2callback  (ReadAccounts, ReadCallLog)"
        ));
        assert!(b.contains("sign in as demo@example.com / demo-password   (also second@example.com / second-password)"));
        assert!(b.contains("admin API: http://127.0.0.1:5001/__sandbox/"));
    }

    #[test]
    fn config_validation() {
        assert!(validate(&SandboxConfig::default()).is_ok());
        let mut c = SandboxConfig::default();
        c.clients.push(ClientRegistration::demo());
        assert!(validate(&c).is_err());
        let c = SandboxConfig {
            allowed_origins: vec!["http://x/".into()],
            ..SandboxConfig::default()
        };
        assert!(validate(&c).is_err());
        let c = SandboxConfig {
            code_ttl_secs: 0,
            ..SandboxConfig::default()
        };
        assert!(validate(&c).is_err());
    }

    #[test]
    fn admin_paths() {
        assert!(is_admin_path("/__sandbox"));
        assert!(is_admin_path("/__sandbox/state"));
        assert!(!is_admin_path("/__sandboxx"));
    }
}
