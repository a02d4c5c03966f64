//! rc-pkce: a browser-only reference client for RingCentral's OAuth 2.0 Authorization Code flow with
//! PKCE, in Rust and WebAssembly.
//!
//! - [`rc_pkce_core`] (its own crate) decides everything: PKCE, URLs, parsing, the session machine.
//! - [`browser`] adapts browser APIs (storage, fetch, timers, history, tabs) behind small types.
//! - [`driver`] runs the core's state machine with those adapters and exposes signals.
//! - [`api`] and [`present`] are pure: REST types and paths, and what the pages say.
//! - [`ui`] holds the Leptos components, which render signals and dispatch actions.

// `ApiError` carries the user-facing explanation of a failure (a few strings); failures are rare
// and boxing them would only add noise at every `?`.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod browser;
pub mod driver;
pub mod present;
pub mod ui;

/// Replaces the static "Loading…" shell of `index.html` with the app.
pub fn mount() {
    let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("app"))
    else {
        return;
    };
    root.set_inner_html("");
    let Ok(root) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(root) else {
        return;
    };
    let handle = leptos::mount::mount_to(root, ui::App);
    // The app lives as long as the page.
    handle.forget();
}
