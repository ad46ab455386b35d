//! Linux I/O for VRRP: raw IP protocol 112 sockets, netlink address management, gratuitous
//! ARP and unsolicited neighbour advertisements, link events.
//!
//! This crate feeds [`vrrp_core`] with what arrives on the wire. So far it holds the receive
//! path's IPv4 header reader ([`ipv4`]); the sockets and netlink come with the daemon.

pub mod ipv4;
