//! `cargo xtask dev`: the local loop. Builds and starts the sandbox OAuth server on 127.0.0.1:5001,
//! then `trunk serve` on port 5000 (Trunk.toml points the app at the sandbox), and keeps both up
//! until Ctrl-C or until one of them dies.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::process::{self, describe, display};
use crate::supervise::{Event, Supervisor};
use crate::{Error, Result, setup, workspace_root};

pub const APP_PORT: u16 = 5000;
pub const SANDBOX_PORT: u16 = 5001;
const SANDBOX_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Set by the Ctrl-C/SIGTERM handler; a static because the handler outlives every stack frame.
static STOP: AtomicBool = AtomicBool::new(false);

/// Who usually holds `port` when it is taken, for the hint.
fn usual_holder(port: u16) -> &'static str {
    if port == SANDBOX_PORT {
        "an earlier 'cargo xtask dev' or a sandbox"
    } else {
        "an earlier 'cargo xtask dev' or 'trunk serve'"
    }
}

fn port_in_use(port: u16) -> Error {
    Error::new(format!(
        "dev: port {port} is already in use — stop the other server ({}?) and run again",
        usual_holder(port)
    ))
    .with_code(2)
}

/// Whether something accepts TCP connections at `addr` right now.
fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Whether an HTTP server at `addr` answers `GET /` with 200. trunk serve listens before its first
/// build is done and answers 404 until then, so "accepts connections" is not "ready".
fn serves_ok(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!(
        "GET / HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        addr.port()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    status_is_ok(&head[..read])
}

/// `HTTP/1.x 200` at the start of a response.
fn status_is_ok(head: &[u8]) -> bool {
    // The status code is followed by a space even when the reason phrase is empty.
    head.starts_with(b"HTTP/1.") && head.get(8..13) == Some(b" 200 ".as_slice())
}

fn loopback(port: u16) -> [SocketAddr; 2] {
    [
        SocketAddr::from(([127, 0, 0, 1], port)),
        SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], port)),
    ]
}

/// Fails (exit code 2) if `port` on 127.0.0.1 cannot be bound, or if a server already answers on
/// it over IPv6 loopback (where `localhost` may resolve), so we never start a second pair of
/// servers that would only fail later with a less clear message.
pub fn check_port_free(port: u16) -> Result<()> {
    match TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))) {
        Ok(listener) => drop(listener),
        Err(error) if error.kind() == ErrorKind::AddrInUse => return Err(port_in_use(port)),
        Err(error) => {
            return Err(
                Error::new(format!("dev: cannot bind 127.0.0.1:{port}: {error}")).with_code(2),
            );
        }
    }
    if accepts(loopback(port)[1]) {
        return Err(port_in_use(port));
    }
    Ok(())
}

fn sandbox_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("tool").join("sandbox")
}

pub fn run() -> Result<u8> {
    setup::run(false)?;
    check_port_free(APP_PORT)?;
    check_port_free(SANDBOX_PORT)?;

    let root = workspace_root();
    let mut build = process::cargo();
    build
        .args(["build", "-p", "sandbox", "--profile", "tool"])
        .current_dir(&root);
    let status = process::run_inherited(&mut build)
        .map_err(|error| Error::new(format!("dev: {}", error.message)))?;
    if !status.success() {
        return Err(Error::new(format!(
            "dev: building the sandbox failed ({}) — {}",
            describe(status),
            display(&build)
        )));
    }

    // Installed only now: until here a Ctrl-C should simply end the build with everything else.
    ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst))
        .map_err(|error| Error::new(format!("dev: cannot install the Ctrl-C handler: {error}")))?;

    let mut servers = Supervisor::default();
    let sandbox_addr = format!("127.0.0.1:{SANDBOX_PORT}");
    let mut sandbox = process::command(sandbox_binary());
    sandbox.args(["--listen", &sandbox_addr]).current_dir(&root);
    servers
        .spawn("sandbox", &mut sandbox)
        .map_err(|error| Error::new(format!("dev: {}", error.message)))?;
    match servers.wait(&STOP, Some(SANDBOX_START_TIMEOUT), || {
        accepts(loopback(SANDBOX_PORT)[0])
    }) {
        Event::Ready => {}
        Event::TimedOut => {
            return Err(Error::new(format!(
                "dev: the sandbox did not accept connections on {sandbox_addr} within {} s — see its output above",
                SANDBOX_START_TIMEOUT.as_secs()
            )));
        }
        other => return finish(&mut servers, other),
    }

    let mut trunk = process::command("trunk");
    trunk.arg("serve").current_dir(&root);
    servers
        .spawn("trunk serve", &mut trunk)
        .map_err(|error| Error::new(format!("dev: {}", error.message)))?;
    // No deadline: the first build of the app takes minutes on a cold machine.
    let event = servers.wait(&STOP, None, || {
        loopback(APP_PORT).into_iter().any(serves_ok)
    });
    if event != Event::Ready {
        return finish(&mut servers, event);
    }
    println!(
        "rc-pkce is running: open http://localhost:{APP_PORT} and sign in as demo@example.com / demo-password (Ctrl-C stops both servers)"
    );
    let event = servers.wait(&STOP, None, || false);
    finish(&mut servers, event)
}

/// Stops the servers and turns the event that ended the session into the exit code or error.
fn finish(servers: &mut Supervisor, event: Event) -> Result<u8> {
    let stopped = servers.shutdown();
    match event {
        Event::Stopped => {
            let names: Vec<String> = stopped.into_iter().map(|(name, _)| name).collect();
            println!("dev: stopped {}", names.join(" and "));
            Ok(0)
        }
        Event::Died { name, status } => {
            let others: Vec<String> = stopped
                .into_iter()
                .map(|(other, _)| other)
                .filter(|other| *other != name)
                .collect();
            let also = if others.is_empty() {
                String::new()
            } else {
                format!("; stopped {} too", others.join(" and "))
            };
            Err(Error::new(format!(
                "dev: {name} exited by itself ({}) — see its output above{also}",
                describe(status)
            )))
        }
        Event::Ready | Event::TimedOut => Err(Error::new("dev: stopped unexpectedly")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_named() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let error = check_port_free(port).unwrap_err();
        assert_eq!(error.code, 2);
        assert_eq!(
            error.message,
            format!(
                "dev: port {port} is already in use — stop the other server (an earlier 'cargo xtask dev' or 'trunk serve'?) and run again"
            )
        );
    }

    #[test]
    fn a_free_port_passes() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The listener is dropped above, so the port is free again.
        check_port_free(port).unwrap();
    }

    #[test]
    fn the_sandbox_port_hint_names_the_sandbox() {
        assert_eq!(
            port_in_use(SANDBOX_PORT).message,
            "dev: port 5001 is already in use — stop the other server (an earlier 'cargo xtask dev' or a sandbox?) and run again"
        );
    }

    #[test]
    fn only_a_200_counts_as_serving() {
        assert!(status_is_ok(b"HTTP/1.1 200 OK\r\n"));
        assert!(!status_is_ok(b"HTTP/1.1 404 Not"));
        assert!(!status_is_ok(b"HTTP/1.1 2000"));
        assert!(!status_is_ok(b""));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            for answer in ["HTTP/1.1 404 Not Found\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"] {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 256];
                let _ = s.read(&mut buf);
                s.write_all(answer.as_bytes()).unwrap();
            }
        });
        assert!(!serves_ok(addr), "a 404 is not ready");
        assert!(serves_ok(addr), "a 200 is");
        server.join().unwrap();
    }

    #[test]
    fn accepts_sees_a_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(accepts(addr));
        drop(listener);
        assert!(!accepts(addr));
    }
}
