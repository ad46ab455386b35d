//! What a check's state means to the VRRP engine: [`TrackState`] and
//! [`CheckConfig::track_state`], the one place where a check's state is mapped onto its
//! instance's tracked object (with [`CheckConfig::track_weight`] and
//! [`CheckConfig::initially_up`], what the tracked object is created with).

use serde::Serialize;

use crate::config::{CheckConfig, CheckEffect, CheckKind};
use crate::spec::InitialState;
use crate::validate::MAX_WEIGHT;

/// A check's state as its instance's tracked object in the VRRP engine: what vipd passes to
/// `vrrp_core::Instance::set_track` (`weight: None`) or `set_track_weighted` (`Some`).
///
/// The engine (vrrp-core) owns keepalived's weight rule: a tracked object with a positive
/// weight adds it to the priority while up, one with a negative weight adds it while down,
/// and one with weight 0 puts the instance in Fault while down. This crate never computes a
/// priority: each check is one tracked object, created with [`CheckConfig::track_weight`] and
/// [`CheckConfig::initially_up`], and its state is reported as a `TrackState`
/// ([`CheckConfig::track_state`]):
///
/// | check | reported state | `TrackState` |
/// |---|---|---|
/// | not `file` | up or down | `{ up, weight: None }`: the static weight applies |
/// | `file` | up, adjustment `n` ≥ 0 | `{ up: true, weight: Some(n) }` |
/// | `file` | up, adjustment `n` < 0 | `{ up: false, weight: Some(n) }` |
/// | `file` | down | `{ up: false, weight: Some(0) }`: Fault |
///
/// A `file` check's adjustment is keepalived's `track_file`: the file's number times the
/// weight, above 253 counted as 253. A result at or below -254, or with `action: fault` any
/// non-zero number, fails the probe, so the check goes down (see [`FileCheck`]).
///
/// [`FileCheck`]: crate::FileCheck
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct TrackState {
    /// Whether the tracked object is up.
    pub up: bool,
    /// The tracked object's weight now, in -254..=254, for a check whose weight varies at run
    /// time (a `file` check); `None` for the others, whose weight is the static
    /// [`CheckConfig::track_weight`].
    pub weight: Option<i16>,
}

impl CheckConfig {
    /// Whether the check counts as up before its first report; what vipd gives the engine as
    /// the tracked object's initial state (`vrrp_core::Track::initially_up`).
    ///
    /// With [`InitialState::Up`] or [`InitialState::Down`], that state. With
    /// [`InitialState::FirstResult`] (keepalived's default) the state that changes nothing
    /// yet, as keepalived does for a script that has not exited: a fault check (and a file
    /// check) counts as down, so the instance is not eligible before the check passes once; a
    /// positive weight is not added (down); a negative weight is not subtracted (up).
    #[must_use]
    pub fn initially_up(&self) -> bool {
        match self.initial {
            InitialState::Up => true,
            InitialState::Down => false,
            _ => match (&self.kind, self.effect) {
                (CheckKind::File(_), _) | (_, CheckEffect::Fault) => false,
                (_, CheckEffect::Weight(w)) => w < 0,
            },
        }
    }

    /// The keepalived weight the tracked object is created with: 0 (Fault while down) for
    /// fault checks and for file checks (whose varying weight comes in every [`TrackState`]),
    /// else the check's weight.
    #[must_use]
    pub fn track_weight(&self) -> i16 {
        match (&self.kind, self.effect) {
            (CheckKind::File(_), _) | (_, CheckEffect::Fault) => 0,
            (_, CheckEffect::Weight(w)) => w,
        }
    }

    /// The tracked object's state while the check's reported state is `up`;
    /// `file_adjustment` is a file check's latest adjustment (ignored for other kinds). The
    /// mapping is tabled at [`TrackState`].
    #[must_use]
    pub fn track_state(&self, up: bool, file_adjustment: i32) -> TrackState {
        if !matches!(self.kind, CheckKind::File(_)) {
            return TrackState { up, weight: None };
        }
        if !up {
            return TrackState {
                up: false,
                weight: Some(0),
            };
        }
        let weight = i16::try_from(file_adjustment.clamp(-MAX_WEIGHT, MAX_WEIGHT)).unwrap_or(0);
        TrackState {
            up: weight >= 0,
            weight: Some(weight),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TrackState;
    use crate::{CheckConfig, CheckSpec};

    fn config(json: &str) -> CheckConfig {
        let spec: CheckSpec = serde_json::from_str(json).unwrap();
        spec.validate("checks[0]", &|_| None).unwrap()
    }

    const fn track(up: bool, weight: Option<i16>) -> TrackState {
        TrackState { up, weight }
    }

    #[test]
    fn checks_other_than_file_report_up_or_down_with_their_static_weight() {
        let fault = config(r#"{"name": "a", "tcp": {"address": "h:1"}}"#);
        let minus = config(r#"{"name": "a", "tcp": {"address": "h:1"}, "weight": -40}"#);
        let plus = config(r#"{"name": "a", "tcp": {"address": "h:1"}, "weight": 10}"#);
        for (c, weight) in [(&fault, 0), (&minus, -40), (&plus, 10)] {
            assert_eq!(c.track_weight(), weight);
            assert_eq!(c.track_state(true, 7), track(true, None));
            assert_eq!(c.track_state(false, 7), track(false, None));
        }
        assert!(!fault.initially_up() && minus.initially_up() && !plus.initially_up());
    }

    #[test]
    fn a_file_check_reports_its_adjustment_as_the_weight() {
        let file = config(r#"{"name": "f", "file": {"path": "/w"}, "weight": 10}"#);
        assert_eq!(file.track_weight(), 0);
        assert!(!file.initially_up());
        assert_eq!(file.track_state(true, 50), track(true, Some(50)));
        assert_eq!(file.track_state(true, 0), track(true, Some(0)));
        assert_eq!(file.track_state(true, -30), track(false, Some(-30)));
        assert_eq!(file.track_state(true, 253), track(true, Some(253)));
        assert_eq!(
            file.track_state(true, 9999),
            track(true, Some(254)),
            "clamped"
        );
        assert_eq!(file.track_state(false, 50), track(false, Some(0)), "Fault");
        let fault = config(r#"{"name": "f", "file": {"path": "/w"}, "action": "fault"}"#);
        assert_eq!(fault.track_state(true, 0), track(true, Some(0)));
        assert_eq!(fault.track_state(false, 0), track(false, Some(0)));
    }
}
