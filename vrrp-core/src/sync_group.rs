//! Sync groups: instances of a [`Router`](crate::Router) that change state together, with the
//! semantics of keepalived's `vrrp_sync_group` (keepalived 2.2, `vrrp_sync.c`).
//!
//! [`Reason::SyncGroup`]: crate::Reason::SyncGroup
//! [`Reason::Recovered`]: crate::Reason::Recovered
//! [`Instance::own_fault`]: crate::Instance::own_fault
//!
//! The rules, each applied by the router after every input and command (before the first
//! [`poll_action`](crate::Router::poll_action) returns), in this order:
//!
//! 1. **Fault**: while any running member is itself ineligible ([`Instance::own_fault`]:
//!    link down, no primary address, a weight-0 tracked object down), the group is in Fault
//!    and so is every member: a Master resigns (priority-0 advert) and releases its
//!    addresses, a Backup goes to Fault, each with [`Reason::SyncGroup`].
//! 2. **Leaving Fault**: when no member is ineligible any more, every member leaves Fault
//!    together ([`Reason::Recovered`], into Backup) and the group is Backup.
//! 3. **Master**: a Backup whose Master_Down_Timer fires becomes Master only if the group is
//!    Master already or every other running member *wants* Master too (its own timer fired
//!    and it has heard no master since); otherwise it stays Backup, remembers that it wants
//!    Master and waits another Master_Down_Interval (keepalived prefers Backup "to avoid
//!    thrashing"). The member that passes makes the group Master and every other Backup
//!    member becomes Master at once ([`Reason::SyncGroup`]).
//! 4. **Backup**: when a member of a Master group goes Backup (it heard a higher-priority
//!    advert), the group goes Backup and every Master member goes Backup at once
//!    ([`Reason::SyncGroup`], no priority-0 advert).
//! 5. **Stop**: when every member is shut down, the group is in Initialize.
//!
//! Each change of the group's state is a [`GroupEvent`], drained with
//! [`Router::poll_group_event`](crate::Router::poll_group_event) (the daemon runs the group's
//! notify hooks from them). Group-level tracking (keepalived's `track_interface`,
//! `track_script`, `track_file` in a `vrrp_sync_group`) is configuration: give every member
//! the tracked object. keepalived ignores the weights of members' tracked objects unless
//! `sync_group_tracking_weight` is set (a weight would let members disagree); that too is the
//! caller's configuration ([`InstanceConfig::tracks`](crate::InstanceConfig::tracks)).

use std::collections::BTreeMap;
use std::time::Instant;

use crate::event::State;
use crate::instance::Instance;
use crate::router::InstanceKey;

/// A sync group as configured: a name and its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupConfig {
    /// The group's name (keepalived's `vrrp_sync_group NAME`), unique in a router.
    pub name: String,
    /// The member instances. keepalived accepts a group of one (and warns); so does this.
    pub members: Vec<InstanceKey>,
}

/// Why a sync group was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyncGroupError {
    /// The group has no members.
    #[error("sync group {name:?} has no members: list at least one instance")]
    Empty {
        /// The group.
        name: String,
    },
    /// A member is not an instance of the router.
    #[error(
        "sync group {name:?} names VRID {} ({}) on interface {}, which is not an instance here",
        .member.vrid, .member.family, .member.interface
    )]
    UnknownMember {
        /// The group.
        name: String,
        /// The member.
        member: InstanceKey,
    },
    /// A member is in another group already (or twice in this one).
    #[error(
        "VRID {} ({}) on interface {} is in sync groups {other:?} and {name:?}: an instance \
         belongs to one group at most",
        .member.vrid, .member.family, .member.interface
    )]
    MemberTaken {
        /// The group refused.
        name: String,
        /// The member.
        member: InstanceKey,
        /// The group it is in.
        other: String,
    },
    /// A group of this name exists.
    #[error("two sync groups are named {name:?}: each name may appear once")]
    Duplicate {
        /// The name.
        name: String,
    },
}

/// A sync group's state changed (keepalived runs the group's notify scripts then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEvent {
    /// The group's name.
    pub group: String,
    /// Previous state ([`State::Initialize`] before the first change).
    pub from: State,
    /// New state: [`State::Master`], [`State::Backup`], [`State::Fault`], or
    /// [`State::Initialize`] once every member has shut down (keepalived's `notify_stop`).
    pub to: State,
}

/// One group and its state.
#[derive(Debug, Clone)]
pub(crate) struct SyncGroup {
    pub(crate) config: SyncGroupConfig,
    pub(crate) state: State,
}

/// The groups of a router.
#[derive(Debug, Default)]
pub(crate) struct SyncGroups {
    groups: Vec<SyncGroup>,
    /// Member -> index of its group.
    member_of: BTreeMap<InstanceKey, usize>,
    events: std::collections::VecDeque<GroupEvent>,
}

impl SyncGroups {
    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &SyncGroup> {
        self.groups.iter()
    }

    pub(crate) fn group_of(&self, key: &InstanceKey) -> Option<&SyncGroup> {
        self.member_of.get(key).and_then(|&i| self.groups.get(i))
    }

    pub(crate) fn poll_event(&mut self) -> Option<GroupEvent> {
        self.events.pop_front()
    }

    /// Checks a whole set of groups against the router's instances.
    pub(crate) fn check(
        configs: &[SyncGroupConfig],
        instances: &BTreeMap<InstanceKey, Instance>,
    ) -> Result<(), SyncGroupError> {
        let mut taken: BTreeMap<InstanceKey, &str> = BTreeMap::new();
        for (i, group) in configs.iter().enumerate() {
            let name = group.name.clone();
            if configs.iter().take(i).any(|g| g.name == group.name) {
                return Err(SyncGroupError::Duplicate { name });
            }
            if group.members.is_empty() {
                return Err(SyncGroupError::Empty { name });
            }
            for member in &group.members {
                if !instances.contains_key(member) {
                    return Err(SyncGroupError::UnknownMember {
                        name,
                        member: *member,
                    });
                }
                if let Some(other) = taken.insert(*member, &group.name) {
                    return Err(SyncGroupError::MemberTaken {
                        name,
                        member: *member,
                        other: other.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Replaces the groups (checked with [`check`](Self::check)). Members of groups that go
    /// away are released (their group Fault cleared); kept groups (same name and members)
    /// keep their state; new ones start from their members' states at the next
    /// [`reconcile`](Self::reconcile).
    pub(crate) fn replace(
        &mut self,
        now: Instant,
        configs: Vec<SyncGroupConfig>,
        instances: &mut BTreeMap<InstanceKey, Instance>,
        touched: &mut Vec<InstanceKey>,
    ) {
        let mut old: Vec<SyncGroup> = std::mem::take(&mut self.groups);
        self.member_of.clear();
        for config in configs {
            let state = old
                .iter()
                .position(|g| g.config == config)
                .map_or(State::Initialize, |i| old.swap_remove(i).state);
            for member in &config.members {
                self.member_of.insert(*member, self.groups.len());
            }
            self.groups.push(SyncGroup { config, state });
        }
        for group in old {
            for key in &group.config.members {
                if let Some(instance) = instances.get_mut(key) {
                    instance.set_sync_hold(false);
                    instance.clear_sync_want();
                    instance.set_sync_fault(now, false);
                    touched.push(*key);
                }
            }
        }
        self.reconcile(now, instances, touched);
    }

    /// Whether the group of `key` holds it in Backup should its Master_Down_Timer fire now:
    /// the group is not Master and some other running member does not want Master.
    pub(crate) fn holds(
        &self,
        key: &InstanceKey,
        instances: &BTreeMap<InstanceKey, Instance>,
    ) -> bool {
        let Some(group) = self.group_of(key) else {
            return false;
        };
        group.state != State::Master
            && group.config.members.iter().any(|m| {
                m != key
                    && instances
                        .get(m)
                        .is_some_and(|i| i.is_started() && !i.sync_wants_master())
            })
    }

    /// Applies the rules of the module docs to every group until nothing changes; every
    /// member moved is pushed on `touched` (its actions are queued in the instance).
    pub(crate) fn reconcile(
        &mut self,
        now: Instant,
        instances: &mut BTreeMap<InstanceKey, Instance>,
        touched: &mut Vec<InstanceKey>,
    ) {
        for group in &mut self.groups {
            // Each pass moves the group at most once; three passes cover Fault -> Backup ->
            // Master (an owner leaving Fault).
            for _ in 0..4 {
                let Some(to) = step(now, group, instances, touched) else {
                    break;
                };
                self.events.push_back(GroupEvent {
                    group: group.config.name.clone(),
                    from: group.state,
                    to,
                });
                group.state = to;
            }
        }
    }
}

/// One application of the rules to one group: the group's new state, if it changes, after
/// moving the members.
fn step(
    now: Instant,
    group: &SyncGroup,
    instances: &mut BTreeMap<InstanceKey, Instance>,
    touched: &mut Vec<InstanceKey>,
) -> Option<State> {
    let members = &group.config.members;
    // (state, itself ineligible, address owner) of each running member.
    let running: Vec<(State, bool, bool)> = members
        .iter()
        .filter_map(|k| instances.get(k))
        .filter(|i| i.is_started())
        .map(|i| {
            (
                i.state(),
                i.own_fault().is_some(),
                i.config().priority.is_owner(),
            )
        })
        .collect();
    let mut each = |f: &mut dyn FnMut(&mut Instance)| {
        for key in members {
            if let Some(instance) = instances.get_mut(key) {
                let before = instance.state();
                f(instance);
                // Only a member that moved has actions queued by the group.
                if instance.state() != before {
                    touched.push(*key);
                }
            }
        }
    };
    if running.is_empty() {
        return (group.state != State::Initialize).then_some(State::Initialize);
    }
    // Rule 1: one member ineligible, all in Fault.
    if running.iter().any(|&(_, faulty, _)| faulty) {
        each(&mut |i| i.set_sync_fault(now, true));
        return (group.state != State::Fault).then_some(State::Fault);
    }
    // Rule 2: nobody ineligible any more, all leave Fault.
    if group.state == State::Fault {
        each(&mut |i| i.set_sync_fault(now, false));
        return Some(State::Backup);
    }
    let any_master = running.iter().any(|&(s, _, _)| s == State::Master);
    let any_backup = running.iter().any(|&(s, _, _)| s == State::Backup);
    match group.state {
        // Rule 4: a member of a Master group went Backup.
        State::Master if any_backup => {
            each(&mut |i| i.sync_force_backup(now));
            Some(State::Backup)
        }
        State::Master => None,
        // A new group (startup, or added by a reload): Master if every member is Master or
        // the address owner is one (keepalived: an owner makes its group Master at once);
        // otherwise Backup, and a Master member steps down rather than pulling the others
        // over (keepalived prefers Backup to avoid thrashing).
        State::Initialize => {
            let all_master = running.iter().all(|&(s, _, _)| s == State::Master);
            let owner_master = running
                .iter()
                .any(|&(s, _, owner)| owner && s == State::Master);
            if all_master || owner_master {
                each(&mut |i| i.sync_force_master(now));
                Some(State::Master)
            } else {
                each(&mut |i| i.sync_force_backup(now));
                Some(State::Backup)
            }
        }
        // Rule 3: a member became Master (its gate passed, or it is the owner).
        _ if any_master => {
            each(&mut |i| i.sync_force_master(now));
            Some(State::Master)
        }
        _ => None,
    }
}
