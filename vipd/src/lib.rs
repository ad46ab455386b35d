//! vipd: a floating-IP (VIP) manager speaking VRRP v2/v3, interoperable with keepalived.
//!
//! # Embedding guide
//!
//! A Rust program (a load balancer, a proxy, an appliance) can own its floating IP at one of
//! three levels. Each level is a crate; the lower ones compile without the upper ones.
//!
//! | level | crate | you bring | pick it when |
//! |---|---|---|---|
//! | 1. the engine | [`vrrp_core`] | sockets, timers, address changes | your I/O is not Linux sockets (DPDK, XDP, a simulator, another OS), or you want the protocol and nothing else: no tokio, no libc, no clock |
//! | 2. engine + Linux I/O | [`vrrp_core`] + [`vrrp_net`] | the event loop | you want your own loop and policy on Linux (raw sockets, netlink VIPs, gratuitous ARP are done for you) |
//! | 3. the whole daemon | `vipd` | a configuration and your inputs | you want what `vipd run` does (health checks, reload in place, make-before-break stop, notify hooks, status) and to drive it from your program |
//!
//! ## 1. The engine alone
//!
//! [`vrrp_core`] is sans-IO: feed it inputs with the time, drain its actions, sleep until its
//! deadline. Here two routers talk through a vector in virtual time; the higher priority wins.
//! Its crate docs hold the contract and a full run loop; `vrrp-core`'s `sim` feature adds a
//! deterministic simulator.
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::{Duration, Instant};
//! use vipd::vrrp_core::{Action, Instance, InstanceConfig, Priority, Received, State, Vrid};
//!
//! let vip = IpAddr::V4(Ipv4Addr::new(10, 200, 0, 100));
//! let router = |priority: u8, last: u8| {
//!     let mut config = InstanceConfig::new(Vrid::new(51).unwrap(), vec![vip]);
//!     config.priority = Priority::new(priority).unwrap();
//!     let mut vr = Instance::new(config).unwrap();
//!     let start = Instant::now();
//!     vr.set_primary_address(start, Some(IpAddr::V4(Ipv4Addr::new(10, 200, 0, last))));
//!     vr.handle_startup(start);
//!     vr
//! };
//! let mut nodes = [router(150, 1), router(100, 2)];
//! let mut now = Instant::now();
//! let end = now + Duration::from_secs(10);
//! while now < end {
//!     // Drain every node; an advert one sends is received by the other.
//!     for i in 0..2 {
//!         while let Some(action) = nodes[i].poll_action() {
//!             if let Action::SendAdvertisement(tx) = action {
//!                 let rx = Received { src: tx.src, dst: tx.dst, hop_limit: 255, payload: &tx.payload };
//!                 let _ = nodes[1 - i].handle_packet(now, &rx);
//!             }
//!         }
//!     }
//!     let next = nodes.iter().filter_map(Instance::poll_timeout).min().unwrap();
//!     now = next.max(now);
//!     for node in &mut nodes {
//!         node.handle_timeout(now);
//!     }
//! }
//! assert_eq!((nodes[0].state(), nodes[1].state()), (State::Master, State::Backup));
//! ```
//!
//! ## 2. The engine with Linux I/O
//!
//! [`vrrp_net`] gives the engine real interfaces: a raw IP-protocol-112 socket per interface
//! and family, netlink to add and remove the VIPs, an announcer for gratuitous ARP and
//! unsolicited NA. The loop is yours (needs CAP_NET_ADMIN and CAP_NET_RAW):
//!
//! ```no_run
//! use std::time::{Duration, Instant};
//! use vipd::vrrp_core::{Action, Family, InstanceConfig, Router, Vrid};
//! use vipd::vrrp_net::announce::Announcer;
//! use vipd::vrrp_net::netlink::{AddressMark, Lifetime, Netlink, VIPD_ADDRESS_PROTOCOL};
//! use vipd::vrrp_net::socket::VrrpSocket;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let netlink = Netlink::new(AddressMark::Protocol(VIPD_ADDRESS_PROTOCOL))?;
//! let link = netlink.link_by_name("eth0").await?;
//! let socket = VrrpSocket::open(link.index, "eth0", Family::Ipv4)?;
//! socket.set_multicast(true)?;
//! let announcer = Announcer::new(link.index, link.mac.unwrap_or_default())?;
//! let vip = "10.200.0.100".parse()?;
//!
//! let mut router = Router::new();
//! let key = router.add_instance(link.index, InstanceConfig::new(Vrid::new(51).unwrap(), vec![vip]))?;
//! let primary = netlink.primary_address(link.index, Family::Ipv4).await?;
//! if let Some(instance) = router.instance_mut(&key) {
//!     instance.set_primary_address(Instant::now(), primary);
//! }
//! router.handle_startup(Instant::now());
//! loop {
//!     while let Some((_, action)) = router.poll_action() {
//!         match action {
//!             Action::AddVip(addr) => netlink.add_vip(link.index, addr, 24, Lifetime::Forever).await?,
//!             Action::RemoveVip(addr) => netlink.remove_vip(link.index, addr, 24).await?,
//!             Action::SendAdvertisement(tx) => socket.send(&tx).await?,
//!             Action::Announce(addr) => announcer.announce(addr)?,
//!             _ => {}
//!         }
//!     }
//!     let deadline = router.poll_timeout().unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
//!     tokio::select! {
//!         packet = socket.recv() => {
//!             let _ = router.handle_packet(Instant::now(), link.index, &packet?.as_received());
//!         }
//!         () = tokio::time::sleep_until(deadline.into()) => router.handle_timeout(Instant::now()),
//!     }
//! }
//! # }
//! ```
//!
//! ## 3. The whole daemon
//!
//! [`daemon::Daemon`] runs what `vipd run` runs, from a validated [`config::Plan`]. The
//! program feeds its own view of health as tracked objects and checks, changes VIPs and
//! instances in place through [`daemon::Control`] (each input answers with a
//! [`daemon::ControlError`] to match on), and follows a typed stream of
//! [`daemon::DaemonEvent`]s. `examples/examples/tcp_lb.rs` in the repository is a TCP load
//! balancer built this way.
//!
//! ```no_run
//! use vipd::config::Config;
//! use vipd::daemon::{Daemon, DaemonEvent};
//! use vipd::vrrp_core::Track;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let plan = Config::from_yaml(
//!     "instances:\n  - name: lb\n    interface: eth0\n    vrid: 51\n    priority: 100\n    vips: [10.200.0.100/24]\n",
//! )?
//! .validate()?;
//! // A tracked object of the program: +weight while up, so the node with more healthy
//! // backends has the higher priority.
//! let daemon = Daemon::builder(plan).track("lb", Track::new("backends", 1)).start().await?;
//! let control = daemon.control().clone();
//! control.set_track_weight("lb", "backends", true, 3).await?;
//! let mut events = daemon.events();
//! while let Ok(event) = events.recv().await {
//!     if let DaemonEvent::Transition { to, .. } = event {
//!         println!("now {to}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Where things live
//!
//! This crate composes [`vrrp_core`] (the sans-IO engine), [`vrrp_net`] (Linux I/O) and
//! [`vip_health`] (health checks) into the daemon:
//!
//! - [`config`]: the YAML file (`file`), flag and `VIPD_*` overrides (`overrides`), validation
//!   that reads each field and leaves the rules between fields to the engine, naming each
//!   field and its fix (`validate`, `vipd check-config`), and the [`config::Plan`] it builds
//!   (`plan`);
//! - [`daemon`]: the embedding API ([`daemon::Daemon::builder`], [`daemon::DaemonHandle`],
//!   [`daemon::Control`] with its inputs, [`daemon::DaemonEvent`]) over the event loop (`runner`, with `reload` and netlink `events`),
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
