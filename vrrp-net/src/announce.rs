//! Gratuitous ARP (IPv4) and unsolicited neighbour advertisements (IPv6): how a new master
//! tells the link that a virtual address now lives at its MAC address.
//!
//! The frames are built by pure functions, byte for byte as keepalived 2.2.7 sends them:
//!
//! - [`garp_frame`]: an Ethernet broadcast ARP *request* (opcode 1) whose sender and target
//!   protocol addresses are both the virtual address and whose target hardware address is
//!   ff:ff:ff:ff:ff:ff;
//! - [`unsolicited_na_frame`]: an ICMPv6 neighbour advertisement (RFC 4861 section 7.2.6)
//!   from the virtual address to all nodes (ff02::1, Ethernet 33:33:00:00:00:01), hop limit
//!   255, only the Override flag set, with a Target Link-Layer Address option.
//!
//! An [`Announcer`] sends them from an `AF_PACKET` socket bound to the interface.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use socket2::{Domain, Socket, Type};

use crate::sys;

/// Ethernet broadcast address.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];
/// The Ethernet address of the IPv6 all-nodes group ff02::1 (RFC 2464 section 7).
pub const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
/// The EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// The EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Length of a gratuitous ARP frame (no padding; the NIC pads it to the minimum).
pub const GARP_FRAME_LEN: usize = 42;
/// Length of an unsolicited neighbour advertisement frame: Ethernet 14 + IPv6 40 + ICMPv6 32.
pub const NA_FRAME_LEN: usize = 86;

/// ICMPv6 type of a neighbour advertisement.
const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;
/// IP protocol number of ICMPv6.
const IPPROTO_ICMPV6: u8 = 58;
/// Neighbour advertisement flags: only Override (RFC 4861 section 4.4), as keepalived sends.
const NA_FLAG_OVERRIDE: u32 = 0x2000_0000;
/// Neighbour discovery option: Target Link-Layer Address (RFC 4861 section 4.6.1).
const ND_OPT_TARGET_LL_ADDR: u8 = 2;
/// The IPv6 all-nodes multicast address.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The gratuitous ARP keepalived sends for `addr` from an interface of MAC `src_mac`:
/// Ethernet broadcast, ARP request (opcode 1), sender = target = `addr`, sender MAC
/// `src_mac`, target MAC ff:ff:ff:ff:ff:ff.
#[must_use]
pub fn garp_frame(src_mac: [u8; 6], addr: Ipv4Addr) -> [u8; GARP_FRAME_LEN] {
    let mut f = [0u8; GARP_FRAME_LEN];
    let ip = addr.octets();
    let parts: [&[u8]; 11] = [
        &BROADCAST_MAC, // Ethernet destination
        &src_mac,       // Ethernet source
        &ETHERTYPE_ARP.to_be_bytes(),
        &1u16.to_be_bytes(),      // hardware type: Ethernet
        &0x0800u16.to_be_bytes(), // protocol type: IPv4
        &[6, 4],                  // hardware and protocol address lengths
        &1u16.to_be_bytes(),      // opcode: request
        &src_mac,                 // sender hardware address
        &ip,                      // sender protocol address
        &BROADCAST_MAC,           // target hardware address
        &ip,                      // target protocol address
    ];
    let mut at = 0;
    for part in parts {
        if let Some(dst) = f.get_mut(at..at + part.len()) {
            dst.copy_from_slice(part);
        }
        at += part.len();
    }
    f
}

/// The unsolicited neighbour advertisement keepalived sends for `addr` from an interface of
/// MAC `src_mac`: Ethernet 33:33:00:00:00:01, IPv6 from `addr` to ff02::1 with hop limit 255,
/// ICMPv6 type 136 with only the Override flag, target `addr`, and a Target Link-Layer
/// Address option carrying `src_mac`; [`NA_FRAME_LEN`] bytes.
#[must_use]
pub fn unsolicited_na_frame(src_mac: [u8; 6], addr: Ipv6Addr) -> Vec<u8> {
    // ICMPv6: type, code, checksum, flags, target, option (type, length in 8 bytes, MAC).
    let mut icmp = Vec::with_capacity(32);
    icmp.extend_from_slice(&[ICMPV6_NEIGHBOR_ADVERT, 0, 0, 0]);
    icmp.extend_from_slice(&NA_FLAG_OVERRIDE.to_be_bytes());
    icmp.extend_from_slice(&addr.octets());
    icmp.extend_from_slice(&[ND_OPT_TARGET_LL_ADDR, 1]);
    icmp.extend_from_slice(&src_mac);
    let icmp_len = u16::try_from(icmp.len()).unwrap_or(u16::MAX);
    let sum = icmpv6_checksum(addr, ALL_NODES, &icmp).to_be_bytes();
    if let Some(field) = icmp.get_mut(2..4) {
        field.copy_from_slice(&sum);
    }

    let mut f = Vec::with_capacity(NA_FRAME_LEN);
    f.extend_from_slice(&ALL_NODES_MAC);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    // Version 6, traffic class 0, flow label 0.
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&icmp_len.to_be_bytes());
    f.extend_from_slice(&[IPPROTO_ICMPV6, 255]);
    f.extend_from_slice(&addr.octets());
    f.extend_from_slice(&ALL_NODES.octets());
    f.extend_from_slice(&icmp);
    f
}

/// The ICMPv6 checksum (RFC 4443 section 2.3): over the IPv6 pseudo-header of RFC 8200
/// section 8.1 with next header 58, then the message (its checksum field zero).
fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    let mut data = Vec::with_capacity(40 + message.len());
    data.extend_from_slice(&src.octets());
    data.extend_from_slice(&dst.octets());
    data.extend_from_slice(&len.to_be_bytes());
    data.extend_from_slice(&[0, 0, 0, IPPROTO_ICMPV6]);
    data.extend_from_slice(message);
    vrrp_core::internet_checksum(&data)
}

/// Sends gratuitous ARPs and unsolicited neighbour advertisements out of one interface,
/// from an `AF_PACKET` raw socket (needs CAP_NET_RAW). Sends do not block for long: the
/// frames go straight to the interface's queue.
#[derive(Debug)]
pub struct Announcer {
    socket: Socket,
    ifindex: u32,
    mac: [u8; 6],
}

impl Announcer {
    /// An announcer for the interface of index `ifindex`, whose MAC address is `mac` (take it
    /// from netlink: [`LinkInfo::mac`](crate::netlink::LinkInfo::mac)). Created in the
    /// calling thread's network namespace.
    ///
    /// # Errors
    /// The packet socket cannot be created.
    pub fn new(ifindex: u32, mac: [u8; 6]) -> io::Result<Self> {
        // Protocol 0: the socket only sends, and receives nothing.
        let socket = Socket::new(Domain::PACKET, Type::RAW.cloexec(), None)?;
        Ok(Self {
            socket,
            ifindex,
            mac,
        })
    }

    /// The interface index.
    #[must_use]
    pub const fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The MAC address announced.
    #[must_use]
    pub const fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Sends one gratuitous ARP for `addr`.
    ///
    /// # Errors
    /// The system error of the send.
    pub fn send_garp(&self, addr: Ipv4Addr) -> io::Result<()> {
        self.send_frame(ETHERTYPE_ARP, &garp_frame(self.mac, addr))
    }

    /// Sends one unsolicited neighbour advertisement for `addr`.
    ///
    /// # Errors
    /// The system error of the send.
    pub fn send_na(&self, addr: Ipv6Addr) -> io::Result<()> {
        self.send_frame(ETHERTYPE_IPV6, &unsolicited_na_frame(self.mac, addr))
    }

    /// Carries out [`vrrp_core::Action::Announce`]: a gratuitous ARP for an IPv4 address,
    /// an unsolicited neighbour advertisement for an IPv6 one.
    ///
    /// # Errors
    /// The system error of the send.
    pub fn announce(&self, addr: IpAddr) -> io::Result<()> {
        match addr {
            IpAddr::V4(a) => self.send_garp(a),
            IpAddr::V6(a) => self.send_na(a),
        }
    }

    fn send_frame(&self, ethertype: u16, frame: &[u8]) -> io::Result<()> {
        let mut dst_mac = [0u8; 6];
        if let Some(dst) = frame.get(..6) {
            dst_mac.copy_from_slice(dst);
        }
        let to = sys::packet_address(self.ifindex, ethertype, dst_mac)?;
        let sent = self.socket.send_to(frame, &to)?;
        if sent == frame.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", frame.len()),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn na_checksum_verifies() {
        let mac = [2, 0, 0, 0, 0, 1];
        let addr: Ipv6Addr = "fd00:200::100".parse().unwrap();
        let f = unsolicited_na_frame(mac, addr);
        assert_eq!(f.len(), NA_FRAME_LEN);
        // Summing the pseudo-header and the message with its checksum gives zero.
        assert_eq!(icmpv6_checksum(addr, ALL_NODES, &f[54..]), 0);
    }

    #[test]
    fn garp_carries_the_address_twice() {
        let f = garp_frame([2, 0, 0, 0, 0, 1], Ipv4Addr::new(10, 200, 0, 100));
        assert_eq!(&f[28..32], &[10, 200, 0, 100]);
        assert_eq!(&f[38..42], &[10, 200, 0, 100]);
        assert_eq!(&f[32..38], &BROADCAST_MAC);
    }
}
