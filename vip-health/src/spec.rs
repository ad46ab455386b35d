//! The configuration as written (`CheckSpec`, deserialized from YAML with unknown fields
//! refused) and its validation into [`CheckConfig`].

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

use crate::config::{
    CheckConfig, CheckKind, Effect, ExecCheck, FileCheck, HttpCheck, InterfaceCheck, KubeApiCheck,
    KubeEndpoint, NodeReadyCheck, TcpCheck,
};
use crate::damping::DampingConfig;
use crate::duration::ConfigDuration;

/// The service-account token that in-cluster checks send by default.
pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// The service-account CA that in-cluster checks trust by default.
pub const SERVICE_ACCOUNT_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

/// Interval of a check that gives none (keepalived's `vrrp_script` default).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Upper bound of the default timeout, which is half the interval but at most this.
pub const DEFAULT_TIMEOUT_CAP: Duration = Duration::from_secs(2);
/// The shortest interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The largest `|weight|`, as for keepalived's `track_file` and `track_process`.
pub const MAX_WEIGHT: i32 = 254;

/// One configuration error: the field's path (e.g. `instances[0].checks[1].timeout`) and a
/// sentence saying what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
#[non_exhaustive]
pub struct FieldError {
    /// Path of the offending field.
    pub field: String,
    /// What is wrong, and the fix.
    pub message: String,
}

impl FieldError {
    /// An error for `field`.
    #[must_use]
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Reads the process environment; the usual `env` argument of [`CheckSpec::validate`].
#[must_use]
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// One health check as written in the configuration (`checks: [...]` of a VRRP instance).
///
/// Exactly one kind key (`http`, `tcp`, `exec`, `file`, `interface`, `kube_api`,
/// `node_ready`) unless `builtin` names a built-in check, whose settings any given field
/// overrides. See the crate documentation for every field and default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CheckSpec {
    /// Unique within the instance; defaults to the builtin's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `service`, `kubelet`, `kube-api` or `node-ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
    /// HTTP or HTTPS GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSpec>,
    /// TCP connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpSpec>,
    /// Run a program; exit status 0 is up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecSpec>,
    /// keepalived `track_file`: a number in a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileSpec>,
    /// Link state of a network interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<InterfaceSpec>,
    /// The Kubernetes API server's health endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_api: Option<KubeApiSpec>,
    /// The node's `Ready` condition from the Kubernetes API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_ready: Option<NodeReadySpec>,
    /// Time between probes; default 1 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<ConfigDuration>,
    /// Probe timeout, below the interval; default half the interval, at most 2 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ConfigDuration>,
    /// Consecutive successes to go up; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rise: Option<u32>,
    /// Consecutive failures to go down; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fall: Option<u32>,
    /// `fault`: the instance goes to Fault while the check is down. Exclusive with `weight`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// -254..254, keepalived's meaning. Exclusive with `action`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// State before the first result: `up`, `down`, or `first_result` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<Initial>,
    /// Optional flap damping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub damping: Option<DampingSpec>,
}

/// `http:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpSpec {
    /// `http://` or `https://` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Statuses that count as up; default `[200]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<Vec<u16>>,
    /// PEM CA bundle; when given, only these CAs are trusted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain (needs `client_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// File holding a bearer token, re-read on every probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// Host header and TLS server name override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Accept any server certificate (logged as a warning whenever the check starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
}

/// `tcp:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TcpSpec {
    /// `host:port`, IPv6 as `[::1]:6443`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// `exec:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ExecSpec {
    /// argv; with `shell: true`, one string for `/bin/sh -c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Run the single string with `/bin/sh -c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<bool>,
}

/// `file:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FileSpec {
    /// The file holding a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// `interface:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct InterfaceSpec {
    /// Interface name, e.g. `eth1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `kube_api:` settings; every field has an in-cluster default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KubeApiSpec {
    /// Path to GET; default `/healthz`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// API server host; default `$KUBERNETES_SERVICE_HOST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// API server port; default `$KUBERNETES_SERVICE_PORT`, else 443.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Bearer token file; default the service-account token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// CA bundle; default the service-account CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// `node_ready:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NodeReadySpec {
    /// Node name; default `$NODE_NAME` (set it from the downward API `spec.nodeName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// API server host; default `$KUBERNETES_SERVICE_HOST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// API server port; default `$KUBERNETES_SERVICE_PORT`, else 443.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Bearer token file; default the service-account token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// CA bundle; default the service-account CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// What a down check does to its instance when it has no `weight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// The instance goes to Fault (gives up or never takes the VIP) while the check is down.
    Fault,
}

/// The state of a check before its first rise/fall decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Initial {
    /// keepalived's default for a `vrrp_script` without `init_fail`: no state until the first
    /// probe, whose result is taken at once (rise and fall apply from then on). Until then a
    /// fault check holds its instance out of Master and a weight is not applied.
    #[default]
    FirstResult,
    /// Up until `fall` consecutive failures.
    Up,
    /// Down until `rise` consecutive successes (keepalived's `init_fail`).
    Down,
}

/// `damping:` settings; every field has a default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DampingSpec {
    /// Added per transition; default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub penalty: Option<u32>,
    /// Time for the penalty to halve; default 30 s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_life: Option<ConfigDuration>,
    /// Above this the check is held down; default 2000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<u32>,
    /// At or below this it is released; default 750.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse: Option<u32>,
    /// Longest suppression after the last transition; default 5 min.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_suppress: Option<ConfigDuration>,
}

/// The built-in checks, with the seed charts' defaults.
const BUILTINS: [&str; 4] = ["service", "kubelet", "kube-api", "node-ready"];

fn builtin_spec(name: &str) -> Option<CheckSpec> {
    let http = |url: &str| HttpSpec {
        url: Some(url.to_owned()),
        ..HttpSpec::default()
    };
    let base = CheckSpec {
        name: Some(name.to_owned()),
        ..CheckSpec::default()
    };
    Some(match name {
        "service" => CheckSpec {
            http: Some(http("http://127.0.0.1:10254/healthz")),
            interval: Some(ConfigDuration::from_secs(2)),
            rise: Some(2),
            fall: Some(2),
            action: Some(Action::Fault),
            ..base
        },
        "kubelet" => CheckSpec {
            http: Some(http("http://127.0.0.1:10248/healthz")),
            interval: Some(ConfigDuration::from_secs(5)),
            rise: Some(1),
            fall: Some(5),
            action: Some(Action::Fault),
            ..base
        },
        "kube-api" => CheckSpec {
            kube_api: Some(KubeApiSpec {
                path: Some("/healthz".to_owned()),
                ..KubeApiSpec::default()
            }),
            interval: Some(ConfigDuration::from_secs(5)),
            rise: Some(1),
            fall: Some(5),
            weight: Some(-40),
            ..base
        },
        "node-ready" => CheckSpec {
            node_ready: Some(NodeReadySpec::default()),
            interval: Some(ConfigDuration::from_secs(10)),
            rise: Some(1),
            fall: Some(3),
            action: Some(Action::Fault),
            ..base
        },
        _ => return None,
    })
}

fn merge_opt<T: Clone>(user: Option<&T>, base: Option<&T>) -> Option<T> {
    user.or(base).cloned()
}

/// `user` over `base`: whichever is given, or `both(user, base)` when both are.
fn merge_with<T: Clone>(
    user: Option<&T>,
    base: Option<&T>,
    both: impl FnOnce(&T, &T) -> T,
) -> Option<T> {
    match (user, base) {
        (Some(u), Some(b)) => Some(both(u, b)),
        _ => merge_opt(user, base),
    }
}

fn merge_http(user: Option<&HttpSpec>, base: Option<&HttpSpec>) -> Option<HttpSpec> {
    merge_with(user, base, |u, b| HttpSpec {
        url: merge_opt(u.url.as_ref(), b.url.as_ref()),
        expect_status: merge_opt(u.expect_status.as_ref(), b.expect_status.as_ref()),
        ca_file: merge_opt(u.ca_file.as_ref(), b.ca_file.as_ref()),
        client_cert: merge_opt(u.client_cert.as_ref(), b.client_cert.as_ref()),
        client_key: merge_opt(u.client_key.as_ref(), b.client_key.as_ref()),
        bearer_token_file: merge_opt(u.bearer_token_file.as_ref(), b.bearer_token_file.as_ref()),
        host: merge_opt(u.host.as_ref(), b.host.as_ref()),
        insecure_skip_verify: merge_opt(
            u.insecure_skip_verify.as_ref(),
            b.insecure_skip_verify.as_ref(),
        ),
    })
}

fn merge_kube(user: Option<&KubeApiSpec>, base: Option<&KubeApiSpec>) -> Option<KubeApiSpec> {
    merge_with(user, base, |u, b| KubeApiSpec {
        path: merge_opt(u.path.as_ref(), b.path.as_ref()),
        host: merge_opt(u.host.as_ref(), b.host.as_ref()),
        port: u.port.or(b.port),
        token_file: merge_opt(u.token_file.as_ref(), b.token_file.as_ref()),
        ca_file: merge_opt(u.ca_file.as_ref(), b.ca_file.as_ref()),
    })
}

fn merge_node(user: Option<&NodeReadySpec>, base: Option<&NodeReadySpec>) -> Option<NodeReadySpec> {
    merge_with(user, base, |u, b| NodeReadySpec {
        node: merge_opt(u.node.as_ref(), b.node.as_ref()),
        host: merge_opt(u.host.as_ref(), b.host.as_ref()),
        port: u.port.or(b.port),
        token_file: merge_opt(u.token_file.as_ref(), b.token_file.as_ref()),
        ca_file: merge_opt(u.ca_file.as_ref(), b.ca_file.as_ref()),
    })
}

/// Collects errors under a field prefix.
struct Errors<'a> {
    prefix: &'a str,
    list: Vec<FieldError>,
}

impl Errors<'_> {
    fn path(&self, rel: &str) -> String {
        match (self.prefix.is_empty(), rel.is_empty()) {
            (_, true) => self.prefix.to_owned(),
            (true, false) => rel.to_owned(),
            (false, false) => format!("{}.{rel}", self.prefix),
        }
    }

    fn push(&mut self, rel: &str, message: impl Into<String>) {
        let field = self.path(rel);
        self.list.push(FieldError::new(field, message));
    }
}

impl CheckSpec {
    /// The kind keys that are set, by their YAML names.
    fn kind_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.http.is_some() {
            keys.push("http");
        }
        if self.tcp.is_some() {
            keys.push("tcp");
        }
        if self.exec.is_some() {
            keys.push("exec");
        }
        if self.file.is_some() {
            keys.push("file");
        }
        if self.interface.is_some() {
            keys.push("interface");
        }
        if self.kube_api.is_some() {
            keys.push("kube_api");
        }
        if self.node_ready.is_some() {
            keys.push("node_ready");
        }
        keys
    }

    /// This spec laid over `base` (a builtin's): every field given here wins, and so does the
    /// pair `action`/`weight` if either is given.
    fn over(&self, base: &Self) -> Self {
        let effect_given = self.action.is_some() || self.weight.is_some();
        Self {
            name: merge_opt(self.name.as_ref(), base.name.as_ref()),
            builtin: self.builtin.clone(),
            http: merge_http(self.http.as_ref(), base.http.as_ref()),
            tcp: merge_opt(self.tcp.as_ref(), base.tcp.as_ref()),
            exec: merge_opt(self.exec.as_ref(), base.exec.as_ref()),
            file: merge_opt(self.file.as_ref(), base.file.as_ref()),
            interface: merge_opt(self.interface.as_ref(), base.interface.as_ref()),
            kube_api: merge_kube(self.kube_api.as_ref(), base.kube_api.as_ref()),
            node_ready: merge_node(self.node_ready.as_ref(), base.node_ready.as_ref()),
            interval: self.interval.or(base.interval),
            timeout: self.timeout.or(base.timeout),
            rise: self.rise.or(base.rise),
            fall: self.fall.or(base.fall),
            action: if effect_given {
                self.action
            } else {
                base.action
            },
            weight: if effect_given {
                self.weight
            } else {
                base.weight
            },
            initial: self.initial.or(base.initial),
            damping: merge_opt(self.damping.as_ref(), base.damping.as_ref()),
        }
    }

    /// Validates this check. `field` is its path for error messages (e.g.
    /// `instances[0].checks[1]`); `env` looks up environment variables
    /// (`KUBERNETES_SERVICE_HOST`, `KUBERNETES_SERVICE_PORT`, `NODE_NAME`), usually
    /// [`process_env`]. Touches no file and no network.
    ///
    /// # Errors
    /// Every problem found, each naming its field and the fix.
    pub fn validate(
        &self,
        field: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<CheckConfig, Vec<FieldError>> {
        let mut errors = Errors {
            prefix: field,
            list: Vec::new(),
        };
        let spec = match &self.builtin {
            None => self.clone(),
            Some(builtin) => {
                let Some(base) = builtin_spec(builtin) else {
                    errors.push(
                        "builtin",
                        format!(
                            "unknown builtin `{builtin}`; the builtins are {}",
                            BUILTINS.join(", ")
                        ),
                    );
                    return Err(errors.list);
                };
                let base_kind = base.kind_keys();
                for key in self.kind_keys() {
                    if !base_kind.contains(&key) {
                        errors.push(
                            key,
                            format!(
                                "builtin `{builtin}` is a `{}` check; override its settings \
                                 under `{}:` or drop `builtin` to define a `{key}` check",
                                base_kind.join(""),
                                base_kind.join("")
                            ),
                        );
                    }
                }
                if !errors.list.is_empty() {
                    return Err(errors.list);
                }
                self.over(&base)
            }
        };
        let config = spec.validate_merged(&mut errors, env);
        match config {
            Some(c) if errors.list.is_empty() => Ok(c),
            _ => Err(errors.list),
        }
    }

    #[allow(clippy::too_many_lines)]
    fn validate_merged(
        &self,
        errors: &mut Errors<'_>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<CheckConfig> {
        let name = match &self.name {
            None => {
                errors.push(
                    "name",
                    "required: give the check a name unique within its instance (or use \
                     `builtin`)",
                );
                None
            }
            Some(n) => {
                if let Err(message) = check_name(n) {
                    errors.push("name", message);
                }
                Some(n.clone())
            }
        };

        let keys = self.kind_keys();
        if keys.is_empty() {
            errors.push(
                "",
                "no check kind: give exactly one of http, tcp, exec, file, interface, kube_api, \
                 node_ready (or a builtin)",
            );
        } else if keys.len() > 1 {
            errors.push(
                keys[1],
                format!(
                    "more than one check kind ({}): give exactly one per check, and one check \
                     per list entry",
                    keys.join(", ")
                ),
            );
        }

        let interval = self
            .interval
            .map_or(DEFAULT_INTERVAL, ConfigDuration::to_duration);
        if interval < MIN_INTERVAL {
            errors.push(
                "interval",
                format!(
                    "must be at least {}ms; got {interval:?}",
                    MIN_INTERVAL.as_millis()
                ),
            );
        }
        let timeout = self.timeout.map_or_else(
            || (interval / 2).min(DEFAULT_TIMEOUT_CAP),
            ConfigDuration::to_duration,
        );
        if timeout.is_zero() {
            errors.push("timeout", "must be above 0");
        } else if timeout >= interval {
            errors.push(
                "timeout",
                format!(
                    "must be below the interval ({}); got {}: lower the timeout or raise the \
                     interval so that probes never overlap",
                    display_duration(interval),
                    display_duration(timeout)
                ),
            );
        }
        let rise = self.rise.unwrap_or(1);
        if rise == 0 {
            errors.push(
                "rise",
                "must be at least 1 (consecutive successes to go up)",
            );
        }
        let fall = self.fall.unwrap_or(1);
        if fall == 0 {
            errors.push(
                "fall",
                "must be at least 1 (consecutive failures to go down)",
            );
        }

        let is_file = self.file.is_some();
        let effect = match (self.action, self.weight) {
            (Some(_), Some(_)) => {
                errors.push(
                    "weight",
                    "give either `action: fault` or a `weight`, not both",
                );
                Effect::Fault
            }
            (Some(Action::Fault), None) => Effect::Fault,
            (None, Some(w)) => match i16::try_from(w) {
                Ok(w16) if (-MAX_WEIGHT..=MAX_WEIGHT).contains(&w) => {
                    if w16 == 0 {
                        Effect::Fault
                    } else {
                        Effect::Weight(w16)
                    }
                }
                _ => {
                    errors.push(
                        "weight",
                        format!("must be between -{MAX_WEIGHT} and {MAX_WEIGHT}; got {w}"),
                    );
                    Effect::Fault
                }
            },
            // keepalived's track_file weight defaults to 1; every other kind defaults to fault.
            (None, None) if is_file => Effect::Weight(1),
            (None, None) => Effect::Fault,
        };

        let damping = self.damping.as_ref().and_then(|d| {
            let half_life = d
                .half_life
                .map_or(Duration::from_secs(30), |h| h.to_duration());
            let max_suppress = d
                .max_suppress
                .map_or(Duration::from_secs(300), |m| m.to_duration());
            match DampingConfig::new(
                d.penalty.unwrap_or(1000),
                half_life,
                d.suppress.unwrap_or(2000),
                d.reuse.unwrap_or(750),
                max_suppress,
            ) {
                Ok(c) => Some(c),
                Err((key, message)) => {
                    errors.push(&format!("damping.{key}"), message);
                    None
                }
            }
        });

        let kind = self.validate_kind(errors, env);
        Some(CheckConfig {
            name: name?,
            builtin: self.builtin.clone(),
            kind: kind?,
            interval,
            timeout,
            rise,
            fall,
            effect,
            initial: self.initial.unwrap_or_default(),
            damping,
        })
    }

    fn validate_kind(
        &self,
        errors: &mut Errors<'_>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Option<CheckKind> {
        if let Some(h) = &self.http {
            return validate_http(h, errors).map(CheckKind::Http);
        }
        if let Some(t) = &self.tcp {
            let Some(address) = &t.address else {
                errors.push("tcp.address", "required: `host:port`, IPv6 as `[::1]:6443`");
                return None;
            };
            return match parse_host_port(address) {
                Ok((host, port)) => Some(CheckKind::Tcp(TcpCheck {
                    address: address.clone(),
                    host,
                    port,
                })),
                Err(message) => {
                    errors.push("tcp.address", message);
                    None
                }
            };
        }
        if let Some(e) = &self.exec {
            let shell = e.shell.unwrap_or(false);
            let command = e.command.clone().unwrap_or_default();
            if command.is_empty() || command[0].trim().is_empty() {
                errors.push(
                    "exec.command",
                    "required: the program and its arguments, e.g. [\"/usr/local/bin/check\", \
                     \"--fast\"]",
                );
                return None;
            }
            if shell && command.len() > 1 {
                errors.push(
                    "exec.command",
                    format!(
                        "with `shell: true` give one string for `/bin/sh -c`; got {} strings \
                         (join them, or drop `shell` to run an argv without a shell)",
                        command.len()
                    ),
                );
                return None;
            }
            if command.iter().any(|a| a.contains('\0')) {
                errors.push("exec.command", "an argument contains a NUL byte");
                return None;
            }
            return Some(CheckKind::Exec(ExecCheck { command, shell }));
        }
        if let Some(f) = &self.file {
            return match &f.path {
                Some(p) if !p.as_os_str().is_empty() => {
                    Some(CheckKind::File(FileCheck { path: p.clone() }))
                }
                _ => {
                    errors.push("file.path", "required: the file holding a number");
                    None
                }
            };
        }
        if let Some(i) = &self.interface {
            let Some(name) = &i.name else {
                errors.push("interface.name", "required: the interface name, e.g. eth1");
                return None;
            };
            if let Err(message) = check_interface_name(name) {
                errors.push("interface.name", message);
                return None;
            }
            return Some(CheckKind::Interface(InterfaceCheck { name: name.clone() }));
        }
        if let Some(k) = &self.kube_api {
            let path = k.path.clone().unwrap_or_else(|| "/healthz".to_owned());
            if !path.starts_with('/') || path.parse::<hyper::http::uri::PathAndQuery>().is_err() {
                errors.push(
                    "kube_api.path",
                    format!("must be an absolute path such as /healthz or /livez; got `{path}`"),
                );
            }
            let endpoint = kube_endpoint(
                "kube_api",
                k.host.as_ref(),
                k.port,
                k.token_file.as_ref(),
                k.ca_file.as_ref(),
                errors,
                env,
            )?;
            return Some(CheckKind::KubeApi(KubeApiCheck { path, endpoint }));
        }
        if let Some(n) = &self.node_ready {
            let node = match n.node.clone().or_else(|| env("NODE_NAME")) {
                None => {
                    errors.push(
                        "node_ready.node",
                        "not set and the environment variable NODE_NAME is unset: set `node`, \
                         or set NODE_NAME from the downward API (fieldRef spec.nodeName)",
                    );
                    None
                }
                Some(node) => match check_node_name(&node) {
                    Ok(()) => Some(node),
                    Err(message) => {
                        errors.push("node_ready.node", message);
                        None
                    }
                },
            };
            let endpoint = kube_endpoint(
                "node_ready",
                n.host.as_ref(),
                n.port,
                n.token_file.as_ref(),
                n.ca_file.as_ref(),
                errors,
                env,
            );
            return Some(CheckKind::NodeReady(NodeReadyCheck {
                node: node?,
                endpoint: endpoint?,
            }));
        }
        None
    }
}

fn validate_http(h: &HttpSpec, errors: &mut Errors<'_>) -> Option<HttpCheck> {
    let Some(url) = &h.url else {
        errors.push(
            "http.url",
            "required: an http:// or https:// URL, e.g. http://127.0.0.1:10254/healthz",
        );
        return None;
    };
    let parsed = match crate::config::ParsedUrl::parse(url) {
        Ok(p) => Some(p),
        Err(message) => {
            errors.push("http.url", message);
            None
        }
    };
    let expect_status = h.expect_status.clone().unwrap_or_else(|| vec![200]);
    if expect_status.is_empty() {
        errors.push(
            "http.expect_status",
            "must list at least one status, e.g. [200]",
        );
    }
    if let Some(bad) = expect_status.iter().find(|s| !(100..=599).contains(*s)) {
        errors.push(
            "http.expect_status",
            format!("{bad} is not an HTTP status (100..599)"),
        );
    }
    let https = parsed.as_ref().is_some_and(|p| p.https);
    let insecure = h.insecure_skip_verify.unwrap_or(false);
    if let Some(p) = &parsed
        && !p.https
    {
        for (key, set) in [
            ("ca_file", h.ca_file.is_some()),
            ("client_cert", h.client_cert.is_some()),
            ("client_key", h.client_key.is_some()),
            ("insecure_skip_verify", h.insecure_skip_verify == Some(true)),
        ] {
            if set {
                errors.push(
                    &format!("http.{key}"),
                    "is a TLS setting and the url is http://; use an https:// url or drop it",
                );
            }
        }
    }
    match (&h.client_cert, &h.client_key) {
        (Some(_), None) => errors.push(
            "http.client_key",
            "required with client_cert: the PEM private key of the client certificate",
        ),
        (None, Some(_)) => errors.push(
            "http.client_cert",
            "required with client_key: the PEM client certificate chain",
        ),
        _ => {}
    }
    if https && insecure && h.ca_file.is_some() {
        errors.push(
            "http.insecure_skip_verify",
            "cannot be combined with ca_file: verify against the CA (drop \
             insecure_skip_verify) or skip verification (drop ca_file)",
        );
    }
    if let Some(host) = &h.host
        && (host.is_empty()
            || host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == '@'))
    {
        errors.push(
            "http.host",
            format!("`{host}` is not a host name (a Host header such as ingress.example)"),
        );
    }
    Some(HttpCheck {
        url: url.clone(),
        target: parsed?,
        expect_status,
        ca_file: h.ca_file.clone(),
        client_cert: h.client_cert.clone(),
        client_key: h.client_key.clone(),
        bearer_token_file: h.bearer_token_file.clone(),
        host: h.host.clone(),
        insecure_skip_verify: insecure,
    })
}

#[allow(clippy::too_many_arguments)]
fn kube_endpoint(
    key: &str,
    host: Option<&String>,
    port: Option<u16>,
    token_file: Option<&PathBuf>,
    ca_file: Option<&PathBuf>,
    errors: &mut Errors<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<KubeEndpoint> {
    let mut ok = true;
    let host = match host.cloned().or_else(|| env("KUBERNETES_SERVICE_HOST")) {
        Some(h) => {
            let bare = h.trim_start_matches('[').trim_end_matches(']').to_owned();
            if bare.is_empty() || bare.contains(char::is_whitespace) || bare.contains('/') {
                errors.push(&format!("{key}.host"), format!("`{h}` is not a host"));
                ok = false;
            }
            bare
        }
        None => {
            errors.push(
                &format!("{key}.host"),
                "not set and the environment variable KUBERNETES_SERVICE_HOST is unset (not \
                 running in a pod?): set `host` to the API server's address",
            );
            ok = false;
            String::new()
        }
    };
    let port = match port {
        Some(0) => {
            errors.push(&format!("{key}.port"), "must be 1..65535");
            ok = false;
            0
        }
        Some(p) => p,
        None => match env("KUBERNETES_SERVICE_PORT") {
            None => 443,
            Some(text) => match text.trim().parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => {
                    errors.push(
                        &format!("{key}.port"),
                        format!(
                            "not set and the environment variable KUBERNETES_SERVICE_PORT \
                             (`{text}`) is not a port number: set `port`"
                        ),
                    );
                    ok = false;
                    0
                }
            },
        },
    };
    ok.then(|| KubeEndpoint {
        host,
        port,
        token_file: token_file
            .cloned()
            .unwrap_or_else(|| PathBuf::from(SERVICE_ACCOUNT_TOKEN)),
        ca_file: ca_file
            .cloned()
            .unwrap_or_else(|| PathBuf::from(SERVICE_ACCOUNT_CA)),
    })
}

/// Validates a list of checks (`field` is the list's path, e.g. `instances[0].checks`), and
/// that their names are unique.
///
/// # Errors
/// Every problem found in any check, each naming its field.
pub fn validate_checks(
    specs: &[CheckSpec],
    field: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<CheckConfig>, Vec<FieldError>> {
    let mut configs = Vec::new();
    let mut errors = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        match spec.validate(&format!("{field}[{i}]"), env) {
            Ok(c) => {
                if let Some(first) = configs
                    .iter()
                    .position(|(_, other): &(usize, CheckConfig)| other.name == c.name)
                {
                    let first_index = configs[first].0;
                    errors.push(FieldError::new(
                        format!("{field}[{i}].name"),
                        format!(
                            "duplicate check name `{}` (also {field}[{first_index}]): give each \
                             check of an instance its own `name`",
                            c.name
                        ),
                    ));
                }
                configs.push((i, c));
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(configs.into_iter().map(|(_, c)| c).collect())
    } else {
        Err(errors)
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a check name: use 1 to 64 letters, digits, `-`, `_` or `.`"
        ))
    }
}

fn check_interface_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not an interface name (1 to 15 characters, no `/`, `:` or spaces)"
        ))
    }
}

fn check_node_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !name.starts_with(['-', '.'])
        && !name.ends_with(['-', '.']);
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a Kubernetes node name (lowercase letters, digits, `-` and `.`)"
        ))
    }
}

/// Parses `host:port` (IPv6 bracketed) into a bare host and a port.
pub(crate) fn parse_host_port(address: &str) -> Result<(String, u16), String> {
    let fail = |why: &str| {
        Err(format!(
            "`{address}` is not host:port ({why}); write e.g. 127.0.0.1:6443, \
             localhost:6443 or [::1]:6443"
        ))
    };
    let Some((host, port)) = address.rsplit_once(':') else {
        return fail("no port");
    };
    let host = if let Some(inner) = host.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return fail("unclosed `[`");
        };
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return fail("not an IPv6 address inside `[]`");
        }
        inner
    } else {
        if host.contains(':') {
            return fail("an IPv6 address needs brackets");
        }
        host
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
        return fail("no host");
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok((host.to_owned(), p)),
        _ => fail("the port must be 1..65535"),
    }
}

pub(crate) fn display_duration(d: Duration) -> String {
    ConfigDuration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)).to_string()
}

/// Serializes a [`Duration`] the way configuration writes it (`500ms`, `2s`).
pub(crate) fn serialize_std_duration<S: Serializer>(
    d: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&display_duration(*d))
}

pub(crate) fn to_config_duration(d: Duration) -> ConfigDuration {
    ConfigDuration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::parse_host_port;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("127.0.0.1:6443"),
            Ok(("127.0.0.1".into(), 6443))
        );
        assert_eq!(parse_host_port("[::1]:6443"), Ok(("::1".into(), 6443)));
        assert_eq!(
            parse_host_port("localhost:80"),
            Ok(("localhost".into(), 80))
        );
        for bad in [
            "::1:6443",
            "[::1:6443",
            "host",
            "host:0",
            "host:x",
            ":80",
            "[zz]:80",
        ] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
    }
}
