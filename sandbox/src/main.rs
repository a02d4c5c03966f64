//! The `sandbox` binary: parse the command line, bind, print where it is, serve until Ctrl-C.
//!
//! A bind failure (port in use, bad address) is one clear line on stderr and exit code 1, never a
//! stack trace, because developers hit it whenever a previous sandbox is still running.

use std::process::ExitCode;

use clap::Parser;
use sandbox::cli::Cli;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let listen = cli.listen.clone();
    let config = cli.into_config();
    let listener = match TcpListener::bind(listen.as_str()).await {
        Ok(l) => l,
        Err(e) => {
            let reason = match e.kind() {
                std::io::ErrorKind::AddrInUse => {
                    "address already in use (is another sandbox running?)".to_owned()
                }
                _ => e.to_string(),
            };
            eprintln!("sandbox: cannot listen on {listen}: {reason}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.ip().is_loopback())
        .unwrap_or(false);
    let banner_config = config.clone();
    let running = match sandbox::spawn(config, listener).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", sandbox::banner(&banner_config, running.base_url()));
    if !local {
        println!(
            "  warning: listening beyond loopback; the admin API still answers loopback clients only"
        );
    }
    if tokio::signal::ctrl_c().await.is_err() {
        eprintln!("sandbox: cannot wait for Ctrl-C; serving until killed");
        return match running.wait().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sandbox: {e}");
                ExitCode::FAILURE
            }
        };
    }
    running.shutdown().await;
    ExitCode::SUCCESS
}
