//! Notify hooks under abuse, with real processes: a flapping instance, a hung hook beside a
//! healthy instance, hooks that leave children behind, secrets in the environment, and the
//! Stop hooks at shutdown.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use vipd::notify::{HookEnv, Notification, Notifier, NotifySpec, Outcome, run_hook};
use vrrp_core::State;

/// What the report callback saw: instance, state, priority, outcome.
type Seen = (String, State, u8, Outcome);

fn note(instance: &str, state: State, priority: u8) -> Notification {
    Notification {
        instance: instance.into(),
        state,
        reason: "test".into(),
        priority,
        vips: vec!["10.200.0.100/24".into()],
    }
}

fn scratch(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("vipd-abuse-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into(), "hook".into()]
}

fn reporting() -> (Notifier, mpsc::UnboundedReceiver<Seen>) {
    reporting_with(HookEnv::inherited())
}

fn reporting_with(env: HookEnv) -> (Notifier, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let notifier = Notifier::spawn_with_env(
        move |n, _, outcome| {
            let _ = tx.send((n.instance.clone(), n.state, n.priority, outcome.clone()));
        },
        env,
    );
    (notifier, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>, within: Duration) -> Seen {
    tokio::time::timeout(within, rx.recv())
        .await
        .expect("no hook reported in time")
        .expect("the notifier is gone")
}

/// Waits until `path` holds a whole line, and returns it.
async fn line_of(path: &Path) -> String {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text.trim().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{} was never written", path.display());
}

/// Whether `pid` is a live process (a zombie is dead: it only waits for its parent).
fn alive(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X') | None)
        }
        Err(_) => false,
    }
}

/// Waits up to 3 s for `pid` to die (SIGKILL is delivered asynchronously).
async fn dies(pid: &str) -> bool {
    for _ in 0..120 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

/// A hook that starts a grandchild, writes its pid and the hook's own, and waits for it.
fn leaves_a_grandchild(pids: &Path) -> Vec<String> {
    sh(&format!(
        "sleep 30 & echo \"$$ $!\" > {}.tmp; mv {0}.tmp {0}; wait",
        pids.display()
    ))
}

#[tokio::test]
async fn a_flapping_instance_runs_the_hook_in_progress_and_then_only_its_latest_state() {
    let log = scratch("flap");
    let spec = NotifySpec {
        command: sh(&format!(
            "echo $VIPD_PRIORITY >> {}; sleep 1",
            log.display()
        )),
        ..NotifySpec::default()
    };
    let (notifier, mut rx) = reporting();
    notifier.notify(&spec, note("VI_1", State::Master, 0));
    // The first hook is running: every later notification arrives while it runs.
    assert_eq!(line_of(&log).await, "0");
    for i in 1..100u8 {
        let state = if i % 2 == 0 {
            State::Master
        } else {
            State::Backup
        };
        notifier.notify(&spec, note("VI_1", state, i));
    }
    let (_, state, priority, _) = next(&mut rx, Duration::from_secs(10)).await;
    assert_eq!((state, priority), (State::Master, 0));
    let (_, state, priority, _) = next(&mut rx, Duration::from_secs(10)).await;
    assert_eq!(
        (state, priority),
        (State::Backup, 99),
        "the latest state runs next"
    );
    let stats = notifier.stats("VI_1");
    assert!(notifier.finish(Duration::from_secs(5)).await);
    assert!(rx.try_recv().is_err(), "no other hook ran");
    let lines = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert_eq!(lines, "0\n99\n");
    assert_eq!((stats.started, stats.dropped), (2, 98));
    println!(
        "flapping: 100 notifications, 2 hooks run, {} dropped",
        stats.dropped
    );
}

#[tokio::test]
async fn a_hung_hook_never_delays_another_instances_hooks() {
    let pids = scratch("hung-pids");
    let hung = NotifySpec {
        master: leaves_a_grandchild(&pids),
        timeout: vipd::duration::ConfigDuration::from_secs(5),
        ..NotifySpec::default()
    };
    let quick = NotifySpec {
        master: sh("exit 0"),
        ..NotifySpec::default()
    };
    let (notifier, mut rx) = reporting();
    notifier.notify(&hung, note("VI_A", State::Master, 100));
    let _ = line_of(&pids).await;
    let sent = Instant::now();
    notifier.notify(&quick, note("VI_B", State::Master, 100));
    let (instance, _, _, outcome) = next(&mut rx, Duration::from_secs(4)).await;
    let latency = sent.elapsed();
    assert_eq!(instance, "VI_B", "VI_B's hook waited for VI_A's");
    assert_eq!(outcome, Outcome::Exited(Some(0)));
    println!("isolation: VI_B's hook done {latency:?} after its notification, VI_A's hung");
    let (instance, _, _, outcome) = next(&mut rx, Duration::from_secs(10)).await;
    assert_eq!((instance.as_str(), outcome), ("VI_A", Outcome::TimedOut));
    assert!(notifier.finish(Duration::from_secs(5)).await);
    let _ = std::fs::remove_file(&pids);
}

#[tokio::test]
async fn a_timed_out_hook_is_killed_with_everything_it_started() {
    let pids = scratch("group-pids");
    let outcome = run_hook(
        &leaves_a_grandchild(&pids),
        &note("VI_1", State::Master, 100),
        Duration::from_millis(500),
    )
    .await;
    assert_eq!(outcome, Outcome::TimedOut);
    let line = line_of(&pids).await;
    let _ = std::fs::remove_file(&pids);
    let (hook, grandchild) = line.split_once(' ').unwrap();
    // The hook was reaped before run_hook returned: not even a zombie is left.
    assert!(!Path::new("/proc").join(hook).exists(), "hook {hook} left");
    assert!(
        dies(grandchild).await,
        "the hook's child {grandchild} outlived it"
    );
}

#[tokio::test]
async fn hooks_still_running_at_the_finish_deadline_are_killed_with_their_group() {
    let pids = scratch("finish-pids");
    let spec = NotifySpec {
        master: leaves_a_grandchild(&pids),
        ..NotifySpec::default()
    };
    let (notifier, _rx) = reporting();
    notifier.notify(&spec, note("VI_1", State::Master, 100));
    let line = line_of(&pids).await;
    let _ = std::fs::remove_file(&pids);
    let started = Instant::now();
    assert!(!notifier.finish(Duration::from_millis(300)).await);
    assert!(started.elapsed() < Duration::from_secs(5), "finish overran");
    let (hook, grandchild) = line.split_once(' ').unwrap();
    assert!(dies(hook).await, "hook {hook} outlived finish");
    assert!(
        dies(grandchild).await,
        "the hook's child {grandchild} outlived finish"
    );
}

#[tokio::test]
async fn stop_hooks_run_at_finish_beside_a_hung_and_a_flapping_instance() {
    let log_a = scratch("stop-a");
    let log_b = scratch("stop-b");
    let hung = scratch("stop-a-hung");
    let a = NotifySpec {
        master: sh(&format!("echo $$ > {}; exec sleep 30", hung.display())),
        stop: sh(&format!("echo $VIPD_STATE >> {}", log_a.display())),
        timeout: vipd::duration::ConfigDuration::from_secs(1),
        ..NotifySpec::default()
    };
    let b = NotifySpec {
        command: sh(&format!(
            "echo $VIPD_STATE >> {}; sleep 0.3",
            log_b.display()
        )),
        ..NotifySpec::default()
    };
    let (notifier, _rx) = reporting();
    notifier.notify(&a, note("VI_A", State::Master, 100));
    notifier.notify(&b, note("VI_B", State::Backup, 100));
    // Both first hooks are running: VI_A's hangs, VI_B's takes 0.3 s.
    let hung_pid = line_of(&hung).await;
    let _ = std::fs::remove_file(&hung);
    assert_eq!(line_of(&log_b).await, "BACKUP");
    for i in 0..20u8 {
        let state = if i % 2 == 0 {
            State::Master
        } else {
            State::Backup
        };
        notifier.notify(&b, note("VI_B", state, 100));
    }
    notifier.notify(&a, note("VI_A", State::Initialize, 0));
    notifier.notify(&b, note("VI_B", State::Initialize, 0));
    let started = Instant::now();
    assert!(
        notifier.finish(Duration::from_secs(4)).await,
        "pending hooks did not finish"
    );
    println!("finish: every Stop hook done in {:?}", started.elapsed());
    let a_lines = std::fs::read_to_string(&log_a).unwrap_or_default();
    let b_lines = std::fs::read_to_string(&log_b).unwrap_or_default();
    let _ = std::fs::remove_file(&log_a);
    let _ = std::fs::remove_file(&log_b);
    assert_eq!(
        a_lines, "STOP\n",
        "VI_A's Stop hook, after its hung hook's timeout"
    );
    assert!(!alive(&hung_pid), "VI_A's hung hook was not killed");
    assert!(b_lines.ends_with("STOP\n"), "VI_B ran {b_lines:?}");
    assert_eq!(
        b_lines, "BACKUP\nSTOP\n",
        "VI_B ran its first hook and then Stop only"
    );
}

const SECRETS: [(&str, &str); 6] = [
    ("VIPD_PASSWORD", "hunter2"),
    ("DB_PASSWORD", "secret-db"),
    ("API_TOKEN", "secret-token"),
    ("aws_secret", "secret-aws"),
    ("VIPD_DEBUG_DUMP", "secret-vipd"),
    ("VIPD_STATE", "secret-state"),
];

/// Checks the `env` output of a hook: vipd's own variables, the ordinary ones, no secret.
fn assert_scrubbed(dump: &str) {
    for (name, value) in SECRETS {
        assert!(
            !dump.contains(value),
            "{name}'s value reached the hook:\n{dump}"
        );
    }
    for wanted in ["KEEP_ME=yes", "VIPD_STATE=MASTER", "VIPD_INSTANCE=VI_1"] {
        assert!(
            dump.lines().any(|l| l == wanted),
            "{wanted} missing:\n{dump}"
        );
    }
    assert!(dump.lines().any(|l| l.starts_with("PATH=")), "PATH missing");
    let vipd_vars = dump.lines().filter(|l| l.starts_with("VIPD_")).count();
    assert_eq!(vipd_vars, 5, "only vipd's five VIPD_ variables:\n{dump}");
}

#[tokio::test]
async fn secrets_in_the_given_environment_never_reach_a_hook() {
    let dump = scratch("env-given");
    let spec = NotifySpec {
        master: sh(&format!("env > {}", dump.display())),
        ..NotifySpec::default()
    };
    let mut vars: Vec<(String, String)> = SECRETS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    vars.push(("KEEP_ME".into(), "yes".into()));
    vars.push(("PATH".into(), std::env::var("PATH").unwrap()));
    let (notifier, _rx) = reporting_with(HookEnv::from_vars(vars));
    notifier.notify(&spec, note("VI_1", State::Master, 100));
    assert!(notifier.finish(Duration::from_secs(5)).await);
    let text = std::fs::read_to_string(&dump).unwrap();
    let _ = std::fs::remove_file(&dump);
    assert_scrubbed(&text);
}

/// Set by [`secrets_in_the_daemons_environment_never_reach_a_hook`] for the copy of this test
/// binary it runs with secrets in its environment.
const CHILD_OUT: &str = "NOTIFY_ABUSE_ENV_DUMP";

/// The half of the next test that runs in the child process; does nothing on its own.
#[tokio::test]
async fn inherited_environment_child() {
    let Some(dump) = std::env::var_os(CHILD_OUT) else {
        return;
    };
    let spec = NotifySpec {
        master: sh(&format!("env > {}", Path::new(&dump).display())),
        ..NotifySpec::default()
    };
    let (notifier, _rx) = reporting();
    notifier.notify(&spec, note("VI_1", State::Master, 100));
    assert!(notifier.finish(Duration::from_secs(5)).await);
}

#[test]
fn secrets_in_the_daemons_environment_never_reach_a_hook() {
    // The secrets go into a child's environment: this process's own cannot be changed safely
    // while other tests run.
    let dump = scratch("env-inherited");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "inherited_environment_child", "--test-threads=1"])
        .envs(SECRETS)
        .env("KEEP_ME", "yes")
        .env(CHILD_OUT, &dump)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&dump).unwrap();
    let _ = std::fs::remove_file(&dump);
    assert_scrubbed(&text);
}
