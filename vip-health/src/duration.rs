//! [`ConfigDuration`]: the one duration type of the project's configuration files.
//!
//! Every duration a configuration file holds is written and read with it: the health checks'
//! intervals, timeouts and damping times, and vipd's advert intervals, delays and lifetimes
//! (vipd adds `forever` on top with [`ConfigDurationVisitor`]). One grammar, one set of error
//! messages: `500ms`, `2s`, `1.5s`, `1m`, `1h`, or a plain number of seconds (`2`, which is
//! what the seed charts pass).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A configuration duration with millisecond resolution; the field is the number of
/// milliseconds.
///
/// Deserializes from a string with a unit (`ms`, `s`, `m`, `h`; decimals allowed, e.g. `1.5s`) or
/// from a plain non-negative number, which counts seconds; anything else is refused with a
/// message containing "is not a duration" and the accepted forms. Displays (and serializes)
/// as the shortest string with a unit: `500ms`, `2s`, `1.5s`, `2m`, `1h`. Ordered by length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ConfigDuration(pub u64);

impl ConfigDuration {
    /// A duration of `ms` milliseconds.
    #[must_use]
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// A duration of `secs` whole seconds.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// The duration in milliseconds.
    #[must_use]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// As a [`std::time::Duration`].
    #[must_use]
    pub const fn to_duration(self) -> Duration {
        Duration::from_millis(self.0)
    }

    /// The duration in centiseconds (VRRP's unit for intervals on the wire), or `None` if it is
    /// not a whole number of them or does not fit in a `u32`.
    #[must_use]
    pub fn to_centis(self) -> Option<u32> {
        if !self.0.is_multiple_of(10) {
            return None;
        }
        u32::try_from(self.0 / 10).ok()
    }

    /// Parses the textual form; see the type documentation.
    ///
    /// # Errors
    /// A message saying what is accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (number, unit_ms): (&str, u64) = if let Some(n) = t.strip_suffix("ms") {
            (n, 1)
        } else if let Some(n) = t.strip_suffix('s') {
            (n, 1000)
        } else if let Some(n) = t.strip_suffix('m') {
            (n, 60_000)
        } else if let Some(n) = t.strip_suffix('h') {
            (n, 3_600_000)
        } else {
            (t, 1000)
        };
        parse_scaled(number.trim(), unit_ms).ok_or_else(|| {
            format!(
                "`{text}` is not a duration: write e.g. `500ms`, `2s`, `1.5s`, `1m`, or a plain \
                 number of seconds"
            )
        })
    }
}

/// `number` (digits with an optional fraction) times `unit_ms`, in whole milliseconds.
fn parse_scaled(number: &str, unit_ms: u64) -> Option<ConfigDuration> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole_value: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut ms = whole_value.checked_mul(unit_ms)?;
    // The fraction, scaled by the unit; digits beyond millisecond precision must be zero.
    let mut scale = unit_ms;
    for digit in frac.bytes() {
        let d = u64::from(digit - b'0');
        if !scale.is_multiple_of(10) {
            if d != 0 {
                return None;
            }
            continue;
        }
        scale /= 10;
        ms = ms.checked_add(d.checked_mul(scale)?)?;
    }
    Some(ConfigDuration(ms))
}

impl fmt::Display for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms != 0 && ms.is_multiple_of(3_600_000) {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms != 0 && ms.is_multiple_of(60_000) {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else if ms > 1000 {
            let text = format!("{}.{:03}", ms / 1000, ms % 1000);
            write!(f, "{}s", text.trim_end_matches('0'))
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl FromStr for ConfigDuration {
    type Err = String;

    /// As [`ConfigDuration::parse`].
    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The serde visitor of [`ConfigDuration`]: a string with a unit, or a plain non-negative
/// number of seconds.
///
/// Public so that a type which accepts a duration *or* something else can delegate the
/// duration forms to it; e.g. vipd's lifetime, a duration or `forever`:
///
/// ```
/// use serde::de::{self, Visitor};
/// use vip_health::duration::{ConfigDuration, ConfigDurationVisitor};
///
/// enum Lifetime {
///     Forever,
///     After(ConfigDuration),
/// }
///
/// struct LifetimeVisitor;
///
/// impl Visitor<'_> for LifetimeVisitor {
///     type Value = Lifetime;
///     fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("a duration such as 5s, or forever")
///     }
///     fn visit_u64<E: de::Error>(self, v: u64) -> Result<Lifetime, E> {
///         ConfigDurationVisitor.visit_u64(v).map(Lifetime::After)
///     }
///     fn visit_str<E: de::Error>(self, v: &str) -> Result<Lifetime, E> {
///         if v.trim().eq_ignore_ascii_case("forever") {
///             Ok(Lifetime::Forever)
///         } else {
///             ConfigDurationVisitor.visit_str(v).map(Lifetime::After)
///         }
///     }
/// }
///
/// let forever = serde_json::Value::from("forever");
/// assert!(matches!(
///     serde::Deserializer::deserialize_any(forever, LifetimeVisitor),
///     Ok(Lifetime::Forever)
/// ));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigDurationVisitor;

impl Visitor<'_> for ConfigDurationVisitor {
    type Value = ConfigDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as `500ms`, `2s`, `1m`, or a number of seconds")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ConfigDuration, E> {
        v.checked_mul(1000)
            .map(ConfigDuration)
            .ok_or_else(|| E::custom("duration too long"))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ConfigDuration, E> {
        let v = u64::try_from(v).map_err(|_| E::custom("a duration cannot be negative"))?;
        self.visit_u64(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ConfigDuration, E> {
        ConfigDuration::parse(&v.to_string()).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ConfigDuration, E> {
        ConfigDuration::parse(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ConfigDurationVisitor)
    }
}

/// A [`Duration`] as configuration writes it (`500ms`, `2s`), to the millisecond.
pub(crate) fn display_duration(d: Duration) -> String {
    to_config_duration(d).to_string()
}

/// Serializes a [`Duration`] the way configuration writes it (`500ms`, `2s`).
pub(crate) fn serialize_std_duration<S: Serializer>(
    d: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&display_duration(*d))
}

/// A [`Duration`] as a [`ConfigDuration`], to the millisecond (saturating).
pub(crate) fn to_config_duration(d: Duration) -> ConfigDuration {
    ConfigDuration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::ConfigDuration;

    #[test]
    fn parses_units_and_plain_seconds() {
        let cases = [
            ("500ms", 500),
            ("2s", 2000),
            ("1.5s", 1500),
            ("1m", 60_000),
            ("1h", 3_600_000),
            ("2", 2000),
            ("0.25", 250),
            (" 3s ", 3000),
            ("0.001s", 1),
        ];
        for (text, ms) in cases {
            assert_eq!(
                ConfigDuration::parse(text),
                Ok(ConfigDuration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_garbage_and_sub_millisecond_precision() {
        for text in ["", "s", "abc", "-1s", "1.0001s", "1x", "1.2.3s", "ms"] {
            let err = ConfigDuration::parse(text).expect_err(text);
            assert!(err.contains("is not a duration"), "{err}");
        }
    }

    #[test]
    fn displays_round_trip() {
        for ms in [0, 1, 500, 1000, 1500, 2000, 60_000, 90_000, 3_600_000] {
            let d = ConfigDuration::from_millis(ms);
            assert_eq!(ConfigDuration::parse(&d.to_string()), Ok(d), "{d}");
        }
        assert_eq!(ConfigDuration::from_millis(1500).to_string(), "1.5s");
        assert_eq!(ConfigDuration::from_millis(300_000).to_string(), "5m");
    }

    #[test]
    fn what_vipd_needs() {
        assert_eq!("1.5s".parse(), Ok(ConfigDuration(1500)));
        assert_eq!(ConfigDuration::from_secs(2).as_millis(), 2000);
        assert_eq!(ConfigDuration(150).to_centis(), Some(15));
        assert_eq!(
            ConfigDuration(15).to_centis(),
            None,
            "not whole centiseconds"
        );
        assert_eq!(
            ConfigDuration(u64::MAX / 10 * 10).to_centis(),
            None,
            "too long"
        );
        assert_eq!(
            ConfigDuration(1500).to_duration(),
            std::time::Duration::from_millis(1500)
        );
        assert!(ConfigDuration(500) < ConfigDuration::from_secs(1));
    }

    #[test]
    fn deserializes_numbers_as_seconds_and_strings_with_units() {
        let from = |v: serde_json::Value| serde_json::from_value::<ConfigDuration>(v);
        assert_eq!(from(2.into()).unwrap(), ConfigDuration(2000));
        assert_eq!(from(0.5.into()).unwrap(), ConfigDuration(500));
        assert_eq!(from("1m".into()).unwrap(), ConfigDuration(60_000));
        let negative = from((-1).into()).unwrap_err().to_string();
        assert!(negative.contains("cannot be negative"), "{negative}");
        let text = from("soon".into()).unwrap_err().to_string();
        assert!(text.contains("is not a duration"), "{text}");
    }
}
