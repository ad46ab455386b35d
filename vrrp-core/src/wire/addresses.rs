//! The address list of an advertisement, all of one family.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::types::Family;

/// The virtual addresses of an advertisement, all of one family.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addresses {
    /// IPv4 addresses.
    V4(Vec<Ipv4Addr>),
    /// IPv6 addresses.
    V6(Vec<Ipv6Addr>),
}

impl Addresses {
    /// The family of the addresses.
    #[must_use]
    pub const fn family(&self) -> Family {
        match self {
            Self::V4(_) => Family::Ipv4,
            Self::V6(_) => Family::Ipv6,
        }
    }

    /// How many addresses there are.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::V4(v) => v.len(),
            Self::V6(v) => v.len(),
        }
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The addresses as [`IpAddr`]s.
    pub fn iter(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let (v4, v6) = match self {
            Self::V4(v) => (v.as_slice(), [].as_slice()),
            Self::V6(v) => ([].as_slice(), v.as_slice()),
        };
        v4.iter()
            .map(|a| IpAddr::V4(*a))
            .chain(v6.iter().map(|a| IpAddr::V6(*a)))
    }

    /// Collects addresses of one family; `None` if `family` does not match one of them.
    pub fn collect(family: Family, addrs: impl IntoIterator<Item = IpAddr>) -> Option<Self> {
        let mut out = match family {
            Family::Ipv4 => Self::V4(Vec::new()),
            Family::Ipv6 => Self::V6(Vec::new()),
        };
        for addr in addrs {
            match (&mut out, addr) {
                (Self::V4(v), IpAddr::V4(a)) => v.push(a),
                (Self::V6(v), IpAddr::V6(a)) => v.push(a),
                _ => return None,
            }
        }
        Some(out)
    }
}
