//! The health checks of every instance, run by one [`HealthMonitor`] keyed by the engine's
//! [`InstanceKey`], each check feeding the tracked object of the same name.

use std::time::Instant;

use tokio::sync::mpsc;
use tracing::{info, warn};
use vip_health::{CheckConfig, CheckState, HealthEvent, HealthMonitor, TrackState};
use vrrp_core::{InstanceKey, Router, Track, TrackEffect};

use super::executor::Instances;
use crate::status;

/// The checks, with the instance each belongs to.
type OwnedChecks = Vec<(InstanceKey, CheckConfig)>;

/// A monitor's event, tagged with the generation of the monitor that sent it.
pub(super) type Tagged = (u64, HealthEvent<InstanceKey>);

/// The running health checks.
pub(super) struct Health {
    /// The running monitor, with what it was started from.
    running: Option<(HealthMonitor<InstanceKey>, OwnedChecks)>,
    /// Which monitor is current: events of an older one are ignored.
    generation: u64,
    /// Where every monitor's events arrive, tagged with its generation.
    tx: mpsc::UnboundedSender<Tagged>,
}

impl Health {
    /// No checks yet; events will arrive on the returned receiver.
    pub(super) fn new() -> (Self, mpsc::UnboundedReceiver<Tagged>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let health = Self {
            running: None,
            generation: 0,
            tx,
        };
        (health, rx)
    }

    /// Starts the health checks of every instance, unless the same checks already run (a
    /// reload that leaves them alone keeps their rise/fall counts and damping).
    pub(super) fn restart(&mut self, instances: &Instances) {
        let wanted: OwnedChecks = instances
            .iter()
            .flat_map(|(key, m)| m.plan.checks.iter().map(|c| (*key, c.clone())))
            .collect();
        if self
            .running
            .as_ref()
            .is_some_and(|(_, running)| *running == wanted)
        {
            return;
        }
        // Dropping the old monitor stops its checks; its late events carry an old generation.
        self.running = None;
        self.generation += 1;
        if wanted.is_empty() {
            return;
        }
        info!(checks = wanted.len(), "starting health checks");
        let (monitor, mut events) = HealthMonitor::start(wanted.clone());
        let (tx, generation) = (self.tx.clone(), self.generation);
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if tx.send((generation, event)).is_err() {
                    return;
                }
            }
        });
        self.running = Some((monitor, wanted));
    }

    /// The generation of the current monitor: events tagged with another are stale.
    pub(super) const fn generation(&self) -> u64 {
        self.generation
    }

    /// Stops the checks and waits for them.
    pub(super) async fn stop(&mut self) {
        if let Some((monitor, _)) = self.running.take() {
            monitor.stop().await;
        }
    }

    /// Gives every instance the current state of its checks (after a reload restarted some
    /// instances, whose tracked objects start from their initial state).
    pub(super) fn sync(&self, now: Instant, router: &mut Router, instances: &Instances) {
        let Some((monitor, _)) = &self.running else {
            return;
        };
        for (key, status) in monitor.statuses() {
            if status.state == CheckState::Up || status.state == CheckState::Down {
                apply(now, router, instances, key, &status.name, status.track);
            }
        }
    }

    /// A check changed: tell its instance's engine, unless the event is from a monitor that
    /// a reload replaced.
    pub(super) fn event(
        &self,
        now: Instant,
        (generation, event): &Tagged,
        router: &mut Router,
        instances: &Instances,
    ) {
        if *generation != self.generation {
            return;
        }
        let Some(m) = instances.get(&event.owner) else {
            return;
        };
        let weight = event.track.weight.unwrap_or_else(|| {
            m.plan
                .checks
                .iter()
                .find(|c| c.name == event.check)
                .map_or(0, CheckConfig::track_weight)
        });
        let effect = Track::effect(weight, event.track.up);
        info!(
            instance = %m.plan.name,
            check = %event.check,
            up = event.up,
            fault = effect == TrackEffect::Fault,
            priority_delta = effect.adjustment(),
            suppressed = event.suppressed,
            reason = %event.reason,
            "health check changed"
        );
        apply(
            now,
            router,
            instances,
            event.owner,
            &event.check,
            event.track,
        );
    }

    /// The health checks of instance `key`, for the snapshot.
    pub(super) fn reports(&self, key: &InstanceKey) -> Vec<status::CheckReport> {
        let Some((monitor, _)) = &self.running else {
            return Vec::new();
        };
        monitor
            .statuses()
            .into_iter()
            .filter(|(owner, _)| owner == key)
            .map(|(_, c)| status::CheckReport {
                up: c.state == CheckState::Up,
                last_ok: c.last_result.map(|r| r == vip_health::ProbeResult::Ok),
                latency_seconds: c.last_latency.map(|d| d.as_secs_f64()),
                successes: c.consecutive_successes,
                failures: c.consecutive_failures,
                transitions: c.transitions,
                suppressed: c.suppressed,
                last_error: c.last_error,
                name: c.name,
            })
            .collect()
    }
}

/// Sets the tracked object `check` of instance `key` as the check reports it: up or down,
/// and for a check whose weight varies (a file check) its current weight.
fn apply(
    now: Instant,
    router: &mut Router,
    instances: &Instances,
    key: InstanceKey,
    check: &str,
    track: TrackState,
) {
    let Some(instance) = router.instance_mut(&key) else {
        return;
    };
    let result = match track.weight {
        Some(weight) => instance.set_track_weighted(now, check, track.up, weight),
        None => instance.set_track(now, check, track.up),
    };
    if let Err(e) = result {
        let name = instances.get(&key).map_or("", |m| m.plan.name.as_str());
        warn!(instance = %name, check, error = %e, "health check has no tracked object");
    }
}
