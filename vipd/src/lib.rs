//! vipd: a floating-IP (VIP) manager speaking VRRP v2/v3, interoperable with keepalived.
//!
//! This crate composes [`vrrp_core`] (the sans-IO engine), [`vrrp_net`] (Linux I/O) and
//! [`vip_health`] (health checks) into the daemon. Where things live:
//!
//! - [`config`]: the YAML file (`file`), flag and `VIPD_*` overrides (`overrides`), validation
//!   that reads each field and leaves the rules between fields to the engine, naming each
//!   field and its fix (`validate`, `vipd check-config`), and the [`config::Plan`] it builds
//!   (`plan`);
//! - [`daemon`]: the embedding API ([`daemon::Daemon::builder`], [`daemon::DaemonHandle`],
//!   [`daemon::Control`]) over the event loop (`runner`, with `reload` and netlink `events`),
//!   the action executor (`executor`), the health checks (`health`) and the snapshot
//!   (`snapshot`);
//! - [`duration`]: the VIP lifetime (durations are `vip_health`'s one `ConfigDuration`);
//! - [`notify`]: keepalived-compatible notify hooks;
//! - [`api`] and [`metrics`]: the HTTP endpoint (`/metrics`, `/healthz`, `/readyz`, `/status`);
//! - [`status`]: what a running daemon reports (`/status`, `/metrics`, `vipd status`);
//! - [`manifest`]: the Kubernetes static Pod that runs vipd (`vipd manifest static-pod`);
//! - [`import`]: keepalived.conf into vipd's configuration (`vipd import`).

pub mod api;
pub mod config;
pub mod daemon;
pub mod duration;
pub mod import;
pub mod manifest;
pub mod metrics;
pub mod notify;
pub mod status;

pub use vip_health;
pub use vrrp_core;
pub use vrrp_net;

/// The version of vipd.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
