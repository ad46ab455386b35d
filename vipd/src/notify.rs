//! Notify hooks: commands run on each state change, like keepalived's `notify`,
//! `notify_master`, `notify_backup`, `notify_fault` and `notify_stop`.
//!
//! No shell is involved: a command is an argument vector (use `["sh", "-c", "..."]` to ask for
//! one). A generic `command` gets keepalived's arguments, so keepalived notify scripts work
//! unchanged: `INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>`; a sync group's generic
//! `command` gets keepalived's group arguments, `GROUP <name> <MASTER|BACKUP|FAULT|STOP>`
//! ([`Notifier::notify_group`]; its hooks see the group's name in `VIPD_INSTANCE` and all its
//! members' VIPs in `VIPD_VIPS`). Every hook also gets
//! `VIPD_INSTANCE`, `VIPD_STATE`, `VIPD_REASON`, `VIPD_PRIORITY` and `VIPD_VIPS` in its
//! environment.
//!
//! # Scheduling
//!
//! Each instance has its own runner task, so a slow or hung hook of one instance never delays
//! another instance's hooks, nor the VRRP event loop. Within an instance hooks run one at a
//! time and in order. While a hook runs, at most one notification waits: a newer one replaces
//! it, and the replaced one is dropped and counted ([`Notifier::stats`]). A flapping instance
//! thus runs at most the hook in progress and then the hooks of its latest state, never a
//! backlog of states it has long left. A notification replaced while its first hook (the
//! state's own) runs also skips its generic `command`. At shutdown the Stop notification is
//! the latest, so it always runs: [`Notifier::finish`] lets every runner serve what is
//! pending, bounded by a deadline.
//!
//! # Processes
//!
//! Each hook runs in its own process group with stdin from `/dev/null`, as the user of
//! `run_as` (or the configuration's `script_user`) with no capabilities, else as vipd's own
//! user ([`vip_health::RunAs`]). Past its timeout the
//! whole group gets SIGKILL (so whatever the hook started dies with it) and the hook is reaped
//! before the next one starts. A hook that exits in time may leave background processes
//! behind on purpose; they are not touched.
//!
//! # Environment
//!
//! Hooks inherit the daemon's environment without its secrets ([`is_withheld`]): every
//! variable whose name starts with `VIPD_` (`VIPD_PASSWORD`, the VRRPv2 password, above all;
//! vipd then sets its own five) or ends in `_PASSWORD`, `_TOKEN` or `_SECRET`, compared
//! without regard to ASCII case. A hook that needs a secret reads it from a file.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use tokio::process::Command;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, warn};
use vrrp_core::State;

use crate::duration::ConfigDuration;

/// The hooks of one instance, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySpec {
    /// Run on every change, with keepalived's arguments appended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Run on becoming Master.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub master: Vec<String>,
    /// Run on becoming Backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backup: Vec<String>,
    /// Run on entering Fault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fault: Vec<String>,
    /// Run on stopping (shutdown or handover complete).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// How long a hook may run before it is killed.
    #[serde(default = "default_timeout")]
    pub timeout: ConfigDuration,
    /// The user and group the hooks run as, with no capabilities (keepalived's `notify_*`
    /// `username [groupname]`); default the configuration's `script_user`, else vipd's own
    /// user. In a validated plan it holds numeric ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<vip_health::RunAsSpec>,
}

const fn default_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(10)
}

impl Default for NotifySpec {
    /// No hook, and the 10 s timeout a configuration file gets when it names none.
    fn default() -> Self {
        Self {
            command: Vec::new(),
            master: Vec::new(),
            backup: Vec::new(),
            fault: Vec::new(),
            stop: Vec::new(),
            timeout: default_timeout(),
            run_as: None,
        }
    }
}

impl NotifySpec {
    /// Each hook with its field name: `command`, `master`, `backup`, `fault`, `stop`.
    #[must_use]
    pub fn hooks(&self) -> [(&'static str, &Vec<String>); 5] {
        [
            ("command", &self.command),
            ("master", &self.master),
            ("backup", &self.backup),
            ("fault", &self.fault),
            ("stop", &self.stop),
        ]
    }

    /// Whether no hook is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.command.is_empty()
            && self.master.is_empty()
            && self.backup.is_empty()
            && self.fault.is_empty()
            && self.stop.is_empty()
    }
}

/// keepalived's name of a state in notify arguments.
#[must_use]
pub const fn keepalived_state(state: State) -> &'static str {
    match state {
        State::Master => "MASTER",
        State::Backup => "BACKUP",
        State::Fault => "FAULT",
        State::Initialize => "STOP",
    }
}

/// One state change to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The instance's name.
    pub instance: String,
    /// The new state.
    pub state: State,
    /// Why, in words.
    pub reason: String,
    /// The effective priority.
    pub priority: u8,
    /// The VIPs, in CIDR form.
    pub vips: Vec<String>,
}

/// How a hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It exited with this status code (`None`: killed by a signal).
    Exited(Option<i32>),
    /// It ran past its timeout and was killed, with its process group.
    TimedOut,
    /// It could not be started.
    Failed(String),
}

/// Whether the variable `name` is kept from hooks: vip-health's one rule for the programs vipd
/// runs ([`vip_health::is_secret_env`]): names starting with `VIPD_` or ending in `_PASSWORD`,
/// `_TOKEN` or `_SECRET`, in any ASCII case.
#[must_use]
pub fn is_withheld(name: &OsStr) -> bool {
    vip_health::is_secret_env(name)
}

/// The environment hooks start from, secrets removed (see [`is_withheld`]); vipd's own
/// `VIPD_*` variables are added for each hook.
#[derive(Debug, Clone)]
pub struct HookEnv {
    vars: Arc<[(OsString, OsString)]>,
}

impl HookEnv {
    /// This process's environment, without its secrets.
    #[must_use]
    pub fn inherited() -> Self {
        Self::from_vars(std::env::vars_os())
    }

    /// `vars` without their secrets.
    #[must_use]
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        Self {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .filter(|(k, _)| !is_withheld(k))
                .collect(),
        }
    }

    /// The variables a hook gets before vipd's own.
    pub fn vars(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }
}

/// Kills a hook's process group when dropped (the hook's task aborted), unless disarmed once
/// the hook was reaped.
struct GroupKiller {
    pgid: Option<Pid>,
}

impl GroupKiller {
    fn kill(&self) {
        if let Some(pgid) = self.pgid {
            // ESRCH: the whole group is gone already.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs one hook in this process's environment, secrets removed; see [`run_hook_in`].
pub async fn run_hook(argv: &[String], note: &Notification, timeout: Duration) -> Outcome {
    run_hook_in(argv, note, timeout, &HookEnv::inherited()).await
}

/// Runs one hook as vipd's own user; see [`run_hook_as`].
pub async fn run_hook_in(
    argv: &[String],
    note: &Notification,
    timeout: Duration,
    env: &HookEnv,
) -> Outcome {
    run_hook_as(argv, note, timeout, env, None).await
}

/// Runs one hook, in its own process group, with `env` and vipd's variables, as `user` (with
/// no capabilities, see [`vip_health::RunAs`]) or vipd's own user, to completion or timeout.
/// On timeout the whole group is killed and the hook reaped before this returns (killing
/// another user's processes needs `CAP_KILL` when vipd is not that user).
pub async fn run_hook_as(
    argv: &[String],
    note: &Notification,
    timeout: Duration,
    env: &HookEnv,
    user: Option<vip_health::RunAs>,
) -> Outcome {
    let Some((program, args)) = argv.split_first() else {
        return Outcome::Failed("empty command".into());
    };
    let mut cmd = Command::new(program);
    if let Some(user) = user {
        user.apply(&mut cmd);
    }
    cmd.args(args)
        .env_clear()
        .envs(env.vars())
        .env("VIPD_INSTANCE", &note.instance)
        .env("VIPD_STATE", keepalived_state(note.state))
        .env("VIPD_REASON", &note.reason)
        .env("VIPD_PRIORITY", note.priority.to_string())
        .env("VIPD_VIPS", note.vips.join(","))
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let who = user.map(|u| format!(" as {u}")).unwrap_or_default();
            return Outcome::Failed(format!("cannot start {program:?}{who}: {e}"));
        }
    };
    // Declared after `child`, so dropped (and the group killed) before it.
    let mut killer = GroupKiller {
        pgid: child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    };
    let outcome = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => Outcome::Exited(status.code()),
        Ok(Err(e)) => Outcome::Failed(format!("waiting for {program:?}: {e}")),
        Err(_) => {
            // The leader is not reaped yet, so its pid still names the group.
            killer.kill();
            // SIGKILL cannot be ignored: this returns at once, and leaves no zombie.
            let _ = child.wait().await;
            Outcome::TimedOut
        }
    };
    killer.pgid = None;
    outcome
}

/// The commands `spec` runs for `note`, in order: the state's own hook, then the generic one.
#[must_use]
pub fn commands_for(spec: &NotifySpec, note: &Notification) -> Vec<Vec<String>> {
    commands_of(spec, note, Subject::Instance)
}

/// The commands `spec` runs for a sync group's `note`: as [`commands_for`], but the generic
/// command gets keepalived's group arguments, `GROUP <name> <state>` (no priority).
#[must_use]
pub fn group_commands_for(spec: &NotifySpec, note: &Notification) -> Vec<Vec<String>> {
    commands_of(spec, note, Subject::Group)
}

/// Whose state a notification reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Instance,
    Group,
}

fn commands_of(spec: &NotifySpec, note: &Notification, subject: Subject) -> Vec<Vec<String>> {
    let specific = match note.state {
        State::Master => &spec.master,
        State::Backup => &spec.backup,
        State::Fault => &spec.fault,
        State::Initialize => &spec.stop,
    };
    let mut out = Vec::new();
    if !specific.is_empty() {
        out.push(specific.clone());
    }
    if !spec.command.is_empty() {
        let mut generic = spec.command.clone();
        let state = keepalived_state(note.state).to_owned();
        match subject {
            Subject::Instance => generic.extend([
                "INSTANCE".to_owned(),
                note.instance.clone(),
                state,
                note.priority.to_string(),
            ]),
            Subject::Group => generic.extend(["GROUP".to_owned(), note.instance.clone(), state]),
        }
        out.push(generic);
    }
    out
}

/// What the hooks of one instance did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotifyStats {
    /// Notifications whose hooks were started.
    pub started: u64,
    /// Notifications dropped unrun, replaced by a newer one while a hook ran.
    pub dropped: u64,
}

type Report = dyn Fn(&Notification, &[String], &Outcome) + Send + Sync;

/// A notification waiting for its instance's runner.
struct Job {
    spec: NotifySpec,
    note: Notification,
    subject: Subject,
}

#[derive(Default)]
struct Pending {
    /// The latest notification not yet started.
    job: Option<Job>,
    /// No notification comes any more: serve `job`, then end.
    closed: bool,
}

/// What an instance's runner shares with the [`Notifier`].
#[derive(Default)]
struct Lane {
    pending: Mutex<Pending>,
    wake: Notify,
    started: AtomicU64,
    dropped: AtomicU64,
}

impl Lane {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn close(&self) {
        self.pending().closed = true;
        self.wake.notify_one();
    }

    /// The next notification to serve, or `None` once closed and drained.
    async fn next(&self) -> Option<Job> {
        loop {
            {
                let mut pending = self.pending();
                if let Some(job) = pending.job.take() {
                    return Some(job);
                }
                if pending.closed {
                    return None;
                }
            }
            // A wake-up sent since the check above is kept as a permit: none is lost.
            self.wake.notified().await;
        }
    }

    fn stats(&self) -> NotifyStats {
        NotifyStats {
            started: self.started.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

/// An instance's runner: serves its lane until the lane is closed and drained.
async fn serve(lane: Arc<Lane>, report: Arc<Report>, env: HookEnv) {
    let mut dropped_seen = 0;
    while let Some(Job {
        spec,
        note,
        subject,
    }) = lane.next().await
    {
        // A validated plan holds ids, which resolve without a lookup.
        let user = match spec.run_as.as_ref().map(vip_health::RunAsSpec::resolve) {
            Some(Ok(user)) => Some(user),
            Some(Err(e)) => {
                warn!(error = %e, "notify: the hooks' run_as cannot be resolved; not run");
                continue;
            }
            None => None,
        };
        lane.started.fetch_add(1, Ordering::Relaxed);
        let dropped = lane.dropped.load(Ordering::Relaxed);
        if dropped > dropped_seen {
            info!(
                state = keepalived_state(note.state),
                skipped = dropped - dropped_seen,
                "notify: running the latest state's hooks, superseded notifications skipped"
            );
            dropped_seen = dropped;
        }
        for (i, argv) in commands_of(&spec, &note, subject).iter().enumerate() {
            if i > 0 && lane.pending().job.is_some() {
                debug!(
                    state = keepalived_state(note.state),
                    "notify: superseded while its hook ran, generic command skipped"
                );
                break;
            }
            let outcome = run_hook_as(argv, &note, spec.timeout.to_duration(), &env, user).await;
            report(&note, argv, &outcome);
        }
    }
}

struct Runner {
    lane: Arc<Lane>,
    task: JoinHandle<()>,
}

/// Runs the notify hooks: one runner task per instance, each keeping only its latest
/// pending notification (see the [module docs](self)).
pub struct Notifier {
    runners: Mutex<BTreeMap<String, Runner>>,
    report: Arc<Report>,
    env: HookEnv,
    runtime: tokio::runtime::Handle,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("instances", &self.runners().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// Starts a notifier (inside a tokio runtime) whose hooks get this process's environment,
    /// secrets removed. `report` is called with each hook's outcome, from the instance's
    /// runner.
    pub fn spawn<F>(report: F) -> Self
    where
        F: Fn(&Notification, &[String], &Outcome) + Send + Sync + 'static,
    {
        Self::spawn_with_env(report, HookEnv::inherited())
    }

    /// Like [`spawn`](Self::spawn), with `env` as the hooks' environment.
    pub fn spawn_with_env<F>(report: F, env: HookEnv) -> Self
    where
        F: Fn(&Notification, &[String], &Outcome) + Send + Sync + 'static,
    {
        Self {
            runners: Mutex::new(BTreeMap::new()),
            report: Arc::new(report),
            env,
            runtime: tokio::runtime::Handle::current(),
        }
    }

    fn runners(&self) -> MutexGuard<'_, BTreeMap<String, Runner>> {
        self.runners.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `note` to its instance's runner; returns at once. A notification of that
    /// instance still waiting is dropped: only the latest one runs.
    pub fn notify(&self, spec: &NotifySpec, note: Notification) {
        self.enqueue(note.instance.clone(), spec, note, Subject::Instance);
    }

    /// Hands the notification of sync group `note.instance` to the group's own runner
    /// (keyed `sync_group <name>` in [`stats`](Self::stats)), as [`notify`](Self::notify)
    /// does for an instance; its generic command gets [`group_commands_for`]'s arguments.
    pub fn notify_group(&self, spec: &NotifySpec, note: Notification) {
        self.enqueue(
            format!("sync_group {}", note.instance),
            spec,
            note,
            Subject::Group,
        );
    }

    fn enqueue(&self, lane_key: String, spec: &NotifySpec, note: Notification, subject: Subject) {
        if spec.is_empty() {
            return;
        }
        let mut runners = self.runners();
        let runner = runners.entry(lane_key).or_insert_with(|| {
            let lane = Arc::new(Lane::default());
            let span = info_span!("notify", instance = %note.instance);
            let task = self.runtime.spawn(
                serve(
                    Arc::clone(&lane),
                    Arc::clone(&self.report),
                    self.env.clone(),
                )
                .instrument(span),
            );
            Runner { lane, task }
        });
        let state = note.state;
        let superseded = runner.lane.pending().job.replace(Job {
            spec: spec.clone(),
            note,
            subject,
        });
        if let Some(old) = superseded {
            runner.lane.dropped.fetch_add(1, Ordering::Relaxed);
            debug!(
                instance = %old.note.instance,
                dropped = keepalived_state(old.note.state),
                latest = keepalived_state(state),
                "notify: a hook is running, the pending notification is replaced by a newer one"
            );
        }
        runner.lane.wake.notify_one();
    }

    /// What the hooks of `instance` did so far (zeros for an instance never notified).
    #[must_use]
    pub fn stats(&self, instance: &str) -> NotifyStats {
        self.runners()
            .get(instance)
            .map(|r| r.lane.stats())
            .unwrap_or_default()
    }

    /// How many notifications of `instance` were dropped, replaced by a newer one.
    #[must_use]
    pub fn dropped(&self, instance: &str) -> u64 {
        self.stats(instance).dropped
    }

    /// Lets every instance's runner finish its running hook and run the one pending (a Stop
    /// hook, typically), all at once, waiting at most `within`; returns whether all finished
    /// in time. Hooks still running then are killed with their process groups.
    pub async fn finish(self, within: Duration) -> bool {
        let runners = std::mem::take(&mut *self.runners());
        for runner in runners.values() {
            runner.lane.close();
        }
        let deadline = tokio::time::Instant::now() + within;
        let mut all = true;
        for (instance, mut runner) in runners {
            if tokio::time::timeout_at(deadline, &mut runner.task)
                .await
                .is_err()
            {
                all = false;
                warn!(%instance, "notify hooks still running at the deadline, killed");
                runner.task.abort();
                // Returns once the hook's future is dropped, its process group killed.
                let _ = runner.task.await;
            }
        }
        all
    }
}

impl Drop for Notifier {
    /// The runners serve what is pending and then end, on their own.
    fn drop(&mut self) {
        for runner in self.runners().values() {
            runner.lane.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_gets_keepalived_group_arguments() {
        let spec = NotifySpec {
            command: vec!["/bin/hook".into()],
            fault: vec!["/bin/fault".into()],
            ..NotifySpec::default()
        };
        let note = Notification {
            instance: "G1".into(),
            state: State::Fault,
            reason: "sync group".into(),
            priority: 0,
            vips: vec![],
        };
        assert_eq!(
            group_commands_for(&spec, &note),
            [
                vec!["/bin/fault"],
                vec!["/bin/hook", "GROUP", "G1", "FAULT"]
            ]
        );
        assert_eq!(
            commands_for(&spec, &note)[1],
            ["/bin/hook", "INSTANCE", "G1", "FAULT", "0"]
        );
    }

    #[test]
    fn secrets_and_vipds_own_variables_are_withheld() {
        for name in [
            "VIPD_PASSWORD",
            "VIPD_STATE",
            "vipd_anything",
            "DB_PASSWORD",
            "GITHUB_TOKEN",
            "api_token",
            "CLIENT_SECRET",
            "Aws_Secret",
        ] {
            assert!(is_withheld(OsStr::new(name)), "{name}");
        }
        for name in [
            "PATH",
            "HOME",
            "PASSWORD_FILE",
            "TOKENS",
            "SECRETARY",
            "MY_VIPD_X",
        ] {
            assert!(!is_withheld(OsStr::new(name)), "{name}");
        }
    }

    #[test]
    fn a_hook_environment_keeps_the_rest_in_order() {
        let env = HookEnv::from_vars([
            ("PATH", "/bin"),
            ("VIPD_PASSWORD", "hunter2"),
            ("LANG", "C"),
            ("X_TOKEN", "t"),
        ]);
        let kept: Vec<_> = env.vars().collect();
        assert_eq!(
            kept,
            [
                (OsStr::new("PATH"), OsStr::new("/bin")),
                (OsStr::new("LANG"), OsStr::new("C")),
            ]
        );
    }
}
