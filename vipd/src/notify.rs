//! Notify hooks: commands run on each state change, like keepalived's `notify`,
//! `notify_master`, `notify_backup`, `notify_fault` and `notify_stop`.
//!
//! Hooks run on their own task, one at a time and in order, so a slow hook never delays the
//! VRRP event loop and the hooks of one instance see its changes in sequence. Each has a
//! timeout after which it is killed and reaped. No shell is involved: a command is an argument
//! vector (use `["sh", "-c", "..."]` to ask for one).
//!
//! A generic `command` gets keepalived's arguments, so keepalived notify scripts work
//! unchanged: `INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>`. Every hook also gets
//! `VIPD_INSTANCE`, `VIPD_STATE`, `VIPD_REASON`, `VIPD_PRIORITY` and `VIPD_VIPS` in its
//! environment.

use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::process::Command;
use tokio::sync::mpsc;
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
        }
    }
}

impl NotifySpec {
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
    /// It ran past its timeout and was killed.
    TimedOut,
    /// It could not be started.
    Failed(String),
}

/// Runs one hook to completion or timeout; the child is always reaped.
pub async fn run_hook(argv: &[String], note: &Notification, timeout: Duration) -> Outcome {
    let Some((program, args)) = argv.split_first() else {
        return Outcome::Failed("empty command".into());
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("VIPD_INSTANCE", &note.instance)
        .env("VIPD_STATE", keepalived_state(note.state))
        .env("VIPD_REASON", &note.reason)
        .env("VIPD_PRIORITY", note.priority.to_string())
        .env("VIPD_VIPS", note.vips.join(","))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return Outcome::Failed(format!("cannot start {program:?}: {e}")),
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => Outcome::Exited(status.code()),
        Ok(Err(e)) => Outcome::Failed(format!("waiting for {program:?}: {e}")),
        Err(_) => {
            // Kill and reap: no zombie is left behind.
            let _ = child.kill().await;
            Outcome::TimedOut
        }
    }
}

/// The commands `spec` runs for `note`, in order: the state's own hook, then the generic one.
#[must_use]
pub fn commands_for(spec: &NotifySpec, note: &Notification) -> Vec<Vec<String>> {
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
        generic.extend([
            "INSTANCE".to_owned(),
            note.instance.clone(),
            keepalived_state(note.state).to_owned(),
            note.priority.to_string(),
        ]);
        out.push(generic);
    }
    out
}

/// A queue of notifications served by one background task.
#[derive(Debug)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<(NotifySpec, Notification)>,
    task: tokio::task::JoinHandle<()>,
}

impl Notifier {
    /// Starts the task (inside a tokio runtime). `report` is called with each hook's outcome.
    pub fn spawn<F>(report: F) -> Self
    where
        F: Fn(&Notification, &[String], &Outcome) + Send + 'static,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<(NotifySpec, Notification)>();
        let task = tokio::spawn(async move {
            while let Some((spec, note)) = rx.recv().await {
                for argv in commands_for(&spec, &note) {
                    let outcome = run_hook(&argv, &note, spec.timeout.to_duration()).await;
                    report(&note, &argv, &outcome);
                }
            }
        });
        Self { tx, task }
    }

    /// Runs the hooks still queued (a Stop hook, typically) and ends the task, waiting at most
    /// `within`; returns whether it finished in time. Hooks still running then are killed.
    pub async fn finish(self, within: Duration) -> bool {
        let Self { tx, task } = self;
        drop(tx);
        tokio::time::timeout(within, task).await.is_ok()
    }

    /// Queues the hooks of `spec` for `note`; returns at once.
    pub fn notify(&self, spec: &NotifySpec, note: Notification) {
        if !spec.is_empty() {
            // The task ends only when every sender is gone, so this cannot fail while `self`
            // lives.
            let _ = self.tx.send((spec.clone(), note));
        }
    }
}
