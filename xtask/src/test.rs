//! `cargo xtask test`: everything CI checks, as ordered stages (cheap and likely to fail first),
//! each streamed as it runs and stopping at the first failure, then a stage table and the closing
//! `N passed, N failed` line.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::summary::{self, Counting, Outcome, StageReport};
use crate::{Result, process, setup, workspace_root};

pub const STAGE_NAMES: [&str; 8] = [
    "fmt",
    "clippy-host",
    "clippy-wasm",
    "unit",
    "sim",
    "sandbox",
    "wasm",
    "e2e",
];

/// Which stages a run covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    All,
    From(String),
    Only(String),
}

impl Selection {
    fn includes(&self, index: usize) -> bool {
        let position = |name: &str| STAGE_NAMES.iter().position(|stage| *stage == name);
        match self {
            Selection::All => true,
            Selection::From(name) => position(name).is_some_and(|start| index >= start),
            Selection::Only(name) => position(name) == Some(index),
        }
    }
}

/// Stages that start Chromium through chromedriver.
fn needs_browser(name: &str) -> bool {
    name == "wasm" || name == "e2e"
}

struct Stage {
    name: &'static str,
    counting: Counting,
    command: Command,
}

fn stage(
    name: &'static str,
    counting: Counting,
    args: &[&str],
    env: &[(&str, &str)],
    root: &Path,
) -> Stage {
    let mut command = process::cargo();
    command.args(args).current_dir(root);
    for (key, value) in env {
        command.env(key, value);
    }
    Stage {
        name,
        counting,
        command,
    }
}

/// The stages in order; `chromedriver` is only read by the browser stages.
fn stages(root: &Path, chromedriver: &str) -> Vec<Stage> {
    use Counting::{Check, Libtest};
    let driver = [("CHROMEDRIVER", chromedriver)];
    vec![
        stage("fmt", Check, &["fmt", "--all", "--", "--check"], &[], root),
        stage(
            "clippy-host",
            Check,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            &[],
            root,
        ),
        stage(
            "clippy-wasm",
            Check,
            &[
                "clippy",
                "-p",
                "rc-pkce",
                "-p",
                "rc-pkce-core",
                "--target",
                "wasm32-unknown-unknown",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            &[],
            root,
        ),
        stage(
            "unit",
            Libtest,
            &[
                "test",
                "--profile",
                "tool",
                "-p",
                "rc-pkce-core",
                "-p",
                "rc-pkce",
                "-p",
                "xtask",
            ],
            &[],
            root,
        ),
        // The simulator's tests, among them a fixed-seed batch of 300 000 steps (README,
        // "Simulator").
        stage(
            "sim",
            Libtest,
            &["test", "--profile", "tool", "-p", "sim"],
            &[],
            root,
        ),
        stage(
            "sandbox",
            Libtest,
            &["test", "--profile", "tool", "-p", "sandbox"],
            &[],
            root,
        ),
        stage(
            "wasm",
            Libtest,
            &[
                "test",
                "-p",
                "rc-pkce",
                "--target",
                "wasm32-unknown-unknown",
            ],
            // The default 20 s is too tight for a first page load on a loaded 2-core machine.
            &[driver[0], ("WASM_BINDGEN_TEST_TIMEOUT", "60")],
            root,
        ),
        stage(
            "e2e",
            Libtest,
            &["test", "--profile", "tool", "-p", "e2e"],
            &driver,
            root,
        ),
    ]
}

/// Runs one stage, streaming its output; returns its report and, on failure, the line to print.
fn run_stage(number: usize, stage: &mut Stage) -> (StageReport, Option<String>) {
    println!(
        "== test stage {number}/{}: {}",
        STAGE_NAMES.len(),
        stage.name
    );
    let command_line = process::display(&stage.command);
    println!("$ {command_line}");
    let started = Instant::now();
    let (success, summaries, failure) =
        match process::run_scanned(&mut stage.command, summary::parse_summary) {
            Ok((status, summaries)) => {
                let failure = (!status.success()).then(|| {
                    format!(
                        "test: stage '{}' failed ({}) — {command_line}",
                        stage.name,
                        process::describe(status)
                    )
                });
                (status.success(), summaries, failure)
            }
            Err(error) => (
                false,
                Vec::new(),
                Some(format!(
                    "test: stage '{}' failed ({}) — {command_line}",
                    stage.name, error.message
                )),
            ),
        };
    let seconds = started.elapsed().as_secs_f64();
    let counts = summary::stage_counts(stage.counting, success, &summaries);
    println!(
        "== {}: {} in {seconds:.1} s ({} passed, {} failed)",
        stage.name,
        if success { "ok" } else { "FAILED" },
        counts.passed,
        counts.failed
    );
    let report = StageReport {
        name: stage.name,
        outcome: if success {
            Outcome::Passed
        } else {
            Outcome::Failed
        },
        counts,
        seconds,
    };
    (report, failure)
}

pub fn run(selection: &Selection) -> Result<u8> {
    let root = workspace_root();
    let selected: Vec<usize> = (0..STAGE_NAMES.len())
        .filter(|index| selection.includes(*index))
        .collect();
    let browser = selected
        .iter()
        .any(|index| needs_browser(STAGE_NAMES[*index]));
    let chromedriver = if browser {
        setup::run_with_browser()?.to_string_lossy().into_owned()
    } else {
        setup::run(false)?;
        String::new()
    };

    let mut all = stages(&root, &chromedriver);
    let mut reports = Vec::new();
    let mut failure = None;
    for index in selected {
        let stage = &mut all[index];
        if failure.is_some() {
            reports.push(StageReport {
                name: stage.name,
                outcome: Outcome::NotRun,
                counts: summary::Counts::default(),
                seconds: 0.0,
            });
            continue;
        }
        let (report, failed) = run_stage(index + 1, stage);
        reports.push(report);
        failure = failed;
    }

    println!();
    if let Some(line) = &failure {
        println!("{line}");
    }
    print!("{}", summary::table(&reports));
    println!("{}", summary::final_line(summary::totals(&reports)));
    Ok(if failure.is_some() { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn included(selection: Selection) -> Vec<&'static str> {
        (0..STAGE_NAMES.len())
            .filter(|index| selection.includes(*index))
            .map(|index| STAGE_NAMES[index])
            .collect()
    }

    #[test]
    fn selections() {
        assert_eq!(included(Selection::All), STAGE_NAMES);
        assert_eq!(
            included(Selection::From("sandbox".into())),
            ["sandbox", "wasm", "e2e"]
        );
        assert_eq!(
            included(Selection::From("sim".into())),
            ["sim", "sandbox", "wasm", "e2e"]
        );
        assert_eq!(included(Selection::Only("unit".into())), ["unit"]);
        assert!(included(Selection::Only("nope".into())).is_empty());
    }

    #[test]
    fn stages_match_the_names_in_order_with_their_commands() {
        let all = stages(Path::new("/repo"), "/usr/bin/chromedriver");
        let names: Vec<&str> = all.iter().map(|stage| stage.name).collect();
        assert_eq!(names, STAGE_NAMES);
        let lines: Vec<String> = all
            .iter()
            .map(|stage| process::display(&stage.command))
            .collect();
        assert_eq!(lines[0], "cargo fmt --all -- --check");
        assert_eq!(
            lines[2],
            "cargo clippy -p rc-pkce -p rc-pkce-core --target wasm32-unknown-unknown --all-targets -- -D warnings"
        );
        assert_eq!(lines[4], "cargo test --profile tool -p sim");
        assert!(
            lines[6].contains("CHROMEDRIVER=/usr/bin/chromedriver")
                && lines[6].contains("WASM_BINDGEN_TEST_TIMEOUT=60")
                && lines[6].ends_with("cargo test -p rc-pkce --target wasm32-unknown-unknown"),
            "{}",
            lines[6]
        );
        assert_eq!(
            lines[7],
            "CHROMEDRIVER=/usr/bin/chromedriver cargo test --profile tool -p e2e"
        );
    }

    #[test]
    fn only_wasm_and_e2e_need_the_browser() {
        let browser: Vec<&str> = STAGE_NAMES
            .into_iter()
            .filter(|name| needs_browser(name))
            .collect();
        assert_eq!(browser, ["wasm", "e2e"]);
    }
}
