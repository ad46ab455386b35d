//! Run a program: exit status 0 is up. No shell unless asked; the child gets its own process
//! group, no stdin or stdout, and a pipe for stderr whose first line becomes the error text.
//! On timeout (or when the probe is dropped) the whole group is killed with SIGKILL, and on
//! timeout the child is reaped before the probe returns.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::{AbortOnDrop, ProbeError, ProbeOk};
use crate::config::ExecCheck;

/// Bytes of stderr kept; the rest is drained and dropped.
const STDERR_LIMIT: usize = 4096;
/// Characters of the first stderr line put in the error text.
const STDERR_LINE_LIMIT: usize = 200;
/// How long to wait for stderr to close after the program exited (a background process it
/// left behind may hold it open).
const STDERR_GRACE: Duration = Duration::from_millis(100);

/// Kills the child's process group when dropped, unless disarmed after the child was reaped.
struct GroupKiller {
    pgid: Option<Pid>,
}

impl GroupKiller {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid {
            // ESRCH: the group is already gone.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

fn first_line(buf: &[u8]) -> String {
    let text = String::from_utf8_lossy(buf);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(STDERR_LINE_LIMIT).collect();
    if line.chars().count() > STDERR_LINE_LIMIT {
        out.push_str("...");
    }
    out
}

pub(crate) async fn probe(
    check: &ExecCheck,
    deadline: Instant,
    timeout: Duration,
) -> Result<ProbeOk, ProbeError> {
    let program = if check.shell {
        format!("/bin/sh -c {:?}", check.command[0])
    } else {
        check.command[0].clone()
    };
    let mut command = if check.shell {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(&check.command[0]);
        c
    } else {
        let mut c = Command::new(&check.command[0]);
        c.args(&check.command[1..]);
        c
    };
    // Secrets (the VRRPv2 password, tokens) stay with vipd.
    for (name, _) in std::env::vars_os() {
        if crate::env::is_secret_env(&name) {
            command.env_remove(name);
        }
    }
    if let Some(run_as) = check.run_as {
        run_as.apply(&mut command);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = command.spawn().map_err(|e| ProbeError::Spawn {
        program: program.clone(),
        message: match check.run_as {
            Some(run_as) if e.kind() == std::io::ErrorKind::PermissionDenied => format!(
                "{e} (running it as {run_as} needs CAP_SETUID and CAP_SETGID, and the program \
                 must be executable by that user)"
            ),
            _ => e.to_string(),
        },
    })?;
    let mut killer = GroupKiller {
        pgid: child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    };

    let stderr_buf = Arc::new(Mutex::new(Vec::new()));
    let reader = child.stderr.take().map(|mut pipe| {
        let buf = Arc::clone(&stderr_buf);
        AbortOnDrop(tokio::spawn(async move {
            let mut chunk = [0u8; 1024];
            loop {
                match pipe.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Ok(mut b) = buf.lock() {
                            let room = STDERR_LIMIT.saturating_sub(b.len());
                            b.extend_from_slice(&chunk[..n.min(room)]);
                        }
                    }
                }
            }
        }))
    });

    let status = tokio::select! {
        status = child.wait() => status,
        () = sleep_until(deadline) => {
            killer.kill();
            // Reap it: SIGKILL cannot be ignored, so this returns at once.
            let _ = child.wait().await;
            killer.pgid = None;
            return Err(ProbeError::Timeout { timeout, stage: "running", target: program });
        }
    };
    // The child is reaped; its group may live on in processes it left behind, which are not
    // ours to kill after a normal exit.
    killer.pgid = None;
    let status = status.map_err(|e| ProbeError::Io {
        what: format!("waiting for {program}"),
        message: e.to_string(),
    })?;
    if let Some(mut reader) = reader {
        let grace = deadline.min(Instant::now() + STDERR_GRACE);
        let _ = timeout_at(grace, &mut reader.0).await;
    }
    let stderr = stderr_buf
        .lock()
        .map(|b| first_line(&b))
        .unwrap_or_default();
    if status.success() {
        return Ok(ProbeOk::detail("exit status 0"));
    }
    if let Some(code) = status.code() {
        return Err(ProbeError::ExitStatus {
            program,
            code,
            stderr,
        });
    }
    Err(ProbeError::Signal {
        program,
        signal: status.signal().unwrap_or(0),
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::first_line;

    #[test]
    fn first_non_empty_line_bounded() {
        assert_eq!(first_line(b"\n  oops: bad\nmore\n"), "oops: bad");
        assert_eq!(first_line(b""), "");
        let long = vec![b'x'; 500];
        let line = first_line(&long);
        assert_eq!(line.len(), 203);
        assert!(line.ends_with("..."));
    }
}
