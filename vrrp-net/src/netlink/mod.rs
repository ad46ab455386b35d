//! Links, addresses and their events over rtnetlink: everything a VRRP daemon asks of the
//! kernel's routing socket, async on tokio.
//!
//! - this module: the [`Netlink`] handle and [`NetlinkError`];
//! - `links`: [`LinkInfo`] and the link queries;
//! - `addresses`: [`AddressInfo`], [`Lifetime`], adding, renewing, removing and listing
//!   addresses, with the ownership checks;
//! - `mark`: [`AddressMark`], how the caller's addresses are recognised, and
//!   [`Netlink::probe_protocol_mark`];
//! - `events`: [`NetEvent`] and the [`NetEvents`] stream;
//! - `vmac`: virtual MAC interfaces (keepalived's `use_vmac`), [`vmac_address`],
//!   [`Netlink::create_vmac`] and their ownership mark [`VMAC_ALIAS`].
//!
//! ```no_run
//! use futures::StreamExt;
//! use vrrp_net::netlink::{AddressMark, Lifetime, NetEvent, Netlink, VIPD_ADDRESS_PROTOCOL};
//!
//! # async fn run() -> Result<(), vrrp_net::netlink::NetlinkError> {
//! let probe = Netlink::new(AddressMark::Lifetime)?;
//! let mark = if probe.probe_protocol_mark(VIPD_ADDRESS_PROTOCOL).await? {
//!     AddressMark::Protocol(VIPD_ADDRESS_PROTOCOL)
//! } else {
//!     AddressMark::Lifetime
//! };
//! let nl = Netlink::new(mark)?;
//! let mut events = nl.subscribe()?; // first, so no change is missed
//! let link = nl.link_by_name("eth0").await?;
//! let vip = "192.0.2.10".parse().unwrap();
//! // What an earlier run left of *this configuration's* VIPs goes; anything else stays.
//! nl.remove_marked(|index, a| index == link.index && a.addr == vip).await?;
//! nl.add_vip(link.index, vip, 24, Lifetime::Forever).await?;
//! while let Some(event) = events.next().await {
//!     if let NetEvent::Link { index, up: false } = event {
//!         if index == link.index {
//!             break;
//!         }
//!     }
//! }
//! nl.remove_vip(link.index, vip, 24).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Ownership of addresses
//!
//! Every address added through a [`Netlink`] carries the [`AddressMark`] it was created
//! with, and no address without that mark is ever replaced or removed: adding over, or
//! removing, an unmarked address fails with [`NetlinkError::NotOurs`]. See [`AddressMark`]
//! for the two ways of marking (`IFA_PROTO` on Linux 5.18+, a finite lifetime before) and
//! [`crate`] for the whole design. A mark says "added by a program like this one", not "added
//! by this process": which marked addresses are its own is the caller's decision, taken in
//! [`Netlink::remove_marked`].
//!
//! # Namespaces
//!
//! A netlink socket belongs to the network namespace of the thread that opened it:
//! [`Netlink::new`] and [`Netlink::subscribe`] act on the namespace the calling thread is in
//! when they are called (see [`crate::netns::enter`]), and stay there.
//!
//! # Link state
//!
//! [`LinkInfo::up`] is true when the interface is administratively up (`IFF_UP`) *and*
//! operationally running (`IFF_RUNNING`). The kernel sets `IFF_RUNNING` only while the device
//! is up and its operational state (RFC 2863) is `UP` or `UNKNOWN`: a cable pulled, a veth
//! whose peer is down or a dormant link is therefore "down" here, which is what a VRRP
//! router needs (it cannot hold a VIP on a link that cannot carry packets).

mod addresses;
mod events;
mod links;
mod mark;
mod vmac;

use std::io;
use std::net::IpAddr;

use rtnetlink::Handle;
use rtnetlink::packet_route::AddressFamily;
use vrrp_core::Family;

pub use addresses::{
    AddressInfo, IFA_F_DADFAILED, IFA_F_DEPRECATED, IFA_F_NODAD, IFA_F_PERMANENT, IFA_F_SECONDARY,
    IFA_F_TENTATIVE, Lifetime, NewVip,
};
pub use events::{NetEvent, NetEvents};
pub use links::LinkInfo;
pub use mark::{AddressMark, LIFETIME_MARK_MAX, VIPD_ADDRESS_PROTOCOL};
pub use vmac::{VMAC_ALIAS, default_vmac_name, vmac_address};

// Errno values the module gives a meaning to (Linux, all architectures).
const ENOENT: i32 = 2;
const ENODEV: i32 = 19;
const EEXIST: i32 = 17;
const EADDRNOTAVAIL: i32 = 99;

/// A connection to the kernel's routing netlink socket, in the network namespace of the thread
/// that created it, with the [`AddressMark`] its addresses carry. Cheap to clone: clones share
/// the connection, which closes when the last one drops.
#[derive(Debug, Clone)]
pub struct Netlink {
    handle: Handle,
    mark: AddressMark,
}

impl Netlink {
    /// Opens a connection in the calling thread's network namespace and spawns the task that
    /// drives it on the current tokio runtime. Addresses it adds carry `mark`, and only
    /// addresses carrying `mark` are ever replaced or removed through it (see
    /// [`AddressMark`]).
    ///
    /// # Errors
    /// [`NetlinkError::InvalidMark`] for an `IFA_PROTO` mark of 0 to 3,
    /// [`NetlinkError::NoRuntime`] outside a tokio runtime, [`NetlinkError::Open`] if the
    /// socket cannot be opened.
    pub fn new(mark: AddressMark) -> Result<Self, NetlinkError> {
        let mark = mark.check()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NetlinkError::NoRuntime)?;
        let (connection, handle, _unsolicited) =
            rtnetlink::new_connection().map_err(NetlinkError::Open)?;
        runtime.spawn(connection);
        Ok(Self { handle, mark })
    }

    /// The mark this connection puts on, and requires of, the addresses it manages.
    #[must_use]
    pub const fn mark(&self) -> AddressMark {
        self.mark
    }
}

/// What went wrong talking to the kernel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetlinkError {
    /// No tokio runtime runs on the calling thread, so the connection cannot be driven.
    #[error("netlink needs a tokio runtime: create the connection from inside one")]
    NoRuntime,
    /// Opening the netlink route socket failed.
    #[error("cannot open a netlink route socket: {0}")]
    Open(#[source] io::Error),
    /// No interface has this name.
    #[error("no interface named {name:?}")]
    NoSuchInterface {
        /// The name asked for.
        name: String,
    },
    /// No interface has this index.
    #[error("no interface with index {index}")]
    NoSuchIndex {
        /// The index asked for.
        index: u32,
    },
    /// An [`AddressMark::Protocol`] value that cannot mark anything: 0 (which the kernel
    /// reports as no `IFA_PROTO` at all) or one of the kernel's own values 1 to 3.
    #[error("IFA_PROTO {protocol} cannot mark addresses: 0 is unset and 1 to 3 are the kernel's")]
    InvalidMark {
        /// The value given.
        protocol: u8,
    },
    /// The prefix length is longer than the address (32 for IPv4, 128 for IPv6).
    #[error("invalid prefix length {addr}/{prefix_len}")]
    InvalidPrefix {
        /// The address.
        addr: IpAddr,
        /// The prefix length given.
        prefix_len: u8,
    },
    /// The address exists on the interface without the connection's [`AddressMark`]
    /// (configured by hand or by another program), so it is left alone.
    #[error(
        "{addr}/{prefix_len} on {link} lacks our mark ({mark}; it has protocol {}, {}): not touching it",
        protocol.map_or_else(|| "unset".to_owned(), |p| format!("{p:#04x}")),
        if *permanent { "permanent" } else { "finite lifetime" }
    )]
    NotOurs {
        /// The interface, as "name (index N)" or "index N".
        link: String,
        /// Its index.
        index: u32,
        /// The address.
        addr: IpAddr,
        /// The prefix length of the existing address.
        prefix_len: u8,
        /// The existing address's `IFA_PROTO`, if any.
        protocol: Option<u8>,
        /// The existing address is permanent (`IFA_F_PERMANENT`: no lifetime).
        permanent: bool,
        /// The mark that was required.
        mark: AddressMark,
    },
    /// An interface of the name asked for exists without the [`VMAC_ALIAS`] mark (configured
    /// by hand or by another program), so it is left alone.
    #[error(
        "interface {name:?} exists and was not created by vipd (no {VMAC_ALIAS:?} alias): not touching it; pick another name"
    )]
    LinkNotOurs {
        /// Its name.
        name: String,
    },
    /// A kernel setting could not be written.
    #[error("cannot write {path}: {source}")]
    Sysctl {
        /// The file under /proc/sys.
        path: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The kernel refused a request.
    #[error("{op} {target}: {} (errno {errno})", io::Error::from_raw_os_error(*errno))]
    Kernel {
        /// What was asked ("add address", "dump links", ...).
        op: &'static str,
        /// What it was about: address and interface.
        target: String,
        /// The positive errno the kernel answered.
        errno: i32,
    },
    /// The request could not be exchanged with the kernel (connection closed, unexpected
    /// reply).
    #[error("{op} {target}: netlink failure: {detail}")]
    Transport {
        /// What was asked.
        op: &'static str,
        /// What it was about.
        target: String,
        /// What rtnetlink reported.
        detail: String,
    },
}

impl NetlinkError {
    /// The errno of a [`NetlinkError::Kernel`] refusal.
    #[must_use]
    pub const fn errno(&self) -> Option<i32> {
        match self {
            Self::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    fn from_rtnetlink(op: &'static str, target: String, err: rtnetlink::Error) -> Self {
        match err {
            rtnetlink::Error::NetlinkError(msg) if msg.raw_code() != 0 => Self::Kernel {
                op,
                target,
                errno: msg.raw_code().saturating_abs(),
            },
            other => Self::Transport {
                op,
                target,
                detail: other.to_string(),
            },
        }
    }
}

fn errno_of(err: &rtnetlink::Error) -> Option<i32> {
    match err {
        rtnetlink::Error::NetlinkError(msg) if msg.raw_code() != 0 => {
            Some(msg.raw_code().saturating_abs())
        }
        _ => None,
    }
}

fn family_code(family: Family) -> AddressFamily {
    match family {
        Family::Ipv4 => AddressFamily::Inet,
        Family::Ipv6 => AddressFamily::Inet6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_address_mark_and_errno() {
        let e = NetlinkError::Kernel {
            op: "add address",
            target: "10.200.1.10/24 on vip0 (index 3)".to_owned(),
            errno: ENODEV,
        };
        let text = e.to_string();
        assert!(text.contains("10.200.1.10/24 on vip0"), "{text}");
        assert!(text.contains("errno 19"), "{text}");
        assert_eq!(e.errno(), Some(ENODEV));
        let e = NetlinkError::NotOurs {
            link: "vip0 (index 3)".to_owned(),
            index: 3,
            addr: "10.200.1.10".parse().unwrap(),
            prefix_len: 24,
            protocol: None,
            permanent: true,
            mark: AddressMark::Protocol(VIPD_ADDRESS_PROTOCOL),
        };
        let text = e.to_string();
        assert!(text.contains("lacks our mark (IFA_PROTO 0x76"), "{text}");
        assert!(text.contains("protocol unset, permanent"), "{text}");
    }
}
