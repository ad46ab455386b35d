//! Notify hooks run as real processes: arguments, environment, order, timeout and reaping
//! (notify_abuse.rs: flapping, isolation, process groups, secrets, shutdown).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use vipd::notify::{Notification, Notifier, NotifySpec, Outcome, run_hook};
use vrrp_core::State;

fn note(state: State) -> Notification {
    Notification {
        instance: "VI_1".into(),
        state,
        reason: "master down timer expired".into(),
        priority: 150,
        vips: vec!["10.200.0.100/24".into()],
    }
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("vipd-notify-{}-{name}", std::process::id()))
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into(), "hook".into()]
}

#[tokio::test]
async fn keepalived_arguments_and_environment_reach_the_hook() {
    let out = scratch("args");
    let script = format!(
        "echo \"$@|$VIPD_INSTANCE|$VIPD_STATE|$VIPD_REASON|$VIPD_PRIORITY|$VIPD_VIPS\" > {}",
        out.display()
    );
    let spec = NotifySpec {
        command: sh(&script),
        ..NotifySpec::default()
    };
    let argv = vipd::notify::commands_for(&spec, &note(State::Master)).remove(0);
    let outcome = run_hook(&argv, &note(State::Master), Duration::from_secs(5)).await;
    assert_eq!(outcome, Outcome::Exited(Some(0)));
    let line = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    assert_eq!(
        line.trim(),
        "INSTANCE VI_1 MASTER 150|VI_1|MASTER|master down timer expired|150|10.200.0.100/24"
    );
}

#[tokio::test]
async fn a_hook_past_its_timeout_is_killed_and_reaped() {
    let pid_file = scratch("pid");
    let script = format!("echo $$ > {}; exec sleep 30", pid_file.display());
    let started = Instant::now();
    let outcome = run_hook(
        &sh(&script),
        &note(State::Backup),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(outcome, Outcome::TimedOut);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout did not fire"
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let _ = std::fs::remove_file(&pid_file);
    // Killed and reaped: no process, not even a zombie, is left with that pid.
    let status = std::path::Path::new("/proc")
        .join(pid.trim())
        .join("status");
    assert!(!status.exists(), "hook process {} still exists", pid.trim());
}

#[tokio::test]
async fn a_missing_program_is_reported_not_fatal() {
    let outcome = run_hook(
        &["/nonexistent/hook".into()],
        &note(State::Fault),
        Duration::from_secs(1),
    )
    .await;
    assert!(
        matches!(outcome, Outcome::Failed(ref m) if m.contains("cannot start")),
        "{outcome:?}"
    );
}

/// Hooks run in order, one at a time; a notification still waiting when a newer one comes is
/// dropped (Backup here, replaced by Stop while Master's hook runs).
#[tokio::test]
async fn hooks_run_in_order_without_blocking_the_caller() {
    let log = scratch("order");
    let _ = std::fs::remove_file(&log);
    let spec = NotifySpec {
        master: sh(&format!(
            "echo master-$VIPD_STATE >> {}; sleep 0.2",
            log.display()
        )),
        backup: sh(&format!("echo backup-$VIPD_STATE >> {}", log.display())),
        stop: sh(&format!("echo stop-$VIPD_STATE >> {}", log.display())),
        ..NotifySpec::default()
    };
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let notifier = Notifier::spawn(move |n, _, outcome| {
        let _ = done_tx.send((n.state, outcome.clone()));
    });
    let queued = Instant::now();
    notifier.notify(&spec, note(State::Master));
    assert!(
        queued.elapsed() < Duration::from_millis(100),
        "notify blocked the caller"
    );
    // Master's hook is running once it wrote its line.
    while std::fs::read_to_string(&log).unwrap_or_default().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for state in [State::Backup, State::Initialize] {
        notifier.notify(&spec, note(state));
    }
    for expected in [State::Master, State::Initialize] {
        let (state, outcome) = tokio::time::timeout(Duration::from_secs(10), done_rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!((state, outcome), (expected, Outcome::Exited(Some(0))));
    }
    assert_eq!(notifier.dropped("VI_1"), 1);
    assert!(notifier.finish(Duration::from_secs(5)).await);
    assert!(done_rx.try_recv().is_err(), "Backup's hook ran");
    let lines = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert_eq!(lines, "master-MASTER\nstop-STOP\n");
}
