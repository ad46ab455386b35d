//! What a running daemon reports about itself: the [`Snapshot`] behind `/status`, `/metrics`
//! and `vipd status`.
//!
//! A snapshot is taken by the event loop on request ([`crate::daemon::Control::snapshot`]),
//! so it is consistent: every figure in it is from the same instant. It says why each node is
//! or is not Master: its state and the reason of the last transition, the base and effective
//! priority with each tracked check's contribution, and the master it hears.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use vrrp_core::{Family, State, Version};

/// The daemon's state at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// vipd's version.
    pub version: String,
    /// Seconds since the daemon started.
    pub uptime_seconds: f64,
    /// False once the daemon is stopping (handing over or releasing).
    pub ready: bool,
    /// Adverts that no instance could take: `vrid` (a VRID or family not configured here),
    /// `length` (shorter than a VRRP header).
    pub unmatched: Vec<Counter>,
    /// Every instance, in configuration order.
    pub instances: Vec<InstanceReport>,
    /// Every sync group, in configuration order (absent when there is none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_groups: Vec<SyncGroupReport>,
}

/// A sync group (keepalived's `vrrp_sync_group`): its members change state together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncGroupReport {
    /// Its name.
    pub name: String,
    /// The group's state: `MASTER`, `BACKUP`, `FAULT`, or `INIT` before its members start
    /// and after they stop ([`State::as_str`]).
    #[serde(with = "names::state")]
    pub state: State,
    /// Its members' instance names.
    pub members: Vec<String>,
}

/// A named counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: u64,
}

/// One virtual router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceReport {
    /// Its name.
    pub name: String,
    /// The interface VRRP speaks on.
    pub interface: String,
    /// The interface the VIPs go on.
    pub vip_interface: String,
    /// Virtual Router Identifier.
    pub vrid: u8,
    /// Its family: `ipv4` or `ipv6` in JSON.
    #[serde(with = "names::family")]
    pub family: Family,
    /// Its VRRP version: 2 or 3 in JSON.
    #[serde(with = "names::version")]
    pub version: Version,
    /// Its state: `INIT`, `BACKUP`, `MASTER` or `FAULT` in JSON ([`State::as_str`]).
    #[serde(with = "names::state")]
    pub state: State,
    /// Seconds since the last transition (`None` before the first).
    pub since_seconds: Option<f64>,
    /// Unix time of the last transition.
    pub since_unix: Option<f64>,
    /// Why it entered its state.
    pub reason: Option<String>,
    /// Why it is not eligible, when it is in Fault.
    pub fault: Option<String>,
    /// The configured priority.
    pub base_priority: u8,
    /// The priority it advertises and elects with: the base plus the contributions.
    pub effective_priority: u8,
    /// Each tracked check and what it does to the priority now.
    pub contributions: Vec<Contribution>,
    /// The master as this node sees it: itself when Master, else the last master heard.
    pub master: Option<Peer>,
    /// The configured VIPs (those the adverts carry), in CIDR form, each followed by its
    /// `dev`, `label` and `no_track` if it has them.
    pub vips: Vec<String>,
    /// The addresses held with the VIPs but not advertised (`vips_excluded`), likewise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vips_excluded: Vec<String>,
    /// The VIPs this node holds now, in CIDR form.
    pub vips_held: Vec<String>,
    /// The routers heard from, most recent last.
    pub peers: Vec<Peer>,
    /// Transitions since start, by the state entered and the reason.
    pub transitions: Vec<Transition>,
    /// The engine's counters (adverts sent and received, each kind of rejected advert).
    pub counters: Vec<Counter>,
    /// Gratuitous ARPs / unsolicited NAs sent.
    pub announcements: u64,
    /// VIP additions the kernel refused.
    pub vip_add_failures: u64,
    /// VIP removals the kernel refused.
    pub vip_remove_failures: u64,
    /// The instance's health checks.
    pub checks: Vec<CheckReport>,
    /// Its unicast peers and where they come from; `None` for a multicast instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast: Option<UnicastReport>,
}

/// The unicast peers of an instance: the configured ones and the discovered ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnicastReport {
    /// `static`, `kubernetes` or `static+kubernetes`.
    pub source: String,
    /// The peers of `unicast_peers`.
    pub static_peers: Vec<IpAddr>,
    /// The peers discovered (this node's own addresses left out).
    pub discovered: Vec<IpAddr>,
    /// The discovery's state, when the instance has one.
    pub discovery: Option<DiscoveryReport>,
}

impl UnicastReport {
    /// Every peer adverts go to.
    #[must_use]
    pub fn count(&self) -> usize {
        self.static_peers.len() + self.discovered.len()
    }
}

/// The state of a peer discovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryReport {
    /// What is watched, e.g. `pods app=vipd in kube-system`.
    pub objects: String,
    /// Whether a complete list was received.
    pub synced: bool,
    /// Seconds since the API last answered: the age of the peer list (`None` before it
    /// ever did).
    pub age_seconds: Option<f64>,
    /// The last error, while the API does not answer.
    pub error: Option<String>,
}

/// A tracked object's effect on the priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    /// The check's name.
    pub name: String,
    /// Its configured weight (0: fault while down).
    pub weight: i16,
    /// Whether it is up.
    pub up: bool,
    /// What it adds to the base priority now (0 for a fault check; see `fault`).
    pub effect: i32,
}

/// Another router (or this one) as seen in its adverts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    /// Its primary address.
    pub address: IpAddr,
    /// The priority it advertised.
    pub priority: u8,
    /// The interval it advertised, in milliseconds.
    pub interval_ms: u64,
    /// Seconds since its last advert (0 for this node itself).
    pub age_seconds: f64,
    /// Whether this is the local node.
    #[serde(default)]
    pub local: bool,
}

/// Transitions into one state for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The state entered.
    #[serde(with = "names::state")]
    pub to: State,
    /// The reason.
    pub reason: String,
    /// How many times.
    pub count: u64,
}

/// One health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Its name.
    pub name: String,
    /// Whether it counts as up (after rise/fall and damping).
    pub up: bool,
    /// Whether the last probe succeeded.
    pub last_ok: Option<bool>,
    /// Latency of the last probe, in seconds.
    pub latency_seconds: Option<f64>,
    /// Consecutive successes.
    pub successes: u32,
    /// Consecutive failures.
    pub failures: u32,
    /// Transitions since start.
    pub transitions: u64,
    /// Held down by flap damping.
    pub suppressed: bool,
    /// The last error.
    pub last_error: Option<String>,
}

impl Snapshot {
    /// A compact table for a person (`vipd status`).
    #[must_use]
    pub fn to_table(&self) -> String {
        let mut rows = vec![[
            "INSTANCE".to_owned(),
            "STATE".to_owned(),
            "SINCE".to_owned(),
            "PRIO".to_owned(),
            "MASTER".to_owned(),
            "VIPS HELD".to_owned(),
            "REASON".to_owned(),
        ]];
        for i in &self.instances {
            let prio = if i.base_priority == i.effective_priority {
                i.effective_priority.to_string()
            } else {
                format!("{} (base {})", i.effective_priority, i.base_priority)
            };
            let master = i.master.as_ref().map_or_else(
                || "-".to_owned(),
                |m| {
                    if m.local {
                        "this node".to_owned()
                    } else {
                        format!("{} p{}", m.address, m.priority)
                    }
                },
            );
            let held = if i.vips_held.is_empty() {
                "-".to_owned()
            } else {
                i.vips_held.join(",")
            };
            let reason = match (&i.fault, &i.reason) {
                (Some(f), _) => format!("fault: {f}"),
                (None, Some(r)) => r.clone(),
                (None, None) => "-".to_owned(),
            };
            rows.push([
                i.name.clone(),
                i.state.as_str().to_owned(),
                i.since_seconds.map_or_else(|| "-".to_owned(), age),
                prio,
                master,
                held,
                reason,
            ]);
        }
        let mut widths = [0usize; 7];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &rows {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<w$}  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        for i in &self.instances {
            let checks: Vec<String> = i
                .checks
                .iter()
                .map(|c| {
                    let effect = i
                        .contributions
                        .iter()
                        .find(|x| x.name == c.name)
                        .map_or_else(String::new, |x| match (x.weight, x.up) {
                            (0, true) => " (fault if down)".to_owned(),
                            (0, false) => " (fault)".to_owned(),
                            (_, _) if x.effect != 0 => format!(" ({:+})", x.effect),
                            (w, _) => format!(" (weight {w:+})"),
                        });
                    let state = if c.suppressed {
                        "suppressed"
                    } else if c.up {
                        "up"
                    } else {
                        "down"
                    };
                    let error = c
                        .last_error
                        .as_ref()
                        .filter(|_| !c.up)
                        .map_or_else(String::new, |e| format!(": {e}"));
                    format!("{} {state}{effect}{error}", c.name)
                })
                .collect();
            if !checks.is_empty() {
                let _ = writeln!(out, "{}: checks: {}", i.name, checks.join("; "));
            }
            let peers: Vec<String> = i
                .peers
                .iter()
                .map(|p| format!("{} p{} {} ago", p.address, p.priority, age(p.age_seconds)))
                .collect();
            if !peers.is_empty() {
                let _ = writeln!(out, "{}: peers: {}", i.name, peers.join(", "));
            }
            if let Some(u) = &i.unicast {
                let _ = writeln!(out, "{}: {}", i.name, unicast_line(u));
            }
        }
        for g in &self.sync_groups {
            let _ = writeln!(
                out,
                "sync group {}: {} ({})",
                g.name,
                g.state.as_str(),
                g.members.join(", ")
            );
        }
        out
    }
}

/// `unicast peers: 2 (static+kubernetes): 10.0.0.2, 10.0.0.3; pods app=vipd in vip, list
/// 1.5s old`.
fn unicast_line(u: &UnicastReport) -> String {
    let mut line = format!("unicast peers: {} ({})", u.count(), u.source);
    let all: Vec<String> = u
        .static_peers
        .iter()
        .chain(&u.discovered)
        .map(ToString::to_string)
        .collect();
    if !all.is_empty() {
        let _ = write!(line, ": {}", all.join(", "));
    }
    if let Some(d) = &u.discovery {
        let _ = write!(line, "; {}", d.objects);
        match d.age_seconds {
            Some(a) if d.synced => {
                let _ = write!(line, ", list {} old", age(a));
            }
            _ => line.push_str(", not listed yet"),
        }
        if let Some(e) = &d.error {
            let _ = write!(line, ", API error (list kept): {e}");
        }
    }
    line
}

/// The JSON names of the engine's values, stable for `/status` readers and scripts.
mod names {
    /// A [`State`](vrrp_core::State) by its RFC name ([`State::as_str`](vrrp_core::State::as_str)).
    pub(super) mod state {
        use serde::{Deserialize, Deserializer, Serializer, de::Error};
        use vrrp_core::State;

        pub(in crate::status) fn serialize<S: Serializer>(
            state: &State,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.serialize_str(state.as_str())
        }

        pub(in crate::status) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<State, D::Error> {
            let text = String::deserialize(d)?;
            State::ALL
                .into_iter()
                .find(|s| s.as_str() == text)
                .ok_or_else(|| D::Error::custom(format!("unknown state {text:?}")))
        }
    }

    /// A [`Family`](vrrp_core::Family) as `ipv4` or `ipv6`.
    pub(super) mod family {
        use serde::{Deserialize, Deserializer, Serializer, de::Error};
        use vrrp_core::Family;

        pub(in crate::status) fn serialize<S: Serializer>(
            family: &Family,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.serialize_str(match family {
                Family::Ipv4 => "ipv4",
                Family::Ipv6 => "ipv6",
            })
        }

        pub(in crate::status) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Family, D::Error> {
            match String::deserialize(d)?.as_str() {
                "ipv4" => Ok(Family::Ipv4),
                "ipv6" => Ok(Family::Ipv6),
                other => Err(D::Error::custom(format!("unknown family {other:?}"))),
            }
        }
    }

    /// A [`Version`](vrrp_core::Version) as the number 2 or 3.
    pub(super) mod version {
        use serde::{Deserialize, Deserializer, Serializer, de::Error};
        use vrrp_core::Version;

        pub(in crate::status) fn serialize<S: Serializer>(
            version: &Version,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.serialize_u8(match version {
                Version::V2 => 2,
                _ => 3,
            })
        }

        pub(in crate::status) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Version, D::Error> {
            match u8::deserialize(d)? {
                2 => Ok(Version::V2),
                3 => Ok(Version::V3),
                other => Err(D::Error::custom(format!("unknown VRRP version {other}"))),
            }
        }
    }
}

/// `1.2s`, `3m04s`, `2h05m`, `3d04h`.
fn age(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".to_owned();
    }
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    // Whole seconds from here on; the cast cannot truncate a finite, positive f64 below 2^64
    // that matters to a person.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let s = seconds as u64;
    match s {
        0..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(name: &str, state: State) -> InstanceReport {
        InstanceReport {
            name: name.into(),
            interface: "eth0".into(),
            vip_interface: "eth0".into(),
            vrid: 51,
            family: Family::Ipv4,
            version: Version::V3,
            state,
            since_seconds: Some(75.0),
            since_unix: Some(1.0),
            reason: Some("master down timer expired".into()),
            fault: None,
            base_priority: 150,
            effective_priority: 110,
            contributions: vec![Contribution {
                name: "kube-api".into(),
                weight: -40,
                up: false,
                effect: -40,
            }],
            master: Some(Peer {
                address: "10.0.0.1".parse().unwrap(),
                priority: 110,
                interval_ms: 1000,
                age_seconds: 0.0,
                local: true,
            }),
            vips: vec!["10.0.0.100/24".into()],
            vips_excluded: Vec::new(),
            vips_held: vec!["10.0.0.100/24".into()],
            peers: vec![Peer {
                address: "10.0.0.2".parse().unwrap(),
                priority: 100,
                interval_ms: 1000,
                age_seconds: 0.4,
                local: false,
            }],
            transitions: vec![],
            counters: vec![],
            announcements: 10,
            vip_add_failures: 0,
            vip_remove_failures: 0,
            checks: vec![CheckReport {
                name: "kube-api".into(),
                up: false,
                last_ok: Some(false),
                latency_seconds: Some(1.0),
                successes: 0,
                failures: 5,
                transitions: 1,
                suppressed: false,
                last_error: Some("connection refused".into()),
            }],
            unicast: None,
        }
    }

    #[test]
    fn the_table_says_who_is_master_and_why() {
        let snap = Snapshot {
            version: "0.1.0".into(),
            uptime_seconds: 80.0,
            ready: true,
            unmatched: vec![],
            instances: vec![instance("VI_1", State::Master)],
            sync_groups: vec![SyncGroupReport {
                name: "G1".into(),
                state: State::Master,
                members: vec!["VI_1".into(), "VI_2".into()],
            }],
        };
        let table = snap.to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[0].starts_with("INSTANCE  STATE   SINCE  PRIO"),
            "{table}"
        );
        assert!(
            lines[1].starts_with("VI_1      MASTER  1m15s  110 (base 150)  this node"),
            "{table}"
        );
        assert!(lines[1].ends_with("master down timer expired"), "{table}");
        assert_eq!(
            lines[2],
            "VI_1: checks: kube-api down (-40): connection refused"
        );
        assert_eq!(lines[3], "VI_1: peers: 10.0.0.2 p100 0.4s ago");
        assert_eq!(lines[4], "sync group G1: MASTER (VI_1, VI_2)");
    }

    #[test]
    fn the_snapshot_round_trips_through_json() {
        let snap = Snapshot {
            version: "0.1.0".into(),
            uptime_seconds: 1.5,
            ready: false,
            unmatched: vec![Counter {
                name: "vrid".into(),
                value: 3,
            }],
            instances: vec![instance("a", State::Backup)],
            sync_groups: vec![SyncGroupReport {
                name: "G".into(),
                state: State::Fault,
                members: vec!["a".into()],
            }],
        };
        let json = serde_json::to_string(&snap).unwrap();
        let back: Snapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snap);
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(0.44), "0.4s");
        assert_eq!(age(61.0), "1m01s");
        assert_eq!(age(7300.0), "2h01m");
        assert_eq!(age(90_000.0), "1d01h");
        assert_eq!(age(f64::NAN), "-");
    }
}
