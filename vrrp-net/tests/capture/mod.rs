//! Packet capture for the namespace tests: an AF_PACKET socket that sees every frame of the
//! calling thread's network namespace, and a reader that waits for a matching one.

#![allow(dead_code, unreachable_pub)]

use std::io::Read;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// A packet socket, in the calling thread's namespace, that sees every frame.
pub fn capture_socket() -> Socket {
    let all = i32::from(u16::try_from(libc::ETH_P_ALL).unwrap().to_be());
    let s = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(all))).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

/// Reads datagrams from `s` until one satisfies `want`; `None` after 10 s.
pub fn read_until(s: &Socket, want: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 9000];
    let mut reader = s;
    while Instant::now() < deadline {
        match reader.read(&mut buf) {
            Ok(n) if want(&buf[..n]) => return Some(buf[..n].to_vec()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    None
}
