//! Linux I/O for VRRP: raw IP protocol 112 sockets, netlink address management, gratuitous
//! ARP and unsolicited neighbour advertisements, link events.
//!
//! This crate feeds [`vrrp_core`] with what arrives on the wire and carries out the actions it
//! returns. It knows nothing of any one daemon: the caller chooses how its addresses are
//! marked (see [Ownership of addresses](#ownership-of-addresses)).
//!
//! # Where things live
//!
//! - [`socket`]: [`VrrpSocket`](socket::VrrpSocket), one raw protocol 112 socket per
//!   (interface, family) shared by every instance on the link; multicast membership is
//!   switched at run time; [`interface_index`](socket::interface_index).
//! - [`ipv4`]: reading the IPv4 header a raw socket delivers (whatever its length).
//! - [`netlink`]: the [`Netlink`](netlink::Netlink) handle and
//!   [`NetlinkError`](netlink::NetlinkError) (`netlink/mod.rs`); links and
//!   [`LinkInfo`](netlink::LinkInfo) (`links.rs`); addresses: add, renew, remove, list, with
//!   the ownership checks (`addresses.rs`); [`AddressMark`](netlink::AddressMark) and the
//!   `IFA_PROTO` probe (`mark.rs`); [`NetEvent`](netlink::NetEvent) and the
//!   [`NetEvents`](netlink::NetEvents) stream (`events.rs`).
//! - [`announce`]: gratuitous ARP and unsolicited neighbour advertisement frames, and the
//!   [`Announcer`](announce::Announcer) that sends them.
//! - [`netns`]: moving the calling thread into a network namespace.
//! - [`timer`]: [`DeadlineTimer`](timer::DeadlineTimer), a nanosecond-resolution one-shot
//!   timer (`timerfd`) for the tokio event loop.
//! - `sys` (private): the only `unsafe` code, for what `nix` and `socket2` do not offer
//!   safely (tokio fd registration, `IP_MULTICAST_IF` by index, a `sockaddr_ll`).
//!
//! # Ownership of addresses
//!
//! A VRRP router adds and removes virtual addresses on interfaces that also carry addresses
//! configured by hand, by network managers, by DHCP or by the kernel, and possibly by
//! another VRRP daemon. It must never remove or take over one of those. So every address
//! added through a [`Netlink`](netlink::Netlink) carries a *mark*, chosen by the caller
//! when it creates the handle ([`Netlink::new`](netlink::Netlink::new) takes an
//! [`AddressMark`](netlink::AddressMark); there is no default):
//!
//! - [`AddressMark::Protocol(p)`](netlink::AddressMark::Protocol): the `IFA_PROTO` byte `p`
//!   is set on the address. Exact, but only Linux 5.18+ stores it; older kernels accept and
//!   drop it, after which the caller's own addresses would look foreign.
//! - [`AddressMark::Lifetime`](netlink::AddressMark::Lifetime): the address is not permanent
//!   (it has a finite valid lifetime; `Forever` is sent as `0xFFFF_FFFE` seconds, about 136
//!   years). Works on every kernel; addresses configured by hand and the kernel's own are
//!   permanent, but DHCP leases and SLAAC addresses are not, so it is a weaker mark.
//!
//! Every ownership check uses the mark: [`add_vip`](netlink::Netlink::add_vip) /
//! [`add_vips`](netlink::Netlink::add_vips) refuse to replace an unmarked address, and
//! [`remove_vip`](netlink::Netlink::remove_vip) to remove one, with
//! [`NetlinkError::NotOurs`](netlink::NetlinkError::NotOurs).
//! [`marked_addresses`](netlink::Netlink::marked_addresses) lists what carries the mark, and
//! [`remove_marked`](netlink::Netlink::remove_marked) removes the marked addresses that the
//! caller selects. A mark means "added by a program marking this way", not "added by this
//! process": the caller decides which marked addresses are its own (vipd keeps to its
//! configuration's VIPs, so two daemons on a node, or a DHCP lease under `Lifetime`, are
//! left alone).
//!
//! To choose, call [`Netlink::probe_protocol_mark`](netlink::Netlink::probe_protocol_mark)
//! once at startup and use `Protocol` if it returns true, `Lifetime` otherwise. The probe
//! touches only the loopback interface `lo` of the handle's namespace: it adds
//! 127.255.118.1/32 (or the next free address of 127.255.118.0/24) with the `IFA_PROTO`
//! byte and a 2-second lifetime, reads it back, and deletes it. That is harmless: the whole
//! of 127.0.0.0/8 is already local on `lo`, so no route or reachable address changes, no
//! packet is sent from it, an existing address is never reused or replaced (the add is
//! exclusive), and should the process die before deleting it, the kernel removes it when
//! its 2 seconds run out. It needs CAP_NET_ADMIN, as every address change does.
//!
//! All `unsafe` code of the crate lives in one private module, `sys`.

pub mod announce;
pub mod ipv4;
pub mod netlink;
pub mod netns;
pub mod socket;
mod sys;
pub mod timer;
