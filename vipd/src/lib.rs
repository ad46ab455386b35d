//! vipd: a floating-IP (VIP) manager speaking VRRP v2/v3, interoperable with keepalived.
//!
//! This crate composes [`vrrp_core`] (the sans-IO engine), [`vrrp_net`] (Linux I/O) and
//! [`vip_health`] (health checks) into the daemon:
//!
//! - [`config`]: the YAML file, flag and `VIPD_*` overrides, validation that names each field
//!   and its fix (`vipd check-config`);
//! - [`daemon`]: the event loop ([`daemon::Daemon::builder`]), which embedders can run inside
//!   their own tokio program and watch through a [`daemon::DaemonHandle`];
//! - [`notify`]: keepalived-compatible notify hooks;
//! - [`api`] and [`metrics`]: the HTTP endpoint (`/metrics`, `/healthz`, `/readyz`, `/status`);
//! - [`status`]: what a running daemon reports (`/status`, `/metrics`, `vipd status`);
//! - [`manifest`]: the Kubernetes static Pod that runs vipd (`vipd manifest static-pod`).

pub mod api;
pub mod config;
pub mod daemon;
pub mod duration;
pub mod manifest;
pub mod metrics;
pub mod notify;
pub mod status;

pub use vip_health;
pub use vrrp_core;
pub use vrrp_net;

/// The version of vipd.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
