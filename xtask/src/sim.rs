//! `cargo xtask sim [args...]`: runs the deterministic simulator (the `sim` crate) built for
//! speed, passing every argument through (`--seed N`, `--steps N`, `--seconds N`, `--plant NAME`;
//! `cargo xtask sim --help` lists them). Its exit code is the simulator's: 1 when an invariant
//! broke.

use crate::process::{self, describe};
use crate::{Error, Result, workspace_root};

pub fn run(args: &[String]) -> Result<u8> {
    let mut command = process::cargo();
    command
        .args(["run", "--quiet", "--profile", "sim", "-p", "sim", "--"])
        .args(args)
        .current_dir(workspace_root());
    let status = process::run_inherited(&mut command)
        .map_err(|error| Error::new(format!("sim: {}", error.message)))?;
    match status.code() {
        Some(code @ 0..=2) => Ok(code as u8),
        _ => Err(Error::new(format!(
            "sim: failed ({}) — {}",
            describe(status),
            process::display(&command)
        ))),
    }
}
