//! The kernel lifetime of vipd's VIPs in the configuration file: a duration or `forever`.
//!
//! Durations themselves (`1s`, `500ms`, `1.5s`, `2m`, a bare number of seconds) are the
//! project's one configuration duration, [`ConfigDuration`] from `vip-health`.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
pub use vip_health::duration::ConfigDuration;
use vip_health::duration::ConfigDurationVisitor;

/// How long the kernel keeps a VIP unless vipd renews it: a duration, or `forever`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VipLifetime {
    /// Never expires.
    Forever,
    /// Expires after this long unless renewed.
    After(ConfigDuration),
}

impl fmt::Display for VipLifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Forever => f.write_str("forever"),
            Self::After(d) => d.fmt(f),
        }
    }
}

impl<'de> Deserialize<'de> for VipLifetime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LifetimeVisitor;
        impl Visitor<'_> for LifetimeVisitor {
            type Value = VipLifetime;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 5s, or forever")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<VipLifetime, E> {
                ConfigDurationVisitor.visit_u64(v).map(VipLifetime::After)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<VipLifetime, E> {
                ConfigDurationVisitor.visit_i64(v).map(VipLifetime::After)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<VipLifetime, E> {
                ConfigDurationVisitor.visit_f64(v).map(VipLifetime::After)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<VipLifetime, E> {
                if v.trim().eq_ignore_ascii_case("forever") {
                    Ok(VipLifetime::Forever)
                } else {
                    ConfigDurationVisitor.visit_str(v).map(VipLifetime::After)
                }
            }
        }
        d.deserialize_any(LifetimeVisitor)
    }
}

impl Serialize for VipLifetime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lifetime_is_a_duration_or_forever() {
        let parse = |yaml: &str| serde_yaml_ng::from_str::<VipLifetime>(yaml);
        assert_eq!(parse("forever").unwrap(), VipLifetime::Forever);
        assert_eq!(
            parse("5s").unwrap(),
            VipLifetime::After(ConfigDuration::from_secs(5))
        );
        assert_eq!(
            parse("3").unwrap(),
            VipLifetime::After(ConfigDuration::from_secs(3))
        );
        assert!(parse("soon").is_err());
        assert_eq!(VipLifetime::Forever.to_string(), "forever");
        assert_eq!(
            VipLifetime::After(ConfigDuration::from_secs(5)).to_string(),
            "5s"
        );
    }
}
