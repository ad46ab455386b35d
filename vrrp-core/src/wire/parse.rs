//! The nom parsers, private to the crate: callers see only
//! [`Advertisement::parse`](super::Advertisement::parse).

use std::net::{Ipv4Addr, Ipv6Addr};

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16, be_u32, be_u128};

use super::auth::{AUTH_TYPE_NONE, AUTH_TYPE_PASS};
use super::{Addresses, Auth, Password, V2_AUTH_LEN, WireError};
use crate::types::{Family, Interval, Version};

/// The fields after the version, type and VRID.
pub(super) struct Body {
    pub(super) priority: u8,
    pub(super) interval: Interval,
    pub(super) auth: Auth,
    pub(super) addresses: Addresses,
}

fn v4(input: &[u8]) -> IResult<&[u8], Ipv4Addr> {
    be_u32.map(Ipv4Addr::from).parse(input)
}

fn v6(input: &[u8]) -> IResult<&[u8], Ipv6Addr> {
    be_u128.map(Ipv6Addr::from).parse(input)
}

/// `n` items of `item` into `out` (cleared first; no allocation when its capacity suffices).
fn fill<'a, T>(
    mut rest: &'a [u8],
    n: usize,
    item: fn(&'a [u8]) -> IResult<&'a [u8], T>,
    mut out: Vec<T>,
) -> IResult<&'a [u8], Vec<T>> {
    out.clear();
    out.reserve(n);
    for _ in 0..n {
        let (next, value) = item(rest)?;
        out.push(value);
        rest = next;
    }
    Ok((rest, out))
}

/// Parses a message whose length matches its address count, of `version` and `family`,
/// into the address list `reuse` (whose allocation is kept when it is of `family`).
pub(super) fn body(
    message: &[u8],
    version: Version,
    family: Family,
    reuse: Addresses,
) -> Result<Body, WireError> {
    let (rest, (_vt, _vrid, priority, n, word, _checksum)) =
        (be_u8, be_u8, be_u8, be_u8, be_u16, be_u16)
            .parse(message)
            .map_err(
                |_: nom::Err<nom::error::Error<&[u8]>>| WireError::TooShort { len: message.len() },
            )?;
    // `Advertisement::parse` checked the length against the count; the nom parsers below
    // cannot run short, but report a length error rather than panic if they ever did.
    let expected = super::expected_len(version, family, n);
    let n = usize::from(n);
    let length = |_: nom::Err<nom::error::Error<&[u8]>>| WireError::Length {
        expected,
        actual: message.len(),
    };
    let (rest, addresses) = match family {
        Family::Ipv4 => {
            let out = match reuse {
                Addresses::V4(v) => v,
                Addresses::V6(_) => Vec::new(),
            };
            fill(rest, n, v4, out).map(|(r, v)| (r, Addresses::V4(v)))
        }
        Family::Ipv6 => {
            let out = match reuse {
                Addresses::V6(v) => v,
                Addresses::V4(_) => Vec::new(),
            };
            fill(rest, n, v6, out).map(|(r, v)| (r, Addresses::V6(v)))
        }
    }
    .map_err(length)?;
    let [hi, lo] = word.to_be_bytes();
    let (interval, auth) = match version {
        Version::V2 => {
            let (_, data) = take(V2_AUTH_LEN).parse(rest).map_err(length)?;
            let mut raw = [0u8; V2_AUTH_LEN];
            raw.copy_from_slice(data);
            let auth = match hi {
                AUTH_TYPE_NONE => Auth::None,
                AUTH_TYPE_PASS => Auth::Password(Password(raw)),
                auth_type => Auth::Unsupported {
                    auth_type,
                    data: raw,
                },
            };
            (Interval::from_secs(lo), auth)
        }
        // The top 4 bits are reserved: ignored on receipt (RFC 5798 section 5.2.6).
        Version::V3 => (Interval::from_centis(word & 0x0fff), Auth::None),
    };
    let interval = interval.ok_or(WireError::ZeroInterval)?;
    Ok(Body {
        priority,
        interval,
        auth,
        addresses,
    })
}
