//! Builds the release bundle (`trunk build --release`) once per process and returns its folder.
//!
//! The build uses its own cargo target directory so it never waits on the lock of the cargo
//! process that is running the tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root exists")
}

fn cargo_home_bin() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"))
        .join("bin")
}

/// PATH with cargo's bin directory first, where `cargo xtask setup` installs trunk and wasm-bindgen.
pub fn tool_path() -> std::ffi::OsString {
    let mut paths = vec![cargo_home_bin()];
    if let Some(p) = std::env::var_os("PATH") {
        paths.extend(std::env::split_paths(&p));
    }
    std::env::join_paths(paths).expect("PATH is joinable")
}

/// The release bundle, built on first use. Panics with trunk's output if the build fails.
pub fn release_bundle() -> &'static Path {
    static DIST: OnceLock<PathBuf> = OnceLock::new();
    DIST.get_or_init(|| {
        if let Some(dir) = std::env::var_os("RC_PKCE_DIST") {
            return PathBuf::from(dir);
        }
        let root = workspace_root();
        let dist = root.join("target/e2e/dist");
        let output = Command::new("trunk")
            .current_dir(&root)
            .env("PATH", tool_path())
            .env("CARGO_TARGET_DIR", root.join("target/e2e/cargo"))
            .args(["build", "--release", "--dist"])
            .arg(&dist)
            .output()
            .unwrap_or_else(|e| panic!("could not run trunk ({e}); run `cargo xtask setup` first"));
        if !output.status.success() {
            panic!(
                "trunk build --release failed:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        dist
    })
}
