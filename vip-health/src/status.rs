//! What the monitor reports: [`HealthEvent`]s on transitions and a [`CheckStatus`] snapshot
//! per check.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::track::TrackState;

/// A change of a check's reported state (after rise/fall and damping), or of a file check's
/// adjustment while it is up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthEvent<O> {
    /// The owner the check was started with (e.g. the VRRP instance).
    pub owner: O,
    /// The check's name.
    pub check: String,
    /// The reported state.
    pub up: bool,
    /// The state as the instance's tracked object: what to give the engine.
    pub track: TrackState,
    /// Whether flap damping is holding the check down.
    pub suppressed: bool,
    /// Why: the last probe's error or result, or the damping decision.
    pub reason: String,
}

/// A check's state as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckState {
    /// No result yet (initial `first_result`).
    Unknown,
    /// Up.
    Up,
    /// Down.
    Down,
}

impl CheckState {
    /// `None` (no decision yet) is [`Unknown`](Self::Unknown).
    pub(crate) fn from_option(state: Option<bool>) -> Self {
        match state {
            None => Self::Unknown,
            Some(true) => Self::Up,
            Some(false) => Self::Down,
        }
    }
}

/// The outcome of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProbeResult {
    /// The probe passed.
    Ok,
    /// The probe failed.
    Fail,
}

/// A snapshot of one check, for status reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CheckStatus {
    /// The check's name.
    pub name: String,
    /// Reported state (after rise/fall and damping).
    pub state: CheckState,
    /// State after rise/fall, before damping.
    pub filtered: CheckState,
    /// The state as the instance's tracked object now (before the first result, the initial
    /// one: [`CheckConfig::initially_up`](crate::CheckConfig::initially_up)).
    pub track: TrackState,
    /// The last probe's outcome.
    pub last_result: Option<ProbeResult>,
    /// How long the last probe took.
    #[serde(serialize_with = "serialize_latency_ms", rename = "last_latency_ms")]
    pub last_latency: Option<Duration>,
    /// Consecutive successful probes up to now.
    pub consecutive_successes: u32,
    /// Consecutive failed probes up to now.
    pub consecutive_failures: u32,
    /// The last failure's error text (kept after later successes).
    pub last_error: Option<String>,
    /// What the last successful probe saw, e.g. `HTTP 200`.
    pub last_detail: Option<String>,
    /// Probes run.
    pub probes: u64,
    /// Transitions of the reported state.
    pub transitions: u64,
    /// Flap-damping penalty as of the last probe (0 without damping).
    pub penalty: f64,
    /// Whether flap damping holds the check down.
    pub suppressed: bool,
}

#[allow(clippy::ref_option)]
fn serialize_latency_ms<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        None => s.serialize_none(),
        Some(d) => s.serialize_f64(d.as_secs_f64() * 1000.0),
    }
}
