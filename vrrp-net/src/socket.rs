//! Raw IP protocol 112 sockets: what carries VRRP advertisements to and from the wire.
//!
//! A [`VrrpSocket`] is one non-blocking raw socket per (interface, family), registered with
//! the tokio reactor, shared by every VRRP instance on that link whatever their mode. It is
//! bound to its interface and sends with TTL / hop limit 255 and TOS / traffic class 0xc0
//! to unicast and multicast destinations alike (multicast leaves by this interface, with
//! loopback off so a router does not hear its own adverts). Membership of the VRRP group
//! (224.0.0.18 or ff02::12) on the interface is a run-time setting,
//! [`set_multicast`](VrrpSocket::set_multicast): on while at least one instance on the link
//! uses multicast, off otherwise. Unicast adverts addressed to the host arrive either way.
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
//! use vrrp_net::socket::{VrrpSocket, interface_index};
//!
//! let ifindex = interface_index("eth0")?;
//! let socket = VrrpSocket::open(ifindex, "eth0", Family::Ipv4)?;
//! socket.set_multicast(true)?; // an instance on eth0 uses multicast
//! let rx = socket.recv().await?;
//! println!("advert from {} to {} with TTL {}", rx.src, rx.dst, rx.hop_limit);
//! // instance.handle_packet(now, &rx.as_received())
//! # Ok(())
//! # }
//! ```

use std::ffi::CString;
use std::fmt;
use std::io::{self, IoSlice};
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use nix::sys::socket::{setsockopt, sockopt};
use socket2::{Domain, InterfaceIndexOrAddress, MsgHdr, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use vrrp_core::{Family, IPPROTO_VRRP, Received, Transmit, VRRP_GROUP_V4, VRRP_GROUP_V6};

use crate::sys;

mod recv;

/// Large enough for any VRRP message (at most 8 + 255 * 16 + 8 bytes) behind the longest
/// IPv4 header (60 bytes).
/// The receive buffer [`VrrpSocket::recv`] allocates (and [`VrrpSocket::recv_in`] callers should
/// use): larger than any VRRP packet.
pub const RECV_BUF: usize = 8192;

/// How many times (1 ms apart) a send that found the socket's send buffer full is retried.
const SEND_RETRIES: u32 = 100;

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

/// A non-blocking raw IP protocol 112 socket on one interface, for one address family,
/// serving every VRRP instance on that link.
///
/// [`send`](Self::send), [`recv`](Self::recv) and [`set_multicast`](Self::set_multicast)
/// take `&self`, so one task may wait for adverts while another sends or changes the group
/// membership (share it in an `Arc`).
#[derive(Debug)]
pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
    family: Family,
    ifindex: u32,
    ifname: String,
    /// Whether the socket is a member of the VRRP group; the lock also serialises joins
    /// and leaves.
    multicast: Mutex<bool>,
    dropped: AtomicU64,
}

impl VrrpSocket {
    /// Opens a raw protocol 112 socket of `family` bound to the interface `ifname` (whose
    /// index is `ifindex`), configured for VRRP: TTL / hop limit 255 for unicast and
    /// multicast, TOS / traffic class 0xc0, multicast out of this interface with loopback
    /// off, and only the groups it joins received (`IP_MULTICAST_ALL` /
    /// `IPV6_MULTICAST_ALL` off). IPv6 sockets also ask for the destination and hop limit
    /// of each datagram.
    ///
    /// The socket starts outside the VRRP multicast group: it receives unicast adverts
    /// addressed to this host, and sends to unicast and multicast destinations alike. Call
    /// [`set_multicast(true)`](Self::set_multicast) to receive multicast adverts too.
    ///
    /// Must be called within a tokio runtime (the socket registers with its reactor), by a
    /// thread in the interface's network namespace, with CAP_NET_RAW.
    ///
    /// # Errors
    /// [`OpenError`] naming the step that failed; it converts into an [`io::Error`].
    pub fn open(ifindex: u32, ifname: &str, family: Family) -> Result<Self, OpenError> {
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
                setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)
                    .map_err(|e| opt("IPV6_RECVPKTINFO")(io::Error::from(e)))?;
            }
        }
        // Readable only: sends go straight to the socket (see `send_to`), so the reactor is
        // not woken by the writable edge that every send would otherwise produce.
        let fd =
            sys::register_async(socket, Interest::READABLE).map_err(err(OpenStep::Register))?;
        Ok(Self {
            fd,
            family,
            ifindex,
            ifname: ifname.to_owned(),
            multicast: Mutex::new(false),
            dropped: AtomicU64::new(0),
        })
    }

    /// The address family.
    #[must_use]
    pub const fn family(&self) -> Family {
        self.family
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

    /// The VRRP group of the socket's family: 224.0.0.18 or ff02::12.
    #[must_use]
    pub const fn group(&self) -> IpAddr {
        match self.family {
            Family::Ipv4 => IpAddr::V4(VRRP_GROUP_V4),
            Family::Ipv6 => IpAddr::V6(VRRP_GROUP_V6),
        }
    }

    /// Whether the socket is a member of the VRRP group on its interface (see
    /// [`set_multicast`](Self::set_multicast)).
    #[must_use]
    pub fn is_multicast(&self) -> bool {
        *self
            .multicast
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins (`true`) or leaves (`false`) the VRRP group ([`group`](Self::group)) on the
    /// socket's interface, so multicast adverts are received or no longer are. Unicast
    /// reception and sending to any destination do not depend on it.
    ///
    /// Idempotent: joining a joined group or leaving a group not joined does nothing. Safe
    /// to call while another task waits in [`recv`](Self::recv).
    ///
    /// # Errors
    /// The system error of the join or leave, naming the group and interface; the
    /// membership is then unchanged.
    pub fn set_multicast(&self, join: bool) -> io::Result<()> {
        let mut joined = self
            .multicast
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *joined == join {
            return Ok(());
        }
        let socket = self.fd.get_ref();
        let index = InterfaceIndexOrAddress::Index(self.ifindex);
        let result = match (self.family, join) {
            (Family::Ipv4, true) => socket.join_multicast_v4_n(&VRRP_GROUP_V4, &index),
            (Family::Ipv4, false) => socket.leave_multicast_v4_n(&VRRP_GROUP_V4, &index),
            (Family::Ipv6, true) => socket.join_multicast_v6(&VRRP_GROUP_V6, self.ifindex),
            (Family::Ipv6, false) => socket.leave_multicast_v6(&VRRP_GROUP_V6, self.ifindex),
        };
        match result {
            Ok(()) => {}
            // Already a member, or not one: the state we want.
            Err(e) if join && e.raw_os_error() == Some(libc::EADDRINUSE) => {}
            Err(e) if !join && e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {}
            Err(e) => {
                let verb = if join { "joining" } else { "leaving" };
                return Err(io::Error::new(
                    e.kind(),
                    format!("{verb} {} on {}: {e}", self.group(), self.ifname),
                ));
            }
        }
        *joined = join;
        Ok(())
    }

    /// How many datagrams [`recv`](Self::recv) dropped because they were not whole packets
    /// (truncated, a malformed IPv4 header, IPv6 control data missing).
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Sends an advertisement the engine asked for: `tx.payload` to `tx.dst` (unicast or
    /// multicast) from `tx.src` (the primary address, or a configured `unicast_src_ip`).
    ///
    /// # Errors
    /// As [`send_to`](Self::send_to).
    pub async fn send(&self, tx: &Transmit) -> io::Result<()> {
        self.send_to(tx.src, tx.dst, &tx.payload).await
    }

    /// Sends the VRRP message `payload` to `dst` (unicast or multicast, whatever the group
    /// membership) out of this interface, with the IP source address `src` (chosen with
    /// `IP_PKTINFO` / `IPV6_PKTINFO`: it must be an address of this host, normally the
    /// interface's primary address or a configured unicast source, which the VRRPv3
    /// checksum covers; the unspecified address lets the kernel choose). The kernel builds
    /// the IP header, with TTL / hop limit 255 and TOS / traffic class 0xc0.
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
        // The socket is non-blocking and not registered for writability: a send that finds
        // the send buffer full (hundreds of adverts in flight) is retried after 1 ms, for at
        // most `SEND_RETRIES` ms, instead of waiting for the writable edge.
        let mut retries = 0;
        let sent = loop {
            match send_with_source(self.fd.get_ref(), payload, src, dst, self.ifindex) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && retries < SEND_RETRIES => {
                    retries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                other => break other?,
            }
        };
        if sent == payload.len() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {sent} of {} bytes", payload.len()),
            ))
        }
    }
}

/// Sends `payload` on a raw IP socket to `dst` (with `ifindex` as the scope of a link-local
/// or multicast IPv6 destination), with the source address `src` and the outgoing
/// interface `ifindex` chosen by an `IP_PKTINFO` / `IPV6_PKTINFO` control message.
fn send_with_source(
    socket: &Socket,
    payload: &[u8],
    src: IpAddr,
    dst: IpAddr,
    ifindex: u32,
) -> io::Result<usize> {
    let iov = [IoSlice::new(payload)];
    // The control message is built in a buffer on the stack: nothing is allocated per advert
    // (nix's `sendmsg` allocates its control buffer on every call).
    let mut control = Control::new();
    let (to, control) = match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            // struct in_pktinfo: ipi_ifindex, ipi_spec_dst (the source), ipi_addr (unused).
            let index = libc::c_int::try_from(ifindex)
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            let mut info = [0u8; 12];
            info[..4].copy_from_slice(&index.to_ne_bytes());
            info[4..8].copy_from_slice(&src.octets());
            let len = control.push(libc::IPPROTO_IP, libc::IP_PKTINFO, &info);
            (
                SockAddr::from(SocketAddrV4::new(dst, 0)),
                control.bytes(len),
            )
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let scope = if dst.is_unicast_link_local() || dst.is_multicast() {
                ifindex
            } else {
                0
            };
            // struct in6_pktinfo: ipi6_addr (the source), ipi6_ifindex.
            let mut info = [0u8; 20];
            info[..16].copy_from_slice(&src.octets());
            info[16..].copy_from_slice(&ifindex.to_ne_bytes());
            let len = control.push(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &info);
            (
                SockAddr::from(SocketAddrV6::new(dst, 0, 0, scope)),
                control.bytes(len),
            )
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("source {src} and destination {dst} are of different families"),
            ));
        }
    };
    let msg = MsgHdr::new()
        .with_addr(&to)
        .with_buffers(&iov)
        .with_control(control);
    socket.sendmsg(&msg, 0)
}

/// A control-message buffer on the stack, aligned for `struct cmsghdr`, large enough for one
/// `IP_PKTINFO` or `IPV6_PKTINFO` message.
#[repr(C, align(8))]
struct Control([u8; 64]);

/// `CMSG_ALIGN`: control data is aligned to the size of a `long` (a `usize` on Linux).
const fn cmsg_align(len: usize) -> usize {
    let word = size_of::<usize>();
    (len + word - 1) & !(word - 1)
}

impl Control {
    const fn new() -> Self {
        Self([0; 64])
    }

    /// Writes one control message (`struct cmsghdr` then `data`) at the start of the buffer
    /// and returns the length to send (`CMSG_SPACE(data.len())`).
    fn push(&mut self, level: libc::c_int, kind: libc::c_int, data: &[u8]) -> usize {
        // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; }, then the data
        // at CMSG_ALIGN(sizeof(struct cmsghdr)).
        let word = size_of::<usize>();
        let header = cmsg_align(size_of::<libc::cmsghdr>());
        let buf = &mut self.0;
        buf[..word].copy_from_slice(&(header + data.len()).to_ne_bytes());
        buf[word..word + 4].copy_from_slice(&level.to_ne_bytes());
        buf[word + 4..word + 8].copy_from_slice(&kind.to_ne_bytes());
        buf[header..header + data.len()].copy_from_slice(data);
        header + cmsg_align(data.len())
    }

    fn bytes(&self, len: usize) -> &[u8] {
        &self.0[..len]
    }
}

/// The index of the interface `name` in the calling thread's network namespace
/// (`if_nametoindex(3)`).
///
/// # Errors
/// No such interface, or a name that is empty, too long or contains NUL (`InvalidInput`).
pub fn interface_index(name: &str) -> io::Result<u32> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {name:?} is empty or longer than 15 bytes"),
        ));
    }
    let c_name = CString::new(name).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {name:?} contains a NUL byte"),
        )
    })?;
    nix::net::if_::if_nametoindex(c_name.as_c_str()).map_err(io::Error::from)
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
            step: OpenStep::SetOption("IP_MULTICAST_IF"),
            interface: "eth0".into(),
            source: io::Error::from_raw_os_error(libc::ENODEV),
        };
        assert!(
            e.to_string()
                .starts_with("setting IP_MULTICAST_IF on eth0: "),
            "{e}"
        );
        let io: io::Error = e.into();
        assert!(
            io.to_string()
                .starts_with("setting IP_MULTICAST_IF on eth0")
        );
    }

    #[test]
    fn interface_names_are_checked() {
        for bad in ["", "a-name-longer-than-15", "nul\0name"] {
            assert_eq!(
                interface_index(bad).unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
        assert!(interface_index("lo").unwrap() > 0);
        assert!(interface_index("vipd-no-such0").is_err());
    }
}
