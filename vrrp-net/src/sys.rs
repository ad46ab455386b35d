//! The only module of this crate with `unsafe` code: what neither `nix` nor `socket2` offers
//! safely. Every block carries a `// SAFETY:` comment, and every function here is safe to
//! call.
//!
//! - [`register_async`]: tokio's `AsyncFd::register_with_interest` is `unsafe` (the caller
//!   vouches that the descriptor stays the same while registered);
//! - [`register_timer`]: the same for the `timerfd` of [`DeadlineTimer`](crate::timer::DeadlineTimer);
//! - [`set_multicast_if_v4_index`]: `IP_MULTICAST_IF` by interface index (`ip_mreqn`);
//!   socket2 sets it only by address and nix not at all;
//! - [`packet_address`]: a `sockaddr_ll` for sending on an `AF_PACKET` socket; neither crate
//!   builds one safely.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::os::fd::AsRawFd;
use std::ptr;

use socket2::{SockAddr, SockAddrStorage};

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

/// Registers a `timerfd` with the current tokio reactor for readiness `interest`. Panics
/// outside a tokio runtime (as tokio does).
pub(crate) fn register_timer(
    timer: crate::timer::Fd,
    interest: tokio::io::Interest,
) -> io::Result<tokio::io::unix::AsyncFd<crate::timer::Fd>> {
    // SAFETY: `timer::Fd` wraps a `nix` `TimerFd`, which owns its descriptor: it stays open
    // until the `TimerFd` is dropped, which happens only when the `AsyncFd` is dropped or
    // `into_inner` is called, and `as_raw_fd` always returns that same descriptor. The timer
    // module never replaces the `TimerFd` through `AsyncFd::get_mut`.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(timer, interest) }
        .map_err(|e| e.into_parts().1)
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
    let len = libc::socklen_t::try_from(size_of::<libc::ip_mreqn>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the pointer and length describe `mreqn`, a live plain-data value that the
    // kernel only reads; a descriptor that is not an IPv4 socket fails with an errno.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            ptr::from_ref(&mreqn).cast(),
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The link-layer address (`sockaddr_ll`) that sends a frame of protocol `ethertype` out of
/// the interface `ifindex` to the Ethernet address `dst_mac`.
pub(crate) fn packet_address(
    ifindex: u32,
    ethertype: u16,
    dst_mac: [u8; 6],
) -> io::Result<SockAddr> {
    let invalid = |_| io::Error::from(io::ErrorKind::InvalidInput);
    let mut sll_addr = [0u8; 8];
    sll_addr[..6].copy_from_slice(&dst_mac);
    let address = libc::sockaddr_ll {
        sll_family: libc::c_ushort::try_from(libc::AF_PACKET).map_err(invalid)?,
        sll_protocol: ethertype.to_be(),
        sll_ifindex: libc::c_int::try_from(ifindex).map_err(invalid)?,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr,
    };
    let len = libc::socklen_t::try_from(size_of::<libc::sockaddr_ll>()).map_err(invalid)?;
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: `sockaddr_ll` is one of the platform's `sockaddr_*` types, which is all
    // `view_as` asks (it checks the size itself).
    unsafe { *storage.view_as::<libc::sockaddr_ll>() = address };
    // SAFETY: the storage holds a complete `sockaddr_ll` whose family is AF_PACKET, and
    // `len` is exactly its size.
    Ok(unsafe { SockAddr::new(storage, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_addresses_are_link_layer_addresses() {
        let a = packet_address(7, 0x0806, [0xff; 6]).unwrap();
        assert_eq!(i32::from(a.family()), libc::AF_PACKET);
        assert_eq!(
            usize::try_from(a.len()).unwrap(),
            size_of::<libc::sockaddr_ll>()
        );
        assert!(packet_address(u32::MAX, 0x0806, [0xff; 6]).is_err());
    }
}
