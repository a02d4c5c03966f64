//! rc-pkce's developer tasks, run as `cargo xtask <command>`: the one entry point that installs the
//! toolchain (`setup`), runs the app locally (`dev`), runs every check CI runs (`test`) and the bench
//! (`bench`), and writes the hosting configs of a deployment (`deploy`, `csp`), so a fresh clone
//! needs nothing but cargo.
//!
//! Module map:
//! - [`cli`]: the command line, parsed by hand, and the usage text.
//! - [`process`]: PATH lookup, the environment every child gets, running and stopping children.
//! - [`lockfile`]: reads the pinned `wasm-bindgen` version out of Cargo.lock.
//! - [`setup`]: detects the tools and installs what is missing.
//! - [`dev`]: port checks, then the sandbox and `trunk serve` until Ctrl-C.
//! - [`supervise`]: keeps the dev servers together and stops them all on the way out.
//! - [`test`]: the CI stages, in order.
//! - [`summary`]: libtest summary parsing, totals, the stage table and the final line.
//! - [`bench`]: the bench binary, with the browser set up, then the size report.
//! - [`sizes`]: the bytes of each wasm module per crate, built with names and optimised as shipped.
//! - [`sim`]: the deterministic simulator, built for speed.
//! - [`deploy`]: `deploy` and `csp`, the per-deployment hosting configs (`_headers`, `_redirects`,
//!   nginx) and the Content-Security-Policy computed from config.json.

mod bench;
mod cli;
mod deploy;
mod dev;
mod first_load;
mod lockfile;
mod process;
mod setup;
mod sim;
mod sizes;
mod summary;
mod supervise;
mod test;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A failure to report as one line; `code` is the process exit code (2 for usage errors and for
/// conditions the user must fix before retrying, 1 otherwise).
#[derive(Debug)]
pub struct Error {
    pub message: String,
    pub code: u8,
}

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }

    pub fn with_code(mut self, code: u8) -> Self {
        self.code = code;
        self
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The workspace root. xtask is always built from this workspace, so its manifest dir's parent is
/// the root no matter which directory `cargo xtask` was typed in.
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match cli::parse(&args) {
        Ok(command) => command,
        Err(cli::ParseError::Help) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(cli::ParseError::Invalid(message)) => {
            if let Some(message) = message {
                eprintln!("xtask: {message}");
            }
            eprintln!("{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let result = match command {
        cli::Command::Setup { browser } => setup::run(browser).map(|_| 0),
        cli::Command::Dev => dev::run(),
        cli::Command::Test(selection) => test::run(&selection),
        cli::Command::Bench { args } => bench::run(&args),
        cli::Command::Sizes(options) => sizes::run(&options),
        cli::Command::Sim { args } => sim::run(&args),
        cli::Command::Deploy(options) => deploy::run_deploy(&options),
        cli::Command::Csp(options) => deploy::run_csp(&options),
        cli::Command::HashFirstLoad => first_load::run().map_err(Error::new),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("{}", error.message);
            ExitCode::from(error.code)
        }
    }
}
