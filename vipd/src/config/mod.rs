//! vipd's configuration file (YAML), its overrides from flags and environment variables, and
//! its validation into what the daemon runs.
//!
//! ```yaml
//! api:
//!   listen: 127.0.0.1:9370       # /metrics, /healthz, /readyz, /status; or off
//! script_security: true          # refuse hooks and exec checks others could replace
//! script_user: {user: nobody}    # hooks and exec checks as this user, no capabilities
//! instances:
//!   - name: VI_CONTROL_PLANE
//!     interface: eth0            # where VRRP speaks
//!     vip_interface: eth0        # where the VIPs go (default: interface)
//!     use_vmac: false            # true: VIPs on macvlan vrrp.<vrid> with MAC 00:00:5e:00:01:<vrid>; or a name
//!     vmac_xmit_base: false      # keepalived's vmac_xmit_base
//!     vrid: 51
//!     version: 3                 # 2 or 3
//!     priority: 100              # 1 to 255; 255 owns the addresses
//!     advert_interval: 1s        # v3: 10ms to 40.95s; v2: whole seconds 1 to 255
//!     preempt: true              # false is keepalived's nopreempt
//!     preempt_delay: 0s
//!     vips: [192.168.1.100/24]   # CIDR form, one family per instance
//!     vips_excluded: []          # held as Master, not advertised (keepalived's virtual_ipaddress_excluded)
//!     unicast_peers: []          # empty: multicast (unless unicast_peers_from is set)
//!     unicast_peers_from:        # peers discovered live, see `PeerSourceSpec`
//!       kubernetes: { pods: { selector: app.kubernetes.io/name=vipd } }
//!     garp: { master_delay: 5s, master_repeat: 5, master_refresh: 0s, master_refresh_repeat: 1 }
//!     # garp.interval / garp.na_interval: 0s (keepalived's vrrp_garp_interval / vrrp_gna_interval)
//!     lower_prio_no_advert: false # true: do not answer a lower-priority advert with an advert
//!     dont_track_primary: false  # true: the link of `interface` does not put the instance in Fault
//!     vip_lifetime: 5s           # kernel lifetime of each VIP, renewed while Master; or forever
//! sync_groups:                   # keepalived's vrrp_sync_group: members change state together
//!   - name: G1
//!     instances: [VI_CONTROL_PLANE, VI_BACK]
//!     notify: { master: [/usr/local/bin/g1-master] }  # command gets GROUP <name> <state>
//!     checks: []                 # tracked by every member (group-level track_*)
//!     tracking_weight: false     # keepalived's sync_group_tracking_weight
//! ```
//!
//! Validation reports every problem at once, each naming its field (`instances[0].vips[1]`)
//! and the fix. Nothing is applied from a configuration that has any.

mod discovery;
mod file;
mod overrides;
mod plan;
mod scripts;
mod sync_groups;
#[cfg(test)]
mod tests;
mod validate;
mod vips;

pub use discovery::{
    Discovery, KubernetesPeersSpec, NodesSpec, PeerObjects, PeerSourceSpec, PodsSpec,
};
pub use file::{
    ApiSpec, Config, DEFAULT_API_LISTEN, GarpSpec, InstanceSpec, MAX_DEPTH, MAX_FILE_BYTES, Secret,
    SyncGroupSpec, UseVmac,
};
pub use overrides::Overrides;
pub(crate) use plan::track_of;
pub use plan::{InstancePlan, Plan, SyncGroupPlan, Vip, VipOptions, VmacPlan};
pub use scripts::{cannot_switch_user, effective_caps, insecure_programs, run_as_vipd};
pub use validate::MAX_INSTANCES;
pub(crate) use vips::label_names;

pub use vip_health::FieldError;

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigFileError {
    /// The file is not valid YAML of the expected shape (unknown key, wrong type, ...).
    #[error("{0}")]
    Syntax(String),
    /// The file parsed but breaks rules; every problem is listed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<FieldError>),
}
