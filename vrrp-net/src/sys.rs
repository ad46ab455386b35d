//! The only module of vipd with `unsafe` code: thin wrappers over Linux system calls that the
//! safe crates do not cover. Every block carries a `// SAFETY:` comment, and every function
//! here is safe to call.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr;

/// Moves the calling thread into the network namespace open at `ns` (a file such as
/// `/var/run/netns/NAME` or `/proc/PID/ns/net`). Other threads are not affected.
pub(crate) fn setns_net(ns: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: setns(2) reads only its two integer arguments; a bad descriptor or a file that
    // is not a network namespace makes it fail with an errno, which we return.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Registers an owned socket with the current tokio reactor for readiness `interest`.
/// Panics outside a tokio runtime (as tokio does).
pub(crate) fn register_async(
    socket: socket2::Socket,
    interest: tokio::io::Interest,
) -> io::Result<tokio::io::unix::AsyncFd<socket2::Socket>> {
    // SAFETY: a `socket2::Socket` owns its descriptor: it stays open until the socket is
    // dropped, which happens only when the `AsyncFd` is dropped or `into_inner` is called,
    // and `as_raw_fd` always returns that same descriptor. This crate never replaces the
    // socket through `AsyncFd::get_mut`.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(socket, interest) }
        .map_err(|e| e.into_parts().1)
}

/// Turns a `-1`-on-error return value into an [`io::Result`].
fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Turns an `ssize_t` return value into a byte count.
fn check_len(rc: libc::ssize_t) -> io::Result<usize> {
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}

/// An interface name as a C string that fits `IFNAMSIZ`.
fn ifname_c(name: &str) -> io::Result<CString> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {name:?} is empty or longer than 15 bytes"),
        ));
    }
    CString::new(name).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {name:?} contains a NUL byte"),
        )
    })
}

/// `setsockopt(fd, level, name, &value, sizeof(T))` for a plain-data `T`.
fn setsockopt<T: Copy>(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the pointer and length describe `value`, a live `Copy` (plain data) value that
    // the kernel only reads; an option the socket does not know fails with an errno.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            ptr::from_ref(value).cast(),
            len,
        )
    };
    check(rc).map(drop)
}

/// Sets an integer socket option (such as `IPV6_RECVPKTINFO`).
pub(crate) fn set_int_option(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    setsockopt(fd, level, name, &value)
}

/// `IP_MULTICAST_IF` in its `ip_mreqn` form: multicast leaves by the interface of index
/// `ifindex`, whatever its addresses.
pub(crate) fn set_multicast_if_v4_index(fd: &impl AsRawFd, ifindex: u32) -> io::Result<()> {
    let index =
        libc::c_int::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mreqn = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: index,
    };
    setsockopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreqn)
}

/// The index of the interface `name` in the calling thread's network namespace.
pub(crate) fn if_nametoindex(name: &str) -> io::Result<u32> {
    let c = ifname_c(name)?;
    // SAFETY: `c` is a NUL-terminated string that lives across the call, which only reads it.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}

/// The hardware (MAC) address of the Ethernet interface `name`, read with `SIOCGIFHWADDR` in
/// the calling thread's network namespace (unlike `/sys/class/net`, which shows the mount
/// namespace's view).
pub(crate) fn interface_mac(name: &str) -> io::Result<[u8; 6]> {
    let c = ifname_c(name)?;
    // SAFETY: a plain datagram socket; the result is checked and owned right away.
    let raw =
        check(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: `ifreq` is plain data (arrays, integers and a union of such); all zero is valid.
    let mut req: libc::ifreq = unsafe { zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(c.as_bytes_with_nul()) {
        *dst = libc::c_char::from_ne_bytes([*src]);
    }
    // SAFETY: SIOCGIFHWADDR reads the name from and writes the address into `req`, which is
    // a valid, exclusively borrowed `ifreq` for the duration of the call.
    check(unsafe { libc::ioctl(sock.as_raw_fd(), SIOCGIFHWADDR, ptr::from_mut(&mut req)) })?;
    // SAFETY: after a successful SIOCGIFHWADDR the kernel has written `ifru_hwaddr`.
    let hw = unsafe { req.ifr_ifru.ifru_hwaddr };
    if hw.sa_family != libc::ARPHRD_ETHER {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{name} is not an Ethernet interface (ARP hardware type {})",
                hw.sa_family
            ),
        ));
    }
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(hw.sa_data) {
        *dst = src.to_ne_bytes()[0];
    }
    Ok(mac)
}

/// A control-message buffer aligned for `cmsghdr`.
#[repr(C, align(8))]
struct ControlBuf([u8; 128]);

/// What `recvmsg` on a raw IPv6 socket told about one datagram.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecvV6 {
    /// Bytes written to the buffer.
    pub(crate) len: usize,
    /// The datagram was longer than the buffer.
    pub(crate) truncated: bool,
    /// The IPv6 source address.
    pub(crate) src: Ipv6Addr,
    /// The destination, from `IPV6_PKTINFO`.
    pub(crate) dst: Option<Ipv6Addr>,
    /// The hop limit, from `IPV6_HOPLIMIT`.
    pub(crate) hop_limit: Option<u8>,
}

/// Receives one datagram on a raw IPv6 socket with `IPV6_RECVPKTINFO` and
/// `IPV6_RECVHOPLIMIT` on, reading the destination and hop limit from the ancillary data.
/// Non-blocking sockets return `WouldBlock` as usual.
pub(crate) fn recv_v6(fd: &impl AsRawFd, buf: &mut [u8]) -> io::Result<RecvV6> {
    // SAFETY: `sockaddr_in6` is plain data; all zero is valid.
    let mut from: libc::sockaddr_in6 = unsafe { zeroed() };
    let mut control = ControlBuf([0; 128]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `msghdr` is plain data (pointers and integers); all zero is valid.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = ptr::from_mut(&mut from).cast();
    msg.msg_namelen = libc::socklen_t::try_from(size_of::<libc::sockaddr_in6>()).unwrap_or(0);
    msg.msg_iov = ptr::from_mut(&mut iov);
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = c_len(control.0.len());
    // SAFETY: every pointer in `msg` refers to a live, exclusively borrowed buffer of the
    // stated length (`from`, `iov` over `buf`, `control`), which the kernel fills at most.
    let len = check_len(unsafe { libc::recvmsg(fd.as_raw_fd(), &raw mut msg, 0) })?;
    let mut out = RecvV6 {
        len: len.min(buf.len()),
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        src: Ipv6Addr::from(from.sin6_addr.s6_addr),
        dst: None,
        hop_limit: None,
    };
    // SAFETY: `msg` was filled by a successful recvmsg; msg_control/msg_controllen describe
    // the part of `control` the kernel wrote, which is still alive and aligned for cmsghdr.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
    while !cmsg.is_null() {
        // SAFETY: CMSG_FIRSTHDR / CMSG_NXTHDR return either null or a header lying wholly
        // inside the control buffer; it may be read unaligned-safely.
        let hdr = unsafe { ptr::read_unaligned(cmsg) };
        // SAFETY: as above; CMSG_DATA points just after that header, inside the buffer.
        let data = unsafe { libc::CMSG_DATA(cmsg) };
        let data_len = usize_of(hdr.cmsg_len).saturating_sub(cmsg_len(0));
        if hdr.cmsg_level == libc::IPPROTO_IPV6 {
            if hdr.cmsg_type == libc::IPV6_PKTINFO && data_len >= size_of::<libc::in6_pktinfo>() {
                // SAFETY: the kernel wrote a whole in6_pktinfo at `data` (length checked).
                let info: libc::in6_pktinfo = unsafe { ptr::read_unaligned(data.cast()) };
                out.dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
            } else if hdr.cmsg_type == libc::IPV6_HOPLIMIT && data_len >= size_of::<libc::c_int>() {
                // SAFETY: the kernel wrote a whole int at `data` (length checked).
                let hops: libc::c_int = unsafe { ptr::read_unaligned(data.cast()) };
                out.hop_limit = u8::try_from(hops).ok();
            }
        }
        // SAFETY: `msg` and `cmsg` are as above; CMSG_NXTHDR checks the buffer's end.
        cmsg = unsafe { libc::CMSG_NXTHDR(&raw const msg, cmsg) };
    }
    Ok(out)
}

/// `CMSG_LEN(n)` as a `usize`.
fn cmsg_len(n: usize) -> usize {
    let n = libc::c_uint::try_from(n).unwrap_or(libc::c_uint::MAX);
    // SAFETY: CMSG_LEN is pure arithmetic on its argument.
    usize::try_from(unsafe { libc::CMSG_LEN(n) }).unwrap_or(usize::MAX)
}

/// The `ioctl` request that reads an interface's hardware address (`<linux/sockios.h>`), typed
/// as the C library declares `ioctl`'s request (`unsigned long` in glibc, `int` in musl).
const SIOCGIFHWADDR: libc::Ioctl = 0x8927;

/// A length as the C library's control-message fields take it (`size_t` in glibc,
/// `socklen_t` in musl); lengths here are at most a few hundred bytes.
fn c_len<T: TryFrom<usize> + Default>(n: usize) -> T {
    T::try_from(n).unwrap_or_default()
}

/// A control-message length field as a `usize`, whatever its C type.
fn usize_of<T: TryInto<usize>>(n: T) -> usize {
    n.try_into().unwrap_or(0)
}

/// `CMSG_SPACE(n)` as a `usize`.
fn cmsg_space(n: usize) -> usize {
    let n = libc::c_uint::try_from(n).unwrap_or(libc::c_uint::MAX);
    // SAFETY: CMSG_SPACE is pure arithmetic on its argument.
    usize::try_from(unsafe { libc::CMSG_SPACE(n) }).unwrap_or(usize::MAX)
}

/// Sends `payload` on a raw IP socket to `dst` (with `ifindex` as the scope of an IPv6
/// destination), with the source address `src` and the outgoing interface `ifindex` chosen
/// by an `IP_PKTINFO` / `IPV6_PKTINFO` control message. `src` must be local (or, for IPv6,
/// unspecified to let the kernel choose).
pub(crate) fn send_with_source(
    fd: &impl AsRawFd,
    payload: &[u8],
    src: IpAddr,
    dst: IpAddr,
    ifindex: u32,
) -> io::Result<usize> {
    let index_int =
        libc::c_int::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: socket address structures are plain data; all zero is valid.
    let mut to4: libc::sockaddr_in = unsafe { zeroed() };
    // SAFETY: as above.
    let mut to6: libc::sockaddr_in6 = unsafe { zeroed() };
    let mut control = ControlBuf([0; 128]);
    let (name, namelen, level, kind, data_len): (*mut libc::c_void, usize, _, _, usize) =
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                to4.sin_family = libc::sa_family_t::try_from(libc::AF_INET).unwrap_or(0);
                to4.sin_addr.s_addr = u32::from_ne_bytes(d.octets());
                let info = libc::in_pktinfo {
                    ipi_ifindex: index_int,
                    ipi_spec_dst: libc::in_addr {
                        s_addr: u32::from_ne_bytes(s.octets()),
                    },
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                write_cmsg_data(&mut control, &info);
                (
                    ptr::from_mut(&mut to4).cast(),
                    size_of::<libc::sockaddr_in>(),
                    libc::IPPROTO_IP,
                    libc::IP_PKTINFO,
                    size_of::<libc::in_pktinfo>(),
                )
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                to6.sin6_family = libc::sa_family_t::try_from(libc::AF_INET6).unwrap_or(0);
                to6.sin6_addr.s6_addr = d.octets();
                if d.is_unicast_link_local() || d.is_multicast() {
                    to6.sin6_scope_id = ifindex;
                }
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: s.octets(),
                    },
                    ipi6_ifindex: ifindex,
                };
                write_cmsg_data(&mut control, &info);
                (
                    ptr::from_mut(&mut to6).cast(),
                    size_of::<libc::sockaddr_in6>(),
                    libc::IPPROTO_IPV6,
                    libc::IPV6_PKTINFO,
                    size_of::<libc::in6_pktinfo>(),
                )
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("source {src} and destination {dst} are of different families"),
                ));
            }
        };
    // SAFETY: `cmsghdr` is plain integers (and, on musl, padding); all zero is valid.
    let mut header: libc::cmsghdr = unsafe { zeroed() };
    header.cmsg_len = c_len(cmsg_len(data_len));
    header.cmsg_level = level;
    header.cmsg_type = kind;
    let space = cmsg_space(data_len);
    if space > control.0.len() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: the control buffer is aligned for cmsghdr and larger than one header.
    unsafe { ptr::write_unaligned(control.0.as_mut_ptr().cast::<libc::cmsghdr>(), header) };
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr().cast_mut().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: `msghdr` is plain data; all zero is valid.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = name;
    msg.msg_namelen = libc::socklen_t::try_from(namelen).unwrap_or(0);
    msg.msg_iov = ptr::from_mut(&mut iov);
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = c_len(space);
    // SAFETY: every pointer in `msg` refers to a live buffer of the stated length (the
    // destination address, `payload` through `iov`, `control` holding one complete control
    // message); sendmsg only reads them.
    check_len(unsafe { libc::sendmsg(fd.as_raw_fd(), &raw const msg, 0) })
}

/// Copies `data` to where `CMSG_DATA` of the first header of `control` points.
fn write_cmsg_data<T: Copy>(control: &mut ControlBuf, data: &T) {
    let offset = cmsg_len(0);
    let end = offset.saturating_add(size_of::<T>());
    if end <= control.0.len() {
        // SAFETY: `offset..end` lies inside `control` (checked), `data` is plain data, and
        // the write is unaligned-safe.
        unsafe {
            ptr::write_unaligned(control.0.as_mut_ptr().add(offset).cast::<T>(), *data);
        }
    }
}

/// Sends a complete Ethernet `frame` on an `AF_PACKET` / `SOCK_RAW` socket out of the
/// interface `ifindex`, `ethertype` naming its protocol.
pub(crate) fn packet_send(
    fd: &impl AsRawFd,
    ifindex: u32,
    ethertype: u16,
    frame: &[u8],
) -> io::Result<usize> {
    let index_int =
        libc::c_int::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `sockaddr_ll` is plain data; all zero is valid.
    let mut to: libc::sockaddr_ll = unsafe { zeroed() };
    to.sll_family = libc::c_ushort::try_from(libc::AF_PACKET).unwrap_or(0);
    to.sll_protocol = ethertype.to_be();
    to.sll_ifindex = index_int;
    to.sll_halen = 6;
    if let Some(dst) = frame.get(..6) {
        to.sll_addr[..6].copy_from_slice(dst);
    }
    let len = libc::socklen_t::try_from(size_of::<libc::sockaddr_ll>()).unwrap_or(0);
    // SAFETY: `frame` and `to` are live buffers of the stated lengths, only read by sendto.
    check_len(unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            ptr::from_ref(&to).cast(),
            len,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_are_checked() {
        assert_eq!(
            if_nametoindex("").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(
            interface_mac("a-name-longer-than-15").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(if_nametoindex("lo").unwrap() > 0);
        assert!(if_nametoindex("vipd-no-such0").is_err());
    }

    #[test]
    fn loopback_has_no_ethernet_address() {
        assert_eq!(
            interface_mac("lo").unwrap_err().kind(),
            io::ErrorKind::Unsupported
        );
    }
}
