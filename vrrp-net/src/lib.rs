//! Linux I/O for VRRP: raw IP protocol 112 sockets, netlink address management, gratuitous
//! ARP and unsolicited neighbour advertisements, link events.
//!
//! This crate feeds [`vrrp_core`] with what arrives on the wire and carries out the actions it
//! returns. All `unsafe` code of the project lives in one private module, `sys`.

pub mod announce;
pub mod ipv4;
pub mod netlink;
pub mod netns;
pub mod socket;
mod sys;
