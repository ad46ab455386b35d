//! Reading the IPv4 header that a raw IPv4 socket delivers in front of every VRRP message.
//!
//! The header length comes from the IHL field: options make it longer than 20 bytes, and
//! assuming 20 would hand the wrong bytes to the VRRP parser.

use std::net::{IpAddr, Ipv4Addr};

use vrrp_core::Received;

/// Why a datagram is not a usable IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// Shorter than the minimum or the declared header.
    #[error("datagram of {len} bytes is shorter than its IPv4 header")]
    Truncated {
        /// Bytes received.
        len: usize,
    },
    /// The version field is not 4.
    #[error("IP version {0} is not 4")]
    NotIpv4(u8),
    /// IHL below 5 words.
    #[error("IPv4 header length {0} words is below the minimum of 5")]
    BadIhl(u8),
    /// The total length field exceeds the datagram.
    #[error("IPv4 total length {total} exceeds the {len} bytes received")]
    BadTotalLength {
        /// The total length field.
        total: usize,
        /// Bytes received.
        len: usize,
    },
}

/// Splits a datagram read from a raw IPv4 socket into what [`vrrp_core`] needs: source,
/// destination, TTL and the payload after a header of the length IHL gives, up to the total
/// length (dropping any link-layer padding).
///
/// # Errors
/// [`HeaderError`] for anything that is not a whole IPv4 packet.
pub fn split(datagram: &[u8]) -> Result<Received<'_>, HeaderError> {
    let truncated = HeaderError::Truncated {
        len: datagram.len(),
    };
    let fixed: &[u8; 20] = datagram
        .get(..20)
        .and_then(|h| h.try_into().ok())
        .ok_or(truncated)?;
    let [
        vihl,
        _tos,
        tl0,
        tl1,
        _,
        _,
        _,
        _,
        ttl,
        _proto,
        _,
        _,
        s0,
        s1,
        s2,
        s3,
        d0,
        d1,
        d2,
        d3,
    ] = *fixed;
    if vihl >> 4 != 4 {
        return Err(HeaderError::NotIpv4(vihl >> 4));
    }
    let ihl = vihl & 0x0f;
    if ihl < 5 {
        return Err(HeaderError::BadIhl(ihl));
    }
    let header_len = usize::from(ihl) * 4;
    let total = usize::from(u16::from_be_bytes([tl0, tl1]));
    if total > datagram.len() {
        return Err(HeaderError::BadTotalLength {
            total,
            len: datagram.len(),
        });
    }
    let payload = datagram.get(header_len..total).ok_or(truncated)?;
    Ok(Received {
        src: IpAddr::V4(Ipv4Addr::new(s0, s1, s2, s3)),
        dst: IpAddr::V4(Ipv4Addr::new(d0, d1, d2, d3)),
        hop_limit: ttl,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// keepalived 2.2.7's VRRPv3 advert for 10.99.0.100 as captured, IP header included.
    const CAPTURED: &str = "45c0002000010000ff70d02c0a63000be000001231339601006442a30a630064";

    fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn splits_a_captured_advert() {
        let pkt = bytes(CAPTURED);
        let rx = split(&pkt).unwrap();
        assert_eq!(rx.src, IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11)));
        assert_eq!(rx.dst, IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)));
        assert_eq!(rx.hop_limit, 255);
        assert_eq!(rx.payload, &pkt[20..]);
    }

    #[test]
    fn honours_ihl_with_options_and_drops_padding() {
        let plain = bytes(CAPTURED);
        // Same packet with a 4-byte router-alert option (IHL 6) and 6 bytes of padding.
        let mut pkt = plain[..20].to_vec();
        pkt[0] = 0x46;
        pkt[3] += 4;
        pkt.extend_from_slice(&[0x94, 0x04, 0x00, 0x00]);
        pkt.extend_from_slice(&plain[20..]);
        pkt.extend_from_slice(&[0; 6]);
        let rx = split(&pkt).unwrap();
        assert_eq!(rx.payload, &plain[20..]);
    }

    #[test]
    fn rejects_malformed_headers() {
        let pkt = bytes(CAPTURED);
        assert_eq!(
            split(&pkt[..19]).unwrap_err(),
            HeaderError::Truncated { len: 19 }
        );
        let mut v6 = pkt.clone();
        v6[0] = 0x65;
        assert_eq!(split(&v6).unwrap_err(), HeaderError::NotIpv4(6));
        let mut short_ihl = pkt.clone();
        short_ihl[0] = 0x44;
        assert_eq!(split(&short_ihl).unwrap_err(), HeaderError::BadIhl(4));
        let mut long = pkt.clone();
        long[3] = 0xff;
        assert!(matches!(
            split(&long).unwrap_err(),
            HeaderError::BadTotalLength { total: 255, .. }
        ));
        let mut huge_ihl = pkt;
        huge_ihl[0] = 0x4f;
        assert!(matches!(
            split(&huge_ihl).unwrap_err(),
            HeaderError::Truncated { .. }
        ));
    }
}
