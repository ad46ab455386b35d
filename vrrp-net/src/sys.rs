//! The only module of vipd with `unsafe` code: thin wrappers over Linux system calls that the
//! safe crates do not cover. Every block carries a `// SAFETY:` comment, and every function
//! here is safe to call.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;

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
