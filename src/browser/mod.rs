//! Thin adapters over browser APIs: storage, HTTP, the clock and timers, location and history,
//! cross-tab coordination, loading the runtime configuration, WebCrypto's signature checks, and for
//! the inspector's diagram Resource Timing entries and the clipboard.
//!
//! They move bytes and report failures as typed errors; they decide nothing. Every decision about
//! what to send, store or accept is made in `rc_pkce_core`.

pub mod clipboard;
pub mod clock;
pub mod config_loader;
pub mod http;
pub mod location;
pub mod resource_timing;
pub mod storage;
pub mod tabs;
pub mod timer;
pub mod webcrypto;
