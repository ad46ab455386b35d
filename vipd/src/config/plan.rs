//! The validated configuration the daemon runs: a [`Plan`] can only be built by
//! [`Config::validate`](super::Config::validate).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use vrrp_core::InstanceConfig;

use crate::duration::VipLifetime;
use crate::notify::NotifySpec;

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

/// Where one address goes when it is not simply on its instance's VIP interface: keepalived's
/// `dev` and `label` of a `virtual_ipaddress` line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VipOptions {
    /// The interface it goes on instead of the instance's VIP interface.
    pub dev: Option<String>,
    /// Its IPv4 address label (`IFA_LABEL`), e.g. `eth0:vip`.
    pub label: Option<String>,
    /// keepalived's `no_track`: the link of `dev` going down does not put the instance in
    /// Fault (by default it does, as the instance's own interface does).
    pub no_track: bool,
}

/// One validated instance, ready to run. Built only by validation: its VIPs (with their
/// prefix lengths) and the engine's configuration agree by construction.
#[derive(Debug, Clone, PartialEq)]
pub struct InstancePlan {
    pub(crate) name: String,
    pub(crate) interface: String,
    pub(crate) vip_interface: String,
    /// The VIPs with their prefix lengths, then the excluded addresses (`vips_excluded`):
    /// the engine's `virtual_addresses` and `excluded_addresses` are their addresses, in the
    /// same order.
    pub(crate) vips: Vec<Vip>,
    /// The `dev` and `label` of the addresses that have one.
    pub(crate) vip_options: std::collections::BTreeMap<IpAddr, VipOptions>,
    pub(crate) vip_lifetime: VipLifetime,
    pub(crate) engine: InstanceConfig,
    pub(crate) notify: NotifySpec,
    pub(crate) checks: Vec<vip_health::CheckConfig>,
    /// Where more unicast peers come from at run time (the engine is then unicast even
    /// with no peer: `engine.unicast`).
    pub(crate) discovery: Option<super::Discovery>,
    pub(crate) vmac: Option<VmacPlan>,
    pub(crate) dont_track_primary: bool,
    /// `garp.interval` and `garp.na_interval`.
    pub(crate) announce_pacing: (std::time::Duration, std::time::Duration),
}

/// The virtual MAC interface of an instance (keepalived's `use_vmac`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmacPlan {
    pub(crate) name: String,
    pub(crate) mac: [u8; 6],
    pub(crate) xmit_base: bool,
}

impl VmacPlan {
    /// The macvlan's name (the VIPs' interface).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its MAC: the virtual router MAC of RFC 5798 section 7.3.
    #[must_use]
    pub const fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// keepalived's `vmac_xmit_base`.
    #[must_use]
    pub const fn xmit_base(&self) -> bool {
        self.xmit_base
    }
}

impl InstancePlan {
    /// Its name (for logs, status and metrics).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface VRRP speaks on.
    #[must_use]
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The interface the VIPs go on.
    #[must_use]
    pub fn vip_interface(&self) -> &str {
        &self.vip_interface
    }

    /// The addresses held as Master with their prefix lengths, in configuration order: the
    /// VIPs, then the excluded addresses (not advertised).
    #[must_use]
    pub fn vips(&self) -> &[Vip] {
        &self.vips
    }

    /// The VIP `addr` with its prefix length, if it is one of this instance's.
    #[must_use]
    pub fn vip(&self, addr: IpAddr) -> Option<Vip> {
        self.vips.iter().copied().find(|v| v.addr == addr)
    }

    /// The interface address `addr` goes on when it is not the instance's VIP interface
    /// (its `dev`).
    #[must_use]
    pub fn vip_dev(&self, addr: IpAddr) -> Option<&str> {
        self.vip_options.get(&addr)?.dev.as_deref()
    }

    /// The label of address `addr`, if it has one.
    #[must_use]
    pub fn vip_label(&self, addr: IpAddr) -> Option<&str> {
        self.vip_options.get(&addr)?.label.as_deref()
    }

    /// Address `vip` as configured: CIDR, then its `dev`, `label` and `no_track` if any.
    #[must_use]
    pub fn vip_text(&self, vip: &Vip) -> String {
        let mut text = vip.to_string();
        if let Some(o) = self.vip_options.get(&vip.addr) {
            if let Some(dev) = &o.dev {
                text.push_str(" dev ");
                text.push_str(dev);
            }
            if let Some(label) = &o.label {
                text.push_str(" label ");
                text.push_str(label);
            }
            if o.no_track {
                text.push_str(" no_track");
            }
        }
        text
    }

    /// The interfaces besides the VIP interface that some address goes on, each once.
    pub fn extra_vip_interfaces(&self) -> impl Iterator<Item = &str> {
        let mut seen: Vec<&str> = Vec::new();
        self.vip_options.values().filter_map(move |o| {
            let dev = o.dev.as_deref()?;
            (!seen.contains(&dev)).then(|| {
                seen.push(dev);
                dev
            })
        })
    }

    /// Whether the link of interface `dev`, some address's `dev`, counts for the instance's
    /// state: unless every address on it is `no_track`.
    #[must_use]
    pub fn tracks_dev(&self, dev: &str) -> bool {
        self.vip_options
            .values()
            .any(|o| o.dev.as_deref() == Some(dev) && !o.no_track)
    }

    /// The kernel lifetime of the VIPs.
    #[must_use]
    pub const fn vip_lifetime(&self) -> VipLifetime {
        self.vip_lifetime
    }

    /// The engine's configuration.
    #[must_use]
    pub const fn engine(&self) -> &InstanceConfig {
        &self.engine
    }

    /// The notify hooks.
    #[must_use]
    pub const fn notify(&self) -> &NotifySpec {
        &self.notify
    }

    /// Where more unicast peers come from at run time, if anywhere.
    #[must_use]
    pub const fn discovery(&self) -> Option<&super::Discovery> {
        self.discovery.as_ref()
    }

    /// Whether the instance can run with these link states of its `interface` and its VIP
    /// interface: both up, or with `dont_track_primary` the VIP interface alone when it is a
    /// separate one (a virtual MAC interface follows `interface` and is not tracked either).
    #[must_use]
    pub fn link_usable(&self, interface_up: bool, vip_interface_up: bool) -> bool {
        if !self.dont_track_primary {
            interface_up && vip_interface_up
        } else if self.vmac.is_some() || self.vip_interface == self.interface {
            true
        } else {
            vip_interface_up
        }
    }

    /// The least time between two gratuitous ARPs, and between two unsolicited NAs, on the
    /// VIP interface (keepalived's `vrrp_garp_interval`, `vrrp_gna_interval`); zero: none.
    #[must_use]
    pub const fn announce_pacing(&self) -> (std::time::Duration, std::time::Duration) {
        self.announce_pacing
    }

    /// keepalived's `dont_track_primary`.
    #[must_use]
    pub const fn dont_track_primary(&self) -> bool {
        self.dont_track_primary
    }

    /// The virtual MAC interface, with `use_vmac`; its name is then
    /// [`vip_interface`](Self::vip_interface).
    #[must_use]
    pub const fn vmac(&self) -> Option<&VmacPlan> {
        self.vmac.as_ref()
    }

    /// The health checks, each a tracked object of the engine with the same name.
    #[must_use]
    pub fn checks(&self) -> &[vip_health::CheckConfig] {
        &self.checks
    }

    /// Gives the hooks and exec checks that name no user of their own `user` (the
    /// configuration's `script_user`).
    pub(crate) fn default_run_as(&mut self, user: vip_health::RunAs) {
        self.notify.run_as.get_or_insert(user.to_spec());
        for check in &mut self.checks {
            if let vip_health::CheckKind::Exec(exec) = &mut check.kind {
                exec.run_as.get_or_insert(user);
            }
        }
    }
}

impl InstancePlan {
    /// Adds `check` (an embedder's) and the tracked object it feeds.
    pub(crate) fn push_check(&mut self, check: vip_health::CheckConfig) {
        self.engine.tracks.push(track_of(&check));
        self.checks.push(check);
    }
}

/// The tracked object a check feeds: its name, its weight, its initial state.
pub(crate) fn track_of(check: &vip_health::CheckConfig) -> vrrp_core::Track {
    let mut track = vrrp_core::Track::new(check.name.clone(), check.track_weight());
    track.initially_up = check.initially_up();
    track
}

/// A validated sync group: its members exist and are in no other group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupPlan {
    pub(crate) name: String,
    /// The members' names, as in [`InstancePlan::name`].
    pub(crate) members: Vec<String>,
    pub(crate) notify: NotifySpec,
}

impl SyncGroupPlan {
    /// Its name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The members' instance names.
    #[must_use]
    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// The group's notify hooks.
    #[must_use]
    pub const fn notify(&self) -> &NotifySpec {
        &self.notify
    }
}

/// A validated configuration, built only by [`Config::validate`](super::Config::validate).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub(crate) instances: Vec<InstancePlan>,
    pub(crate) sync_groups: Vec<SyncGroupPlan>,
    pub(crate) api: Option<SocketAddr>,
    pub(crate) script_security: bool,
}

impl Plan {
    /// The instances, in file order.
    #[must_use]
    pub fn instances(&self) -> &[InstancePlan] {
        &self.instances
    }

    /// The sync groups, in file order. Group-level checks are already among their members'
    /// [`checks`](InstancePlan::checks).
    #[must_use]
    pub fn sync_groups(&self) -> &[SyncGroupPlan] {
        &self.sync_groups
    }

    /// Where the HTTP API listens; `None` when it is off.
    #[must_use]
    pub const fn api(&self) -> Option<SocketAddr> {
        self.api
    }

    /// Whether hooks and exec checks a user other than root could replace are refused
    /// ([`insecure_programs`](super::insecure_programs)).
    #[must_use]
    pub const fn script_security(&self) -> bool {
        self.script_security
    }
}
