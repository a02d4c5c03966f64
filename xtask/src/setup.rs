//! `cargo xtask setup [--browser]`: finds the tools the build and the tests need and installs the
//! missing ones (rustup, `cargo install`, apt), so that a fresh machine with only cargo can run
//! `cargo xtask test`. Idempotent: a warm machine costs a few version checks.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::process::{self, describe, display, which};
use crate::{Error, Result, lockfile, workspace_root};

pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// trunk 0.22 needs a newer rustc than the project's 1.95; 0.21.14 is the verified one.
pub const TRUNK_VERSION: &str = "0.21.14";

/// A program that Debian packages.
struct AptTool {
    binary: &'static str,
    package: &'static str,
    /// Needed only by the browser tests (`--browser`).
    browser: bool,
}

const APT_TOOLS: [AptTool; 4] = [
    AptTool {
        binary: "wasm-opt",
        package: "binaryen",
        browser: false,
    },
    AptTool {
        binary: "chromium",
        package: "chromium",
        browser: true,
    },
    AptTool {
        binary: "chromedriver",
        package: "chromium-driver",
        browser: true,
    },
    // One e2e test serves the release bundle with nginx; only the binary is needed.
    AptTool {
        binary: "nginx",
        package: "nginx",
        browser: true,
    },
];

/// What setup hands to the commands that run browsers.
pub struct Tools {
    pub chromedriver: Option<PathBuf>,
}

/// What detection saw: `--version` output (first line) of the cargo-installed tools, `None` when
/// the program is not on the PATH or would not run.
#[derive(Debug, Default)]
struct Found {
    wasm_target: bool,
    trunk: Option<String>,
    wasm_bindgen: Option<String>,
    test_runner: Option<String>,
    missing_binaries: Vec<&'static str>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    target: bool,
    trunk: bool,
    wasm_bindgen_cli: bool,
    apt_packages: Vec<&'static str>,
}

impl Plan {
    fn is_empty(&self) -> bool {
        *self == Plan::default()
    }

    /// What is still wrong, for the message when an install did not fix it.
    fn describe(&self, wasm_bindgen: &str) -> String {
        let mut items = Vec::new();
        if self.target {
            items.push(format!("the {WASM_TARGET} target"));
        }
        if self.trunk {
            items.push(format!("trunk {TRUNK_VERSION}"));
        }
        if self.wasm_bindgen_cli {
            items.push(format!(
                "wasm-bindgen and wasm-bindgen-test-runner {wasm_bindgen}"
            ));
        }
        items.extend(self.apt_packages.iter().map(|package| package.to_string()));
        items.join(", ")
    }
}

/// The version a `--version` output reports for `program`, e.g. `0.21.14` from `trunk 0.21.14`.
fn parse_version<'a>(output: &'a str, program: &str) -> Option<&'a str> {
    let mut words = output.lines().next()?.split_whitespace();
    if words.next()? != program {
        return None;
    }
    Some(words.next()?.trim_start_matches('v'))
}

/// Whether `output` (None: program absent) shows exactly version `want` of `program`.
fn has_version(output: Option<&str>, program: &str, want: &str) -> bool {
    output.and_then(|output| parse_version(output, program)) == Some(want)
}

fn plan(found: &Found, browser: bool, wasm_bindgen: &str) -> Plan {
    Plan {
        target: !found.wasm_target,
        trunk: !has_version(found.trunk.as_deref(), "trunk", TRUNK_VERSION),
        // One crate provides both binaries; a stray or partial install needs the whole crate again.
        wasm_bindgen_cli: !has_version(found.wasm_bindgen.as_deref(), "wasm-bindgen", wasm_bindgen)
            || !has_version(
                found.test_runner.as_deref(),
                "wasm-bindgen-test-runner",
                wasm_bindgen,
            ),
        apt_packages: APT_TOOLS
            .iter()
            .filter(|tool| browser || !tool.browser)
            .filter(|tool| found.missing_binaries.contains(&tool.binary))
            .map(|tool| tool.package)
            .collect(),
    }
}

/// The one line printed when everything is in place.
fn nothing_to_install_line(browser: bool, wasm_bindgen: &str) -> String {
    let mut items = vec![
        "wasm32 target".to_string(),
        format!("trunk {TRUNK_VERSION}"),
        format!("wasm-bindgen {wasm_bindgen}"),
    ];
    items.extend(
        APT_TOOLS
            .iter()
            .filter(|tool| browser || !tool.browser)
            .map(|tool| tool.binary.to_string()),
    );
    format!("setup: nothing to install ({})", items.join(", "))
}

fn version_output(program: &str) -> Option<String> {
    let path = which(program)?;
    let output = process::command(path).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    Some(text.lines().next().unwrap_or_default().to_string())
}

/// Whether the toolchain that builds this workspace has the wasm target's standard library.
fn wasm_target_installed(root: &Path) -> bool {
    let output = process::command("rustc")
        .args(["--print", "sysroot"])
        .current_dir(root)
        .output();
    let Ok(output) = output else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_string();
    output.status.success()
        && Path::new(&sysroot)
            .join("lib/rustlib")
            .join(WASM_TARGET)
            .join("lib")
            .is_dir()
}

fn detect(root: &Path, browser: bool) -> Found {
    Found {
        wasm_target: wasm_target_installed(root),
        trunk: version_output("trunk"),
        wasm_bindgen: version_output("wasm-bindgen"),
        test_runner: version_output("wasm-bindgen-test-runner"),
        missing_binaries: APT_TOOLS
            .iter()
            .filter(|tool| browser || !tool.browser)
            .filter(|tool| which(tool.binary).is_none())
            .map(|tool| tool.binary)
            .collect(),
    }
}

/// How apt can be run here.
#[derive(Debug, PartialEq, Eq)]
enum AptAccess {
    Root,
    Sudo,
    /// Neither: the user has to run the command themselves.
    None,
}

fn apt_access(root: bool, has_sudo: bool) -> AptAccess {
    match (root, has_sudo) {
        (true, _) => AptAccess::Root,
        (false, true) => AptAccess::Sudo,
        (false, false) => AptAccess::None,
    }
}

/// The shell line a root user would type to install `packages`.
fn apt_shell_line(packages: &[&str]) -> String {
    format!(
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y {}",
        packages.join(" ")
    )
}

fn apt_command(access: &AptAccess, args: &[&str]) -> Command {
    let mut command = if *access == AptAccess::Sudo {
        // sudo drops the caller's environment, so the non-interactive switch goes through `env`.
        let mut command = process::command("sudo");
        command.args(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        command
    } else {
        let mut command = process::command("apt-get");
        command.env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    command.args(args);
    command
}

/// Runs one install command and prints its result line.
fn install(what: &str, mut command: Command) -> Result<()> {
    println!("setup: installing {what}: {}", display(&command));
    let started = Instant::now();
    let status = process::run_inherited(&mut command)
        .map_err(|error| Error::new(format!("setup: {}", error.message)))?;
    if !status.success() {
        return Err(Error::new(format!(
            "setup: installing {what} failed ({}) — see the output above; the command was: {}",
            describe(status),
            display(&command)
        )));
    }
    println!(
        "setup: installed {what} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn install_apt(packages: &[&'static str], browser: bool) -> Result<()> {
    let retry = if browser {
        "cargo xtask setup --browser"
    } else {
        "cargo xtask setup"
    };
    if which("apt-get").is_none() {
        return Err(Error::new(format!(
            "setup: missing {} and this machine has no apt-get — install the equivalent packages with your package manager, then run '{retry}' again",
            packages.join(", ")
        )));
    }
    let access = apt_access(process::is_root(), which("sudo").is_some());
    if access == AptAccess::None {
        return Err(Error::new(format!(
            "setup: installing {} needs root and sudo is not available — run as root: {}, then run '{retry}' again",
            packages.join(", "),
            apt_shell_line(packages)
        )));
    }
    // Only now, with something to install, is the slow index refresh worth it; and only once.
    let mut update = apt_command(&access, &["update"]);
    println!("setup: refreshing the package index: {}", display(&update));
    match process::run_inherited(&mut update) {
        Ok(status) if status.success() => {}
        Ok(status) => println!(
            "setup: '{}' failed ({}); trying the install with the index as it is",
            display(&update),
            describe(status)
        ),
        Err(error) => return Err(Error::new(format!("setup: {}", error.message))),
    }
    let mut args = vec!["install", "-y"];
    args.extend(packages);
    install(
        &format!("{} (apt)", packages.join(", ")),
        apt_command(&access, &args),
    )
}

/// `cargo install` runs outside the workspace so that its `.cargo/config.toml` cannot leak into
/// the tool's build.
///
/// The tools are built for compile speed, not peak speed: they spend their time waiting for cargo,
/// rustc and wasm-opt, while trunk's own release profile (fat LTO, one codegen unit) made its build
/// the longest step of a fresh setup (551 s against 351 s this way on 2 cores).
fn cargo_install(args: &[&str]) -> Command {
    let mut command = process::cargo();
    command
        .arg("install")
        .args(args)
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1")
        .current_dir(std::env::temp_dir());
    command
}

/// Installs whatever is missing and returns the paths the browser stages need.
pub fn run(browser: bool) -> Result<Tools> {
    let root = workspace_root();
    let wasm_bindgen = lockfile::wasm_bindgen_version(&root)?;
    let todo = plan(&detect(&root, browser), browser, &wasm_bindgen);
    if todo.is_empty() {
        println!("{}", nothing_to_install_line(browser, &wasm_bindgen));
    } else {
        if todo.target {
            if which("rustup").is_none() {
                return Err(Error::new(format!(
                    "setup: the {WASM_TARGET} target is missing and rustup is not on PATH — add the target to your Rust toolchain, then run again"
                )));
            }
            let mut command = process::command("rustup");
            command
                .args(["target", "add", WASM_TARGET])
                .current_dir(&root);
            install(&format!("the {WASM_TARGET} target"), command)?;
        }
        if !todo.apt_packages.is_empty() {
            install_apt(&todo.apt_packages, browser)?;
        }
        if todo.wasm_bindgen_cli {
            // Not --locked: the CLI's own lock asks for a webpki-roots the registry lacks.
            install(
                &format!("wasm-bindgen-cli {wasm_bindgen}"),
                cargo_install(&["--force", "wasm-bindgen-cli", "--version", &wasm_bindgen]),
            )?;
        }
        if todo.trunk {
            install(
                &format!("trunk {TRUNK_VERSION}"),
                // Without default features: no update check (it needs the network) and no TLS
                // for `trunk serve --tls`, which this project does not use.
                cargo_install(&[
                    "--locked",
                    "--force",
                    "--no-default-features",
                    &format!("trunk@{TRUNK_VERSION}"),
                ]),
            )?;
        }
        let left = plan(&detect(&root, browser), browser, &wasm_bindgen);
        if !left.is_empty() {
            return Err(Error::new(format!(
                "setup: still missing after installing: {} — check that {} is on PATH and that no other copy comes first",
                left.describe(&wasm_bindgen),
                process::cargo_bin().display()
            )));
        }
    }
    Ok(Tools {
        chromedriver: if browser { which("chromedriver") } else { None },
    })
}

/// Like [`run`] with `--browser`, for the commands that drive Chromium.
pub fn run_with_browser() -> Result<PathBuf> {
    run(true)?.chromedriver.ok_or_else(|| {
        Error::new("setup: chromedriver is not on PATH even after setup — install the chromium-driver package")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_present() -> Found {
        Found {
            wasm_target: true,
            trunk: Some("trunk 0.21.14".into()),
            wasm_bindgen: Some("wasm-bindgen 0.2.130".into()),
            test_runner: Some("wasm-bindgen-test-runner 0.2.130".into()),
            missing_binaries: vec![],
        }
    }

    #[test]
    fn parses_version_lines() {
        assert_eq!(parse_version("trunk 0.21.14", "trunk"), Some("0.21.14"));
        assert_eq!(parse_version("trunk v0.21.14\n", "trunk"), Some("0.21.14"));
        assert_eq!(
            parse_version("wasm-bindgen 0.2.130", "wasm-bindgen"),
            Some("0.2.130")
        );
        assert_eq!(parse_version("trunk", "trunk"), None);
        assert_eq!(parse_version("", "trunk"), None);
        assert_eq!(
            parse_version("wasm-bindgen-test-runner 0.2.130", "wasm-bindgen"),
            None
        );
    }

    #[test]
    fn version_must_match_exactly() {
        assert!(has_version(Some("trunk 0.21.14"), "trunk", "0.21.14"));
        assert!(!has_version(Some("trunk 0.21.1"), "trunk", "0.21.14"));
        assert!(!has_version(Some("trunk 0.21.140"), "trunk", "0.21.14"));
        assert!(!has_version(Some("trunk 0.22.0"), "trunk", "0.21.14"));
        assert!(!has_version(None, "trunk", "0.21.14"));
    }

    #[test]
    fn nothing_to_do_when_everything_matches() {
        assert!(plan(&all_present(), true, "0.2.130").is_empty());
    }

    #[test]
    fn a_different_lock_version_reinstalls_the_cli() {
        let todo = plan(&all_present(), false, "0.2.131");
        assert_eq!(
            todo,
            Plan {
                wasm_bindgen_cli: true,
                ..Plan::default()
            }
        );
    }

    #[test]
    fn a_missing_test_runner_reinstalls_the_cli() {
        let found = Found {
            test_runner: None,
            ..all_present()
        };
        assert!(plan(&found, false, "0.2.130").wasm_bindgen_cli);
    }

    #[test]
    fn wrong_trunk_and_missing_target() {
        let found = Found {
            wasm_target: false,
            trunk: Some("trunk 0.22.0".into()),
            ..all_present()
        };
        let todo = plan(&found, false, "0.2.130");
        assert!(todo.target && todo.trunk && !todo.wasm_bindgen_cli);
    }

    #[test]
    fn apt_packages_follow_missing_binaries_and_the_browser_flag() {
        let found = Found {
            missing_binaries: vec!["wasm-opt", "chromedriver", "nginx"],
            ..all_present()
        };
        assert_eq!(
            plan(&found, false, "0.2.130").apt_packages,
            vec!["binaryen"]
        );
        assert_eq!(
            plan(&found, true, "0.2.130").apt_packages,
            vec!["binaryen", "chromium-driver", "nginx"]
        );
    }

    #[test]
    fn nothing_to_install_lines() {
        assert_eq!(
            nothing_to_install_line(true, "0.2.130"),
            "setup: nothing to install (wasm32 target, trunk 0.21.14, wasm-bindgen 0.2.130, wasm-opt, chromium, chromedriver, nginx)"
        );
        assert_eq!(
            nothing_to_install_line(false, "0.2.130"),
            "setup: nothing to install (wasm32 target, trunk 0.21.14, wasm-bindgen 0.2.130, wasm-opt)"
        );
    }

    #[test]
    fn apt_access_prefers_root_then_sudo() {
        assert_eq!(apt_access(true, false), AptAccess::Root);
        assert_eq!(apt_access(true, true), AptAccess::Root);
        assert_eq!(apt_access(false, true), AptAccess::Sudo);
        assert_eq!(apt_access(false, false), AptAccess::None);
    }

    #[test]
    fn apt_commands_stay_non_interactive() {
        let root = apt_command(&AptAccess::Root, &["install", "-y", "nginx"]);
        assert_eq!(
            display(&root),
            "DEBIAN_FRONTEND=noninteractive apt-get install -y nginx"
        );
        let sudo = apt_command(&AptAccess::Sudo, &["install", "-y", "nginx"]);
        assert_eq!(
            display(&sudo),
            "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y nginx"
        );
        assert_eq!(
            apt_shell_line(&["binaryen", "nginx"]),
            "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y binaryen nginx"
        );
    }

    #[test]
    fn plan_descriptions_name_everything() {
        let todo = Plan {
            target: true,
            trunk: true,
            wasm_bindgen_cli: true,
            apt_packages: vec!["nginx"],
        };
        assert_eq!(
            todo.describe("0.2.130"),
            "the wasm32-unknown-unknown target, trunk 0.21.14, wasm-bindgen and wasm-bindgen-test-runner 0.2.130, nginx"
        );
    }
}
