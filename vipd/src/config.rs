//! vipd's configuration file (YAML), its overrides from flags and environment variables, and
//! its validation into what the daemon runs.
//!
//! ```yaml
//! api:
//!   listen: 127.0.0.1:9370       # /metrics, /healthz, /readyz, /status; or off
//! instances:
//!   - name: VI_CONTROL_PLANE
//!     interface: eth0            # where VRRP speaks
//!     vip_interface: eth0        # where the VIPs go (default: interface)
//!     vrid: 51
//!     version: 3                 # 2 or 3
//!     priority: 100              # 1 to 255; 255 owns the addresses
//!     advert_interval: 1s        # v3: 10ms to 40.95s; v2: whole seconds 1 to 255
//!     preempt: true              # false is keepalived's nopreempt
//!     preempt_delay: 0s
//!     vips: [192.168.1.100/24]   # CIDR form, one family per instance
//!     unicast_peers: []          # empty: multicast
//!     garp: { master_delay: 5s, master_repeat: 5, master_refresh: 0s, master_refresh_repeat: 1 }
//!     vip_lifetime: 5s           # kernel lifetime of each VIP, renewed while Master; or forever
//! ```
//!
//! Validation reports every problem at once, each naming its field (`instances[0].vips[1]`)
//! and the fix. Nothing is applied from a configuration that has any.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use vrrp_core::{
    AnnounceSchedule, ChecksumMode, Family, InstanceConfig, Interval, Password, Priority, Track,
    Version, Vrid,
};

use crate::duration::{Lifetime, Millis};
use crate::notify::NotifySpec;

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP endpoint for metrics, health and status.
    #[serde(default, skip_serializing_if = "ApiSpec::is_default")]
    pub api: ApiSpec,
    /// The virtual router instances.
    #[serde(default)]
    pub instances: Vec<InstanceSpec>,
}

/// Where vipd serves `/metrics`, `/healthz`, `/readyz` and `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSpec {
    /// `ADDRESS:PORT` to listen on (loopback by default: the status names the VIPs and peers),
    /// or `off`.
    #[serde(default = "default_api_listen")]
    pub listen: String,
}

impl Default for ApiSpec {
    fn default() -> Self {
        Self {
            listen: default_api_listen(),
        }
    }
}

impl ApiSpec {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The default API address.
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:9370";

fn default_api_listen() -> String {
    DEFAULT_API_LISTEN.to_owned()
}

/// One virtual router as written in the file. Every field but `interface`, `vrid` and `vips`
/// has keepalived's default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    /// A name for logs and status; default `<interface>-<vrid>-<ipv4|ipv6>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The interface VRRP adverts are sent and received on.
    pub interface: String,
    /// The interface the VIPs are added to, if not `interface`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip_interface: Option<String>,
    /// Virtual Router Identifier, 1 to 255.
    pub vrid: u32,
    /// VRRP version, 2 or 3.
    #[serde(default = "default_version")]
    pub version: u32,
    /// Priority, 1 to 255.
    #[serde(default = "default_priority")]
    pub priority: u32,
    /// Advertisement interval.
    #[serde(default = "default_interval")]
    pub advert_interval: Millis,
    /// Whether a higher priority takes over from a lower-priority master.
    #[serde(default = "yes")]
    pub preempt: bool,
    /// keepalived's `preempt_delay`.
    #[serde(default)]
    pub preempt_delay: Millis,
    /// VRRPv2 simple password, 1 to 8 characters. Prefer `VIPD_PASSWORD` or a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// The virtual addresses, in CIDR form.
    #[serde(default)]
    pub vips: Vec<String>,
    /// Unicast peers; empty for multicast.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unicast_peers: Vec<String>,
    /// Lowest hop limit accepted on unicast adverts (64 for keepalived's IPv6 unicast).
    #[serde(default = "default_hop_limit")]
    pub unicast_min_hop_limit: u32,
    /// Gratuitous ARP / unsolicited NA schedule.
    #[serde(default)]
    pub garp: GarpSpec,
    /// Kernel lifetime of each VIP, renewed while Master, or `forever`.
    #[serde(default = "default_lifetime")]
    pub vip_lifetime: Lifetime,
    /// Send VRRPv3 IPv4 checksums without the pseudo-header (keepalived
    /// `v3_checksum_as_v2`); both forms are accepted on receipt anyway.
    #[serde(default)]
    pub v3_checksum_as_v2: bool,
    /// Drop VRRPv3 adverts whose address list differs (VRRPv2 always does).
    #[serde(default)]
    pub strict_address_list: bool,
    /// Commands run on each state change.
    #[serde(default, skip_serializing_if = "NotifySpec::is_empty")]
    pub notify: NotifySpec,
    /// Health checks that make this node ineligible or move its priority
    /// ([`vip_health::CheckSpec`]: `http`, `tcp`, `exec`, `file`, `interface`, `kube_api`,
    /// `node_ready`, or a `builtin` of the seed charts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<vip_health::CheckSpec>,
}

/// keepalived's four `garp_master_*` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GarpSpec {
    /// Delay of the second burst after becoming Master; 0 for none.
    #[serde(default = "default_garp_delay")]
    pub master_delay: Millis,
    /// Announcements per address in each of the first two bursts.
    #[serde(default = "default_garp_repeat")]
    pub master_repeat: u32,
    /// Period of refresh bursts while Master; 0 for none.
    #[serde(default)]
    pub master_refresh: Millis,
    /// Announcements per address in each refresh burst.
    #[serde(default = "default_garp_refresh_repeat")]
    pub master_refresh_repeat: u32,
}

impl Default for GarpSpec {
    fn default() -> Self {
        Self {
            master_delay: default_garp_delay(),
            master_repeat: default_garp_repeat(),
            master_refresh: Millis(0),
            master_refresh_repeat: default_garp_refresh_repeat(),
        }
    }
}

const fn default_version() -> u32 {
    3
}
const fn default_priority() -> u32 {
    100
}
const fn default_interval() -> Millis {
    Millis::from_secs(1)
}
const fn yes() -> bool {
    true
}
const fn default_hop_limit() -> u32 {
    255
}
const fn default_lifetime() -> Lifetime {
    Lifetime::After(Millis::from_secs(5))
}
const fn default_garp_delay() -> Millis {
    Millis::from_secs(5)
}
const fn default_garp_repeat() -> u32 {
    5
}
const fn default_garp_refresh_repeat() -> u32 {
    1
}

/// A secret string: never shown by `Debug`, and serialized as `<redacted>`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// A virtual address with its prefix length, as the kernel needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vip {
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
}

impl fmt::Display for Vip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// One validated instance, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct InstancePlan {
    /// Its name.
    pub name: String,
    /// The VRRP interface.
    pub interface: String,
    /// The VIP interface.
    pub vip_interface: String,
    /// The VIPs with their prefix lengths.
    pub vips: Vec<Vip>,
    /// Kernel lifetime of the VIPs.
    pub vip_lifetime: Lifetime,
    /// The engine's configuration.
    pub engine: InstanceConfig,
    /// Its notify hooks.
    pub notify: NotifySpec,
    /// Its health checks, each a tracked object of the engine with the same name.
    pub checks: Vec<vip_health::CheckConfig>,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The instances, in file order.
    pub instances: Vec<InstancePlan>,
    /// Where the HTTP API listens; `None` when it is off.
    pub api: Option<std::net::SocketAddr>,
}

/// One problem of a configuration: the field, and what is wrong with it and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, e.g. `instances[0].vips[1]`.
    pub field: String,
    /// What is wrong, and the fix.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file is not valid YAML of the expected shape (unknown key, wrong type, ...).
    #[error("{0}")]
    Syntax(String),
    /// The file parsed but breaks rules; every problem is listed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<FieldError>),
}

impl Config {
    /// Parses YAML text.
    ///
    /// # Errors
    /// [`ConfigError::Syntax`] naming the line, column and field.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        serde_yaml_ng::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))
    }

    /// The configuration as YAML, with secrets redacted.
    #[must_use]
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// Checks every rule and builds the plan.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with every problem found.
    pub fn validate(&self) -> Result<Plan, ConfigError> {
        let mut errors = Vec::new();
        if self.instances.is_empty() {
            errors.push(FieldError {
                field: "instances".into(),
                message: "no instance is configured: add one under `instances:` with at least \
                          interface, vrid and vips"
                    .into(),
            });
        }
        let mut instances = Vec::new();
        let mut keys: BTreeMap<(String, u8, Family), usize> = BTreeMap::new();
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        for (i, spec) in self.instances.iter().enumerate() {
            let mut e = Errors {
                prefix: format!("instances[{i}]"),
                list: &mut errors,
            };
            let Some(plan) = spec.plan(&mut e) else {
                continue;
            };
            let key = (
                plan.interface.clone(),
                plan.engine.vrid.get(),
                plan.engine.family(),
            );
            if let Some(first) = keys.insert(key, i) {
                e.push(
                    "vrid",
                    format!(
                        "VRID {} ({}) on interface {} is also used by instances[{first}]: each \
                         VRID may appear once per interface and family; pick another VRID",
                        plan.engine.vrid,
                        plan.engine.family(),
                        plan.interface
                    ),
                );
            }
            // Default names derive from the key, whose clash is reported above.
            let explicit = spec.name.is_some();
            if let Some(first) = names.insert(plan.name.clone(), i).filter(|_| explicit) {
                e.push(
                    "name",
                    format!(
                        "name {:?} is also used by instances[{first}]: names must be unique",
                        plan.name
                    ),
                );
            }
            instances.push(plan);
        }
        let api = match self.api.listen.trim() {
            "off" | "" => None,
            text => match text.parse::<std::net::SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    errors.push(FieldError {
                        field: "api.listen".into(),
                        message: format!(
                            "{text:?} is not ADDRESS:PORT: write e.g. 127.0.0.1:9370 or \
                             [::1]:9370, or off to serve no API"
                        ),
                    });
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(Plan { instances, api })
        } else {
            Err(ConfigError::Invalid(errors))
        }
    }
}

/// Collects errors under a field prefix.
struct Errors<'a> {
    prefix: String,
    list: &'a mut Vec<FieldError>,
}

impl Errors<'_> {
    fn push(&mut self, field: &str, message: impl Into<String>) {
        self.list.push(FieldError {
            field: format!("{}.{field}", self.prefix),
            message: message.into(),
        });
    }

    fn count(&self) -> usize {
        self.list.len()
    }
}

/// Parses `ADDRESS/PREFIX`.
fn parse_cidr(text: &str) -> Result<Vip, String> {
    let Some((addr, prefix)) = text.trim().split_once('/') else {
        return Err(format!(
            "{text:?} is not in CIDR form: write the address with its prefix length, e.g. \
             192.168.1.100/24 or fd00::100/64"
        ));
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{addr:?} in {text:?} is not an IPv4 or IPv6 address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = prefix
        .parse::<u8>()
        .ok()
        .filter(|p| *p <= max)
        .ok_or_else(|| format!("prefix length {prefix:?} in {text:?} must be 0 to {max}"))?;
    if addr.is_multicast() || addr.is_unspecified() || addr.is_loopback() {
        return Err(format!(
            "{addr} cannot be a virtual address (multicast, unspecified or loopback)"
        ));
    }
    Ok(Vip { addr, prefix_len })
}

fn check_ifname(e: &mut Errors<'_>, field: &str, name: &str) {
    if name.is_empty()
        || name.len() > 15
        || name.contains(['/', ' ', '\t', ':'])
        || name == "."
        || name == ".."
    {
        e.push(
            field,
            format!(
                "{name:?} is not a valid interface name: 1 to 15 characters, no '/', ':' or spaces"
            ),
        );
    }
}

impl InstanceSpec {
    /// Validates this instance, pushing each problem to `e`; `None` if there was any.
    fn plan(&self, e: &mut Errors<'_>) -> Option<InstancePlan> {
        let before = e.count();
        check_ifname(e, "interface", &self.interface);
        if let Some(vif) = &self.vip_interface {
            check_ifname(e, "vip_interface", vif);
        }
        let vrid = u8::try_from(self.vrid).ok().and_then(Vrid::new);
        if vrid.is_none() {
            e.push(
                "vrid",
                format!(
                    "{} is outside 1 to 255: pick a VRID unique on the link",
                    self.vrid
                ),
            );
        }
        let version = match self.version {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            other => {
                e.push(
                    "version",
                    format!("{other} is not a VRRP version: use 2 or 3"),
                );
                None
            }
        };
        let priority = u8::try_from(self.priority).ok().and_then(Priority::new);
        if priority.is_none() {
            e.push(
                "priority",
                format!(
                    "{} is outside 1 to 255 (255 means this node owns the VIPs)",
                    self.priority
                ),
            );
        }
        let interval = self.interval(e, version);
        let preempt_delay = self
            .preempt_delay
            .to_centis()
            .filter(|c| *c <= vrrp_core::MAX_PREEMPT_DELAY);
        if preempt_delay.is_none() {
            e.push(
                "preempt_delay",
                format!(
                    "{} must be at most 1000s, in steps of 10ms",
                    self.preempt_delay
                ),
            );
        }
        // (index in the file, VIP) of each VIP that parsed.
        let mut parsed: Vec<(usize, Vip)> = Vec::new();
        if self.vips.is_empty() {
            e.push(
                "vips",
                "no virtual address: list at least one, in CIDR form, e.g. [192.168.1.100/24]",
            );
        }
        for (j, text) in self.vips.iter().enumerate() {
            match parse_cidr(text) {
                Ok(vip) if parsed.iter().any(|(_, v)| v.addr == vip.addr) => {
                    e.push(
                        &format!("vips[{j}]"),
                        format!("{} is listed twice: remove one", vip.addr),
                    );
                }
                Ok(vip) => parsed.push((j, vip)),
                Err(msg) => e.push(&format!("vips[{j}]"), msg),
            }
        }
        let family = parsed.first().map(|(_, v)| Family::of(&v.addr));
        for (j, vip) in &parsed {
            if Some(Family::of(&vip.addr)) != family {
                e.push(
                    &format!("vips[{j}]"),
                    format!(
                        "{} is not of the same family as {}: put IPv4 and IPv6 VIPs in separate \
                         instances (they may share a VRID)",
                        vip.addr,
                        parsed
                            .first()
                            .map_or(String::new(), |(_, v)| v.addr.to_string())
                    ),
                );
            }
        }
        let vips: Vec<Vip> = parsed.into_iter().map(|(_, v)| v).collect();
        let mut peers = Vec::new();
        for (j, text) in self.unicast_peers.iter().enumerate() {
            match text.trim().parse::<IpAddr>() {
                Ok(p) if family.is_some_and(|f| Family::of(&p) != f) => e.push(
                    &format!("unicast_peers[{j}]"),
                    format!("{p} is not of the VIPs' family"),
                ),
                Ok(IpAddr::V6(v6)) if !v6.is_unicast_link_local() => e.push(
                    &format!("unicast_peers[{j}]"),
                    format!(
                        "{v6} is not link-local: IPv6 adverts come from each peer's link-local \
                         address (RFC 5798 section 5.1.2.1), so list the peers' fe80:: addresses"
                    ),
                ),
                Ok(p) => peers.push(p),
                Err(_) => e.push(
                    &format!("unicast_peers[{j}]"),
                    format!("{text:?} is not an IP address (no prefix length here)"),
                ),
            }
        }
        let password = self.password.as_ref().and_then(|secret| {
            if version == Some(Version::V3) {
                e.push(
                    "password",
                    "VRRPv3 (RFC 5798) has no authentication field, so a password cannot be \
                     used: keepalived silently ignores it and runs unauthenticated; remove the \
                     password, or set version: 2 to keep simple-password authentication",
                );
                return None;
            }
            let p = Password::new(secret.0.as_bytes());
            if p.is_none() {
                e.push(
                    "password",
                    "must be 1 to 8 bytes long (VRRPv2 simple password)",
                );
            }
            p
        });
        if version == Some(Version::V2) && family == Some(Family::Ipv6) {
            e.push(
                "version",
                "VRRPv2 is IPv4 only: use version 3 for IPv6 VIPs",
            );
        }
        if !self.preempt && priority.is_some_and(Priority::is_owner) {
            e.push(
                "preempt",
                "preempt: false (nopreempt) with priority 255: the address owner always \
                 preempts; lower the priority or allow preemption",
            );
        }
        let hop_limit = u8::try_from(self.unicast_min_hop_limit)
            .ok()
            .filter(|h| *h >= 1);
        if hop_limit.is_none() {
            e.push(
                "unicast_min_hop_limit",
                "must be 1 to 255 (255 is the RFC; 64 for keepalived's IPv6 unicast)",
            );
        }
        let announce = self.announce(e);
        match self.vip_lifetime {
            Lifetime::After(d) if d.0 < 1000 || !d.0.is_multiple_of(1000) => e.push(
                "vip_lifetime",
                format!(
                    "{d} must be whole seconds, at least 1s (the kernel counts seconds), or forever"
                ),
            ),
            _ => {}
        }
        if self.notify.timeout.0 == 0 {
            e.push("notify.timeout", "must be more than 0, e.g. 10s");
        }
        for (field, argv) in [
            ("notify.command", &self.notify.command),
            ("notify.master", &self.notify.master),
            ("notify.backup", &self.notify.backup),
            ("notify.fault", &self.notify.fault),
            ("notify.stop", &self.notify.stop),
        ] {
            if argv.first().is_some_and(|p| p.trim().is_empty()) {
                e.push(
                    field,
                    "the program (first element) is empty: give a path, e.g. [/usr/local/bin/hook]",
                );
            }
        }
        let checks = match vip_health::validate_checks(
            &self.checks,
            &format!("{}.checks", e.prefix),
            &vip_health::process_env,
        ) {
            Ok(checks) => checks,
            Err(errors) => {
                e.list.extend(errors.into_iter().map(|f| FieldError {
                    field: f.field,
                    message: f.message,
                }));
                Vec::new()
            }
        };
        if e.count() > before {
            return None;
        }
        let (vrid, version, priority, interval, preempt_delay, hop_limit, announce) = (
            vrid?,
            version?,
            priority?,
            interval?,
            preempt_delay?,
            hop_limit?,
            announce?,
        );
        let mut engine = InstanceConfig::new(vrid, vips.iter().map(|v| v.addr).collect());
        engine.version = version;
        engine.priority = priority;
        engine.advert_interval = interval;
        engine.preempt = self.preempt;
        engine.preempt_delay = preempt_delay;
        engine.password = password;
        engine.unicast_peers = peers;
        engine.unicast_min_hop_limit = hop_limit;
        engine.announce = announce;
        engine.strict_address_list = self.strict_address_list;
        engine.tracks = checks
            .iter()
            .map(|c| {
                let mut track = Track::new(c.name.clone(), c.track_weight());
                track.initially_up = c.initially_up();
                track
            })
            .collect();
        engine.checksum_mode = if self.v3_checksum_as_v2 {
            ChecksumMode::V3AsV2
        } else {
            ChecksumMode::PseudoHeader
        };
        // The engine's own rules, as a last line: any left unchecked above surface here.
        if let Err(err) = engine.validate() {
            e.push("", err.to_string());
            return None;
        }
        Some(InstancePlan {
            name: self.name.clone().unwrap_or_else(|| {
                let family = if family == Some(Family::Ipv6) {
                    "ipv6"
                } else {
                    "ipv4"
                };
                format!("{}-{}-{family}", self.interface, vrid)
            }),
            interface: self.interface.clone(),
            vip_interface: self
                .vip_interface
                .clone()
                .unwrap_or_else(|| self.interface.clone()),
            vips,
            vip_lifetime: self.vip_lifetime,
            engine,
            notify: self.notify.clone(),
            checks,
        })
    }

    fn interval(&self, e: &mut Errors<'_>, version: Option<Version>) -> Option<Interval> {
        let ms = self.advert_interval.0;
        let interval = self
            .advert_interval
            .to_centis()
            .and_then(|c| u16::try_from(c.get()).ok())
            .and_then(Interval::from_centis);
        match (version, interval) {
            (Some(v), Some(i)) if i.fits(v) => Some(i),
            (Some(Version::V2), _) => {
                e.push(
                    "advert_interval",
                    format!(
                        "{} is not valid for VRRPv2: whole seconds from 1s to 255s",
                        Millis(ms)
                    ),
                );
                None
            }
            _ => {
                e.push(
                    "advert_interval",
                    format!(
                        "{} is not valid for VRRPv3: 10ms to 40.95s in steps of 10ms",
                        Millis(ms)
                    ),
                );
                None
            }
        }
    }

    fn announce(&self, e: &mut Errors<'_>) -> Option<AnnounceSchedule> {
        let g = self.garp;
        let delay = g.master_delay.to_centis();
        let refresh = g.master_refresh.to_centis();
        let repeat = u8::try_from(g.master_repeat).ok();
        let refresh_repeat = u8::try_from(g.master_refresh_repeat).ok();
        for (field, ok, what) in [
            (
                "garp.master_delay",
                delay.is_some(),
                "a duration in steps of 10ms",
            ),
            (
                "garp.master_refresh",
                refresh.is_some(),
                "a duration in steps of 10ms",
            ),
            ("garp.master_repeat", repeat.is_some(), "0 to 255"),
            (
                "garp.master_refresh_repeat",
                refresh_repeat.is_some(),
                "0 to 255",
            ),
        ] {
            if !ok {
                e.push(field, format!("must be {what}"));
            }
        }
        let mut schedule = AnnounceSchedule::default();
        schedule.delay = delay?;
        schedule.refresh = refresh?;
        schedule.repeat = repeat?;
        schedule.refresh_repeat = refresh_repeat?;
        Some(schedule)
    }
}

/// Settings given by flags or `VIPD_*` environment variables, for containers: they fill in or
/// override the single instance of the file (or make one when there is no file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--interface` / `VIPD_INTERFACE`.
    pub interface: Option<String>,
    /// `--vip-interface` / `VIPD_VIP_INTERFACE`.
    pub vip_interface: Option<String>,
    /// `--vip` (repeated) / `VIPD_VIPS` (comma-separated).
    pub vips: Vec<String>,
    /// `--vrid` / `VIPD_VRID`.
    pub vrid: Option<u32>,
    /// `--priority` / `VIPD_PRIORITY`.
    pub priority: Option<u32>,
    /// `--vrrp-version` / `VIPD_VRRP_VERSION`.
    pub version: Option<u32>,
    /// `--advert-interval` / `VIPD_ADVERT_INTERVAL`.
    pub advert_interval: Option<Millis>,
    /// `--nopreempt` / `VIPD_NOPREEMPT=true`.
    pub nopreempt: bool,
    /// `--unicast-peer` (repeated) / `VIPD_UNICAST_PEERS` (comma-separated).
    pub unicast_peers: Vec<String>,
    /// `VIPD_PASSWORD` (never a flag: flags show in the process list).
    pub password: Option<String>,
    /// `--api-listen` / `VIPD_API_LISTEN`: the file's `api.listen`.
    pub api_listen: Option<String>,
}

impl Overrides {
    /// Whether nothing is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Applies the overrides to `config`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] when the file has several instances (overrides address one),
    /// or when there is no file and a required setting is missing.
    pub fn apply(&self, config: &mut Config) -> Result<(), ConfigError> {
        if let Some(listen) = &self.api_listen {
            config.api.listen.clone_from(listen);
        }
        let instance_settings = Self {
            api_listen: None,
            ..self.clone()
        };
        if instance_settings.is_empty() {
            return Ok(());
        }
        let err = |field: &str, message: String| {
            ConfigError::Invalid(vec![FieldError {
                field: field.into(),
                message,
            }])
        };
        if config.instances.len() > 1 {
            return Err(err(
                "instances",
                format!(
                    "the file has {} instances but flags and VIPD_* variables set one; put the \
                     settings in the file instead",
                    config.instances.len()
                ),
            ));
        }
        if config.instances.is_empty() {
            let (Some(interface), Some(vrid), false) =
                (self.interface.clone(), self.vrid, self.vips.is_empty())
            else {
                return Err(err(
                    "flags",
                    "without a config file, --interface (VIPD_INTERFACE), --vrid (VIPD_VRID) and \
                     --vip (VIPD_VIPS) are all required"
                        .into(),
                ));
            };
            config
                .instances
                .push(InstanceSpec::new(interface, vrid, self.vips.clone()));
        }
        let Some(spec) = config.instances.first_mut() else {
            return Ok(());
        };
        if let Some(v) = &self.interface {
            spec.interface.clone_from(v);
        }
        if let Some(v) = &self.vip_interface {
            spec.vip_interface = Some(v.clone());
        }
        if !self.vips.is_empty() {
            spec.vips.clone_from(&self.vips);
        }
        if let Some(v) = self.vrid {
            spec.vrid = v;
        }
        if let Some(v) = self.priority {
            spec.priority = v;
        }
        if let Some(v) = self.version {
            spec.version = v;
        }
        if let Some(v) = self.advert_interval {
            spec.advert_interval = v;
        }
        if self.nopreempt {
            spec.preempt = false;
        }
        if !self.unicast_peers.is_empty() {
            spec.unicast_peers.clone_from(&self.unicast_peers);
        }
        if let Some(v) = &self.password {
            spec.password = Some(Secret(v.clone()));
        }
        Ok(())
    }
}

impl InstanceSpec {
    /// An instance with keepalived's defaults.
    #[must_use]
    pub fn new(interface: String, vrid: u32, vips: Vec<String>) -> Self {
        Self {
            name: None,
            interface,
            vip_interface: None,
            vrid,
            version: default_version(),
            priority: default_priority(),
            advert_interval: default_interval(),
            preempt: true,
            preempt_delay: Millis(0),
            password: None,
            vips,
            unicast_peers: Vec::new(),
            unicast_min_hop_limit: default_hop_limit(),
            garp: GarpSpec::default(),
            vip_lifetime: default_lifetime(),
            v3_checksum_as_v2: false,
            strict_address_list: false,
            notify: NotifySpec::default(),
            checks: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        match Config::from_yaml(yaml).and_then(|c| c.validate()) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid(list)) => list.iter().map(ToString::to_string).collect(),
            Err(e) => vec![e.to_string()],
        }
    }

    #[test]
    fn a_minimal_file_gets_keepalived_defaults() {
        let plan =
            Config::from_yaml("instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24]}]")
                .unwrap()
                .validate()
                .unwrap();
        let i = &plan.instances[0];
        assert_eq!(i.name, "eth0-51-ipv4");
        assert_eq!(i.vip_interface, "eth0");
        assert_eq!(
            i.vips,
            vec![Vip {
                addr: "10.0.0.1".parse().unwrap(),
                prefix_len: 24
            }]
        );
        assert_eq!(i.engine.version, Version::V3);
        assert_eq!(i.engine.priority.get(), 100);
        assert_eq!(i.engine.advert_interval, Interval::ONE_SECOND);
        assert!(i.engine.preempt);
        assert_eq!(i.engine.announce, AnnounceSchedule::default());
        assert_eq!(i.vip_lifetime, Lifetime::After(Millis::from_secs(5)));
    }

    #[test]
    fn health_checks_become_tracked_objects_and_their_errors_name_the_field() {
        let plan = Config::from_yaml(
            "instances:\n  - interface: eth0\n    vrid: 51\n    vips: [10.0.0.1/24]\n    \
             checks:\n      - builtin: service\n      - builtin: kube-api\n        kube_api: {host: 10.96.0.1}\n      - name: w\n        \
             file: {path: /tmp/w}\n",
        )
        .unwrap()
        .validate()
        .unwrap();
        let tracks: Vec<(&str, i16, bool)> = plan.instances[0]
            .engine
            .tracks
            .iter()
            .map(|t| (t.name.as_str(), t.weight, t.initially_up))
            .collect();
        // A fault check is down until its first result; a negative weight is not applied
        // before it; a file check's weight varies at run time (0 here).
        assert_eq!(
            tracks,
            vec![
                ("service", 0, false),
                ("kube-api", -40, true),
                ("w", 0, false)
            ]
        );
        assert_eq!(plan.instances[0].checks.len(), 3);
        let errors = errors(
            "instances:\n  - interface: eth0\n    vrid: 51\n    vips: [10.0.0.1/24]\n    \
             checks:\n      - builtin: service\n        interval: 1s\n        timeout: 3s\n",
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("instances[0].checks[0].timeout: "),
            "{errors:?}"
        );
    }

    #[test]
    fn the_api_listens_on_loopback_unless_told_otherwise() {
        let one = "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24]}]";
        let plan = Config::from_yaml(one).unwrap().validate().unwrap();
        assert_eq!(plan.api, Some("127.0.0.1:9370".parse().unwrap()));
        let off = Config::from_yaml(&format!("api: {{listen: \"off\"}}\n{one}"))
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(off.api, None);
        let v6 = Config::from_yaml(&format!("api: {{listen: \"[::1]:9999\"}}\n{one}"))
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(v6.api, Some("[::1]:9999".parse().unwrap()));
        let Err(ConfigError::Invalid(errors)) =
            Config::from_yaml(&format!("api: {{listen: \"localhost\"}}\n{one}"))
                .unwrap()
                .validate()
        else {
            panic!("a listen address without a port was accepted");
        };
        assert_eq!(errors[0].field, "api.listen");
        assert!(errors[0].message.contains("ADDRESS:PORT"), "{}", errors[0]);
        let mut config = Config::from_yaml(one).unwrap();
        Overrides {
            api_listen: Some("0.0.0.0:9370".into()),
            ..Overrides::default()
        }
        .apply(&mut config)
        .unwrap();
        assert_eq!(config.api.listen, "0.0.0.0:9370");
        assert_eq!(config.instances.len(), 1, "the instance was left alone");
    }

    #[test]
    fn every_problem_is_reported_with_its_field_and_fix() {
        let yaml = "
instances:
  - interface: eth0
    vrid: 300
    priority: 0
    version: 3
    password: k8s_vip
    advert_interval: 41s
    vips: [10.0.0.1, 10.0.0.2/24, fd00::1/64, 10.0.0.2/24]
  - interface: eth0
    vrid: 51
    vips: [10.0.0.9/24]
  - interface: eth0
    vrid: 51
    preempt: false
    priority: 255
    version: 2
    advert_interval: 1.5s
    vips: [10.0.0.10/24]
";
        let got = errors(yaml);
        let want = [
            "instances[0].vrid: 300 is outside 1 to 255",
            "instances[0].priority: 0 is outside 1 to 255",
            "instances[0].advert_interval: 41s is not valid for VRRPv3",
            "instances[0].vips[0]: \"10.0.0.1\" is not in CIDR form",
            "instances[0].vips[3]: 10.0.0.2 is listed twice",
            "instances[0].vips[2]: fd00::1 is not of the same family",
            "instances[0].password: VRRPv3 (RFC 5798) has no authentication",
            "instances[2].advert_interval: 1.5s is not valid for VRRPv2: whole seconds",
            "instances[2].preempt: preempt: false (nopreempt) with priority 255",
        ];
        for w in want {
            assert!(
                got.iter().any(|g| g.starts_with(w)),
                "missing {w:?} in\n{}",
                got.join("\n")
            );
        }
        assert_eq!(got.len(), want.len(), "{}", got.join("\n"));
    }

    #[test]
    fn a_vrid_twice_on_one_interface_and_family_is_refused() {
        let yaml = "
instances:
  - {interface: eth0, vrid: 51, vips: [10.0.0.1/24]}
  - {interface: eth0, vrid: 51, vips: ['fd00::1/64']}
  - {interface: eth1, vrid: 51, vips: [10.0.1.1/24]}
  - {interface: eth0, vrid: 51, vips: [10.0.0.2/24]}
";
        let got = errors(yaml);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with(
            "instances[3].vrid: VRID 51 (IPv4) on interface eth0 is also used by instances[0]"
        ));
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_field() {
        let got =
            errors("instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], nopreemt: true}]");
        assert!(got[0].contains("unknown field `nopreemt`"), "{got:?}");
        let got = errors("instances: [{interface: eth0, vrid: fifty, vips: [10.0.0.1/24]}]");
        assert!(got[0].contains("vrid"), "{got:?}");
        let got = errors(
            "instances: [{interface: eth0, vrid: 5, advert_interval: soon, vips: [10.0.0.1/24]}]",
        );
        assert!(got[0].contains("is not a duration"), "{got:?}");
    }

    #[test]
    fn the_password_is_never_rendered() {
        let c = Config::from_yaml(
            "instances: [{interface: eth0, vrid: 51, version: 2, password: s3cret, vips: [10.0.0.1/24]}]",
        )
        .unwrap();
        assert!(c.validate().is_ok());
        let shown = format!("{} {:?}", c.to_yaml(), c);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn overrides_fill_in_or_make_the_single_instance() {
        let mut none = Config::default();
        let o = Overrides {
            interface: Some("eth1".into()),
            vrid: Some(7),
            vips: vec!["10.0.0.7/24".into()],
            nopreempt: true,
            password: Some("pw".into()),
            version: Some(2),
            ..Overrides::default()
        };
        o.apply(&mut none).unwrap();
        let plan = none.validate().unwrap();
        assert_eq!(plan.instances[0].interface, "eth1");
        assert!(!plan.instances[0].engine.preempt);
        assert!(plan.instances[0].engine.password.is_some());
        let mut one =
            Config::from_yaml("instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24]}]")
                .unwrap();
        Overrides {
            priority: Some(150),
            ..Overrides::default()
        }
        .apply(&mut one)
        .unwrap();
        assert_eq!(
            one.validate().unwrap().instances[0].engine.priority.get(),
            150
        );
        let mut two = Config::from_yaml(
            "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24]}, {interface: eth0, vrid: 52, vips: [10.0.0.2/24]}]",
        )
        .unwrap();
        let e = Overrides {
            priority: Some(150),
            ..Overrides::default()
        }
        .apply(&mut two)
        .unwrap_err();
        assert!(e.to_string().contains("the file has 2 instances"), "{e}");
        let e = Overrides {
            vrid: Some(1),
            ..Overrides::default()
        }
        .apply(&mut Config::default())
        .unwrap_err();
        assert!(
            e.to_string().contains("--interface (VIPD_INTERFACE)"),
            "{e}"
        );
    }

    #[test]
    fn notify_hooks_are_read_and_checked() {
        let plan = Config::from_yaml(
            "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], notify: {command: [/bin/hook], master: [/bin/up, x]}}]",
        )
        .unwrap()
        .validate()
        .unwrap();
        let n = &plan.instances[0].notify;
        assert_eq!(n.command, vec!["/bin/hook"]);
        assert_eq!(n.master, vec!["/bin/up", "x"]);
        assert_eq!(n.timeout, Millis::from_secs(10));
        let got = errors(
            "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.1/24], notify: {stop: [''], timeout: 0s}}]",
        );
        assert!(
            got.iter()
                .any(|g| g.starts_with("instances[0].notify.timeout")),
            "{got:?}"
        );
        assert!(
            got.iter()
                .any(|g| g.starts_with("instances[0].notify.stop")),
            "{got:?}"
        );
    }

    #[test]
    fn ipv6_unicast_peers_must_be_link_local() {
        let got = errors(
            "instances: [{interface: eth0, vrid: 51, vips: ['fd00::100/64'], unicast_peers: ['fd00::2', 'fe80::2']}]",
        );
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with("instances[0].unicast_peers[0]: fd00::2 is not link-local"),
            "{got:?}"
        );
    }

    #[test]
    fn an_empty_file_asks_for_an_instance() {
        let got = errors("");
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("instances: no instance is configured"));
    }
}
