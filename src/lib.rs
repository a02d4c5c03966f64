//! rc-pkce: a browser-only reference client for RingCentral's OAuth 2.0 Authorization Code flow with
//! PKCE, in Rust and WebAssembly.
//!
//! - [`rc_pkce_core`] (its own crate) decides everything: PKCE, URLs, parsing, the session machine.
//! - [`browser`] adapts browser APIs (storage, fetch, timers, history, tabs) behind small types.
//! - [`platform`] is the one trait the driver needs from outside; [`web`] implements it with the
//!   browser adapters.
//! - [`driver`] runs the core's state machine against a platform and tells an observer what to
//!   show; its host tests use a fake platform.
//! - [`api`] and [`present`] are pure: REST types and paths, and what the pages say.
//! - [`ui`] holds the Leptos components, which render signals and dispatch actions.
//! - [`first_load`] holds the small modules that run before the app on `/` and at the redirect
//!   URI (wasm files of their own, without Leptos), and [`early`] hands their requests' answers
//!   to the app.

// `ApiError` carries the user-facing explanation of a failure (a few strings); failures are rare
// and boxing them would only add noise at every `?`.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod browser;
pub mod driver;
pub mod early;
pub mod first_load;
pub mod platform;
pub mod present;
#[cfg(feature = "app")]
pub mod ui;
pub mod web;

#[cfg(feature = "app")]
pub use ui::mount;
