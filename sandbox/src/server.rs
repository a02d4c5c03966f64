//! Composition: the areas' routers merged into one application, the layers around it, and the
//! running server handle.
//!
//! Only this module knows every area (`oauth`, `api`, `oidc`, `admin`) and every layer; none of
//! them knows it. Layer order matters and is, outermost first: request log (so preflights and
//! refusals are logged) → CORS (so preflights never reach a fault and injected errors still carry
//! CORS headers) → faults → routes.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::OriginalUri;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{SandboxConfig, validate};
use crate::errors::routing_error;
use crate::middleware::{cors, faults, reqlog};
use crate::state::AppState;
use crate::{admin, api, oauth, oidc};

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
    Router::new()
        .merge(oauth::routes())
        .merge(api::routes())
        .merge(oidc::routes())
        .merge(admin::routes())
        .fallback(not_found)
        // Only reaches the routes present when it is called, hence after the merges.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), faults::layer))
        .layer(from_fn_with_state(state.clone(), cors::layer))
        .layer(from_fn_with_state(state.clone(), reqlog::layer))
        .with_state(state)
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
