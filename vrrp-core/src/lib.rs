//! A sans-IO VRRP engine: VRRPv2 ([RFC 3768]) and VRRPv3 ([RFC 5798]) advertisements, and
//! the virtual router state machine, with keepalived's knobs. It never opens a socket, never
//! reads a clock and never spawns a task: you feed it what happened and when, and it tells you
//! what to do and when to call it next.
//!
//! # Where things live
//!
//! | module | what it holds |
//! |---|---|
//! | `instance` | [`Instance`], one virtual router: construction, getters, outputs; its children hold the receive path (`receive`), timers and Skew_Time (`timers`), state transitions (`transitions`), commands with eligibility and effective priority (`tracking`), and reload in place with [`ReconfigureError`] (`reconfigure`) |
//! | `router` | [`Router`]: many instances behind one receive path, keyed by [`InstanceKey`] |
//! | `sync_group` | sync groups (keepalived's `vrrp_sync_group`) owned by a [`Router`]: [`SyncGroupConfig`], [`GroupEvent`], [`SyncGroupError`], and the rules the members follow |
//! | `config` | [`InstanceConfig`] and its one set of rules: [`InstanceConfig::problems`], [`ConfigError`] with [`ConfigError::field`] |
//! | `track` | [`Track`] and keepalived's weight rule, [`Track::effect`] -> [`TrackEffect`]; [`TrackStatus`] |
//! | `event` | what goes in and out: [`Received`], [`Action`], [`Transmit`], [`State`], [`Reason`], [`RxError`] |
//! | `stats` | [`Stats`], [`RouterStats`], [`MasterReasons`], each counter with its stable name (`counters()`) |
//! | `types` | the protocol newtypes: [`Vrid`], [`Priority`], [`Interval`], [`Centis`], [`Version`], [`Family`] |
//! | `wire` | the codec: [`Advertisement`] parse / emit, [`Addresses`], [`Auth`], [`ChecksumMode`], [`WireError`] |
//! | `checksum` | the RFC 1071 arithmetic, `internet_checksum` and `pseudo_header_checksum` (feature `checksum`) |
//! | `sim` | a deterministic simulator of N routers in virtual time, with invariants checked at every step (feature `sim`) |
//!
//! Everything is re-exported at the crate root (only `sim` is a public module).
//!
//! # Features
//!
//! All off by default, so an embedder compiles the codec and the state machine only:
//!
//! | feature | adds |
//! |---|---|
//! | `serde` | `Serialize` / `Deserialize` for the value types, in the forms their docs give |
//! | `sim` | the `sim` module: the deterministic simulator (about 1,800 lines) |
//! | `checksum` | `internet_checksum` and `pseudo_header_checksum`, for crates that build their own packets; the codec needs neither |
//!
//! # The contract
//!
//! An [`Instance`] is one virtual router (one VRID and family on one interface); a [`Router`]
//! holds many and routes received messages to them. Their methods are of four kinds:
//!
//! 1. **Inputs**, each taking the current time `now`:
//!    `handle_startup` once, then `handle_packet` for every VRRP message received (IP protocol
//!    112) and `handle_timeout` whenever the deadline of `poll_timeout` passes, and finally
//!    `handle_shutdown` (or `handle_handover`, which keeps a master's addresses until its
//!    successor speaks). A spurious or early `handle_timeout` does nothing.
//! 2. **Commands** report what changed outside: `set_primary_address`, `set_link_up`,
//!    `set_track`, `set_priority`, `reconfigure` (a reload applied in place), `reannounce`
//!    (on a `Router`, reach the instance with `instance_mut`, or use `Router::reconfigure`).
//! 3. **Outputs**, drained after *every* input and command, in this order:
//!    call `poll_action` until it returns `None` and perform each [`Action`] in order (add or
//!    remove a virtual address, send an advertisement, send a gratuitous ARP / unsolicited
//!    NA); then call `poll_timeout` and wake up no later than the instant it returns.
//! 4. **Getters**: `state`, `effective_priority`, `stats`, `master_down_interval`, ...
//!
//! Time is an [`Instant`](std::time::Instant) you supply, so the same code runs against the
//! wall clock or in a simulation (the `sim` feature). All VRRP interval arithmetic is integer: intervals
//! in centiseconds ([`Centis`], the wire's unit), Skew_Time and Master_Down_Interval in
//! microseconds ([`Micros`]), so that every priority keeps its takeover order even at 10 ms
//! adverts. A Master's adverts are scheduled from the previous deadline, not from when the
//! loop woke up, so a late loop does not make them drift. A malformed or foreign message is counted in [`Stats`] and returned as an
//! [`RxError`]; it never panics and never changes the state.
//!
//! # A run loop
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::{Duration, Instant};
//! use vrrp_core::{Action, Instance, InstanceConfig, State, Vrid};
//!
//! let vip = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 100));
//! let mut config = InstanceConfig::new(Vrid::new(51).unwrap(), vec![vip]);
//! config.priority = vrrp_core::Priority::new(150).unwrap();
//! let mut vr = Instance::new(config)?;
//!
//! let start = Instant::now(); // an embedder's clock; vrrp-core itself never reads one
//! vr.set_primary_address(start, Some(IpAddr::V4(Ipv4Addr::new(10, 200, 0, 1))));
//! vr.handle_startup(start);
//!
//! // The loop an embedder runs: drain actions, sleep until the timeout or a packet, feed it.
//! let mut now = start;
//! let mut sent = 0;
//! while now < start + Duration::from_secs(10) {
//!     while let Some(action) = vr.poll_action() {
//!         match action {
//!             Action::StateChanged { from, to, reason } => println!("{from} -> {to}: {reason}"),
//!             Action::AddVip(addr) => { /* netlink: add addr */ }
//!             Action::RemoveVip(addr) => { /* netlink: remove addr */ }
//!             Action::SendAdvertisement(tx) => sent += 1, // raw socket: send tx.payload to tx.dst
//!             Action::Announce(addr) => { /* gratuitous ARP or unsolicited NA for addr */ }
//!             _ => {}
//!         }
//!     }
//!     let Some(deadline) = vr.poll_timeout() else { break };
//!     // A real loop waits for a packet or the deadline; nobody else speaks here.
//!     now = deadline;
//!     vr.handle_timeout(now);
//! }
//! // Alone on the link, priority 150 with 1 s adverts: Master after 3 s + Skew_Time.
//! assert_eq!(vr.state(), State::Master);
//! // 3 s + (256 - 150) / 256 s = 3.4140625 s, truncated to the microsecond.
//! assert_eq!(vr.master_down_interval().get(), 3_000_000 + (256 - 150) * 1_000_000 / 256);
//! assert_eq!(vr.master_down_interval().to_string(), "3.414062s");
//! assert!(sent >= 6);
//! # Ok::<(), vrrp_core::ConfigError>(())
//! ```
//!
//! [RFC 3768]: https://www.rfc-editor.org/rfc/rfc3768
//! [RFC 5798]: https://www.rfc-editor.org/rfc/rfc5798

#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use std::net::{Ipv4Addr, Ipv6Addr};

mod checksum;
mod config;
mod event;
mod instance;
mod router;
#[cfg(feature = "sim")]
pub mod sim;
mod stats;
mod sync_group;
mod track;
mod types;
mod wire;

#[cfg(feature = "checksum")]
pub use checksum::{internet_checksum, pseudo_header_checksum};
pub use config::{AnnounceSchedule, ConfigError, InstanceConfig, MAX_PREEMPT_DELAY};
pub use event::{Action, Reason, Received, RxError, State, Transmit};
pub use instance::{Instance, MAX_PEERS, MasterInfo, ReconfigureError, UnknownTrack};
pub use router::{AddError, InstanceKey, Router};
pub use stats::{MasterReasons, RouterStats, Stats};
pub use sync_group::{GroupEvent, SyncGroupConfig, SyncGroupError};
pub use track::{Track, TrackEffect, TrackStatus};
pub use types::{Centis, Family, Interval, Micros, Priority, Version, Vrid};
pub use wire::{
    Addresses, Advertisement, Auth, ChecksumMode, EmitError, Endpoints, Password, WireError,
};

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// The IPv4 multicast group of VRRP, 224.0.0.18.
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group of VRRP, ff02::12.
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The TTL / hop limit adverts are sent with and must arrive with.
pub const VRRP_HOP_LIMIT: u8 = 255;
/// The TOS / traffic class adverts are sent with (network control).
pub const VRRP_TOS: u8 = 0xc0;
