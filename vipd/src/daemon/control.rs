//! The embedder's inputs: what a program that embeds the daemon tells it at run time, on a
//! [`Control`].
//!
//! Each input names an instance by its configured name and is applied in place by the event
//! loop, between two other inputs, through the engine's commands
//! ([`Instance::set_track`](vrrp_core::Instance::set_track),
//! [`Instance::set_priority`](vrrp_core::Instance::set_priority),
//! [`Router::reconfigure`](vrrp_core::Router::reconfigure)): no other instance is touched,
//! no VIP that stays is removed, and an instance keeps its state unless the change itself
//! moves it (a lower priority lets a peer preempt). Each returns a [`ControlError`] the
//! embedder can match on.
//!
//! Run-time changes last until the next [`Control::reload`], which applies the new
//! configuration as written (tracked objects added here, VIPs added or removed here, and
//! priorities set here are replaced by the reloaded plan's).

use std::net::IpAddr;

use tokio::sync::oneshot;
use vrrp_core::{ConfigError, ReconfigureError, Track};

use super::{Command, Control, DaemonError};
use crate::config::{InstancePlan, Vip};

/// Why an input to a running daemon was refused. Nothing changed when one is returned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No instance has this name.
    #[error("no instance named {instance:?}: use a name of the running configuration")]
    UnknownInstance {
        /// The name given.
        instance: String,
    },
    /// An instance of this name, or of this interface, VRID and family, runs already.
    #[error(
        "instance {instance:?}: an instance with this name, or with this interface, VRID and family, runs already: remove it first or choose another name or VRID"
    )]
    DuplicateInstance {
        /// The instance given.
        instance: String,
    },
    /// The instance has no tracked object of this name.
    #[error(
        "instance {instance:?} has no tracked object named {track:?}: register it first (DaemonBuilder::track or Control::add_track)"
    )]
    UnknownTrack {
        /// The instance.
        instance: String,
        /// The name given.
        track: String,
    },
    /// The tracked object is fed by a health check of the same name, which would overwrite
    /// what the embedder sets.
    #[error(
        "instance {instance:?}: tracked object {track:?} is fed by the health check of that name; register a tracked object of your own under another name"
    )]
    CheckOwned {
        /// The instance.
        instance: String,
        /// The tracked object.
        track: String,
    },
    /// A tracked object of this name exists already.
    #[error(
        "instance {instance:?} already has a tracked object named {track:?}: choose another name"
    )]
    DuplicateTrack {
        /// The instance.
        instance: String,
        /// The name given.
        track: String,
    },
    /// The VIP belongs to another instance.
    #[error(
        "VIP {vip} belongs to instance {owner:?}: remove it there first, or add another address to {instance:?}"
    )]
    VipInOtherInstance {
        /// The instance asked for.
        instance: String,
        /// The VIP.
        vip: IpAddr,
        /// The instance holding it.
        owner: String,
    },
    /// The instance has this VIP already.
    #[error("instance {instance:?} already has VIP {vip}")]
    DuplicateVip {
        /// The instance.
        instance: String,
        /// The VIP.
        vip: IpAddr,
    },
    /// The instance does not have this VIP.
    #[error("instance {instance:?} has no VIP {vip}: nothing to remove")]
    UnknownVip {
        /// The instance.
        instance: String,
        /// The VIP.
        vip: IpAddr,
    },
    /// A limit of the protocol would be passed (an advertisement carries at most 255
    /// addresses).
    #[error(
        "instance {instance:?}: {field} would have {count} entries, at most {limit} fit: {fix}"
    )]
    LimitReached {
        /// The instance.
        instance: String,
        /// The field of the engine's configuration.
        field: String,
        /// How many it would have.
        count: usize,
        /// How many it may have.
        limit: usize,
        /// What to do instead.
        fix: &'static str,
    },
    /// A value breaks a rule of the engine's configuration; `field` names it.
    #[error("instance {instance:?}: {field}: {message}")]
    Invalid {
        /// The instance.
        instance: String,
        /// The field of the engine's configuration at fault (`priority`,
        /// `virtual_addresses[2]`, `tracks[1]`, `prefix_len`, ...).
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The daemon refused to start the added instance (an interface missing, the VIP on the
    /// interface already, ...).
    #[error(transparent)]
    Daemon(#[from] DaemonError),
    /// The daemon is stopping or has stopped.
    #[error("the daemon is stopping or has stopped")]
    Stopped,
}

impl ControlError {
    /// The engine's refusal of a new configuration for `instance`, as an input's error.
    pub(super) fn engine(instance: &str, error: &ReconfigureError) -> Self {
        match error {
            ReconfigureError::Config(config) => Self::config(instance, config),
            other => Self::Invalid {
                instance: instance.to_owned(),
                field: other.field(),
                message: other.to_string(),
            },
        }
    }

    /// A rule of the engine's configuration broken by an input to `instance`.
    pub(super) fn config(instance: &str, error: &ConfigError) -> Self {
        match error {
            ConfigError::TooManyAddresses { count } => Self::LimitReached {
                instance: instance.to_owned(),
                field: error.field(),
                count: *count,
                limit: usize::from(u8::MAX),
                fix: "add the VIP to another instance (another VRID)",
            },
            other => Self::Invalid {
                instance: instance.to_owned(),
                field: other.field(),
                message: other.to_string(),
            },
        }
    }
}

/// One input, as the event loop receives it.
#[derive(Debug)]
pub(super) enum Input {
    SetTrack {
        instance: String,
        track: String,
        up: bool,
        weight: Option<i16>,
    },
    AddTrack {
        instance: String,
        track: Track,
    },
    RemoveTrack {
        instance: String,
        track: String,
    },
    AddCheck {
        instance: String,
        check: Box<vip_health::CheckConfig>,
    },
    RemoveCheck {
        instance: String,
        check: String,
    },
    SetPriority {
        instance: String,
        priority: u8,
    },
    AddVip {
        instance: String,
        vip: Vip,
    },
    RemoveVip {
        instance: String,
        vip: IpAddr,
    },
    AddInstance(Box<InstancePlan>),
    RemoveInstance {
        instance: String,
    },
}

impl Control {
    /// Sends `input` to the event loop and waits until it is applied or refused.
    async fn input(&self, input: Input) -> Result<(), ControlError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Input(input, tx))
            .map_err(|_| ControlError::Stopped)?;
        rx.await.unwrap_or(Err(ControlError::Stopped))
    }

    /// Reports the embedder-defined tracked object `track` of `instance` up or down, with
    /// its registered weight ([`Track::effect`] says what that does to the priority).
    ///
    /// # Errors
    /// [`ControlError::UnknownInstance`], [`ControlError::UnknownTrack`],
    /// [`ControlError::CheckOwned`] (a health check feeds it), [`ControlError::Stopped`].
    pub async fn set_track(
        &self,
        instance: &str,
        track: &str,
        up: bool,
    ) -> Result<(), ControlError> {
        self.input(Input::SetTrack {
            instance: instance.to_owned(),
            track: track.to_owned(),
            up,
            weight: None,
        })
        .await
    }

    /// Reports the tracked object `track` of `instance` up or down with a new weight
    /// (clamped to -254..=254), in one step: a load balancer can give the number of its
    /// healthy backends as the weight, so that the node with more of them wins.
    ///
    /// # Errors
    /// As [`set_track`](Self::set_track).
    pub async fn set_track_weight(
        &self,
        instance: &str,
        track: &str,
        up: bool,
        weight: i16,
    ) -> Result<(), ControlError> {
        self.input(Input::SetTrack {
            instance: instance.to_owned(),
            track: track.to_owned(),
            up,
            weight: Some(weight),
        })
        .await
    }

    /// Registers a tracked object of the embedder on `instance`, in its initial state
    /// ([`Track::initially_up`]); the priority is re-evaluated at once.
    ///
    /// # Errors
    /// [`ControlError::UnknownInstance`], [`ControlError::DuplicateTrack`],
    /// [`ControlError::Invalid`] (field `tracks[i]`: a weight out of range),
    /// [`ControlError::Stopped`].
    pub async fn add_track(&self, instance: &str, track: Track) -> Result<(), ControlError> {
        self.input(Input::AddTrack {
            instance: instance.to_owned(),
            track,
        })
        .await
    }

    /// Removes the embedder's tracked object `track` of `instance`; its effect on the
    /// priority ends.
    ///
    /// # Errors
    /// [`ControlError::UnknownInstance`], [`ControlError::UnknownTrack`],
    /// [`ControlError::CheckOwned`], [`ControlError::Stopped`].
    pub async fn remove_track(&self, instance: &str, track: &str) -> Result<(), ControlError> {
        self.input(Input::RemoveTrack {
            instance: instance.to_owned(),
            track: track.to_owned(),
        })
        .await
    }

    /// Starts a check of the embedder on `instance` ([`DaemonBuilder::check`](super::DaemonBuilder::check)
    /// at run time), with the tracked object of its name. The instance's health checks are
    /// restarted with it (their rise / fall counts start again).
    ///
    /// # Errors
    /// [`ControlError::UnknownInstance`], [`ControlError::DuplicateTrack`] (a check or
    /// tracked object of that name exists), [`ControlError::Invalid`] (a field out of
    /// range, named), [`ControlError::Stopped`].
    pub async fn add_check(
        &self,
        instance: &str,
        check: vip_health::CheckConfig,
    ) -> Result<(), ControlError> {
        self.input(Input::AddCheck {
            instance: instance.to_owned(),
            check: Box::new(check),
        })
        .await
    }

    /// Stops the check `check` of `instance` and removes its tracked object.
    ///
    /// # Errors
    /// [`ControlError::UnknownInstance`], [`ControlError::UnknownTrack`] (no such check),
    /// [`ControlError::Stopped`].
    pub async fn remove_check(&self, instance: &str, check: &str) -> Result<(), ControlError> {
        self.input(Input::RemoveCheck {
            instance: instance.to_owned(),
            check: check.to_owned(),
        })
        .await
    }

    /// Sets the base priority of `instance` (1 to 254, or 255 for the address owner with
    /// preemption on); tracked objects still adjust it.
    ///
    /// # Errors
    /// [`ControlError::UnknownInstance`], [`ControlError::Invalid`] (field `priority`: 0, or
    /// 255 without preemption), [`ControlError::Stopped`].
    pub async fn set_priority(&self, instance: &str, priority: u8) -> Result<(), ControlError> {
        self.input(Input::SetPriority {
            instance: instance.to_owned(),
            priority,
        })
        .await
    }

    /// Adds `vip` to `instance`: a Master adds it to the interface and announces it at once,
    /// keeping the others; a Backup carries it in its configuration.
    ///
    /// # Errors
    /// [`ControlError::UnknownInstance`], [`ControlError::DuplicateVip`],
    /// [`ControlError::VipInOtherInstance`], [`ControlError::LimitReached`] (255 VIPs),
    /// [`ControlError::Invalid`] (`prefix_len` too long, another family),
    /// [`ControlError::Daemon`] ([`DaemonError::AddressInUse`]: the address is on the
    /// interface and not vipd's), [`ControlError::Stopped`].
    pub async fn add_vip(&self, instance: &str, vip: Vip) -> Result<(), ControlError> {
        self.input(Input::AddVip {
            instance: instance.to_owned(),
            vip,
        })
        .await
    }

    /// Removes VIP `vip` from `instance`: a Master removes it from the interface and keeps
    /// the others.
    ///
    /// # Errors
    /// [`ControlError::UnknownInstance`], [`ControlError::UnknownVip`],
    /// [`ControlError::Invalid`] (field `virtual_addresses`: the last VIP; remove the
    /// instance instead), [`ControlError::Stopped`].
    pub async fn remove_vip(&self, instance: &str, vip: IpAddr) -> Result<(), ControlError> {
        self.input(Input::RemoveVip {
            instance: instance.to_owned(),
            vip,
        })
        .await
    }

    /// Starts a new instance, validated as part of a [`Plan`](crate::config::Plan) (take it
    /// from [`Plan::instances`](crate::config::Plan::instances)). Its health checks start
    /// with it; the other instances and their checks carry on.
    ///
    /// # Errors
    /// [`ControlError::DuplicateInstance`], [`ControlError::VipInOtherInstance`],
    /// [`ControlError::Daemon`] (an interface missing, a VIP already on the interface),
    /// [`ControlError::Stopped`].
    pub async fn add_instance(&self, plan: InstancePlan) -> Result<(), ControlError> {
        self.input(Input::AddInstance(Box::new(plan))).await
    }

    /// Stops `instance` (priority 0 sent, VIPs released) and forgets it.
    ///
    /// # Errors
    /// [`ControlError::UnknownInstance`], [`ControlError::Stopped`].
    pub async fn remove_instance(&self, instance: &str) -> Result<(), ControlError> {
        self.input(Input::RemoveInstance {
            instance: instance.to_owned(),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_refusals_become_matchable_errors_naming_the_field() {
        let e = ControlError::config("VI_1", &ConfigError::TooManyAddresses { count: 256 });
        assert!(
            matches!(&e, ControlError::LimitReached { field, count: 256, limit: 255, .. } if field == "virtual_addresses"),
            "{e:?}"
        );
        assert!(e.to_string().contains("at most 255"), "{e}");
        let e = ControlError::config("VI_1", &ConfigError::NopreemptOwner);
        assert!(
            matches!(&e, ControlError::Invalid { field, .. } if field == "preempt"),
            "{e:?}"
        );
        let e = ControlError::engine(
            "VI_1",
            &ReconfigureError::Config(ConfigError::NoVirtualAddresses),
        );
        assert!(
            matches!(&e, ControlError::Invalid { instance, field, .. } if instance == "VI_1" && field == "virtual_addresses"),
            "{e:?}"
        );
    }
}
