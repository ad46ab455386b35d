//! The user and group a program vipd starts runs as: keepalived's `script_user` and a
//! `vrrp_script`'s `user`, for exec checks here and for vipd's notify hooks.
//!
//! ```yaml
//! run_as: {user: nobody}                    # the user's own group (from /etc/passwd)
//! run_as: {user: vipd-script, group: vipd}  # names, looked up when the config is validated
//! run_as: {user: 65534, group: 65534}       # ids: no lookup (a scratch image has no /etc/passwd)
//! ```
//!
//! Names are resolved once, at validation, into a [`RunAs`] of numeric ids; an unknown name is
//! a configuration error naming the field. The program then starts with that uid and gid and
//! no supplementary groups (keepalived gives its scripts the one group too). When vipd runs as
//! root and the uid is not 0, the kernel clears the program's permitted, effective and ambient
//! capabilities as the uid changes (capabilities(7)), so it runs with none. Switching needs
//! `CAP_SETUID` and `CAP_SETGID`; without them the program is not started at all (the spawn
//! fails), it never runs as vipd's own user instead.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::FieldError;

/// A user or group as written: a name, or a numeric id (a string of digits is an id too).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NameOrId {
    /// A numeric uid or gid.
    Id(u32),
    /// A name from the user or group database.
    Name(String),
}

impl NameOrId {
    /// The id, when written as a number or a string of digits.
    fn id(&self) -> Option<u32> {
        match self {
            Self::Id(id) => Some(*id),
            Self::Name(name) => name.parse().ok(),
        }
    }
}

impl fmt::Display for NameOrId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Name(name) => write!(f, "{name:?}"),
        }
    }
}

impl Serialize for NameOrId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Id(id) => s.serialize_u32(*id),
            Self::Name(name) => s.serialize_str(name),
        }
    }
}

struct NameOrIdVisitor;

impl Visitor<'_> for NameOrIdVisitor {
    type Value = NameOrId;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a user or group name, or a numeric id from 0 to 4294967294")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<NameOrId, E> {
        u32::try_from(v)
            .ok()
            .filter(|&id| id != u32::MAX)
            .map(NameOrId::Id)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<NameOrId, E> {
        u64::try_from(v)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            .and_then(|v| self.visit_u64(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NameOrId, E> {
        if v.is_empty() || v.contains('\0') {
            return Err(E::invalid_value(de::Unexpected::Str(v), &self));
        }
        Ok(NameOrId::Name(v.to_owned()))
    }
}

impl<'de> Deserialize<'de> for NameOrId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NameOrIdVisitor)
    }
}

/// `run_as:` (and vipd's `script_user:`) as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunAsSpec {
    /// The user: a name or a uid.
    pub user: NameOrId,
    /// The group: a name or a gid; default the user's group in `/etc/passwd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<NameOrId>,
}

/// A resolved user and group to run a program as.
///
/// Names are resolved once, at validation ([`RunAsSpec::resolve`]); an unknown name is a
/// configuration error naming the field. The program then starts with this uid and gid and no
/// supplementary groups (keepalived gives its scripts the one group too). When the daemon runs
/// as root and the uid is not 0, the kernel clears the program's permitted, effective and
/// ambient capabilities as the uid changes (capabilities(7)), so it runs with none; its
/// bounding set is the daemon's. Switching needs `CAP_SETUID` and `CAP_SETGID`: without them
/// the program is not started at all (the spawn fails), it never runs as the daemon's user
/// instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunAs {
    /// The uid.
    pub uid: u32,
    /// The gid, which is also the only group.
    pub gid: u32,
}

impl fmt::Display for RunAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uid {} gid {}", self.uid, self.gid)
    }
}

impl RunAs {
    /// The spec that resolves to this without looking anything up (ids).
    #[must_use]
    pub const fn to_spec(self) -> RunAsSpec {
        RunAsSpec {
            user: NameOrId::Id(self.uid),
            group: Some(NameOrId::Id(self.gid)),
        }
    }

    /// Makes `command` start as this user and group, with no supplementary groups.
    pub fn apply(self, command: &mut tokio::process::Command) {
        // std sets the gid, clears the supplementary groups (when running as root) and sets
        // the uid, in that order, in the child before exec.
        command.uid(self.uid).gid(self.gid);
    }
}

impl RunAsSpec {
    /// The ids: names looked up in the user and group databases, and the user's own group
    /// when none is given. Ids given as numbers need no lookup, except a uid without a group
    /// (its group comes from `/etc/passwd`).
    ///
    /// # Errors
    /// A [`FieldError`] whose field is `user` or `group` (prefix it with where the spec is):
    /// an unknown name, or a uid without a group that has no `/etc/passwd` entry.
    pub fn resolve(&self) -> Result<RunAs, FieldError> {
        use nix::unistd::{Group, Uid, User};
        let lookup_error = |field: &str, e: nix::Error| {
            FieldError::new(field, format!("cannot read the {field} database: {e}"))
        };
        let (uid, user_gid) = if let Some(uid) = self.user.id() {
            let entry = if self.group.is_some() {
                None
            } else {
                User::from_uid(Uid::from_raw(uid)).map_err(|e| lookup_error("user", e))?
            };
            (uid, entry.map(|u| u.gid.as_raw()))
        } else {
            let NameOrId::Name(name) = &self.user else {
                unreachable!("a NameOrId without an id is a name")
            };
            let user = User::from_name(name)
                .map_err(|e| lookup_error("user", e))?
                .ok_or_else(|| {
                    FieldError::new(
                        "user",
                        format!(
                            "no user {name:?} on this machine (see /etc/passwd): create it, \
                             or give a numeric uid and gid (user: 65534, group: 65534)"
                        ),
                    )
                })?;
            (user.uid.as_raw(), Some(user.gid.as_raw()))
        };
        let gid = match &self.group {
            Some(group) => match group.id() {
                Some(gid) => gid,
                None => {
                    let NameOrId::Name(name) = group else {
                        unreachable!("a NameOrId without an id is a name")
                    };
                    Group::from_name(name)
                        .map_err(|e| lookup_error("group", e))?
                        .map(|g| g.gid.as_raw())
                        .ok_or_else(|| {
                            FieldError::new(
                                "group",
                                format!(
                                    "no group {name:?} on this machine (see /etc/group): \
                                     create it, or give a numeric gid"
                                ),
                            )
                        })?
                }
            },
            None => user_gid.ok_or_else(|| {
                FieldError::new(
                    "group",
                    format!(
                        "uid {uid} has no entry in /etc/passwd, so its group is unknown: give \
                         one (e.g. group: {uid})"
                    ),
                )
            })?,
        };
        Ok(RunAs { uid, gid })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> RunAsSpec {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn ids_need_no_lookup_and_names_resolve() {
        assert_eq!(
            spec("{user: 4000000, group: 4000001}").resolve().unwrap(),
            RunAs {
                uid: 4_000_000,
                gid: 4_000_001
            }
        );
        assert_eq!(
            spec("{user: '65534', group: '65534'}").resolve().unwrap(),
            RunAs {
                uid: 65534,
                gid: 65534
            }
        );
        // root is in every /etc/passwd, with group 0.
        assert_eq!(
            spec("{user: root}").resolve().unwrap(),
            RunAs { uid: 0, gid: 0 }
        );
        let r = RunAs { uid: 7, gid: 8 };
        assert_eq!(r.to_spec().resolve().unwrap(), r);
    }

    #[test]
    fn unknown_names_and_groupless_uids_are_named() {
        let e = spec("{user: no-such-user-vipd}").resolve().unwrap_err();
        assert_eq!(e.field, "user");
        assert!(e.message.contains("no user \"no-such-user-vipd\""), "{e}");
        let e = spec("{user: root, group: no-such-group-vipd}")
            .resolve()
            .unwrap_err();
        assert_eq!(e.field, "group");
        assert!(e.message.contains("no group \"no-such-group-vipd\""), "{e}");
        let e = spec("{user: 4000000}").resolve().unwrap_err();
        assert_eq!(e.field, "group");
        assert!(e.message.contains("uid 4000000 has no entry"), "{e}");
    }

    #[test]
    fn bad_shapes_are_refused() {
        for bad in [
            "{user: -1}",
            "{user: 4294967295}",
            "{user: ''}",
            "{group: 1}",
        ] {
            assert!(
                serde_yaml_ng::from_str::<RunAsSpec>(bad).is_err(),
                "{bad} accepted"
            );
        }
        let e = serde_yaml_ng::from_str::<RunAsSpec>("{user: root, uid: 1}").unwrap_err();
        assert!(e.to_string().contains("unknown field `uid`"), "{e}");
    }
}
