//! RingCentral's OAuth endpoints: authorize (sign-in + consent), token and revoke.
//!
//! What the three share about a request (a strict form body, no client credentials) lives in
//! [`request`], beside them rather than here, so this module only declares them and routes to them.

pub mod authorize;
pub mod request;
pub mod revoke;
pub mod token;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

/// The authorize endpoint's path: a page the browser navigates to, never fetched, so (as at
/// RingCentral) it is not CORS-enabled.
pub const AUTHORIZE_PATH: &str = "/restapi/oauth/authorize";

/// The OAuth endpoints.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(AUTHORIZE_PATH, get(authorize::show).post(authorize::decide))
        .route("/restapi/oauth/token", post(token::handle))
        .route("/restapi/oauth/revoke", post(revoke::handle))
}
