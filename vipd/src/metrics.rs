//! `/metrics`: a [`Snapshot`] as OpenMetrics text (Prometheus scrapes it as is).
//!
//! Every scrape encodes a fresh snapshot, so the figures are consistent with each other and
//! nothing is kept between scrapes. Metric names start with `vipd_`; instance metrics carry
//! the label `vrrp_instance` (the configured name; not `instance`, which Prometheus sets to
//! the scrape target), check metrics `vrrp_instance` and `check`.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use vrrp_core::State;

use crate::status::Snapshot;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(String, String)>;
type Counters = Family<Labels, Counter>;
type Gauges = Family<Labels, Gauge>;
type FloatGauges = Family<Labels, Gauge<f64, AtomicU64>>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn gauge(registry: &mut Registry, name: &str, help: &str) -> Gauges {
    let family = Gauges::default();
    registry.register(name, help, family.clone());
    family
}

fn float_gauge(registry: &mut Registry, name: &str, help: &str) -> FloatGauges {
    let family = FloatGauges::default();
    registry.register(name, help, family.clone());
    family
}

fn counter(registry: &mut Registry, name: &str, help: &str) -> Counters {
    let family = Counters::default();
    registry.register(name, help, family.clone());
    family
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Encodes `snap` as OpenMetrics text, ending with `# EOF`.
#[must_use]
pub fn render(snap: &Snapshot) -> String {
    let mut r = Registry::default();
    r.register(
        "vipd_build",
        "vipd's version",
        Info::new(vec![("version".to_owned(), snap.version.clone())]),
    );
    let uptime = float_gauge(&mut r, "vipd_uptime_seconds", "Seconds since vipd started");
    uptime.get_or_create(&Vec::new()).set(snap.uptime_seconds);
    let ready = gauge(
        &mut r,
        "vipd_ready",
        "1 while vipd runs, 0 once it is stopping",
    );
    ready.get_or_create(&Vec::new()).set(i64::from(snap.ready));
    let unmatched = counter(
        &mut r,
        "vipd_unmatched_adverts",
        "Adverts no instance could take, by why: vrid (not configured here), length (too short)",
    );
    for c in &snap.unmatched {
        unmatched
            .get_or_create(&labels(&[("reason", &c.name)]))
            .inc_by(c.value);
    }

    let state = gauge(
        &mut r,
        "vipd_instance_state",
        "1 for the state the instance is in, 0 for the others",
    );
    let master = gauge(
        &mut r,
        "vipd_instance_master",
        "1 while the instance is Master",
    );
    let base = gauge(&mut r, "vipd_instance_base_priority", "Configured priority");
    let effective = gauge(
        &mut r,
        "vipd_instance_effective_priority",
        "Priority advertised and elected with: base plus tracked checks' weights",
    );
    let since = float_gauge(
        &mut r,
        "vipd_instance_last_transition_timestamp_seconds",
        "Unix time of the instance's last state change",
    );
    let transitions = counter(
        &mut r,
        "vipd_instance_transitions",
        "State changes, by the state entered and the reason",
    );
    let held = gauge(
        &mut r,
        "vipd_instance_vips_held",
        "VIPs this node holds now",
    );
    let configured = gauge(&mut r, "vipd_instance_vips", "VIPs configured");
    let peers = gauge(&mut r, "vipd_instance_peers", "Routers heard from");
    let unicast_peers = gauge(
        &mut r,
        "vipd_instance_unicast_peers",
        "Unicast peers adverts go to, by source (static: unicast_peers; kubernetes: discovered)",
    );
    let discovery_synced = gauge(
        &mut r,
        "vipd_peer_discovery_synced",
        "Whether the peer discovery has received a complete list",
    );
    let list_age = float_gauge(
        &mut r,
        "vipd_peer_list_age_seconds",
        "Seconds since the Kubernetes API last answered the peer discovery: the age of the peer list",
    );
    let announcements = counter(
        &mut r,
        "vipd_announcements",
        "Gratuitous ARPs / unsolicited neighbour advertisements sent",
    );
    let add_failures = counter(
        &mut r,
        "vipd_vip_add_failures",
        "VIP additions (or lifetime renewals) the kernel refused",
    );
    let remove_failures = counter(
        &mut r,
        "vipd_vip_remove_failures",
        "VIP removals the kernel refused",
    );
    let adverts_sent = counter(&mut r, "vipd_adverts_sent", "Adverts sent");
    let adverts_received = counter(&mut r, "vipd_adverts_received", "Valid adverts received");
    let zero_sent = counter(
        &mut r,
        "vipd_priority_zero_adverts_sent",
        "Priority-0 adverts sent (resignations)",
    );
    let zero_received = counter(
        &mut r,
        "vipd_priority_zero_adverts_received",
        "Priority-0 adverts received",
    );
    let own = counter(
        &mut r,
        "vipd_own_adverts_received",
        "This node's own adverts looped back (ignored)",
    );
    let lower = counter(
        &mut r,
        "vipd_lower_priority_adverts_received",
        "Adverts of lower priority (or priority 0) heard while Master: another router thought it was Master; answered with an advert and announcements",
    );
    let rx_errors = counter(
        &mut r,
        "vipd_advert_errors",
        "Adverts rejected by the engine, by the check that failed (RFC 6527 statistics)",
    );
    let check_up = gauge(
        &mut r,
        "vipd_check_up",
        "1 while the health check counts as up",
    );
    let check_latency = float_gauge(
        &mut r,
        "vipd_check_latency_seconds",
        "Duration of the check's last probe",
    );
    let check_transitions = counter(
        &mut r,
        "vipd_check_transitions",
        "Times the check changed between up and down",
    );
    let check_suppressed = gauge(
        &mut r,
        "vipd_check_suppressed",
        "1 while flap damping holds the check down",
    );

    for i in &snap.instances {
        let inst = labels(&[("vrrp_instance", &i.name)]);
        for s in State::ALL {
            state
                .get_or_create(&labels(&[
                    ("vrrp_instance", &i.name),
                    ("state", s.as_str()),
                ]))
                .set(i64::from(i.state == s));
        }
        master
            .get_or_create(&inst)
            .set(i64::from(i.state == State::Master));
        base.get_or_create(&inst).set(i64::from(i.base_priority));
        effective
            .get_or_create(&inst)
            .set(i64::from(i.effective_priority));
        if let Some(t) = i.since_unix {
            since.get_or_create(&inst).set(t);
        }
        for t in &i.transitions {
            transitions
                .get_or_create(&labels(&[
                    ("vrrp_instance", &i.name),
                    ("to", t.to.as_str()),
                    ("reason", &t.reason),
                ]))
                .inc_by(t.count);
        }
        held.get_or_create(&inst).set(count(i.vips_held.len()));
        configured.get_or_create(&inst).set(count(i.vips.len()));
        peers.get_or_create(&inst).set(count(i.peers.len()));
        if let Some(u) = &i.unicast {
            for (source, n) in [
                ("static", u.static_peers.len()),
                ("kubernetes", u.discovered.len()),
            ] {
                unicast_peers
                    .get_or_create(&labels(&[("vrrp_instance", &i.name), ("source", source)]))
                    .set(count(n));
            }
            if let Some(d) = &u.discovery {
                discovery_synced
                    .get_or_create(&inst)
                    .set(i64::from(d.synced));
                if let Some(a) = d.age_seconds {
                    list_age.get_or_create(&inst).set(a);
                }
            }
        }
        announcements.get_or_create(&inst).inc_by(i.announcements);
        add_failures.get_or_create(&inst).inc_by(i.vip_add_failures);
        remove_failures
            .get_or_create(&inst)
            .inc_by(i.vip_remove_failures);
        for c in &i.counters {
            let family = match c.name.as_str() {
                "adverts_sent" => &adverts_sent,
                "adverts_received" => &adverts_received,
                "priority_zero_sent" => &zero_sent,
                "priority_zero_received" => &zero_received,
                "own_adverts" => &own,
                "lower_priority_received" => &lower,
                // Counted by vipd_instance_transitions, by state and reason.
                name if name == "master_transitions" || name.starts_with("master_reason_") => {
                    continue;
                }
                other => {
                    let kind = other.strip_prefix("error_").unwrap_or(other);
                    rx_errors
                        .get_or_create(&labels(&[("vrrp_instance", &i.name), ("error", kind)]))
                        .inc_by(c.value);
                    continue;
                }
            };
            family.get_or_create(&inst).inc_by(c.value);
        }
        for c in &i.checks {
            let l = labels(&[("vrrp_instance", &i.name), ("check", &c.name)]);
            check_up.get_or_create(&l).set(i64::from(c.up));
            if let Some(latency) = c.latency_seconds {
                check_latency.get_or_create(&l).set(latency);
            }
            check_transitions.get_or_create(&l).inc_by(c.transitions);
            check_suppressed
                .get_or_create(&l)
                .set(i64::from(c.suppressed));
        }
    }
    let group_state = gauge(
        &mut r,
        "vipd_sync_group_state",
        "1 for the state the sync group is in, 0 for the others",
    );
    for g in &snap.sync_groups {
        for s in State::ALL {
            group_state
                .get_or_create(&labels(&[("sync_group", &g.name), ("state", s.as_str())]))
                .set(i64::from(g.state == s));
        }
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{CheckReport, Counter as C, InstanceReport, Transition};
    use vrrp_core::{Family, Version};

    #[test]
    fn renders_every_family_with_labels_and_eof() {
        let snap = Snapshot {
            version: "9.9.9".into(),
            uptime_seconds: 12.5,
            ready: true,
            unmatched: vec![C {
                name: "vrid".into(),
                value: 4,
            }],
            instances: vec![InstanceReport {
                name: "VI_1".into(),
                interface: "eth0".into(),
                vip_interface: "eth0".into(),
                vrid: 51,
                family: Family::Ipv4,
                version: Version::V3,
                state: State::Master,
                since_seconds: Some(1.0),
                since_unix: Some(1_700_000_000.5),
                reason: Some("master down timer expired".into()),
                fault: None,
                base_priority: 150,
                effective_priority: 110,
                contributions: vec![],
                master: None,
                vips: vec!["10.0.0.100/24".into()],
                vips_excluded: Vec::new(),
                vips_held: vec!["10.0.0.100/24".into()],
                peers: vec![],
                transitions: vec![Transition {
                    to: State::Master,
                    reason: "master down timer expired".into(),
                    count: 2,
                }],
                counters: vec![
                    C {
                        name: "adverts_sent".into(),
                        value: 7,
                    },
                    C {
                        name: "error_checksum".into(),
                        value: 3,
                    },
                ],
                announcements: 5,
                vip_add_failures: 1,
                vip_remove_failures: 0,
                checks: vec![CheckReport {
                    name: "service".into(),
                    up: false,
                    last_ok: Some(false),
                    latency_seconds: Some(0.25),
                    successes: 0,
                    failures: 2,
                    transitions: 1,
                    suppressed: false,
                    last_error: None,
                }],
                unicast: Some(crate::status::UnicastReport {
                    source: "static+kubernetes".into(),
                    static_peers: vec!["10.0.0.5".parse().unwrap()],
                    discovered: vec!["10.0.0.6".parse().unwrap(), "10.0.0.7".parse().unwrap()],
                    discovery: Some(crate::status::DiscoveryReport {
                        objects: "pods app=vipd in vip".into(),
                        synced: true,
                        age_seconds: Some(2.5),
                        error: None,
                    }),
                }),
            }],
            sync_groups: vec![crate::status::SyncGroupReport {
                name: "G1".into(),
                state: State::Fault,
                members: vec!["VI_1".into()],
            }],
        };
        let text = render(&snap);
        for line in [
            "vipd_build_info{version=\"9.9.9\"} 1",
            "vipd_uptime_seconds{} 12.5",
            "vipd_ready{} 1",
            "vipd_unmatched_adverts_total{reason=\"vrid\"} 4",
            "vipd_instance_state{vrrp_instance=\"VI_1\",state=\"MASTER\"} 1",
            "vipd_instance_state{vrrp_instance=\"VI_1\",state=\"BACKUP\"} 0",
            "vipd_instance_master{vrrp_instance=\"VI_1\"} 1",
            "vipd_instance_effective_priority{vrrp_instance=\"VI_1\"} 110",
            "vipd_instance_transitions_total{vrrp_instance=\"VI_1\",to=\"MASTER\",reason=\"master down timer expired\"} 2",
            "vipd_adverts_sent_total{vrrp_instance=\"VI_1\"} 7",
            "vipd_advert_errors_total{vrrp_instance=\"VI_1\",error=\"checksum\"} 3",
            "vipd_vip_add_failures_total{vrrp_instance=\"VI_1\"} 1",
            "vipd_check_up{vrrp_instance=\"VI_1\",check=\"service\"} 0",
            "vipd_check_latency_seconds{vrrp_instance=\"VI_1\",check=\"service\"} 0.25",
            "vipd_instance_unicast_peers{vrrp_instance=\"VI_1\",source=\"static\"} 1",
            "vipd_instance_unicast_peers{vrrp_instance=\"VI_1\",source=\"kubernetes\"} 2",
            "vipd_peer_discovery_synced{vrrp_instance=\"VI_1\"} 1",
            "vipd_peer_list_age_seconds{vrrp_instance=\"VI_1\"} 2.5",
            "vipd_sync_group_state{sync_group=\"G1\",state=\"FAULT\"} 1",
            "vipd_sync_group_state{sync_group=\"G1\",state=\"MASTER\"} 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
