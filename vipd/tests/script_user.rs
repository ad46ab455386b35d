//! Hooks and exec checks as another user (`script_user`, `run_as`): real processes report
//! their own credentials from /proc; `check-config` names unknown users and programs their
//! user could replace; `vipd run` refuses to start when it cannot switch users. Run as root
//! (CI does); elsewhere each test says it is skipped.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use vipd::config::Config;
use vipd::notify::{Notification, Notifier, Outcome};
use vrrp_core::State;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A directory under /tmp, removed on drop, that every user may write (the programs under test
/// run as nobody and write their reports here).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("vipd-script-user-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The credential lines of a /proc/PID/status text: Uid, Gid, Groups and the capability sets.
fn credentials(status: &str) -> BTreeMap<String, String> {
    status
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| matches!(*k, "Uid" | "Gid" | "Groups") || k.starts_with("Cap"))
        .map(|(k, v)| {
            (
                k.to_owned(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect()
}

/// Waits for `path` to be written (by a process running as another user).
async fn report(path: &Path) -> BTreeMap<String, String> {
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.contains("CapBnd")
        {
            return credentials(&text);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} was never written", path.display());
}

/// Asserts a report of a process running as `uid`/`gid` with no supplementary group and no
/// capability; its bounding set is the one it inherited (this test's), as documented.
fn assert_unprivileged(report: &BTreeMap<String, String>, uid: u32, gid: u32, what: &str) {
    let ours = credentials(&std::fs::read_to_string("/proc/self/status").unwrap());
    eprintln!("{what}: {report:?}");
    assert_eq!(report["Uid"], format!("{uid} {uid} {uid} {uid}"), "{what}");
    assert_eq!(report["Gid"], format!("{gid} {gid} {gid} {gid}"), "{what}");
    assert_eq!(report["Groups"], "", "{what}: supplementary groups");
    for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(report[set], "0000000000000000", "{what}: {set}");
    }
    assert_eq!(
        report["CapBnd"], ours["CapBnd"],
        "{what}: CapBnd is inherited"
    );
    // The test itself runs as root with capabilities: the switch is what removed them.
    assert_ne!(ours["CapEff"], "0000000000000000");
}

fn sh(script: &str, out: &Path) -> String {
    format!(
        "[sh, -c, '{script}', {}]",
        out.to_str().expect("a UTF-8 scratch path")
    )
}

#[tokio::test]
async fn hooks_and_exec_checks_run_as_the_configured_user_with_no_capabilities() {
    if !is_root() {
        eprintln!("skipped: switching users needs root (CI runs as root)");
        return;
    }
    let dir = Scratch::new("creds");
    let hook_out = dir.path("hook");
    let check_out = dir.path("check");
    let own_out = dir.path("own");
    let copy = "cat /proc/self/status > \"$0\"";
    // script_user for everything (nobody with the group daemon, gid 1), and one exec check
    // with a run_as of its own (ids, no lookup).
    let yaml = format!(
        "script_user: {{user: nobody, group: daemon}}\n\
         instances:\n\
         - {{interface: eth0, vrid: 51, vips: [10.200.0.100/24], notify: {{master: {hook}}},\n\
            checks: [{{name: by-default, exec: {{command: {check}}}}},\n\
                     {{name: own-user, exec: {{command: {own}, run_as: {{user: 65534, group: 65534}}}}}}]}}\n",
        hook = sh(copy, &hook_out),
        check = sh(copy, &check_out),
        own = sh(copy, &own_out),
    );
    let plan = Config::from_yaml(&yaml)
        .unwrap()
        .validate()
        .expect("a valid configuration");
    let inst = &plan.instances()[0];

    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let notifier = Notifier::spawn(move |_, _, outcome| {
        let _ = done_tx.send(outcome.clone());
    });
    notifier.notify(
        inst.notify(),
        Notification {
            instance: "VI_1".into(),
            state: State::Master,
            reason: "test".into(),
            priority: 100,
            vips: vec!["10.200.0.100/24".into()],
        },
    );
    let outcome = tokio::time::timeout(Duration::from_secs(10), done_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome, Outcome::Exited(Some(0)));
    assert!(notifier.finish(Duration::from_secs(5)).await);
    assert_unprivileged(&report(&hook_out).await, 65534, 1, "notify hook");

    let checks = inst.checks().iter().map(|c| ("VI_1".to_owned(), c.clone()));
    let (monitor, mut events) = vip_health::HealthMonitor::start(checks);
    for _ in 0..2 {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(event.up, "{event:?}");
    }
    monitor.stop().await;
    assert_unprivileged(&report(&check_out).await, 65534, 1, "exec check");
    assert_unprivileged(
        &report(&own_out).await,
        65534,
        65534,
        "exec check, own run_as",
    );
}

/// `vipd` with `args`, without the VIPD_* variables of this environment.
fn vipd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vipd"))
        .args(args)
        .env_remove("VIPD_CONFIG")
        .output()
        .expect("vipd runs")
}

fn config_file(dir: &Scratch, yaml: &str) -> String {
    let path = dir.path("vipd.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.to_str().unwrap().to_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unknown_users_and_groups_are_named_by_check_config() {
    let dir = Scratch::new("unknown");
    let file = config_file(
        &dir,
        "script_user: {user: no-such-user-vipd}\n\
         instances:\n\
         - {interface: eth0, vrid: 51, vips: [10.200.0.100/24],\n\
            notify: {master: [/bin/true], run_as: {user: root, group: no-such-group-vipd}},\n\
            checks: [{name: c, exec: {command: [/bin/true], run_as: {user: 4000000}}}]}\n",
    );
    let out = vipd(&["check-config", "--offline", &file]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for expected in [
        "script_user.user: no user \"no-such-user-vipd\" on this machine",
        "instances[0].notify.run_as.group: no group \"no-such-group-vipd\"",
        "instances[0].checks[0].exec.run_as.group: uid 4000000 has no entry in /etc/passwd",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

#[test]
fn a_program_its_own_user_could_replace_is_refused_unless_script_security_is_off() {
    if !is_root() {
        eprintln!("skipped: the files must be root's and nobody's (CI runs as root)");
        return;
    }
    let dir = Scratch::new("owned");
    // The directory is root's and not writable by others; the script is nobody's.
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = dir.path("hook.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&script, Some(65534), Some(65534)).unwrap();
    let yaml = |security: bool| {
        format!(
            "script_security: {security}\n\
             script_user: {{user: 65534, group: 65534}}\n\
             instances:\n\
             - {{interface: lo, vrid: 51, vips: [10.200.0.100/24], notify: {{master: [{}]}}}}\n",
            script.display()
        )
    };
    // Not --offline: the programs are checked on the machine they run on.
    let file = config_file(&dir, &yaml(true));
    let out = vipd(&["check-config", &file]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let expected = format!(
        "instances[0].notify.master[0]: \"{}\" runs as uid 65534 gid 65534 but {} is owned by a \
         user other than root",
        script.display(),
        script.display()
    );
    assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");

    let file = config_file(&dir, &yaml(false));
    let out = vipd(&["check-config", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The plan shows the resolved ids.
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("script_user"), "{shown}");
}

/// `vipd run` confined as the chart confines it (root with only NET_ADMIN and NET_RAW) refuses
/// a script user it could not switch to, at start; given SETUID, SETGID and KILL it goes on
/// (to the next problem here: the interface does not exist).
#[test]
fn run_refuses_a_script_user_it_cannot_switch_to() {
    if !is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and setpriv (CI has both)");
        return;
    }
    let dir = Scratch::new("caps");
    let file = config_file(
        &dir,
        "script_user: {user: 65534, group: 65534}\n\
         instances:\n\
         - {interface: vipd-none0, vrid: 51, vips: [10.200.0.100/24], notify: {master: [/bin/true]}}\n",
    );
    let confined = |bounding: &str| {
        Command::new("setpriv")
            .args([
                "--inh-caps=-all",
                &format!("--bounding-set=-all,{bounding}"),
                "--",
            ])
            .args([env!("CARGO_BIN_EXE_vipd"), "run", "-c", &file])
            .env_remove("VIPD_CONFIG")
            .output()
            .expect("setpriv runs")
    };
    let out = confined("+net_admin,+net_raw");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "instances[0].notify.master[0] (uid 65534 gid 65534) run as another user, but vipd \
             (uid 0) lacks the capabilities CAP_KILL, CAP_SETGID, CAP_SETUID"
        ),
        "{err}"
    );
    let out = confined("+net_admin,+net_raw,+setuid,+setgid,+kill");
    let err = stderr(&out);
    assert!(!err.contains("lacks the capabilities"), "{err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("vipd-none0"), "{err}");
}
