//! Newtypes that make invalid protocol values unrepresentable.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

/// Protocol version of a virtual router.
///
/// Serialized (`serde` feature) as its number, `2` or `3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// VRRPv2, [RFC 3768](https://www.rfc-editor.org/rfc/rfc3768): IPv4 only, whole-second
    /// intervals, optional simple-password authentication.
    V2,
    /// VRRPv3, [RFC 5798](https://www.rfc-editor.org/rfc/rfc5798): IPv4 and IPv6,
    /// centisecond intervals, no authentication.
    V3,
}

impl Version {
    /// The value of the 4-bit version field on the wire.
    #[must_use]
    pub const fn wire(self) -> u8 {
        match self {
            Self::V2 => 2,
            Self::V3 => 3,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VRRPv{}", self.wire())
    }
}

/// Address family of a virtual router.
///
/// Serialized (`serde` feature) as `"ipv4"` or `"ipv6"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Family {
    /// IPv4: multicast group 224.0.0.18.
    Ipv4,
    /// IPv6: multicast group ff02::12, VRRPv3 only.
    Ipv6,
}

impl Family {
    /// The family of an address.
    #[must_use]
    pub const fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => Self::Ipv4,
            IpAddr::V6(_) => Self::Ipv6,
        }
    }

    /// The VRRP multicast group of this family (RFC 5798 section 5.1.1.2 and 5.1.2.2).
    #[must_use]
    pub const fn multicast_group(self) -> IpAddr {
        match self {
            Self::Ipv4 => IpAddr::V4(crate::VRRP_GROUP_V4),
            Self::Ipv6 => IpAddr::V6(crate::VRRP_GROUP_V6),
        }
    }

    /// Size in bytes of one address of this family.
    #[must_use]
    pub const fn address_len(self) -> usize {
        match self {
            Self::Ipv4 => 4,
            Self::Ipv6 => 16,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ipv4 => "IPv4",
            Self::Ipv6 => "IPv6",
        })
    }
}

/// Virtual Router Identifier, 1 to 255 (RFC 5798 section 5.2.3).
///
/// Serialized (`serde` feature) as its number; deserializing 0 fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct Vrid(u8);

impl Vrid {
    /// A VRID, or `None` for 0, which no virtual router may use.
    #[must_use]
    pub const fn new(value: u8) -> Option<Self> {
        if value == 0 { None } else { Some(Self(value)) }
    }

    /// The numeric value, 1 to 255.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Vrid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A configured (base) priority, 1 to 255 (RFC 5798 section 5.2.4).
///
/// 255 marks the address owner, which never has its priority adjusted by tracked objects.
/// Priority 0 is not a configurable value: it only appears on the wire, meaning "the master
/// stopped", and is represented by [`crate::Advertisement::priority`] being 0.
///
/// Serialized (`serde` feature) as its number; deserializing 0 fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct Priority(u8);

impl Priority {
    /// The address owner's priority.
    pub const OWNER: Self = Self(255);
    /// The default priority of a backup router (RFC 5798 section 5.2.4).
    pub const DEFAULT: Self = Self(100);

    /// A priority, or `None` for 0.
    #[must_use]
    pub const fn new(value: u8) -> Option<Self> {
        if value == 0 { None } else { Some(Self(value)) }
    }

    /// The numeric value, 1 to 255.
    #[must_use]
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Whether this is the address owner's priority (255).
    #[must_use]
    pub const fn is_owner(self) -> bool {
        self.0 == 255
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A time interval in whole centiseconds, the unit of VRRPv3's Max Adver Int field.
///
/// Intervals are integer centiseconds; Skew_Time and Master_Down_Interval, which divide by
/// 256, are integer [`Micros`]. Floating point is never used. A VRRPv2 interval is a whole number of seconds, so it is a multiple of 100 here.
///
/// Serialized (`serde` feature) as the number of centiseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
pub struct Centis(pub u32);

impl Centis {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// Whole seconds.
    #[must_use]
    pub const fn from_secs(secs: u32) -> Self {
        Self(secs.saturating_mul(100))
    }

    /// The interval as a [`Duration`].
    #[must_use]
    pub const fn to_duration(self) -> Duration {
        Duration::from_millis(self.0 as u64 * 10)
    }

    /// The number of centiseconds.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Centis {
    /// Seconds without trailing zeros: `1s`, `1.5s`, `0.01s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (secs, centis) = (self.0 / 100, self.0 % 100);
        match centis {
            0 => write!(f, "{secs}s"),
            c if c % 10 == 0 => write!(f, "{secs}.{}s", c / 10),
            c => write!(f, "{secs}.{c:02}s"),
        }
    }
}

/// A duration in whole microseconds: the unit of Skew_Time and Master_Down_Interval.
///
/// RFC 5798 section 6.1 gives Skew_Time as `((256 - Priority) * Master_Adver_Interval) / 256`
/// without saying to truncate it to the centiseconds of the wire. Truncated to centiseconds,
/// the skew at a 10 ms interval is 0 for every priority and every Backup would take over at
/// the same instant; in microseconds (as keepalived computes it) two consecutive priorities
/// differ by at least 39 µs at the smallest interval, so the takeover order of the priorities
/// is kept at every legal interval. Integer arithmetic only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Micros(pub u64);

impl Micros {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// Microseconds per centisecond.
    pub const PER_CENTI: u64 = 10_000;

    /// Whole centiseconds, exactly.
    #[must_use]
    pub const fn from_centis(cs: Centis) -> Self {
        Self(cs.0 as u64 * Self::PER_CENTI)
    }

    /// The number of microseconds.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The interval as a [`Duration`].
    #[must_use]
    pub const fn to_duration(self) -> Duration {
        Duration::from_micros(self.0)
    }
}

impl From<Centis> for Micros {
    fn from(cs: Centis) -> Self {
        Self::from_centis(cs)
    }
}

impl fmt::Display for Micros {
    /// Seconds without trailing zeros: `3.609375s`, `0.069062s`, `1s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (secs, micros) = (self.0 / 1_000_000, self.0 % 1_000_000);
        if micros == 0 {
            return write!(f, "{secs}s");
        }
        let mut fraction = micros;
        let mut width = 6;
        while fraction % 10 == 0 {
            fraction /= 10;
            width -= 1;
        }
        write!(f, "{secs}.{fraction:0width$}s")
    }
}

/// An advertisement interval: 1 to 4095 centiseconds for VRRPv3 (0.01 to 40.95 s, RFC 5798
/// section 5.2.7), or 1 to 255 whole seconds for VRRPv2 (RFC 3768 section 5.3.7).
///
/// The constructor checks the range that both versions share (1 to 25500 centiseconds);
/// the per-version limits are checked when an [`InstanceConfig`](crate::InstanceConfig) is
/// built, because they depend on the version.
///
/// Serialized (`serde` feature) as the number of centiseconds; deserializing 0 or more than
/// 25500 fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct Interval(u16);

impl Interval {
    /// The largest VRRPv3 interval, 40.95 s.
    pub const MAX_V3: Self = Self(4095);
    /// The largest VRRPv2 interval, 255 s.
    pub const MAX_V2: Self = Self(25_500);
    /// One second, the default of both versions.
    pub const ONE_SECOND: Self = Self(100);

    /// An interval of `cs` centiseconds, or `None` if it is 0 or above 255 s.
    #[must_use]
    pub const fn from_centis(cs: u16) -> Option<Self> {
        if cs == 0 || cs > Self::MAX_V2.0 {
            None
        } else {
            Some(Self(cs))
        }
    }

    /// An interval of whole seconds, or `None` if it is 0 or above 255.
    #[must_use]
    pub const fn from_secs(secs: u8) -> Option<Self> {
        if secs == 0 {
            None
        } else {
            // 255 * 100 = 25500 fits in u16.
            Some(Self(secs as u16 * 100))
        }
    }

    /// The interval in centiseconds.
    #[must_use]
    pub const fn centis(self) -> u16 {
        self.0
    }

    /// The interval as [`Centis`] for timer arithmetic.
    #[must_use]
    pub const fn as_centis(self) -> Centis {
        Centis(self.0 as u32)
    }

    /// The interval in [`Micros`], for Skew_Time and Master_Down_Interval.
    #[must_use]
    pub const fn as_micros(self) -> Micros {
        Micros(self.0 as u64 * Micros::PER_CENTI)
    }

    /// Whether this interval can be carried by `version` (v2: whole seconds up to 255;
    /// v3: up to 4095 centiseconds).
    #[must_use]
    pub const fn fits(self, version: Version) -> bool {
        match version {
            Version::V2 => self.0.is_multiple_of(100),
            Version::V3 => self.0 <= Self::MAX_V3.0,
        }
    }
}

impl Default for Interval {
    fn default() -> Self {
        Self::ONE_SECOND
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_centis().fmt(f)
    }
}

/// `Deserialize` for the types whose values are checked: through their constructors, so that
/// no invalid value can be deserialized. `Version` is its wire number both ways.
#[cfg(feature = "serde")]
mod serde_impls {
    use serde::de::{Deserialize, Deserializer, Error as _};
    use serde::ser::{Serialize, Serializer};

    use super::{Interval, Priority, Version, Vrid};

    impl Serialize for Version {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_u8(self.wire())
        }
    }

    impl<'de> Deserialize<'de> for Version {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            match u8::deserialize(deserializer)? {
                2 => Ok(Self::V2),
                3 => Ok(Self::V3),
                n => Err(D::Error::custom(format_args!(
                    "VRRP version {n} does not exist: give 2 or 3"
                ))),
            }
        }
    }

    impl<'de> Deserialize<'de> for Vrid {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            Self::new(u8::deserialize(deserializer)?)
                .ok_or_else(|| D::Error::custom("VRID 0 is invalid: give 1 to 255"))
        }
    }

    impl<'de> Deserialize<'de> for Priority {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            Self::new(u8::deserialize(deserializer)?)
                .ok_or_else(|| D::Error::custom("priority 0 is invalid: give 1 to 255"))
        }
    }

    impl<'de> Deserialize<'de> for Interval {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let cs = u16::deserialize(deserializer)?;
            Self::from_centis(cs).ok_or_else(|| {
                D::Error::custom(format_args!(
                    "interval of {cs} centiseconds is invalid: give 1 to 25500"
                ))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_unrepresentable() {
        assert_eq!(Vrid::new(0), None);
        assert_eq!(Priority::new(0), None);
        assert_eq!(Interval::from_centis(0), None);
        assert_eq!(Interval::from_secs(0), None);
        assert_eq!(Interval::from_centis(25_501), None);
        assert_eq!(Vrid::new(255).map(Vrid::get), Some(255));
    }

    #[test]
    fn micros_convert_and_display_without_trailing_zeros() {
        assert_eq!(Micros::from(Centis(1)), Micros(10_000));
        assert_eq!(Interval::MAX_V3.as_micros(), Micros(40_950_000));
        assert_eq!(Micros(36_093).to_duration(), Duration::from_micros(36_093));
        assert_eq!(Micros(3_609_375).to_string(), "3.609375s");
        assert_eq!(Micros(30_078).to_string(), "0.030078s");
        assert_eq!(Micros(2_500_000).to_string(), "2.5s");
        assert_eq!(Micros(7_000_000).to_string(), "7s");
        assert_eq!(Micros::ZERO.to_string(), "0s");
    }

    #[test]
    fn interval_fits_version() {
        let v = Interval::from_centis(150).unwrap();
        assert!(v.fits(Version::V3));
        assert!(!v.fits(Version::V2));
        let five = Interval::from_secs(41).unwrap();
        assert!(five.fits(Version::V2));
        assert!(!five.fits(Version::V3));
        assert_eq!(Centis(1234).to_string(), "12.34s");
        assert_eq!(Centis(5).to_duration(), Duration::from_millis(50));
    }
}
