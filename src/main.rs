//! The wasm entry point: mounts the app. Everything else lives in the library.

fn main() {
    rc_pkce::mount();
}
