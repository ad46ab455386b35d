//! Raw IP protocol 112 sockets: what carries VRRP advertisements to and from the wire.
//!
//! A [`VrrpSocket`] is one non-blocking raw socket per (interface, family), registered with
//! the tokio reactor. It is bound to its interface, sends with TTL / hop limit 255 and
//! TOS / traffic class 0xc0, and (in [`Mode::Multicast`]) has joined the VRRP group
//! (224.0.0.18 or ff02::12) on that interface with multicast loopback off, so a router does
//! not hear its own adverts.
//!
//! Received datagrams come out as [`OwnedReceived`], whose
//! [`as_received`](OwnedReceived::as_received) is what
//! [`Instance::handle_packet`](vrrp_core::Instance::handle_packet) takes: the IPv4 header is
//! read with [`crate::ipv4::split`] (whatever its length), and for IPv6, which delivers no
//! header to raw sockets, the destination and hop limit come from `IPV6_PKTINFO` and
//! `IPV6_HOPLIMIT` control messages.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use vrrp_core::Family;
//! use vrrp_net::socket::{Mode, VrrpSocket, interface_index};
//!
//! let ifindex = interface_index("eth0")?;
//! let socket = VrrpSocket::open(ifindex, "eth0", Family::Ipv4, Mode::Multicast)?;
//! let rx = socket.recv().await?;
//! println!("advert from {} to {} with TTL {}", rx.src, rx.dst, rx.hop_limit);
//! // instance.handle_packet(now, &rx.as_received())
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use vrrp_core::{Family, IPPROTO_VRRP, Received, Transmit, VRRP_GROUP_V4, VRRP_GROUP_V6};

use crate::sys;

/// Large enough for any VRRP message (at most 8 + 255 * 16 + 8 bytes) behind the longest
/// IPv4 header (60 bytes).
const RECV_BUF: usize = 8192;

/// How a socket reaches its peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Adverts go to and come from the VRRP multicast group, which the socket joins.
    Multicast,
    /// Adverts go to configured unicast peers; the socket joins no group, and receives what
    /// is addressed to the interface.
    Unicast,
}

/// The step of [`VrrpSocket::open`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenStep {
    /// Creating the raw socket (needs CAP_NET_RAW).
    Create(Family),
    /// `SO_BINDTODEVICE`.
    BindDevice,
    /// Setting the named socket option.
    SetOption(&'static str),
    /// Joining the VRRP multicast group.
    JoinGroup(IpAddr),
    /// Registering the socket with the tokio reactor (is a runtime running?).
    Register,
}

impl fmt::Display for OpenStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create(Family::Ipv4) => f.write_str("opening a raw IPv4 protocol 112 socket"),
            Self::Create(Family::Ipv6) => f.write_str("opening a raw IPv6 protocol 112 socket"),
            Self::BindDevice => f.write_str("binding the socket to the device"),
            Self::SetOption(name) => write!(f, "setting {name}"),
            Self::JoinGroup(group) => write!(f, "joining {group}"),
            Self::Register => f.write_str("registering the socket with the tokio reactor"),
        }
    }
}

/// Why [`VrrpSocket::open`] failed: which step, on which interface, and the system error.
#[derive(Debug, thiserror::Error)]
#[error("{step} on {interface}: {source}")]
#[non_exhaustive]
pub struct OpenError {
    /// The step that failed.
    pub step: OpenStep,
    /// The interface name given to `open`.
    pub interface: String,
    /// The system error.
    #[source]
    pub source: io::Error,
}

impl From<OpenError> for io::Error {
    fn from(e: OpenError) -> Self {
        Self::new(e.source.kind(), e)
    }
}

/// A VRRP message received, with what the IP layer told about it; owns its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedReceived {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address: the group, or this host's unicast address.
    pub dst: IpAddr,
    /// TTL (IPv4 header) or hop limit (IPv6 `IPV6_HOPLIMIT` control message).
    pub hop_limit: u8,
    /// The VRRP message (the IP payload, without any IPv4 header or padding).
    pub payload: Vec<u8>,
}

impl OwnedReceived {
    /// The borrowed form that [`vrrp_core::Instance::handle_packet`] takes.
    #[must_use]
    pub fn as_received(&self) -> Received<'_> {
        Received {
            src: self.src,
            dst: self.dst,
            hop_limit: self.hop_limit,
            payload: &self.payload,
        }
    }
}

/// A non-blocking raw IP protocol 112 socket on one interface, for one address family.
///
/// Both [`send`](Self::send) and [`recv`](Self::recv) take `&self`, so one task may wait
/// for adverts while another sends.
#[derive(Debug)]
pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
    family: Family,
    mode: Mode,
    ifindex: u32,
    ifname: String,
    dropped: AtomicU64,
}

impl VrrpSocket {
    /// Opens a raw protocol 112 socket of `family` bound to the interface `ifname` (whose
    /// index is `ifindex`), configured for VRRP: TTL / hop limit 255 for unicast and
    /// multicast, TOS / traffic class 0xc0, multicast out of this interface with loopback
    /// off, and in [`Mode::Multicast`] membership of 224.0.0.18 or ff02::12 on it. IPv6
    /// sockets also ask for the destination and hop limit of each datagram.
    ///
    /// Must be called within a tokio runtime (the socket registers with its reactor), by a
    /// thread in the interface's network namespace, with CAP_NET_RAW.
    ///
    /// # Errors
    /// [`OpenError`] naming the step that failed; it converts into an [`io::Error`].
    pub fn open(ifindex: u32, ifname: &str, family: Family, mode: Mode) -> Result<Self, OpenError> {
        let err = |step: OpenStep| {
            move |source: io::Error| OpenError {
                step,
                interface: ifname.to_owned(),
                source,
            }
        };
        let opt = |name: &'static str| err(OpenStep::SetOption(name));
        let domain = match family {
            Family::Ipv4 => Domain::IPV4,
            Family::Ipv6 => Domain::IPV6,
        };
        let socket = Socket::new(
            domain,
            Type::RAW.nonblocking().cloexec(),
            Some(Protocol::from(i32::from(IPPROTO_VRRP))),
        )
        .map_err(err(OpenStep::Create(family)))?;
        socket
            .bind_device(Some(ifname.as_bytes()))
            .map_err(err(OpenStep::BindDevice))?;
        let hops = u32::from(vrrp_core::VRRP_HOP_LIMIT);
        let tos = u32::from(vrrp_core::VRRP_TOS);
        match family {
            Family::Ipv4 => {
                socket.set_ttl_v4(hops).map_err(opt("IP_TTL"))?;
                socket
                    .set_multicast_ttl_v4(hops)
                    .map_err(opt("IP_MULTICAST_TTL"))?;
                socket.set_tos_v4(tos).map_err(opt("IP_TOS"))?;
                sys::set_multicast_if_v4_index(&socket, ifindex).map_err(opt("IP_MULTICAST_IF"))?;
                socket
                    .set_multicast_loop_v4(false)
                    .map_err(opt("IP_MULTICAST_LOOP"))?;
                // Only the groups this socket joined, not every group of the host.
                socket
                    .set_multicast_all_v4(false)
                    .map_err(opt("IP_MULTICAST_ALL"))?;
                if mode == Mode::Multicast {
                    socket
                        .join_multicast_v4_n(
                            &VRRP_GROUP_V4,
                            &InterfaceIndexOrAddress::Index(ifindex),
                        )
                        .map_err(err(OpenStep::JoinGroup(IpAddr::V4(VRRP_GROUP_V4))))?;
                }
            }
            Family::Ipv6 => {
                socket
                    .set_unicast_hops_v6(hops)
                    .map_err(opt("IPV6_UNICAST_HOPS"))?;
                socket
                    .set_multicast_hops_v6(hops)
                    .map_err(opt("IPV6_MULTICAST_HOPS"))?;
                socket.set_tclass_v6(tos).map_err(opt("IPV6_TCLASS"))?;
                socket
                    .set_multicast_if_v6(ifindex)
                    .map_err(opt("IPV6_MULTICAST_IF"))?;
                socket
                    .set_multicast_loop_v6(false)
                    .map_err(opt("IPV6_MULTICAST_LOOP"))?;
                socket
                    .set_multicast_all_v6(false)
                    .map_err(opt("IPV6_MULTICAST_ALL"))?;
                socket
                    .set_recv_hoplimit_v6(true)
                    .map_err(opt("IPV6_RECVHOPLIMIT"))?;
                sys::set_int_option(&socket, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
                    .map_err(opt("IPV6_RECVPKTINFO"))?;
                if mode == Mode::Multicast {
                    socket
                        .join_multicast_v6(&VRRP_GROUP_V6, ifindex)
                        .map_err(err(OpenStep::JoinGroup(IpAddr::V6(VRRP_GROUP_V6))))?;
                }
            }
        }
        let fd = sys::register_async(socket, Interest::READABLE | Interest::WRITABLE)
            .map_err(err(OpenStep::Register))?;
        Ok(Self {
            fd,
            family,
            mode,
            ifindex,
            ifname: ifname.to_owned(),
            dropped: AtomicU64::new(0),
        })
    }

    /// The address family.
    #[must_use]
    pub const fn family(&self) -> Family {
        self.family
    }

    /// Multicast or unicast.
    #[must_use]
    pub const fn mode(&self) -> Mode {
        self.mode
    }

    /// The interface index.
    #[must_use]
    pub const fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The interface name.
    #[must_use]
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// How many datagrams [`recv`](Self::recv) dropped because they were not whole packets
    /// (truncated, a malformed IPv4 header, IPv6 control data missing).
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Sends an advertisement the engine asked for: `tx.payload` to `tx.dst` from `tx.src`.
    ///
    /// # Errors
    /// As [`send_to`](Self::send_to).
    pub async fn send(&self, tx: &Transmit) -> io::Result<()> {
        self.send_to(tx.src, tx.dst, &tx.payload).await
    }

    /// Sends the VRRP message `payload` to `dst` out of this interface, with the IP source
    /// address `src` (chosen with `IP_PKTINFO` / `IPV6_PKTINFO`: it must be an address of
    /// this host, normally the interface's primary address, which the VRRPv3 checksum
    /// covers; the unspecified address lets the kernel choose). The kernel builds the IP
    /// header, with TTL / hop limit 255 and TOS / traffic class 0xc0.
    ///
    /// # Errors
    /// `src` or `dst` not of the socket's family (`InvalidInput`), or the system error.
    pub async fn send_to(&self, src: IpAddr, dst: IpAddr, payload: &[u8]) -> io::Result<()> {
        if Family::of(&src) != self.family || Family::of(&dst) != self.family {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{src} -> {dst} on the {} VRRP socket of {}",
                    self.family, self.ifname
                ),
            ));
        }
        let sent = self
            .fd
            .async_io(Interest::WRITABLE, |s| {
                sys::send_with_source(s, payload, src, dst, self.ifindex)
            })
            .await?;
        if sent == payload.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", payload.len()),
            ))
        }
    }

    /// Waits for the next VRRP datagram on this interface. Datagrams that are not whole
    /// packets are skipped and counted in [`dropped`](Self::dropped); everything else is
    /// returned for [`vrrp_core`] to judge (including TTL, checksum and source).
    ///
    /// Cancel-safe: a datagram is read only when the future completes, so `recv` may be
    /// raced against a timer in `tokio::select!` without losing anything.
    ///
    /// # Errors
    /// The system error of the receive.
    pub async fn recv(&self) -> io::Result<OwnedReceived> {
        let mut buf = vec![0u8; RECV_BUF];
        loop {
            let got = match self.family {
                Family::Ipv4 => {
                    let len = self
                        .fd
                        .async_io(Interest::READABLE, |mut s| s.read(&mut buf))
                        .await?;
                    parse_v4(buf.get(..len).unwrap_or_default())
                }
                Family::Ipv6 => {
                    let meta = self
                        .fd
                        .async_io(Interest::READABLE, |s| sys::recv_v6(s, &mut buf))
                        .await?;
                    match (meta.truncated, meta.dst, meta.hop_limit) {
                        (false, Some(dst), Some(hop_limit)) => Some(OwnedReceived {
                            src: IpAddr::V6(meta.src),
                            dst: IpAddr::V6(dst),
                            hop_limit,
                            payload: buf.get(..meta.len).unwrap_or_default().to_vec(),
                        }),
                        _ => None,
                    }
                }
            };
            match got {
                Some(rx) => return Ok(rx),
                None => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// A datagram of a raw IPv4 socket as an [`OwnedReceived`], if it is a whole packet.
fn parse_v4(datagram: &[u8]) -> Option<OwnedReceived> {
    let rx = crate::ipv4::split(datagram).ok()?;
    Some(OwnedReceived {
        src: rx.src,
        dst: rx.dst,
        hop_limit: rx.hop_limit,
        payload: rx.payload.to_vec(),
    })
}

/// The index of the interface `name` in the calling thread's network namespace
/// (`if_nametoindex(3)`).
///
/// # Errors
/// No such interface, or a name that is empty, too long or contains NUL.
pub fn interface_index(name: &str) -> io::Result<u32> {
    sys::if_nametoindex(name)
}

/// The IPv4 unspecified address, for [`VrrpSocket::send_to`] when the kernel may choose.
pub const ANY_V4: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
/// The IPv6 unspecified address, for [`VrrpSocket::send_to`] when the kernel may choose.
pub const ANY_V6: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_can_be_shared_between_tasks() {
        fn shareable<T: Send + Sync>() {}
        shareable::<VrrpSocket>();
        shareable::<OpenError>();
    }

    #[test]
    fn open_errors_name_the_step_and_interface() {
        let e = OpenError {
            step: OpenStep::JoinGroup(IpAddr::V4(VRRP_GROUP_V4)),
            interface: "eth0".into(),
            source: io::Error::from_raw_os_error(libc::ENODEV),
        };
        assert!(
            e.to_string().starts_with("joining 224.0.0.18 on eth0: "),
            "{e}"
        );
        let io: io::Error = e.into();
        assert!(io.to_string().starts_with("joining 224.0.0.18 on eth0"));
    }

    #[test]
    fn v4_datagrams_that_are_not_whole_packets_are_dropped() {
        assert_eq!(parse_v4(&[0x45, 0xc0]), None);
        let mut pkt = vec![0x45, 0xc0, 0, 24, 0, 0, 0, 0, 255, 112, 0, 0];
        pkt.extend_from_slice(&[10, 200, 0, 1, 224, 0, 0, 18, 1, 2, 3, 4]);
        let rx = parse_v4(&pkt).unwrap();
        assert_eq!(rx.payload, [1, 2, 3, 4]);
        assert_eq!(rx.hop_limit, 255);
        assert_eq!(
            rx.as_received().src,
            IpAddr::V4(Ipv4Addr::new(10, 200, 0, 1))
        );
    }
}
