//! Keeps a few long-running children (the dev servers) together: waits for a readiness condition
//! while watching for a stop request or a child that exits by itself, and stops them all on the way
//! out, so no server is left orphaned holding a port.

use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::Result;
use crate::process;

const POLL: Duration = Duration::from_millis(100);
/// How long servers get to shut down after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// What ended a wait.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// The readiness condition held.
    Ready,
    /// A stop was requested (Ctrl-C).
    Stopped,
    /// A child exited by itself.
    Died { name: String, status: ExitStatus },
    /// The deadline passed first.
    TimedOut,
}

#[derive(Default)]
pub struct Supervisor {
    children: Vec<(String, Child)>,
}

impl Supervisor {
    pub fn spawn(&mut self, name: &str, command: &mut Command) -> Result<()> {
        let child = process::spawn_group_leader(command)?;
        self.children.push((name.to_string(), child));
        Ok(())
    }

    /// Polls until `ready()` holds, `stop` is set, a child exits, or `timeout` passes. A stop or a
    /// death wins over readiness seen in the same round.
    pub fn wait(
        &mut self,
        stop: &AtomicBool,
        timeout: Option<Duration>,
        mut ready: impl FnMut() -> bool,
    ) -> Event {
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        loop {
            if stop.load(Ordering::SeqCst) {
                return Event::Stopped;
            }
            for (name, child) in &mut self.children {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        return Event::Died {
                            name: name.clone(),
                            status,
                        };
                    }
                    Ok(None) => {}
                    // Cannot happen for a child we own and have not reaped; treat it as gone.
                    Err(_) => {
                        return Event::Died {
                            name: name.clone(),
                            status: ExitStatus::default(),
                        };
                    }
                }
            }
            if ready() {
                return Event::Ready;
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Event::TimedOut;
            }
            thread::sleep(POLL);
        }
    }

    /// Stops every child (and what it started) and reaps it; returns how each ended, in spawn
    /// order. Children that already exited are reported as they ended.
    pub fn shutdown(&mut self) -> Vec<(String, Option<ExitStatus>)> {
        let (names, mut children): (Vec<String>, Vec<Child>) = self.children.drain(..).unzip();
        let statuses = process::stop_groups(&mut children, GRACE);
        names
            .into_iter()
            .zip(statuses)
            .map(|(name, status)| (name, status.ok()))
            .collect()
    }
}

impl Drop for Supervisor {
    /// An early return must not leave servers running.
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::sync::Arc;

    fn sleep(seconds: &str) -> Command {
        let mut command = Command::new("sleep");
        command.arg(seconds);
        command
    }

    #[test]
    fn a_child_that_dies_is_named_and_the_other_is_stopped() {
        let mut supervisor = Supervisor::default();
        supervisor.spawn("long", &mut sleep("30")).unwrap();
        supervisor.spawn("short", &mut sleep("0.2")).unwrap();
        let started = Instant::now();
        let event = supervisor.wait(&AtomicBool::new(false), None, || false);
        match event {
            Event::Died { name, status } => {
                assert_eq!(name, "short");
                assert!(status.success());
            }
            other => panic!("expected a death, got {other:?}"),
        }
        let ended = supervisor.shutdown();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(ended.len(), 2);
        assert_eq!(ended[0].0, "long");
        assert_eq!(ended[0].1.and_then(|status| status.signal()), Some(15));
        assert!(ended[1].1.is_some_and(|status| status.success()));
        assert!(supervisor.shutdown().is_empty());
    }

    #[test]
    fn a_stop_request_stops_both() {
        let mut supervisor = Supervisor::default();
        supervisor.spawn("one", &mut sleep("30")).unwrap();
        supervisor.spawn("two", &mut sleep("30")).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let setter = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(200));
                stop.store(true, Ordering::SeqCst);
            })
        };
        let started = Instant::now();
        assert_eq!(supervisor.wait(&stop, None, || false), Event::Stopped);
        setter.join().unwrap();
        let ended = supervisor.shutdown();
        assert!(started.elapsed() < Duration::from_secs(5));
        for (name, status) in ended {
            assert_eq!(
                status.and_then(|status| status.signal()),
                Some(15),
                "{name}"
            );
        }
    }

    #[test]
    fn readiness_and_timeout() {
        let mut supervisor = Supervisor::default();
        supervisor.spawn("server", &mut sleep("30")).unwrap();
        let stop = AtomicBool::new(false);
        let mut polls = 0;
        let ready = supervisor.wait(&stop, None, || {
            polls += 1;
            polls == 3
        });
        assert_eq!(ready, Event::Ready);
        let timed_out = supervisor.wait(&stop, Some(Duration::from_millis(250)), || false);
        assert_eq!(timed_out, Event::TimedOut);
        // Dropping the supervisor stops the child too.
    }

    #[test]
    fn dropping_stops_the_process_group() {
        let marker = std::env::temp_dir().join(format!("xtask-group-{}", std::process::id()));
        let _ = std::fs::remove_file(&marker);
        {
            let mut supervisor = Supervisor::default();
            // The grandchild writes the marker only if it survives its parent's group being stopped.
            let script = format!("(sleep 1; touch '{}') & wait", marker.display());
            let mut command = Command::new("sh");
            command.args(["-c", &script]);
            supervisor.spawn("shell", &mut command).unwrap();
            thread::sleep(Duration::from_millis(100));
        }
        thread::sleep(Duration::from_millis(1500));
        assert!(!marker.exists(), "a grandchild outlived the supervisor");
    }
}
