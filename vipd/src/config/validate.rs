//! Validation: every rule of the file, each problem named by its field and its fix.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use vrrp_core::{
    AnnounceSchedule, Centis, ChecksumMode, Family, InstanceConfig, Interval, Password, Priority,
    Version, Vrid,
};

use super::vips::{Placement, ifname_problem, parse_vip};
use super::{Config, ConfigFileError, FieldError, InstancePlan, InstanceSpec, Plan, Vip};
use crate::duration::{ConfigDuration, VipLifetime};
use crate::notify::NotifySpec;
use vip_health::{RunAs, RunAsSpec};

/// The most instances one vipd runs.
pub const MAX_INSTANCES: usize = 1024;

impl Config {
    /// Checks every rule and builds the plan.
    ///
    /// # Errors
    /// [`ConfigFileError::Invalid`] with every problem found.
    pub fn validate(&self) -> Result<Plan, ConfigFileError> {
        let mut errors = Vec::new();
        if self.instances.is_empty() {
            errors.push(FieldError::new(
                "instances",
                "no instance is configured: add one under `instances:` with at least \
                 interface, vrid and vips",
            ));
        }
        if self.instances.len() > MAX_INSTANCES {
            errors.push(FieldError::new(
                "instances",
                format!(
                    "{} instances; vipd runs at most {MAX_INSTANCES} (255 VRIDs per interface \
                     and family): split the configuration",
                    self.instances.len()
                ),
            ));
            return Err(ConfigFileError::Invalid(errors));
        }
        let script_user = self.script_user.as_ref().and_then(|spec| {
            resolve_run_as(
                spec,
                "script_user",
                &mut Errors {
                    prefix: String::new(),
                    list: &mut errors,
                },
            )
        });
        let mut instances = Vec::new();
        let mut keys: BTreeMap<(String, u8, Family), usize> = BTreeMap::new();
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut vmacs: BTreeMap<String, usize> = BTreeMap::new();
        // Each VIP interface's announcement pacing, with the first instance that set it.
        let mut pacing: BTreeMap<String, (usize, (Duration, Duration))> = BTreeMap::new();
        // Every VIP (or excluded address) with the instance and field that first claimed it.
        let mut claimed: BTreeMap<IpAddr, (usize, String)> = BTreeMap::new();
        for (i, spec) in self.instances.iter().enumerate() {
            let mut e = Errors {
                prefix: format!("instances[{i}]"),
                list: &mut errors,
            };
            let Some(mut plan) = spec.plan(&mut e) else {
                continue;
            };
            if let Some(user) = script_user {
                plan.default_run_as(user);
            }
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
            // One address, one owner: an instance leaving Master removes its VIPs, which would
            // take the address from under another instance holding it.
            let advertised = plan.engine.virtual_addresses.len();
            for (j, vip) in plan.vips.iter().enumerate() {
                let field = if j < advertised {
                    format!("vips[{j}]")
                } else {
                    format!("vips_excluded[{}]", j - advertised)
                };
                if let Some((first, theirs)) = claimed.get(&vip.addr) {
                    e.push(
                        &field,
                        format!(
                            "{} is also a VIP of instances[{first}] ({theirs}): a VIP belongs \
                             to one instance; remove it here or there",
                            vip.addr
                        ),
                    );
                } else {
                    claimed.insert(vip.addr, (i, field));
                }
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
            if let Some(vmac) = &plan.vmac
                && let Some(first) = vmacs.insert(vmac.name.clone(), i)
            {
                e.push(
                    "use_vmac",
                    format!(
                        "virtual MAC interface {:?} is also instances[{first}]'s: name one of \
                         them, e.g. use_vmac: vrrp.{}.2",
                        vmac.name, plan.engine.vrid
                    ),
                );
            }
            let (first, paced) = *pacing
                .entry(plan.vip_interface.clone())
                .or_insert((i, plan.announce_pacing));
            if paced != plan.announce_pacing {
                e.push(
                    "garp.interval",
                    format!(
                        "instances[{first}] announces on {} too, with other garp.interval / \
                         garp.na_interval: announcements on one interface are paced one way; \
                         give both instances the same values",
                        plan.vip_interface
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
                    errors.push(FieldError::new(
                        "api.listen",
                        format!(
                            "{text:?} is not ADDRESS:PORT: write e.g. 127.0.0.1:9370 or \
                             [::1]:9370, or off to serve no API"
                        ),
                    ));
                    None
                }
            },
        };
        let all_valid = instances.len() == self.instances.len();
        let sync_groups =
            super::sync_groups::validate(&self.sync_groups, &mut instances, all_valid, &mut errors);
        if errors.is_empty() {
            Ok(Plan {
                instances,
                sync_groups,
                api,
                script_security: self.script_security,
            })
        } else {
            Err(ConfigFileError::Invalid(errors))
        }
    }
}

/// The ids of `spec`, or `None` with the problem recorded under `field`.
fn resolve_run_as(spec: &RunAsSpec, field: &str, e: &mut Errors<'_>) -> Option<RunAs> {
    spec.resolve()
        .map_err(|err| e.push(&format!("{field}.{}", err.field), err.message))
        .ok()
}

/// Collects errors under a field prefix.
pub(super) struct Errors<'a> {
    pub(super) prefix: String,
    pub(super) list: &'a mut Vec<FieldError>,
}

impl Errors<'_> {
    pub(super) fn push(&mut self, field: &str, message: impl Into<String>) {
        let field = if self.prefix.is_empty() {
            field.to_owned()
        } else {
            format!("{}.{field}", self.prefix)
        };
        self.list.push(FieldError::new(field, message.into()));
    }

    pub(super) fn count(&self) -> usize {
        self.list.len()
    }
}

/// The notify hooks' rules, for an instance's or a sync group's `notify`.
pub(super) fn check_notify(e: &mut Errors<'_>, notify: &crate::notify::NotifySpec) {
    if notify.timeout.0 == 0 {
        e.push("notify.timeout", "must be more than 0, e.g. 10s");
    }
    for (field, argv) in notify.hooks() {
        if argv.first().is_some_and(|p| p.trim().is_empty()) {
            e.push(
                &format!("notify.{field}"),
                "the program (first element) is empty: give a path, e.g. [/usr/local/bin/hook]",
            );
        }
    }
}

/// The health checks `specs` of the instance or sync group `e` is about, validated; each
/// problem is pushed to `e` (under `checks[i]`) and an empty list returned.
pub(super) fn checks_of(
    e: &mut Errors<'_>,
    specs: &[vip_health::CheckSpec],
) -> Vec<vip_health::CheckConfig> {
    match vip_health::validate_checks(
        specs,
        &format!("{}.checks", e.prefix),
        &vip_health::process_env,
    ) {
        Ok(checks) => checks,
        Err(errors) => {
            e.list.extend(errors);
            Vec::new()
        }
    }
}

/// Parses `ADDRESS/PREFIX`.
fn check_ifname(e: &mut Errors<'_>, field: &str, name: &str) {
    if let Err(why) = ifname_problem(name) {
        e.push(field, why);
    }
}

impl InstanceSpec {
    /// Validates this instance, pushing each problem to `e`; `None` if there was any.
    ///
    /// Each field is first read into the engine's types (ranges, syntax: what only the file
    /// can get wrong); the rules between fields (families, duplicates, versions, passwords,
    /// preemption) are the engine's own, [`InstanceConfig::problems`], reported under the
    /// file's field names. A field that could not be read is replaced by a value that breaks
    /// no rule, so that the other fields are still checked.
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
        let preempt_delay = self.preempt_delay.to_centis().map(Centis);
        if preempt_delay.is_none() {
            e.push(
                "preempt_delay",
                format!(
                    "{} must be at most 1000s, in steps of 10ms",
                    self.preempt_delay
                ),
            );
        }
        // An advert carries at most 255 addresses; a longer list is refused before it is read.
        if self.vips.len() > usize::from(u8::MAX) {
            e.push(
                "vips",
                format!(
                    "{} VIPs; an instance has at most 255 (the VRRP limit of one advert): split \
                     them over several instances",
                    self.vips.len()
                ),
            );
            return None;
        }
        // (index in the file, VIP) of each VIP that parsed.
        let mut parsed: Vec<(usize, Vip)> = Vec::new();
        if self.vips.is_empty() {
            e.push(
                "vips",
                "no virtual address: list at least one, in CIDR form, e.g. [192.168.1.100/24]",
            );
        }
        // Each address's `dev` and `label`, with its field.
        let mut placements: Vec<(String, IpAddr, Placement)> = Vec::new();
        for (j, text) in self.vips.iter().enumerate() {
            match parse_vip(text) {
                Ok((vip, placement)) => {
                    parsed.push((j, vip));
                    placements.push((format!("vips[{j}]"), vip.addr, placement));
                }
                Err(msg) => e.push(&format!("vips[{j}]"), msg),
            }
        }
        // The same for the addresses held but not advertised, of either family.
        let mut excluded: Vec<(usize, Vip)> = Vec::new();
        if self.vips_excluded.len() > usize::from(u8::MAX) {
            e.push(
                "vips_excluded",
                format!(
                    "{} addresses; an instance holds at most 255 beside its VIPs: split them \
                     over several instances",
                    self.vips_excluded.len()
                ),
            );
        } else {
            for (j, text) in self.vips_excluded.iter().enumerate() {
                match parse_vip(text) {
                    Ok((vip, placement)) => {
                        excluded.push((j, vip));
                        placements.push((format!("vips_excluded[{j}]"), vip.addr, placement));
                    }
                    Err(msg) => e.push(&format!("vips_excluded[{j}]"), msg),
                }
            }
        }
        let mut peers: Vec<(usize, IpAddr)> = Vec::new();
        for (j, text) in self.unicast_peers.iter().enumerate() {
            match text.trim().parse::<IpAddr>() {
                Ok(p) => peers.push((j, p)),
                Err(_) => e.push(
                    &format!("unicast_peers[{j}]"),
                    format!("{text:?} is not an IP address (no prefix length here)"),
                ),
            }
        }
        let unicast_source = self.unicast_src_ip.as_ref().and_then(|text| {
            let parsed = text.trim().parse::<IpAddr>().ok();
            if parsed.is_none() {
                e.push(
                    "unicast_src_ip",
                    format!("{text:?} is not an IP address (no prefix length here)"),
                );
            }
            parsed
        });
        let password = self.password.as_ref().and_then(|secret| {
            let p = Password::new(secret.0.as_bytes());
            if p.is_none() {
                e.push(
                    "password",
                    "must be 1 to 8 bytes long (VRRPv2 simple password)",
                );
            }
            p
        });
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
            VipLifetime::After(d) if d.0 < 2000 || !d.0.is_multiple_of(1000) => e.push(
                "vip_lifetime",
                format!(
                    "{d} must be whole seconds, at least 2s (the kernel counts seconds, and vipd \
                     renews it every quarter of it, at most every 0.5s: 2s survives three missed \
                     renewals, 1s only one), or forever"
                ),
            ),
            _ => {}
        }
        check_notify(e, &self.notify);
        let notify_run_as = self
            .notify
            .run_as
            .as_ref()
            .and_then(|spec| resolve_run_as(spec, "notify.run_as", e));
        let checks = checks_of(e, &self.checks);
        let discovery = self.unicast_peers_from.as_ref().and_then(|source| {
            match source.validate(&e.prefix, &vip_health::process_env) {
                Ok(d) => Some(d),
                Err(errors) => {
                    e.list.extend(errors);
                    None
                }
            }
        });
        // The engine's rules, on every field that could be read (placeholders that break no
        // rule stand in for the others). Without a version, the rules that depend on it
        // cannot be judged, so none are.
        let version = version?;
        let mut engine = InstanceConfig::new(
            vrid.or(Vrid::new(1))?,
            parsed.iter().map(|(_, v)| v.addr).collect(),
        );
        engine.version = version;
        engine.priority = priority.unwrap_or(Priority::DEFAULT);
        engine.advert_interval = interval.unwrap_or(Interval::ONE_SECOND);
        engine.preempt = self.preempt;
        engine.preempt_delay = preempt_delay.unwrap_or(Centis::ZERO);
        engine.password = password;
        engine.unicast_peers = peers.iter().map(|(_, p)| *p).collect();
        engine.unicast_source = unicast_source;
        engine.unicast = self.unicast_peers_from.is_some();
        engine.unicast_min_hop_limit = hop_limit.unwrap_or(255);
        engine.announce = announce.unwrap_or_default();
        engine.strict_address_list = self.strict_address_list;
        engine.lower_prio_no_advert = self.lower_prio_no_advert;
        engine.excluded_addresses = excluded.iter().map(|(_, v)| v.addr).collect();
        engine.tracks = checks.iter().map(super::plan::track_of).collect();
        engine.checksum_mode = if self.v3_checksum_as_v2 {
            ChecksumMode::V3AsV2
        } else {
            ChecksumMode::PseudoHeader
        };
        for problem in engine.problems() {
            // An empty list is reported above, in the file's words.
            if matches!(problem, vrrp_core::ConfigError::NoVirtualAddresses) {
                continue;
            }
            let field = file_field(&problem, &parsed, &excluded, &peers);
            e.push(&field, problem.to_string());
        }
        if e.count() > before {
            return None;
        }
        // The VIPs, then the excluded addresses (the daemon holds both).
        let vips: Vec<Vip> = parsed.into_iter().chain(excluded).map(|(_, v)| v).collect();
        let family = engine.family();
        let vmac = self.vmac(e, engine.vrid, family);
        let vip_interface = vmac.as_ref().map_or_else(
            || {
                self.vip_interface
                    .clone()
                    .unwrap_or_else(|| self.interface.clone())
            },
            |v| v.name.clone(),
        );
        let vip_options = self.vip_options(e, placements, &vip_interface, vmac.is_some());
        if e.count() > before {
            return None;
        }
        Some(InstancePlan {
            name: self.name.clone().unwrap_or_else(|| {
                let family = if family == Family::Ipv6 {
                    "ipv6"
                } else {
                    "ipv4"
                };
                format!("{}-{}-{family}", self.interface, engine.vrid)
            }),
            interface: self.interface.clone(),
            vip_interface,
            vip_options,
            vmac,
            dont_track_primary: self.dont_track_primary,
            announce_pacing: (
                self.garp.interval.to_duration(),
                self.garp.na_interval.to_duration(),
            ),
            vips,
            vip_lifetime: self.vip_lifetime,
            engine,
            notify: NotifySpec {
                run_as: notify_run_as.map(RunAs::to_spec),
                ..self.notify.clone()
            },
            checks,
            discovery,
        })
    }

    /// The virtual MAC interface of `use_vmac`, with its rules: a valid name, and no
    /// `vip_interface` (the VIPs go on the virtual MAC interface).
    fn vmac(&self, e: &mut Errors<'_>, vrid: Vrid, family: Family) -> Option<super::VmacPlan> {
        let name = match &self.use_vmac {
            None | Some(super::UseVmac::Enabled(false)) => {
                if self.vmac_xmit_base {
                    e.push(
                        "vmac_xmit_base",
                        "has no effect without use_vmac: set use_vmac: true, or remove it",
                    );
                }
                return None;
            }
            Some(super::UseVmac::Enabled(true)) => vrrp_net::netlink::default_vmac_name(vrid),
            Some(super::UseVmac::Named(name)) => name.clone(),
        };
        check_ifname(e, "use_vmac", &name);
        if name == self.interface {
            e.push(
                "use_vmac",
                format!("{name:?} is the VRRP interface: name the virtual MAC interface differently, e.g. vrrp.{vrid}"),
            );
        }
        if self.vip_interface.is_some() {
            e.push(
                "vip_interface",
                "with use_vmac the VIPs go on the virtual MAC interface: remove vip_interface",
            );
        }
        Some(super::VmacPlan {
            name,
            mac: vrrp_net::netlink::vmac_address(family, vrid),
            xmit_base: self.vmac_xmit_base,
        })
    }

    /// The advertisement interval as the engine counts it (whether it suits the VRRP
    /// version is the engine's rule).
    fn interval(&self, e: &mut Errors<'_>, version: Option<Version>) -> Option<Interval> {
        let interval = self
            .advert_interval
            .to_centis()
            .and_then(|c| u16::try_from(c).ok())
            .and_then(Interval::from_centis);
        if interval.is_none() {
            let range = match version {
                Some(Version::V2) => "VRRPv2: whole seconds from 1s to 255s",
                _ => "VRRPv3: 10ms to 40.95s in steps of 10ms",
            };
            e.push(
                "advert_interval",
                format!("{} is not valid for {range}", self.advert_interval),
            );
        }
        interval
    }

    fn announce(&self, e: &mut Errors<'_>) -> Option<AnnounceSchedule> {
        let g = self.garp;
        let delay = g.master_delay.to_centis().map(Centis);
        let refresh = g.master_refresh.to_centis().map(Centis);
        let repeat = u8::try_from(g.master_repeat).ok();
        let refresh_repeat = u8::try_from(g.master_refresh_repeat).ok();
        let lower_repeat = u8::try_from(g.lower_prio_repeat).ok();
        let lower_delay = g.lower_prio_delay.to_centis().map(Centis);
        for (field, pacing) in [
            ("garp.interval", g.interval),
            ("garp.na_interval", g.na_interval),
        ] {
            if pacing > ConfigDuration::from_secs(1) {
                e.push(
                    field,
                    format!(
                        "{pacing} is more than 1s: it spaces the announcements of one burst \
                         (keepalived's vrrp_garp_interval / vrrp_gna_interval are usually a \
                         few ms); write e.g. 10ms"
                    ),
                );
            }
        }
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
            ("garp.lower_prio_repeat", lower_repeat.is_some(), "0 to 255"),
            (
                "garp.lower_prio_delay",
                lower_delay.is_some(),
                "a duration in steps of 10ms",
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
        schedule.lower_prio_repeat = lower_repeat?;
        schedule.lower_prio_delay = lower_delay?;
        Some(schedule)
    }
}

/// The file's name for the field of an engine problem: list entries by their index in the
/// file (an entry that did not parse is not in the engine's list).
fn file_field(
    problem: &vrrp_core::ConfigError,
    vips: &[(usize, Vip)],
    excluded: &[(usize, Vip)],
    peers: &[(usize, IpAddr)],
) -> String {
    let field = problem.field();
    let entry = |name: &str, index: Option<usize>| match index {
        Some(j) => format!("{name}[{j}]"),
        None => name.to_owned(),
    };
    match field.split_once('[') {
        Some(("virtual_addresses", rest)) => {
            let i = rest.trim_end_matches(']').parse::<usize>().ok();
            entry("vips", i.and_then(|i| vips.get(i)).map(|(j, _)| *j))
        }
        Some(("excluded_addresses", rest)) => {
            let i = rest.trim_end_matches(']').parse::<usize>().ok();
            entry(
                "vips_excluded",
                i.and_then(|i| excluded.get(i)).map(|(j, _)| *j),
            )
        }
        Some(("unicast_peers", rest)) => {
            let i = rest.trim_end_matches(']').parse::<usize>().ok();
            entry(
                "unicast_peers",
                i.and_then(|i| peers.get(i)).map(|(j, _)| *j),
            )
        }
        Some(("tracks", rest)) => format!("checks[{rest}"),
        _ if field == "unicast_source" => "unicast_src_ip".to_owned(),
        _ if field == "virtual_addresses" => "vips".to_owned(),
        _ => field,
    }
}
