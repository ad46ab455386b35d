//! The configuration file as written: YAML shapes with keepalived's defaults.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ConfigFileError;
use crate::duration::{ConfigDuration, VipLifetime};
use crate::notify::NotifySpec;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP endpoint for metrics, health and status.
    #[serde(default, skip_serializing_if = "ApiSpec::is_default")]
    pub api: ApiSpec,
    /// Refuse hooks and exec checks that a user other than root could replace (keepalived's
    /// `enable_script_security`, on by default here); `false` accepts the risk.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub script_security: bool,
    /// The user and group hooks and exec checks run as, with no capabilities, unless one sets
    /// its own `run_as` (keepalived's `script_user`). Unset: vipd's own user (root), with a
    /// warning at start when there is a hook or an exec check. See
    /// [`vip_health::RunAsSpec`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_user: Option<vip_health::RunAsSpec>,
    /// The virtual router instances.
    #[serde(default)]
    pub instances: Vec<InstanceSpec>,
    /// Groups of instances that change state together (keepalived's `vrrp_sync_group`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_groups: Vec<SyncGroupSpec>,
}

/// A sync group as written: keepalived's `vrrp_sync_group`. Its instances change state
/// together: one in Fault puts all in Fault, they become Master together, and one going
/// Backup takes the others with it (the rules are in [`vrrp_core::Router`]'s sync groups).
///
/// | keepalived | here |
/// |---|---|
/// | `vrrp_sync_group NAME` | `name` |
/// | `group { VI_1 VI_2 }` | `instances: [VI_1, VI_2]` (instance `name`s) |
/// | `notify_master` / `notify_backup` / `notify_fault` / `notify_stop` / `notify` | `notify: {master, backup, fault, stop, command}` |
/// | `track_interface` / `track_script` / `track_file` | `checks` (`interface`, `exec`, `file` checks) |
/// | `sync_group_tracking_weight` | `tracking_weight: true` |
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SyncGroupSpec {
    /// The group's name, for logs, status, metrics and its hooks; unique among the groups.
    pub name: String,
    /// The member instances, by their `name` (an instance without one is named
    /// `<interface>-<vrid>-<ipv4|ipv6>`); an instance belongs to one group at most.
    pub instances: Vec<String>,
    /// Commands run when the group's state changes. The generic `command` gets keepalived's
    /// group arguments: `GROUP <name> <MASTER|BACKUP|FAULT|STOP>`.
    #[serde(default, skip_serializing_if = "NotifySpec::is_empty")]
    pub notify: NotifySpec,
    /// Checks tracked by every member (keepalived's group-level `track_*`). Their names must
    /// differ from the members' own checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<vip_health::CheckSpec>,
    /// keepalived's `sync_group_tracking_weight`: keep the weights of the members' checks.
    /// By default, as in keepalived, a weighted check of a member (or of the group) counts
    /// as weight 0 instead: down puts the group in Fault, since a weight could let the
    /// members' priorities, and so their elections, disagree. (A `file` check keeps the
    /// weight it reads.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tracking_weight: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            api: ApiSpec::default(),
            script_security: true,
            script_user: None,
            instances: Vec::new(),
            sync_groups: Vec::new(),
        }
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
const fn is_true(b: &bool) -> bool {
    *b
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
const fn is_zero(d: &ConfigDuration) -> bool {
    d.0 == 0
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

/// The largest configuration file vipd reads, in bytes (1 MiB).
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// The deepest nesting of a configuration file, in flow brackets or indentation steps.
pub const MAX_DEPTH: usize = 32;

/// The first line whose nesting goes deeper than [`MAX_DEPTH`], by flow brackets (`[`, `{`)
/// outside quotes or by indentation (counted in steps of two spaces, YAML's usual step), so
/// that a hostile file is refused before the parser recurses into it.
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if quote.is_none() && indent / 2 > MAX_DEPTH {
            return Some(n + 1);
        }
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some(n + 1);
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    None
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
    /// keepalived's `use_vmac`: the VIPs go on a macvlan of `interface` with the virtual
    /// router MAC (00:00:5e:00:01:VRID, or 00:00:5e:00:02:VRID for IPv6), which vipd creates
    /// and removes. `true` names it keepalived's way, `vrrp.<vrid>`; a string names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_vmac: Option<UseVmac>,
    /// keepalived's `vmac_xmit_base`: adverts leave from `interface` (with its MAC) rather
    /// than from the virtual MAC interface (with the virtual router MAC, which keeps the
    /// switches' forwarding tables pointing at the Master). Only with `use_vmac`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vmac_xmit_base: bool,
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
    pub advert_interval: ConfigDuration,
    /// Whether a higher priority takes over from a lower-priority master.
    #[serde(default = "yes")]
    pub preempt: bool,
    /// keepalived's `preempt_delay`.
    #[serde(default)]
    pub preempt_delay: ConfigDuration,
    /// VRRPv2 simple password, 1 to 8 characters. Prefer `VIPD_PASSWORD` or a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// The virtual addresses, in CIDR form, each optionally followed, as in keepalived's
    /// `virtual_ipaddress`, by `dev IFNAME` (the address goes on that interface instead of
    /// the VIP interface; its link going down puts the instance in Fault unless `no_track`
    /// follows) and `label LABEL` (an IPv4 address label, `IFNAME:NAME`), e.g.
    /// `192.168.2.100/24 dev eth1 label eth1:vip`.
    #[serde(default)]
    pub vips: Vec<String>,
    /// keepalived's `virtual_ipaddress_excluded`: addresses (CIDR, either family, with `dev`
    /// and `label` as in `vips`) the Master holds on the VIP interface with the VIPs, but
    /// that its adverts do not carry (peers do not compare them; keepalived's use: IPv6
    /// addresses beside an IPv4 instance).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vips_excluded: Vec<String>,
    /// Unicast peers; empty for multicast.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unicast_peers: Vec<String>,
    /// Unicast peers discovered at run time (the Kubernetes API), added to `unicast_peers`
    /// and updated live; the instance stays unicast even while it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast_peers_from: Option<super::PeerSourceSpec>,
    /// keepalived's `unicast_src_ip`: the address unicast adverts are sent from (and that
    /// the peers list); default the interface's primary address. Must be on the interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast_src_ip: Option<String>,
    /// Lowest hop limit accepted on unicast adverts (64 for keepalived's IPv6 unicast).
    #[serde(default = "default_hop_limit")]
    pub unicast_min_hop_limit: u32,
    /// Gratuitous ARP / unsolicited NA schedule.
    #[serde(default)]
    pub garp: GarpSpec,
    /// Kernel lifetime of each VIP, renewed while Master, or `forever`.
    #[serde(default = "default_lifetime")]
    pub vip_lifetime: VipLifetime,
    /// Send VRRPv3 IPv4 checksums without the pseudo-header (keepalived
    /// `v3_checksum_as_v2`); both forms are accepted on receipt anyway.
    #[serde(default)]
    pub v3_checksum_as_v2: bool,
    /// Drop VRRPv3 adverts whose address list differs (VRRPv2 always does).
    #[serde(default)]
    pub strict_address_list: bool,
    /// keepalived's `lower_prio_no_advert`: as Master, do not answer an advert of lower
    /// priority with an advert at once (RFC 5798 section 6.4.3 discards it); the VIPs are
    /// still re-announced (`garp.lower_prio_repeat`). By default vipd answers, like
    /// keepalived, so that a router that believed it was Master steps down at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lower_prio_no_advert: bool,
    /// keepalived's `dont_track_primary`: the link state of `interface` (and of its virtual
    /// MAC interface, which follows it) does not put the instance in Fault. A separate
    /// `vip_interface` is still tracked. For links that flap while the VRRP peers still hear
    /// each other another way, e.g. a bond member; a down link then leaves a Master holding
    /// its VIPs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dont_track_primary: bool,
    /// Commands run on each state change.
    #[serde(default, skip_serializing_if = "NotifySpec::is_empty")]
    pub notify: NotifySpec,
    /// Health checks that make this node ineligible or move its priority
    /// ([`vip_health::CheckSpec`]: `http`, `tcp`, `exec`, `file`, `interface`, `kube_api`,
    /// `node_ready`, or a `builtin` of the seed charts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<vip_health::CheckSpec>,
}

/// `use_vmac`: `true` (named `vrrp.<vrid>`), `false` (none), or the interface's name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum UseVmac {
    /// On with keepalived's name `vrrp.<vrid>`, or off.
    Enabled(bool),
    /// On, with this interface name.
    Named(String),
}

/// keepalived's `garp_master_*` and `garp_lower_prio_*` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GarpSpec {
    /// Delay of the second burst after becoming Master; 0 for none.
    #[serde(default = "default_garp_delay")]
    pub master_delay: ConfigDuration,
    /// Announcements per address in each of the first two bursts.
    #[serde(default = "default_garp_repeat")]
    pub master_repeat: u32,
    /// Period of refresh bursts while Master; 0 for none.
    #[serde(default)]
    pub master_refresh: ConfigDuration,
    /// Announcements per address in each refresh burst.
    #[serde(default = "default_garp_refresh_repeat")]
    pub master_refresh_repeat: u32,
    /// Announcements per address when, as Master, this node hears a lower-priority (or
    /// priority-0) advert from another router: a split brain healing, whose clients may have
    /// learnt the other router's MAC; 0 for none (keepalived's `garp_lower_prio_repeat`).
    #[serde(default = "default_garp_repeat")]
    pub lower_prio_repeat: u32,
    /// Delay of a second such burst; 0 for none (keepalived's `garp_lower_prio_delay`).
    #[serde(default = "default_garp_delay")]
    pub lower_prio_delay: ConfigDuration,
    /// keepalived's `vrrp_garp_interval`: the least time between two gratuitous ARPs on the
    /// VIP interface, so that a burst of many addresses does not flood switches that
    /// rate-limit ARP; 0 (the default) sends a burst at once. At most 1s; instances that
    /// share a VIP interface must agree. Set when vipd starts using the interface: a reload
    /// that changes it for an interface already in use takes effect at the next start.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: ConfigDuration,
    /// keepalived's `vrrp_gna_interval`: the same for unsolicited neighbour advertisements.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub na_interval: ConfigDuration,
}

impl Default for GarpSpec {
    fn default() -> Self {
        Self {
            master_delay: default_garp_delay(),
            master_repeat: default_garp_repeat(),
            master_refresh: ConfigDuration(0),
            master_refresh_repeat: default_garp_refresh_repeat(),
            lower_prio_repeat: default_garp_repeat(),
            lower_prio_delay: default_garp_delay(),
            interval: ConfigDuration(0),
            na_interval: ConfigDuration(0),
        }
    }
}

const fn default_version() -> u32 {
    3
}
const fn default_priority() -> u32 {
    100
}
const fn default_interval() -> ConfigDuration {
    ConfigDuration::from_secs(1)
}
const fn yes() -> bool {
    true
}
const fn default_hop_limit() -> u32 {
    255
}
const fn default_lifetime() -> VipLifetime {
    VipLifetime::After(ConfigDuration::from_secs(5))
}
const fn default_garp_delay() -> ConfigDuration {
    ConfigDuration::from_secs(5)
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

impl Config {
    /// Parses YAML text.
    ///
    /// # Errors
    /// [`ConfigFileError::Syntax`] naming the line, column and field.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigFileError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        if text.len() > MAX_FILE_BYTES {
            return Err(ConfigFileError::Syntax(format!(
                "the configuration is {} bytes; vipd reads at most {MAX_FILE_BYTES} (1 MiB): a \
                 real one is a few kilobytes, so check that this is the right file",
                text.len()
            )));
        }
        if let Some(line) = too_deep(text) {
            return Err(ConfigFileError::Syntax(format!(
                "line {line}: nested more than {MAX_DEPTH} levels deep; a vipd configuration \
                 needs about 6: check that this is the right file"
            )));
        }
        serde_yaml_ng::from_str(text).map_err(|e| ConfigFileError::Syntax(e.to_string()))
    }

    /// The configuration as YAML, with secrets redacted.
    #[must_use]
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
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
            use_vmac: None,
            vmac_xmit_base: false,
            vrid,
            version: default_version(),
            priority: default_priority(),
            advert_interval: default_interval(),
            preempt: true,
            preempt_delay: ConfigDuration(0),
            password: None,
            vips,
            vips_excluded: Vec::new(),
            unicast_peers: Vec::new(),
            unicast_peers_from: None,
            unicast_src_ip: None,
            unicast_min_hop_limit: default_hop_limit(),
            garp: GarpSpec::default(),
            vip_lifetime: default_lifetime(),
            v3_checksum_as_v2: false,
            strict_address_list: false,
            lower_prio_no_advert: false,
            dont_track_primary: false,
            notify: NotifySpec::default(),
            checks: Vec::new(),
        }
    }
}
