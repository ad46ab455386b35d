//! Exec checks: exit status, no shell unless asked, stderr as error text, and timeouts that
//! kill the process group and leave no zombie.

mod common;

use std::time::{Duration, Instant};

use common::{
    TempDir, check, eventually, first_event, next_event, parent_pid, process_state, start,
};

fn yaml_list(args: &[&str]) -> String {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "''")))
        .collect();
    format!("[{}]", quoted.join(", "))
}

#[tokio::test]
async fn exit_0_is_up_and_exit_1_is_down_with_the_first_stderr_line() {
    let up = first_event(check("name: s\nexec: { command: ['/bin/true'] }")).await;
    assert!(up.up, "{up:?}");
    assert_eq!(up.reason, "exit status 0");

    let down = first_event(check(&format!(
        "name: s\nexec: {{ command: {} }}",
        yaml_list(&["/bin/sh", "-c", "echo 'stdout is not captured'; echo 'db: connection refused' >&2; echo second >&2; exit 1"])
    )))
    .await;
    assert!(!down.up);
    assert_eq!(
        down.reason,
        "/bin/sh exited with status 1: db: connection refused"
    );
}

#[tokio::test]
async fn no_shell_unless_asked() {
    // Without a shell the whole string is the program name.
    let event = first_event(check("name: s\nexec: { command: ['test -d /'] }")).await;
    assert!(!event.up);
    assert!(
        event
            .reason
            .starts_with("cannot run test -d /: No such file or directory"),
        "{}",
        event.reason
    );
    // Arguments are passed verbatim: no expansion of `$HOME` or globs.
    let dir = TempDir::new();
    let marker = dir.path().join("$HOME");
    std::fs::write(&marker, "").unwrap();
    let event = first_event(check(&format!(
        "name: s\nexec: {{ command: {} }}",
        yaml_list(&["/usr/bin/test", "-f", marker.to_str().unwrap()])
    )))
    .await;
    assert!(event.up, "the literal file named $HOME exists: {event:?}");

    // With shell: true the string goes to /bin/sh -c.
    let ok = dir.write("ok", "");
    let event = first_event(check(&format!(
        "name: s\nexec: {{ command: ['test -f {} && exit 0'], shell: true }}",
        ok.display()
    )))
    .await;
    assert!(event.up, "{event:?}");
    let event = first_event(check(&format!(
        "name: s\nexec: {{ command: ['test -f {}/missing'], shell: true }}",
        dir.path().display()
    )))
    .await;
    assert!(!event.up);
    assert!(
        event.reason.starts_with("/bin/sh -c \"test -f"),
        "{}",
        event.reason
    );
    assert!(
        event.reason.contains("exited with status 1"),
        "{}",
        event.reason
    );
}

#[tokio::test]
async fn a_signal_is_reported() {
    let event = first_event(check(&format!(
        "name: s\nexec: {{ command: {} }}",
        yaml_list(&["/bin/sh", "-c", "kill -TERM $$"])
    )))
    .await;
    assert!(!event.up);
    assert_eq!(event.reason, "/bin/sh was killed by signal 15");
}

#[tokio::test]
async fn a_long_stderr_line_is_bounded() {
    let event = first_event(check(&format!(
        "name: s\nexec: {{ command: {} }}",
        yaml_list(&[
            "/bin/sh",
            "-c",
            "yes xxxxxxxxxx | head -n 1000 | paste -s -d x - >&2; exit 2"
        ])
    )))
    .await;
    assert!(!event.up);
    let stderr = event
        .reason
        .strip_prefix("/bin/sh exited with status 2: ")
        .unwrap_or_else(|| panic!("{}", event.reason));
    assert_eq!(stderr.len(), 203, "200 characters and an ellipsis");
    assert!(stderr.starts_with("xxxx") && stderr.ends_with("..."));
}

fn read_pid(path: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[tokio::test]
async fn a_timeout_kills_the_process_group_and_reaps_the_child() {
    let dir = TempDir::new();
    let child_pid = dir.path().join("child.pid");
    let grandchild_pid = dir.path().join("grandchild.pid");
    let script = format!(
        "echo $$ > {}; sleep 30 & echo $! > {}; wait",
        child_pid.display(),
        grandchild_pid.display()
    );
    let config = check(&format!(
        "name: slow\nexec: {{ command: {} }}\ninterval: 5s\ntimeout: 400ms",
        yaml_list(&["/bin/sh", "-c", &script])
    ));
    let started = Instant::now();
    let (monitor, mut events) = start(config);
    let event = next_event(&mut events, Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    assert!(!event.up);
    assert_eq!(event.reason, "timed out after 400ms running /bin/sh");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");

    let child = read_pid(&child_pid).expect("the script wrote its pid");
    let grandchild = read_pid(&grandchild_pid).expect("the script wrote its child's pid");
    // The direct child was reaped before the probe returned: no zombie left behind.
    assert_eq!(
        process_state(child),
        None,
        "pid {child} still exists (a zombie of ours?)"
    );
    // The background grandchild was in the same process group and was killed too; once
    // killed it is gone or a zombie of whoever adopted it, never a live process.
    assert!(
        eventually(Duration::from_secs(5), || {
            matches!(process_state(grandchild), None | Some('Z' | 'X'))
        })
        .await,
        "grandchild {grandchild} survived: {:?}",
        process_state(grandchild)
    );
    assert_ne!(
        parent_pid(grandchild),
        Some(i32::try_from(std::process::id()).unwrap())
    );
    monitor.stop().await;
}

async fn long_running(dir: &TempDir) -> (vip_health::HealthMonitor<String>, i32) {
    let pid_file = dir.path().join("pid");
    let script = format!("echo $$ > {}; exec sleep 30", pid_file.display());
    let config = check(&format!(
        "name: slow\nexec: {{ command: {} }}\ninterval: 20s\ntimeout: 10s",
        yaml_list(&["/bin/sh", "-c", &script])
    ));
    let (monitor, events) = start(config);
    drop(events);
    assert!(
        eventually(Duration::from_secs(5), || read_pid(&pid_file).is_some()).await,
        "the probe started"
    );
    let pid = read_pid(&pid_file).unwrap();
    assert_eq!(
        parent_pid(pid),
        Some(i32::try_from(std::process::id()).unwrap())
    );
    assert!(matches!(process_state(pid), Some('S' | 'R')), "running");
    (monitor, pid)
}

#[tokio::test]
async fn stopping_the_monitor_kills_a_running_exec_child() {
    let dir = TempDir::new();
    let (monitor, pid) = long_running(&dir).await;
    monitor.stop().await;
    // Killed at once; tokio reaps the killed child in the background.
    assert!(
        eventually(Duration::from_secs(5), || process_state(pid).is_none()).await,
        "pid {pid} is {:?} after stop",
        process_state(pid)
    );
}

#[tokio::test]
async fn dropping_the_monitor_kills_a_running_exec_child() {
    let dir = TempDir::new();
    let (monitor, pid) = long_running(&dir).await;
    drop(monitor);
    assert!(
        eventually(Duration::from_secs(5), || process_state(pid).is_none()).await,
        "pid {pid} is {:?} after drop",
        process_state(pid)
    );
}

#[tokio::test]
async fn a_missing_program_is_down_with_the_reason() {
    let event = first_event(check(
        "name: s\nexec: { command: ['/nonexistent/check', '--fast'] }",
    ))
    .await;
    assert!(!event.up);
    assert_eq!(
        event.reason,
        "cannot run /nonexistent/check: No such file or directory (os error 2)"
    );
}

/// Secrets stay with vipd: an exec check sees neither `VIPD_PASSWORD` nor any `*_TOKEN`,
/// `*_PASSWORD` or `*_SECRET` of vipd's environment, and keeps the rest. The test binary runs
/// itself again with those variables set, as vipd would have them, and the child half (which
/// does nothing on its own) runs the check.
#[test]
fn an_exec_check_gets_no_secrets_from_the_environment() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "secrets_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("VIPD_EXEC_SECRETS_CHILD", "1")
        .env("VIPD_PASSWORD", "s3cr3t")
        .env("API_TOKEN", "t0ken")
        .env("db_password", "pw")
        .env("KEEP_ME", "kept")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("secrets child: up"), "{text}");
}

#[tokio::test]
async fn secrets_child() {
    if std::env::var_os("VIPD_EXEC_SECRETS_CHILD").is_none() {
        return;
    }
    let script = "test -z \"$VIPD_PASSWORD\" && test -z \"$API_TOKEN\" && test -z \"$db_password\" \
                  && test -z \"$VIPD_EXEC_SECRETS_CHILD\" && test \"$KEEP_ME\" = kept || \
                  { env >&2; exit 1; }";
    let event = first_event(check(&format!(
        "name: s\nexec: {{ command: {} }}",
        yaml_list(&["/bin/sh", "-c", script])
    )))
    .await;
    assert!(event.up, "{event:?}");
    println!("secrets child: up");
}
