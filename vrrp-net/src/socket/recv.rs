//! The receive half of [`VrrpSocket`]: a datagram read, judged whole or not, and handed
//! out as an [`OwnedReceived`] whose payload lands in an allocation the caller hands in.

use std::future::poll_fn;
use std::io::{self, IoSliceMut, Read};
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg};
use socket2::Socket;

use super::{Family, OwnedReceived, RECV_BUF, VrrpSocket};

impl VrrpSocket {
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
        self.recv_in(&mut vec![0u8; RECV_BUF]).await
    }

    /// [`recv`](Self::recv), reading into `buf` (a reader reuses one buffer instead of
    /// allocating one per datagram; only the payload is copied out). A datagram longer than
    /// `buf` is dropped as truncated on IPv6, cut short on IPv4 (and then judged invalid by
    /// [`vrrp_core`]), so `buf` should hold the largest packet expected: 8 KiB does.
    ///
    /// Cancel-safe, as [`recv`](Self::recv).
    ///
    /// # Errors
    /// The system error of the receive.
    pub async fn recv_in(&self, buf: &mut [u8]) -> io::Result<OwnedReceived> {
        self.recv_reusing(buf, Vec::new()).await
    }

    /// [`recv_in`](Self::recv_in), copying the payload into `payload` (cleared first): a
    /// reader that gets back the payloads it handed out receives without allocating.
    ///
    /// Cancel-safe, as [`recv`](Self::recv) (`payload` is dropped with the future).
    ///
    /// # Errors
    /// The system error of the receive.
    pub async fn recv_reusing(
        &self,
        buf: &mut [u8],
        mut payload: Vec<u8>,
    ) -> io::Result<OwnedReceived> {
        poll_fn(|cx| self.poll_recv_reusing(cx, buf, &mut payload)).await
    }

    /// [`recv_reusing`](Self::recv_reusing) as a poll, for an event loop that waits on its
    /// sockets itself instead of through a reader task: the payload is copied into
    /// `payload`'s allocation, which the result takes (`payload` is left empty). Datagrams
    /// that are not whole VRRP packets are counted ([`dropped`](Self::dropped)) and skipped.
    ///
    /// # Errors
    /// The system error of the receive.
    pub fn poll_recv_reusing(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        payload: &mut Vec<u8>,
    ) -> Poll<io::Result<OwnedReceived>> {
        loop {
            let mut ready = match self.fd.poll_read_ready(cx) {
                Poll::Ready(ready) => ready?,
                Poll::Pending => return Poll::Pending,
            };
            let got = ready.try_io(|fd| match self.family {
                Family::Ipv4 => {
                    let len = fd.get_ref().read(buf)?;
                    Ok(parse_v4(buf.get(..len).unwrap_or_default(), payload))
                }
                Family::Ipv6 => recv_v6(fd.get_ref(), buf, payload),
            });
            match got {
                Ok(Ok(Some(rx))) => return Poll::Ready(Ok(rx)),
                Ok(Ok(None)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                // Not readable after all: readiness is cleared, poll again to wait.
                Err(_would_block) => {}
            }
        }
    }
}

/// `bytes` in `out`'s allocation, taken out of it.
fn copied(out: &mut Vec<u8>, bytes: &[u8]) -> Vec<u8> {
    out.clear();
    out.extend_from_slice(bytes);
    std::mem::take(out)
}

/// A datagram of a raw IPv4 socket as an [`OwnedReceived`] whose payload is copied into
/// `payload`'s allocation, if it is a whole packet.
fn parse_v4(datagram: &[u8], payload: &mut Vec<u8>) -> Option<OwnedReceived> {
    let rx = crate::ipv4::split(datagram).ok()?;
    Some(OwnedReceived {
        src: rx.src,
        dst: rx.dst,
        hop_limit: rx.hop_limit,
        payload: copied(payload, rx.payload),
    })
}

/// Receives one datagram on a raw IPv6 socket with `IPV6_RECVPKTINFO` and
/// `IPV6_RECVHOPLIMIT` on, reading the destination and hop limit from the control
/// messages, the payload copied into `payload`'s allocation. `None` for a datagram that is
/// truncated or lacks either. Non-blocking sockets return `WouldBlock` as usual.
fn recv_v6(
    socket: &Socket,
    buf: &mut [u8],
    payload: &mut Vec<u8>,
) -> io::Result<Option<OwnedReceived>> {
    let mut control = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int);
    let mut iov = [IoSliceMut::new(buf)];
    let (len, src, dst, hop_limit) = {
        let msg = recvmsg::<SockaddrIn6>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut control),
            MsgFlags::empty(),
        )?;
        if msg.flags.contains(MsgFlags::MSG_TRUNC) {
            return Ok(None);
        }
        let mut dst = None;
        let mut hop_limit = None;
        // Control data cut short (MSG_CTRUNC) counts as missing.
        for cmsg in msg.cmsgs().into_iter().flatten() {
            match cmsg {
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                }
                ControlMessageOwned::Ipv6HopLimit(hops) => hop_limit = u8::try_from(hops).ok(),
                _ => {}
            }
        }
        (msg.bytes, msg.address.map(|a| a.ip()), dst, hop_limit)
    };
    let (Some(src), Some(dst), Some(hop_limit)) = (src, dst, hop_limit) else {
        return Ok(None);
    };
    Ok(Some(OwnedReceived {
        src: IpAddr::V6(src),
        dst: IpAddr::V6(dst),
        hop_limit,
        payload: copied(payload, buf.get(..len).unwrap_or_default()),
    }))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn v4_datagrams_that_are_not_whole_packets_are_dropped() {
        assert_eq!(parse_v4(&[0x45, 0xc0], &mut Vec::new()), None);
        let mut pkt = vec![0x45, 0xc0, 0, 24, 0, 0, 0, 0, 255, 112, 0, 0];
        pkt.extend_from_slice(&[10, 200, 0, 1, 224, 0, 0, 18, 1, 2, 3, 4]);
        // The payload lands in the allocation handed in, whatever it held.
        let mut spare = Vec::with_capacity(64);
        spare.extend_from_slice(&[9; 10]);
        let at = spare.as_ptr();
        let rx = parse_v4(&pkt, &mut spare).unwrap();
        assert_eq!(rx.payload, [1, 2, 3, 4]);
        assert_eq!(rx.payload.as_ptr(), at, "the spare allocation is reused");
        assert_eq!(rx.hop_limit, 255);
        assert_eq!(
            rx.as_received().src,
            IpAddr::V4(Ipv4Addr::new(10, 200, 0, 1))
        );
    }
}
