//! A first-load module's entry point: boot.js loads this small module before the app on the
//! route it serves and calls `first_load`, then starts the app. What it does is
//! `rc_pkce::first_load::home`; it links no Leptos.

use wasm_bindgen::prelude::*;

fn main() {}

/// Resolves when the app may start.
#[wasm_bindgen]
pub async fn first_load() {
    rc_pkce::first_load::home().await;
}
