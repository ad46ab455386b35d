//! Settings from flags and `VIPD_*` environment variables, for containers.

use super::{Config, ConfigFileError, FieldError, InstanceSpec, Secret};
use crate::duration::ConfigDuration;

/// Settings given by flags or `VIPD_*` environment variables, for containers: they fill in or
/// override the single instance of the file (or make one when there is no file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--interface` / `VIPD_INTERFACE`.
    pub interface: Option<String>,
    /// `--vip-interface` / `VIPD_VIP_INTERFACE`.
    pub vip_interface: Option<String>,
    /// `--vip` (repeated) / `VIPD_VIPS` (comma-separated).
    pub vips: Vec<String>,
    /// `--vrid` / `VIPD_VRID`.
    pub vrid: Option<u32>,
    /// `--priority` / `VIPD_PRIORITY`.
    pub priority: Option<u32>,
    /// `--vrrp-version` / `VIPD_VRRP_VERSION`.
    pub version: Option<u32>,
    /// `--advert-interval` / `VIPD_ADVERT_INTERVAL`.
    pub advert_interval: Option<ConfigDuration>,
    /// `--nopreempt` / `VIPD_NOPREEMPT=true`.
    pub nopreempt: bool,
    /// `--unicast-peer` (repeated) / `VIPD_UNICAST_PEERS` (comma-separated).
    pub unicast_peers: Vec<String>,
    /// `VIPD_PASSWORD` (never a flag: flags show in the process list).
    pub password: Option<String>,
    /// `--api-listen` / `VIPD_API_LISTEN`: the file's `api.listen`.
    pub api_listen: Option<String>,
}

impl Overrides {
    /// Whether nothing is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Applies the overrides to `config`.
    ///
    /// # Errors
    /// [`ConfigFileError::Invalid`] when the file has several instances (overrides address one),
    /// or when there is no file and a required setting is missing.
    pub fn apply(&self, config: &mut Config) -> Result<(), ConfigFileError> {
        if let Some(listen) = &self.api_listen {
            config.api.listen.clone_from(listen);
        }
        let instance_settings = Self {
            api_listen: None,
            ..self.clone()
        };
        if instance_settings.is_empty() {
            return Ok(());
        }
        let err = |field: &str, message: String| {
            ConfigFileError::Invalid(vec![FieldError::new(field, message)])
        };
        if config.instances.len() > 1 {
            return Err(err(
                "instances",
                format!(
                    "the file has {} instances but flags and VIPD_* variables set one; put the \
                     settings in the file instead",
                    config.instances.len()
                ),
            ));
        }
        if config.instances.is_empty() {
            let (Some(interface), Some(vrid), false) =
                (self.interface.clone(), self.vrid, self.vips.is_empty())
            else {
                return Err(err(
                    "flags",
                    "without a config file, --interface (VIPD_INTERFACE), --vrid (VIPD_VRID) and \
                     --vip (VIPD_VIPS) are all required"
                        .into(),
                ));
            };
            config
                .instances
                .push(InstanceSpec::new(interface, vrid, self.vips.clone()));
        }
        let Some(spec) = config.instances.first_mut() else {
            return Ok(());
        };
        if let Some(v) = &self.interface {
            spec.interface.clone_from(v);
        }
        if let Some(v) = &self.vip_interface {
            spec.vip_interface = Some(v.clone());
        }
        if !self.vips.is_empty() {
            spec.vips.clone_from(&self.vips);
        }
        if let Some(v) = self.vrid {
            spec.vrid = v;
        }
        if let Some(v) = self.priority {
            spec.priority = v;
        }
        if let Some(v) = self.version {
            spec.version = v;
        }
        if let Some(v) = self.advert_interval {
            spec.advert_interval = v;
        }
        if self.nopreempt {
            spec.preempt = false;
        }
        if !self.unicast_peers.is_empty() {
            spec.unicast_peers.clone_from(&self.unicast_peers);
        }
        if let Some(v) = &self.password {
            spec.password = Some(Secret(v.clone()));
        }
        Ok(())
    }
}
