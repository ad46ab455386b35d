//! The [`Snapshot`] behind `/status`, `/metrics` and `vipd status`, built by the event loop
//! between two inputs so that every figure in it is from the same instant.

use std::time::{Instant, SystemTime};

use vrrp_core::{MasterInfo, Router, State};

use super::discovery::Discovery;
use super::executor::{Instances, Managed};
use super::health::Health;
use crate::status::{self, Snapshot};

/// What the snapshot is taken from.
pub(super) struct Sources<'a> {
    pub(super) router: &'a Router,
    pub(super) instances: &'a Instances,
    pub(super) health: &'a Health,
    pub(super) discovery: &'a Discovery,
    pub(super) started: Instant,
    pub(super) stopping: bool,
}

/// Everything `/status` and `/metrics` report, as of now.
pub(super) fn take(s: &Sources<'_>) -> Snapshot {
    let now = Instant::now();
    let clock = Clock {
        now,
        wall: SystemTime::now(),
    };
    let instances = s
        .instances
        .iter()
        .filter_map(|(key, m)| {
            let i = s.router.instance(key)?;
            let mut report = instance(&clock, *key, m, i, s.health);
            report.unicast = unicast(&clock, m, i, s.discovery);
            Some(report)
        })
        .collect();
    Snapshot {
        version: crate::VERSION.to_owned(),
        uptime_seconds: clock.ago(s.started),
        ready: !s.stopping,
        unmatched: s.router.stats().counters().map(counter).collect(),
        instances,
        sync_groups: s
            .router
            .sync_groups()
            .map(|(group, state)| status::SyncGroupReport {
                name: group.name.clone(),
                state,
                members: group
                    .members
                    .iter()
                    .filter_map(|key| s.instances.get(key).map(|m| m.plan.name.clone()))
                    .collect(),
            })
            .collect(),
    }
}

/// The instant a snapshot is taken, on both clocks.
struct Clock {
    now: Instant,
    wall: SystemTime,
}

impl Clock {
    fn ago(&self, t: Instant) -> f64 {
        self.now.saturating_duration_since(t).as_secs_f64()
    }

    fn unix(&self, t: Instant) -> Option<f64> {
        self.wall
            .checked_sub(self.now.saturating_duration_since(t))
            .and_then(|w| w.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
    }

    fn peer(&self, p: &MasterInfo, local: bool) -> status::Peer {
        status::Peer {
            address: p.address,
            priority: p.priority,
            interval_ms: u64::from(p.interval.as_centis().get()) * 10,
            age_seconds: if local { 0.0 } else { self.ago(p.seen) },
            local,
        }
    }
}

fn counter((name, value): (&'static str, u64)) -> status::Counter {
    status::Counter {
        name: name.to_owned(),
        value,
    }
}

/// The unicast peers of an instance, `None` if it is multicast.
fn unicast(
    clock: &Clock,
    m: &Managed,
    i: &vrrp_core::Instance,
    discovery: &Discovery,
) -> Option<status::UnicastReport> {
    if !i.config().is_unicast() {
        return None;
    }
    let static_peers = m.plan.engine.unicast_peers.clone();
    let discovered: Vec<_> = i
        .config()
        .unicast_peers
        .iter()
        .filter(|p| !static_peers.contains(p))
        .copied()
        .collect();
    let watch = discovery.status(m.plan.name());
    let source = match (static_peers.is_empty(), m.plan.discovery.is_some()) {
        (false, true) => "static+kubernetes",
        (true, true) => "kubernetes",
        (_, false) => "static",
    };
    Some(status::UnicastReport {
        source: source.to_owned(),
        static_peers,
        discovered,
        discovery: watch.map(|(objects, w)| status::DiscoveryReport {
            objects,
            synced: w.synced,
            age_seconds: w.confirmed.map(|t| clock.ago(t)),
            error: w.error,
        }),
    })
}

fn instance(
    clock: &Clock,
    key: vrrp_core::InstanceKey,
    m: &Managed,
    i: &vrrp_core::Instance,
    health: &Health,
) -> status::InstanceReport {
    let state = i.state();
    let contributions = i
        .tracks()
        .map(|t| status::Contribution {
            name: t.name.to_owned(),
            weight: t.weight,
            up: t.up,
            effect: t.effect.adjustment(),
        })
        .collect();
    let master = match state {
        State::Master => i.primary_address().map(|address| {
            clock.peer(
                &MasterInfo {
                    address,
                    priority: i.effective_priority(),
                    interval: i.config().advert_interval,
                    seen: clock.now,
                },
                true,
            )
        }),
        State::Backup => i.master().map(|p| clock.peer(&p, false)),
        _ => None,
    };
    let mut transitions: Vec<status::Transition> = m
        .transitions
        .iter()
        .map(|(to, reason, count)| status::Transition {
            to: *to,
            reason: reason.to_string(),
            count: *count,
        })
        .collect();
    transitions.sort_by(|a, b| (a.to.as_str(), &a.reason).cmp(&(b.to.as_str(), &b.reason)));
    let excluded = &m.plan.engine.excluded_addresses;
    let configured = |wanted: bool| -> Vec<String> {
        m.plan
            .vips
            .iter()
            .filter(|v| excluded.contains(&v.addr) == wanted)
            .map(|v| m.plan.vip_text(v))
            .collect()
    };
    status::InstanceReport {
        name: m.plan.name.clone(),
        interface: m.plan.interface.clone(),
        vip_interface: m.plan.vip_interface.clone(),
        vrid: key.vrid.get(),
        family: key.family,
        version: m.plan.engine.version,
        state,
        since_seconds: i.state_since().map(|t| clock.ago(t)),
        since_unix: i.state_since().and_then(|t| clock.unix(t)),
        reason: i.last_reason().map(|r| r.to_string()),
        fault: i.fault().map(|r| r.to_string()),
        base_priority: m.plan.engine.priority.get(),
        effective_priority: i.effective_priority(),
        contributions,
        master,
        vips: configured(false),
        vips_excluded: configured(true),
        vips_held: m
            .held
            .iter()
            .map(|(addr, prefix)| format!("{addr}/{prefix}"))
            .collect(),
        peers: i.peers().iter().map(|p| clock.peer(p, false)).collect(),
        transitions,
        counters: i.stats().counters().map(counter).collect(),
        announcements: m.announcements,
        vip_add_failures: m.add_failures,
        vip_remove_failures: m.remove_failures,
        checks: health.reports(&key),
        unicast: None,
    }
}
