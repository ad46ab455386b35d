//! Durations in configuration files: `1s`, `500ms`, `1.5s`, `2m`, a bare number of seconds,
//! or `forever` where the field allows it.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use vrrp_core::Centis;

/// A duration as written in the configuration, kept in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u64);

impl Millis {
    /// Whole seconds.
    #[must_use]
    pub const fn from_secs(secs: u64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// The duration in centiseconds, or `None` if it is not a whole number of them or too long.
    #[must_use]
    pub fn to_centis(self) -> Option<Centis> {
        if !self.0.is_multiple_of(10) {
            return None;
        }
        u32::try_from(self.0 / 10).ok().map(Centis)
    }

    /// As a [`std::time::Duration`].
    #[must_use]
    pub const fn to_duration(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else if ms >= 1000 {
            let text = format!("{}.{:03}", ms / 1000, ms % 1000);
            write!(f, "{}s", text.trim_end_matches('0'))
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// Parses `500ms`, `1s`, `1.25s`, `2m`, `1h`, or a bare number of seconds (`1`, `0.5`).
///
/// # Errors
/// A message saying what is accepted.
pub fn parse_millis(text: &str) -> Result<Millis, String> {
    // One grammar for every duration of the file, the health checks' included.
    vip_health::ConfigDuration::parse(text).map(|d| Millis(d.as_millis()))
}

struct MillisVisitor;

impl Visitor<'_> for MillisVisitor {
    type Value = Millis;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 500ms, 1s or 1.5s, or a number of seconds")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Millis, E> {
        v.checked_mul(1000)
            .map(Millis)
            .ok_or_else(|| E::custom("duration too long"))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Millis, E> {
        u64::try_from(v)
            .map_err(|_| E::custom(format!("{v} is negative: durations are positive")))
            .and_then(|v| self.visit_u64(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Millis, E> {
        parse_millis(&v.to_string()).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Millis, E> {
        parse_millis(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MillisVisitor)
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A lifetime: a duration or `forever`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lifetime {
    /// Never expires.
    Forever,
    /// Expires after this long unless renewed.
    After(Millis),
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Forever => f.write_str("forever"),
            Self::After(d) => d.fmt(f),
        }
    }
}

impl<'de> Deserialize<'de> for Lifetime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LifetimeVisitor;
        impl Visitor<'_> for LifetimeVisitor {
            type Value = Lifetime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 5s, or forever")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Lifetime, E> {
                MillisVisitor.visit_u64(v).map(Lifetime::After)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Lifetime, E> {
                MillisVisitor.visit_i64(v).map(Lifetime::After)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Lifetime, E> {
                MillisVisitor.visit_f64(v).map(Lifetime::After)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Lifetime, E> {
                if v.trim().eq_ignore_ascii_case("forever") {
                    Ok(Lifetime::Forever)
                } else {
                    MillisVisitor.visit_str(v).map(Lifetime::After)
                }
            }
        }
        d.deserialize_any(LifetimeVisitor)
    }
}

impl Serialize for Lifetime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        for (text, ms) in [
            ("1s", 1000),
            ("500ms", 500),
            ("1.5s", 1500),
            ("0.01s", 10),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("3", 3000),
            ("0.25", 250),
            (" 40.95s ", 40_950),
        ] {
            assert_eq!(parse_millis(text), Ok(Millis(ms)), "{text}");
        }
        for bad in ["", "s", "1x", "-1s", "1.0001s", "abc", "1..2s"] {
            assert!(parse_millis(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn displays_round_trip() {
        for ms in [10, 500, 1000, 1500, 40_950, 120_000] {
            let shown = Millis(ms).to_string();
            assert_eq!(parse_millis(&shown), Ok(Millis(ms)), "{shown}");
        }
        assert_eq!(Millis(1500).to_string(), "1.5s");
        assert_eq!(Millis(15).to_centis(), None);
        assert_eq!(Millis(150).to_centis(), Some(Centis(15)));
    }
}
