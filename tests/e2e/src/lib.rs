//! The end-to-end harness: everything a browser test needs to run the real app against the real
//! sandbox on loopback.
//!
//! - [`bundle`]: builds the release bundle once per test process with trunk.
//! - [`site`]: a static file server for that bundle, with a per-test `config.json` and the
//!   production headers (CSP and friends), and a log of what it served.
//! - [`browser`]: headless Chromium through the system chromedriver, one fresh profile per test,
//!   with screenshots and the console log saved on failure.
//! - [`env`]: a sandbox + site + browser, wired to each other, plus the sandbox admin API.

pub mod browser;
pub mod bundle;
pub mod env;
pub mod hosting;
pub mod site;

pub use browser::Browser;
pub use env::{Env, EnvOptions};
