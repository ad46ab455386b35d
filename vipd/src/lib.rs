//! vipd: a floating-IP (VIP) manager speaking VRRP v2/v3, interoperable with keepalived.
//!
//! This crate composes [`vrrp_core`] (the sans-IO engine), [`vrrp_net`] (Linux I/O) and
//! [`vip_health`] (health checks) into the daemon. The daemon itself is not built yet: today
//! the binary reports its version and the engine it carries.

pub use vip_health;
pub use vrrp_core;
pub use vrrp_net;

/// The version of vipd.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
