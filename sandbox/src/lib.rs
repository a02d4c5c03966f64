//! A local RingCentral-compatible authorization server and REST API.
//!
//! It behaves like RingCentral's platform for everything rc-pkce touches (authorize, token, revoke,
//! account, extension, call log, and OpenID Connect: discovery, JWKS, ID tokens, userinfo),
//! strictly enough that an app which works against it works against RingCentral, and stricter
//! where the RFCs allow. It never shares code with the app's PKCE core: a
//! bug shared by client and server would cancel out in every test.
//!
//! Start it in-process with [`spawn`] on a listener you bound yourself (port 0 in tests), or run the
//! `sandbox` binary. Tests steer it through the admin API under `/__sandbox/` (see `sandbox/README.md`).
//!
//! Module map, top down. A module imports only modules on lines below its own, never one beside
//! it, so there is no cycle and no hub (the workspace's `xtask/src/tidy.rs` fails on any cycle):
//! - `server`: composition only: merges the areas' routers, stacks the layers, serves.
//! - `middleware`: the layers (request log, CORS, faults).
//! - `oauth`, `api`, `oidc`, `admin`: the areas, each with its own `routes()`.
//! - `state` (the shared state and its locks), `body` (reading a body with its size limit).
//! - `store`, `faults`: the authorization rules; the fault queue.
//! - `idtoken`: ID tokens, their claims and planted defects; `jose`: the keys, JWKS and signing.
//! - `errors`: every error shape, as `AppError`.
//! - `reqlog`, `ratelimit`, `redirect`, `page`, `form`, `pkce`, `clock`: one concern each.
//! - [`cli`]: the command line, parsed into a [`SandboxConfig`], and the start-up banner.
//! - [`config`]: the public configuration types and their defaults.
//! - [`seed`]: the seeded users, accounts and deterministic call-log records.

mod admin;
mod api;
mod body;
pub mod cli;
mod clock;
pub mod config;
mod errors;
mod faults;
mod form;
mod idtoken;
mod jose;
mod middleware;
mod oauth;
mod oidc;
mod page;
mod pkce;
mod ratelimit;
mod redirect;
mod reqlog;
pub mod seed;
mod server;
mod state;
mod store;

pub use cli::banner;
pub use config::{ClientRegistration, RateLimits, SandboxConfig};
pub use seed::{Account, User};
pub use server::{RunningSandbox, spawn};
