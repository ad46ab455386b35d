//! vipd: a floating-IP (VIP) manager speaking VRRP v2/v3, interoperable with keepalived.
//!
//! This crate composes [`vrrp_core`] (the sans-IO engine), [`vrrp_net`] (Linux I/O) and
//! [`vip_health`] (health checks) into the daemon. So far it holds the configuration
//! ([`config`]: the YAML file, flag and `VIPD_*` overrides, validation that names each field and
//! its fix), which `vipd check-config` exposes; the event loop comes next.

pub mod config;
pub mod duration;
pub mod notify;

pub use vip_health;
pub use vrrp_core;
pub use vrrp_net;

/// The version of vipd.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
