//! `cargo xtask bench [args...]`: runs the e2e crate's `bench` binary (which drives Chromium against
//! the sandbox) after making sure the browser tools are installed, then prints the size report
//! ([`crate::sizes`]) so a change in the figures comes with the crates that caused it.

use crate::process::{self, describe};
use crate::{Error, Result, setup, sizes, workspace_root};

pub fn run(args: &[String]) -> Result<u8> {
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
    let status = process::run_inherited(&mut command)
        .map_err(|error| Error::new(format!("bench: {}", error.message)))?;
    if status.success() {
        let asked_for_help = args.iter().any(|a| a == "--help" || a == "-h");
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
