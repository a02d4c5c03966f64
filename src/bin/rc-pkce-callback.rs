//! A first-load module's entry point: boot.js loads this small module before the app on the
//! route it serves and calls `first_load`, then starts the app. What it does is
//! `rc_pkce::first_load::callback`; it links no Leptos.

use wasm_bindgen::prelude::*;

fn main() {}

/// Resolves when the app may start.
#[wasm_bindgen]
pub async fn first_load() {
    rc_pkce::first_load::callback().await;
}

/// Called by boot.js when the app could not start: ends the sign-in this module began (see
/// `rc_pkce::first_load::unclaimed`) and returns what to tell the user, if anything.
#[wasm_bindgen]
pub async fn abandon() -> Option<String> {
    rc_pkce::first_load::unclaimed::abandon()
        .await
        .map(str::to_string)
}
