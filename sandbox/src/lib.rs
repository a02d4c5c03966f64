//! A local RingCentral-compatible authorization server and REST API.
//!
//! It behaves like RingCentral's platform for everything rc-pkce touches (authorize, token, revoke,
//! account, extension, call log), strictly enough that an app which works against it works against
//! RingCentral, and stricter where the RFCs allow. It never shares code with the app's PKCE core: a
//! bug shared by client and server would cancel out in every test.
//!
//! Start it in-process with [`spawn`] on a listener you bound yourself (port 0 in tests), or run the
//! `sandbox` binary. Tests steer it through the admin API under `/__sandbox/` (see `sandbox/README.md`).
//!
//! Module map:
//! - [`config`]: the public configuration types and their defaults.
//! - [`cli`]: the command line, parsed into a [`SandboxConfig`].
//! - [`seed`]: the seeded users, accounts and deterministic call-log records.
//! - [`server`]: the shared state and the router that ties the modules below together.
//! - `clock`, `pkce`, `form`, `store`, `errors`, `page`, `oauth`, `api`, `cors`, `ratelimit`,
//!   `faults`, `reqlog`, `admin`: one concern each, described in their own docs.

mod admin;
mod api;
pub mod cli;
mod clock;
pub mod config;
mod cors;
mod errors;
mod faults;
mod form;
mod oauth;
mod page;
mod pkce;
mod ratelimit;
mod reqlog;
pub mod seed;
mod server;
mod store;

pub use config::{ClientRegistration, RateLimits, SandboxConfig};
pub use seed::{Account, User};
pub use server::{RunningSandbox, banner, spawn};
