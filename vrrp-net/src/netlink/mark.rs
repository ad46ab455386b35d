//! How the addresses a [`Netlink`] manages are recognised: [`AddressMark`], and the probe
//! that tells whether the running kernel keeps `IFA_PROTO`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use vrrp_core::Family;

use super::addresses::{AddressInfo, Lifetime, NewVip};
use super::{EEXIST, Netlink, NetlinkError};

/// The `IFA_PROTO` value vipd chose to mark its addresses with, for
/// [`AddressMark::Protocol`]. This crate has no default: the caller picks its own byte, and
/// may use this one if it is vipd.
///
/// `IFA_PROTO` is one byte that the kernel keeps with each address and never interprets.
/// Values 1 to 3 are the kernel's own (`IFAPROT_KERNEL_LO`, `_RA`, `_LL`) and 0 means unset;
/// keepalived 2.2.8+ marks its addresses with `RTPROT_KEEPALIVED` (18). vipd uses `0x76`
/// (118, ASCII `v`), which neither the kernel nor keepalived uses and which is not assigned in
/// iproute2's `rt_protos`, so a host running both keepalived and vipd, or moving from one to
/// the other, never confuses their addresses.
pub const VIPD_ADDRESS_PROTOCOL: u8 = 0x76;

// Neither unset, nor one of the kernel's values, nor keepalived's RTPROT_KEEPALIVED.
const _: () = assert!(VIPD_ADDRESS_PROTOCOL > 3 && VIPD_ADDRESS_PROTOCOL != 18);

/// The longest finite lifetime, in seconds (`0xFFFF_FFFE`, about 136 years): what an add with
/// [`Lifetime::Forever`] asks for under [`AddressMark::Lifetime`].
pub const LIFETIME_MARK_MAX: u32 = u32::MAX - 1;

/// The highest `IFA_PROTO` value the kernel assigns itself (`IFAPROT_KERNEL_LL`).
const KERNEL_PROTOCOLS: u8 = 3;

/// The network [`Netlink::probe_protocol_mark`] takes its probe address from:
/// 127.255.118.0/24 (118 is `v`).
const PROBE_NET: [u8; 3] = [127, 255, 118];

/// How long a probe address lives if the probe cannot delete it (a crash in between).
const PROBE_LIFETIME: Lifetime = Lifetime::Seconds(2);

/// How the addresses added through a [`Netlink`] are marked, so that it recognises them later
/// (after a restart too) and never touches an address it did not add.
///
/// An address *carries the mark* ([`AddressInfo::is_marked`]) when:
///
/// - [`Protocol(p)`](Self::Protocol): its `IFA_PROTO` attribute is `p`. Adds set it. Exact,
///   but Linux stores `IFA_PROTO` only from 5.18 on; older kernels (5.14 of RHEL 9, 5.15 of
///   Ubuntu 22.04, 5.10 of Debian 11) accept the attribute and silently drop it, so the
///   caller's own addresses would look foreign. Check with [`Netlink::probe_protocol_mark`].
/// - [`Lifetime`](Self::Lifetime): it is not permanent, i.e. it has a finite valid lifetime
///   (`IFA_F_PERMANENT` is not set). Works on every kernel: addresses configured by hand
///   (`ip addr add` without `valid_lft`), by most network managers for static
///   configuration, and the kernel's own link-local and loopback addresses are permanent,
///   so they are never touched. Adds send no `IFA_PROTO`, and an add with
///   [`Lifetime::Forever`] asks for [`LIFETIME_MARK_MAX`] seconds (about 136 years) instead,
///   so that the address stays recognisable; reads then report a number of seconds, not
///   forever. (32-bit kernels cap lifetimes at `LONG_MAX / HZ` seconds, about 24 days at
///   `HZ=1000`: renew there.) The mark is weaker: DHCP leases, SLAAC and temporary IPv6
///   addresses are not permanent either and so carry it. Never remove a marked address
///   you do not know as your own (see [`Netlink::remove_marked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AddressMark {
    /// `IFA_PROTO` set to this byte (Linux 5.18+). Must not be 0 (unset) nor one of the
    /// kernel's values 1 to 3; vipd uses [`VIPD_ADDRESS_PROTOCOL`].
    Protocol(u8),
    /// Not permanent: a finite valid lifetime (any kernel). See the type's docs.
    Lifetime,
}

impl AddressMark {
    /// Whether `info` carries this mark.
    #[must_use]
    pub fn matches(self, info: &AddressInfo) -> bool {
        match self {
            Self::Protocol(p) => info.protocol == Some(p),
            Self::Lifetime => !info.is_permanent(),
        }
    }

    /// The `IFA_PROTO` byte adds send, if any.
    pub(super) const fn protocol(self) -> Option<u8> {
        match self {
            Self::Protocol(p) => Some(p),
            Self::Lifetime => None,
        }
    }

    /// The lifetime an add asks the kernel for when the caller wants `lifetime`.
    #[must_use]
    pub const fn lifetime_to_request(self, lifetime: Lifetime) -> Lifetime {
        match (self, lifetime) {
            (Self::Lifetime, Lifetime::Forever) => Lifetime::Seconds(LIFETIME_MARK_MAX),
            (_, other) => other,
        }
    }

    /// Refuses the `IFA_PROTO` values that cannot serve as a mark.
    pub(super) const fn check(self) -> Result<Self, NetlinkError> {
        match self {
            Self::Protocol(protocol) if protocol <= KERNEL_PROTOCOLS => {
                Err(NetlinkError::InvalidMark { protocol })
            }
            other => Ok(other),
        }
    }
}

impl fmt::Display for AddressMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(p) => write!(f, "IFA_PROTO {p:#04x}"),
            Self::Lifetime => f.write_str("a finite lifetime"),
        }
    }
}

impl Netlink {
    /// Whether the running kernel keeps `IFA_PROTO` (Linux 5.18+), so that
    /// [`AddressMark::Protocol`]`(protocol)` works; otherwise use [`AddressMark::Lifetime`].
    /// Works whatever this connection's own mark is.
    ///
    /// It adds a probe address, 127.255.118.1/32 (or the next free one of 127.255.118.0/24
    /// if that one exists), to the loopback interface `lo` of the connection's namespace,
    /// with `IFA_PROTO = protocol` and a lifetime of 2 seconds, reads it back with a dump,
    /// and deletes it: true iff the mark came back. That is harmless: 127.0.0.0/8 is
    /// already local through `lo`, so the address changes no routing, it is never sent
    /// from, it is added exclusively (never over an existing address), and if the process
    /// dies before deleting it the kernel removes it 2 seconds later.
    ///
    /// # Errors
    /// [`NetlinkError::InvalidMark`] for `protocol` 0 to 3; no `lo`
    /// ([`NetlinkError::NoSuchInterface`]); every address of 127.255.118.0/24 taken
    /// ([`NetlinkError::Kernel`] with `EEXIST`); a kernel refusal (`EPERM` without
    /// CAP_NET_ADMIN) or transport failure.
    pub async fn probe_protocol_mark(&self, protocol: u8) -> Result<bool, NetlinkError> {
        AddressMark::Protocol(protocol).check()?;
        let lo = self.link_by_name("lo").await?;
        let present: Vec<IpAddr> = self
            .addresses(lo.index, Family::Ipv4)
            .await?
            .into_iter()
            .map(|a| a.addr)
            .collect();
        let [a, b, c] = PROBE_NET;
        for host in 1..=254 {
            let addr = IpAddr::V4(Ipv4Addr::new(a, b, c, host));
            if present.contains(&addr) {
                continue;
            }
            match self
                .add_address(
                    lo.index,
                    &NewVip {
                        addr,
                        prefix_len: 32,
                        label: None,
                    },
                    Some(protocol),
                    PROBE_LIFETIME,
                    false,
                )
                .await
            {
                Ok(()) => {}
                // Added by someone else since the dump: try the next one.
                Err(e) if e.errno() == Some(EEXIST) => continue,
                Err(e) => return Err(e),
            }
            let read = self.addresses(lo.index, Family::Ipv4).await;
            let deleted = self.delete(lo.index, addr, 32).await;
            let found = read?
                .into_iter()
                .find(|i| i.addr == addr && i.prefix_len == 32);
            deleted?;
            return Ok(found.is_some_and(|i| i.protocol == Some(protocol)));
        }
        Err(NetlinkError::Kernel {
            op: "probe IFA_PROTO",
            target: format!("on lo: every address of {a}.{b}.{c}.0/24 is in use"),
            errno: EEXIST,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(protocol: Option<u8>, flags: u32, valid_lft: Lifetime) -> AddressInfo {
        AddressInfo {
            addr: "10.200.1.10".parse().unwrap(),
            prefix_len: 24,
            protocol,
            flags,
            valid_lft,
            preferred_lft: valid_lft,
        }
    }

    #[test]
    fn marks_match_by_protocol_or_by_a_finite_lifetime() {
        let ours = AddressMark::Protocol(VIPD_ADDRESS_PROTOCOL);
        let permanent = super::super::IFA_F_PERMANENT;
        assert!(ours.matches(&info(Some(0x76), permanent, Lifetime::Forever)));
        assert!(!ours.matches(&info(Some(18), 0, Lifetime::Seconds(5))));
        assert!(!ours.matches(&info(None, 0, Lifetime::Seconds(5))));

        let lifetime = AddressMark::Lifetime;
        assert!(lifetime.matches(&info(None, 0, Lifetime::Seconds(5))));
        assert!(lifetime.matches(&info(Some(0x76), 0, Lifetime::Seconds(LIFETIME_MARK_MAX))));
        assert!(!lifetime.matches(&info(None, permanent, Lifetime::Forever)));
        // Without IFA_F_PERMANENT but reported forever (no cache info): not ours.
        assert!(!lifetime.matches(&info(None, 0, Lifetime::Forever)));
    }

    #[test]
    fn lifetime_marks_turn_forever_into_the_longest_finite_lifetime() {
        let lifetime = AddressMark::Lifetime;
        assert_eq!(
            lifetime.lifetime_to_request(Lifetime::Forever),
            Lifetime::Seconds(0xFFFF_FFFE)
        );
        assert_eq!(
            lifetime.lifetime_to_request(Lifetime::Seconds(3)),
            Lifetime::Seconds(3)
        );
        let proto = AddressMark::Protocol(VIPD_ADDRESS_PROTOCOL);
        assert_eq!(
            proto.lifetime_to_request(Lifetime::Forever),
            Lifetime::Forever
        );
        assert_eq!(proto.protocol(), Some(0x76));
        assert_eq!(lifetime.protocol(), None);
    }

    #[test]
    fn kernel_protocol_values_are_refused_as_marks() {
        for p in 0..=3 {
            assert!(matches!(
                AddressMark::Protocol(p).check(),
                Err(NetlinkError::InvalidMark { protocol }) if protocol == p
            ));
        }
        assert!(AddressMark::Protocol(4).check().is_ok());
        assert!(AddressMark::Lifetime.check().is_ok());
        assert_eq!(
            AddressMark::Protocol(VIPD_ADDRESS_PROTOCOL).to_string(),
            "IFA_PROTO 0x76"
        );
    }
}
