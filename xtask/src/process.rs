//! Helpers for the programs xtask starts: the PATH they all get, PATH lookup, running a child while
//! echoing and scanning its output, describing how it ended, and stopping a child's whole process
//! group.

use std::ffi::{OsStr, OsString};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Where `cargo install` puts binaries.
pub fn cargo_bin() -> PathBuf {
    let home = match std::env::var_os("CARGO_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let user_home = std::env::var_os("HOME").unwrap_or_default();
            Path::new(&user_home).join(".cargo")
        }
    };
    home.join("bin")
}

/// Directories that hold system daemons such as nginx, missing from a non-root user's PATH on
/// Debian; appended so the e2e test and our lookups find them all the same.
const SYSTEM_SBIN: [&str; 3] = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// The PATH every child gets: `$CARGO_HOME/bin` first, because a tool we just installed with
/// `cargo install` must win over an older copy elsewhere and a fresh shell may not have it on PATH
/// yet; then the inherited PATH; then the sbin directories it lacks.
pub fn child_path_from(cargo_bin: &Path, inherited: Option<&OsStr>) -> OsString {
    let mut dirs = vec![cargo_bin.to_path_buf()];
    if let Some(inherited) = inherited {
        dirs.extend(std::env::split_paths(inherited).filter(|dir| dir != cargo_bin));
    }
    for sbin in SYSTEM_SBIN {
        if !dirs.iter().any(|dir| dir == Path::new(sbin)) {
            dirs.push(PathBuf::from(sbin));
        }
    }
    // Only fails for a directory containing the separator, which the inherited PATH cannot hold.
    std::env::join_paths(dirs).unwrap_or_else(|_| inherited.unwrap_or_default().to_os_string())
}

pub fn child_path() -> &'static OsStr {
    static PATH: OnceLock<OsString> = OnceLock::new();
    PATH.get_or_init(|| child_path_from(&cargo_bin(), std::env::var_os("PATH").as_deref()))
}

/// `command -v` for a bare program name: the first executable file called `name` in `path`.
pub fn which_in(name: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

pub fn which(name: &str) -> Option<PathBuf> {
    which_in(name, child_path())
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// A command for `program` with the child PATH set; std then also searches that PATH for it.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    command.env("PATH", child_path());
    command
}

/// The cargo that is running xtask, so every stage uses the same toolchain.
pub fn cargo() -> Command {
    command(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The command line as a user would retype it: the environment we set (but PATH), then the
/// program's file name and the arguments.
pub fn display(command: &Command) -> String {
    let mut words = Vec::new();
    for (key, value) in command.get_envs() {
        if key == "PATH" {
            continue;
        }
        if let Some(value) = value {
            words.push(format!(
                "{}={}",
                key.to_string_lossy(),
                value.to_string_lossy()
            ));
        }
    }
    let program = Path::new(command.get_program());
    words.push(
        program
            .file_name()
            .unwrap_or(program.as_os_str())
            .to_string_lossy()
            .into_owned(),
    );
    words.extend(command.get_args().map(|arg| {
        let arg = arg.to_string_lossy();
        if arg.contains(' ') {
            format!("'{arg}'")
        } else {
            arg.into_owned()
        }
    }));
    words.join(" ")
}

/// "exit code 101" or "killed by signal 9", for one-line failure messages.
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    "no exit code".to_string()
}

fn spawn_error(command: &Command, error: io::Error) -> Error {
    Error::new(format!(
        "could not start '{}': {error} — is it installed and on PATH?",
        display(command)
    ))
}

/// Runs `command` with our terminal, returning how it ended.
pub fn run_inherited(command: &mut Command) -> Result<ExitStatus> {
    command
        .stdin(Stdio::null())
        .status()
        .map_err(|error| spawn_error(command, error))
}

/// Runs `command`, echoing each line of its stdout and stderr to ours as it arrives and collecting
/// whatever `scan` finds in those lines (from both streams, in no particular order).
pub fn run_scanned<T: Send>(
    command: &mut Command,
    scan: fn(&str) -> Option<T>,
) -> Result<(ExitStatus, Vec<T>)> {
    run_scanned_into(command, scan, io::stdout(), io::stderr())
}

/// [`run_scanned`] with the echo going to `out` and `err`.
fn run_scanned_into<T: Send>(
    command: &mut Command,
    scan: fn(&str) -> Option<T>,
    out: impl Write + Send,
    err: impl Write + Send,
) -> Result<(ExitStatus, Vec<T>)> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| spawn_error(command, error))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(Error::new("a child's output pipes were not set up"));
    };
    let found = thread::scope(|scope| {
        let from_out = scope.spawn(|| echo_and_scan(stdout, out, scan));
        let from_err = scope.spawn(|| echo_and_scan(stderr, err, scan));
        let mut found = from_out.join().unwrap_or_default();
        found.extend(from_err.join().unwrap_or_default());
        found
    });
    let status = child
        .wait()
        .map_err(|error| Error::new(format!("waiting for '{}': {error}", display(command))))?;
    Ok((status, found))
}

fn echo_and_scan<T>(from: impl Read, mut to: impl Write, scan: fn(&str) -> Option<T>) -> Vec<T> {
    let mut found = Vec::new();
    let mut reader = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                // A closed terminal must not stop the child: keep draining its pipe regardless.
                let _ = to.write_all(&line).and_then(|()| to.flush());
                if let Some(hit) = scan(&String::from_utf8_lossy(&line)) {
                    found.push(hit);
                }
            }
        }
    }
    found
}

/// Starts `command` as the leader of a new process group, so that a terminal's Ctrl-C reaches only
/// xtask (which then stops the children in order) and so that stopping the child also stops the
/// processes it started itself (trunk's cargo builds). On Linux the child also gets SIGTERM if xtask
/// dies without stopping it (SIGKILL, a crashed test harness): a server in its own group would
/// otherwise outlive xtask, keep its port and hold the caller's output pipe open.
pub fn spawn_group_leader(command: &mut Command) -> Result<Child> {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs between fork and exec and only calls prctl(2), which is
        // async-signal-safe and allocates nothing.
        unsafe {
            command.pre_exec(|| {
                if sys::prctl(sys::PR_SET_PDEATHSIG, sys::SIGTERM as std::ffi::c_ulong) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    command
        .stdin(Stdio::null())
        .spawn()
        .map_err(|error| spawn_error(command, error))
}

#[cfg(unix)]
mod sys {
    // pid_t is i32 and uid_t u32 on every Unix Rust supports for this project; neither call touches
    // memory we own, so both are safe to call with any argument.
    unsafe extern "C" {
        pub safe fn kill(pid: i32, signal: i32) -> i32;
        pub safe fn geteuid() -> u32;
        #[cfg(target_os = "linux")]
        pub fn prctl(option: i32, ...) -> i32;
    }
    #[cfg(target_os = "linux")]
    pub const PR_SET_PDEATHSIG: i32 = 1;
    pub const SIGTERM: i32 = 15;
    pub const SIGKILL: i32 = 9;
}

/// Whether we run as root, which decides between `apt-get` and `sudo apt-get`.
pub fn is_root() -> bool {
    #[cfg(unix)]
    {
        sys::geteuid() == 0
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Stops group leaders started by [`spawn_group_leader`]: SIGTERM to each whole group so servers can
/// clean up, SIGKILL to whatever is left after `grace`, and reaps every leader. Returns how each
/// leader ended, in order.
pub fn stop_groups(children: &mut [Child], grace: Duration) -> Vec<io::Result<ExitStatus>> {
    for child in children.iter() {
        signal_group(child, Signal::Terminate);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline
        && children
            .iter_mut()
            .any(|child| matches!(child.try_wait(), Ok(None)))
    {
        thread::sleep(Duration::from_millis(50));
    }
    children
        .iter_mut()
        .map(|child| {
            if let Ok(Some(status)) = child.try_wait() {
                // The leader is gone but members of its group (trunk's cargo) may linger.
                signal_group(child, Signal::Kill);
                return Ok(status);
            }
            signal_group(child, Signal::Kill);
            let _ = child.kill();
            child.wait()
        })
        .collect()
}

enum Signal {
    Terminate,
    Kill,
}

fn signal_group(child: &Child, signal: Signal) {
    #[cfg(unix)]
    {
        let signal = match signal {
            Signal::Terminate => sys::SIGTERM,
            Signal::Kill => sys::SIGKILL,
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            // A negative pid addresses the group; ESRCH once it is empty is expected and harmless.
            sys::kill(-pid, signal);
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (child, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[cfg(unix)]
    fn write_executable(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        fs::write(path, "#!/bin/sh\n").unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn which_finds_the_first_executable_and_skips_plain_files() {
        let root = temp_dir("which");
        let (first, second) = (root.join("a"), root.join("b"));
        fs::create_dir_all(&first).unwrap();
        fs::create_dir_all(&second).unwrap();
        write_executable(&first.join("tool"), 0o644);
        write_executable(&second.join("tool"), 0o755);
        write_executable(&first.join("other"), 0o755);
        write_executable(&second.join("other"), 0o755);
        let path = std::env::join_paths([&first, &second]).unwrap();

        assert_eq!(which_in("tool", &path), Some(second.join("tool")));
        assert_eq!(which_in("other", &path), Some(first.join("other")));
        assert_eq!(which_in("absent", &path), None);
        // A directory of that name is not a program.
        fs::create_dir_all(first.join("dir")).unwrap();
        assert_eq!(which_in("dir", &path), None);
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn which_finds_sh_on_the_real_path() {
        assert!(which("sh").is_some());
    }

    #[test]
    fn child_path_puts_cargo_bin_first_once_and_appends_sbin() {
        let cargo_bin = Path::new("/home/dev/.cargo/bin");
        let inherited = OsString::from("/usr/bin:/home/dev/.cargo/bin:/usr/sbin");
        let path = child_path_from(cargo_bin, Some(&inherited));
        let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        let expected: Vec<PathBuf> = [
            "/home/dev/.cargo/bin",
            "/usr/bin",
            "/usr/sbin",
            "/usr/local/sbin",
            "/sbin",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(dirs, expected);
    }

    #[test]
    fn child_path_without_inherited_path() {
        let path = child_path_from(Path::new("/c/bin"), None);
        assert_eq!(
            std::env::split_paths(&path).next(),
            Some(PathBuf::from("/c/bin"))
        );
    }

    #[test]
    fn display_shows_env_program_name_and_args() {
        let mut command = command("/usr/local/bin/cargo");
        command
            .args(["test", "-p", "e2e", "a b"])
            .env("CHROMEDRIVER", "/usr/bin/chromedriver");
        assert_eq!(
            display(&command),
            "CHROMEDRIVER=/usr/bin/chromedriver cargo test -p e2e 'a b'"
        );
    }

    #[cfg(unix)]
    #[test]
    fn describe_exit_codes_and_signals() {
        let status = Command::new("sh").args(["-c", "exit 3"]).status().unwrap();
        assert_eq!(describe(status), "exit code 3");
        let status = Command::new("sh")
            .args(["-c", "kill -9 $$"])
            .status()
            .unwrap();
        assert_eq!(describe(status), "killed by signal 9");
    }

    #[cfg(unix)]
    #[test]
    fn run_scanned_echoes_and_collects_from_both_streams() {
        fn digits(line: &str) -> Option<u32> {
            line.trim().strip_prefix("n=")?.parse().ok()
        }
        let mut command = command("sh");
        command.args(["-c", "echo n=1; echo n=2 >&2; echo other; printf n=3"]);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let (status, mut found) =
            run_scanned_into(&mut command, digits, &mut out, &mut err).unwrap();
        assert!(status.success());
        found.sort();
        assert_eq!(found, vec![1, 2, 3]);
        assert_eq!(String::from_utf8(out).unwrap(), "n=1\nother\nn=3");
        assert_eq!(String::from_utf8(err).unwrap(), "n=2\n");
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let mut command = command("xtask-no-such-program");
        let error = run_inherited(&mut command).unwrap_err();
        assert!(
            error
                .message
                .starts_with("could not start 'xtask-no-such-program'")
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_group_leader_is_terminated_when_its_parent_goes_away() {
        use std::os::unix::process::ExitStatusExt;
        // PR_SET_PDEATHSIG follows the thread that spawned the child, so a thread that ends stands
        // in for an xtask that is killed.
        let mut child = thread::spawn(|| {
            let mut command = Command::new("sleep");
            command.arg("60");
            spawn_group_leader(&mut command).unwrap()
        })
        .join()
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("the child outlived its parent thread");
            }
            thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.signal(), Some(sys::SIGTERM));
    }
}
