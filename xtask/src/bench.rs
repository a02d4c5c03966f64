//! `cargo xtask bench [args...]`: runs the e2e crate's `bench` binary (which drives Chromium against
//! the sandbox) after making sure the browser tools are installed, then prints the size report
//! ([`crate::sizes`]) so a change in the figures comes with the crates that caused it.
//!
//! The bench also measures a page built on RingCentral's official JS SDK. That package comes from
//! the npm registry, so only the bench needs npm: it is installed here, on first use, into the
//! cargo target directory (never into the repository, and never by `setup` or `test`, so CI does
//! without node). The version is pinned so figures from different days compare the same SDK.

use std::path::{Path, PathBuf};

use crate::process::{self, describe, which};
use crate::{Error, Result, setup, sizes, workspace_root};

/// The `@ringcentral/sdk` release the bench's SDK page is built on.
pub const SDK_VERSION: &str = "5.0.11";

pub fn run(args: &[String]) -> Result<u8> {
    let asked_for_help = args.iter().any(|a| a == "--help" || a == "-h");
    let chromedriver = setup::run_with_browser()?;
    let mut command = process::cargo();
    command
        .args([
            "run",
            "--profile",
            "tool",
            "-p",
            "e2e",
            "--bin",
            "bench",
            "--",
        ])
        .args(args)
        .env("CHROMEDRIVER", chromedriver)
        .current_dir(workspace_root());
    if !asked_for_help {
        command.env("RC_PKCE_BENCH_SDK", ensure_sdk(&sdk_prefix())?);
    }
    let status = process::run_inherited(&mut command)
        .map_err(|error| Error::new(format!("bench: {}", error.message)))?;
    if status.success() {
        if asked_for_help {
            return Ok(0);
        }
        return sizes::run(&sizes::Options {
            top: 5,
            ..sizes::Options::default()
        });
    }
    Err(Error::new(format!(
        "bench: failed ({}) — {}",
        describe(status),
        process::display(&command)
    )))
}

/// `<cargo target dir>/bench-sdk`: where npm puts the SDK, beside the other build outputs.
fn sdk_prefix() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("bench-sdk")
}

/// The package's folder under `prefix`.
fn sdk_package(prefix: &Path) -> PathBuf {
    prefix.join("node_modules/@ringcentral/sdk")
}

/// Whether `package_json` is the manifest of the pinned SDK version (a text check: xtask has no
/// JSON parser, and npm writes these two fields plainly).
fn is_pinned_version(package_json: &str) -> bool {
    let compact: String = package_json.split_whitespace().collect();
    compact.contains("\"name\":\"@ringcentral/sdk\"")
        && compact.contains(&format!("\"version\":\"{SDK_VERSION}\""))
}

/// Installs the pinned SDK under `prefix` unless it is there already; returns its `dist` folder
/// (the browser bundle the SDK page loads).
fn ensure_sdk(prefix: &Path) -> Result<PathBuf> {
    let package = sdk_package(prefix);
    let installed = std::fs::read_to_string(package.join("package.json"))
        .is_ok_and(|text| is_pinned_version(&text));
    if !installed {
        let npm = which("npm").ok_or_else(|| {
            Error::new(format!(
                "bench: npm is not on PATH; the bench's SDK page needs @ringcentral/sdk@{SDK_VERSION} \
                 from the npm registry (install node and npm, e.g. `apt-get install -y npm`)"
            ))
        })?;
        std::fs::create_dir_all(prefix)
            .map_err(|e| Error::new(format!("bench: {}: {e}", prefix.display())))?;
        let mut command = process::command(npm);
        command.args([
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ]);
        command
            .arg(prefix)
            .arg(format!("@ringcentral/sdk@{SDK_VERSION}"));
        eprintln!("bench: installing {}", process::display(&command));
        let status = process::run_inherited(&mut command)?;
        if !status.success() {
            return Err(Error::new(format!(
                "bench: npm could not install @ringcentral/sdk@{SDK_VERSION} ({}) — {}",
                describe(status),
                process::display(&command)
            )));
        }
    }
    let dist = package.join("dist");
    if !dist.join("ringcentral.min.js").is_file() {
        return Err(Error::new(format!(
            "bench: {} has no ringcentral.min.js; remove {} and run the bench again",
            dist.display(),
            prefix.display()
        )));
    }
    Ok(dist)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pinned_sdk_counts_as_installed() {
        let manifest = |name: &str, version: &str| {
            format!("{{\n  \"name\": \"{name}\",\n  \"version\": \"{version}\"\n}}")
        };
        assert!(is_pinned_version(&manifest(
            "@ringcentral/sdk",
            SDK_VERSION
        )));
        assert!(!is_pinned_version(&manifest("@ringcentral/sdk", "4.7.4")));
        assert!(!is_pinned_version(&manifest("ringcentral", SDK_VERSION)));
        assert!(!is_pinned_version("not json"));
    }

    #[test]
    fn the_sdk_lives_in_the_target_dir() {
        let package = sdk_package(Path::new("/t/bench-sdk"));
        assert_eq!(
            package,
            Path::new("/t/bench-sdk/node_modules/@ringcentral/sdk")
        );
        assert!(sdk_prefix().ends_with("bench-sdk"));
    }
}
