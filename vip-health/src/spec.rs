//! The configuration as written: [`CheckSpec`] and its parts, deserialized from YAML with
//! unknown fields refused. Plain data; builtins are in `builtins`, the rules in `validate`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::duration::ConfigDuration;

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
    pub action: Option<CheckAction>,
    /// -254..254, keepalived's meaning. Exclusive with `action`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// State before the first result: `up`, `down`, or `first_result` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<InitialState>,
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
    /// The user and group to run it as, with no capabilities (keepalived's `vrrp_script`
    /// `user`); default vipd's `script_user`, else vipd's own user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<crate::RunAsSpec>,
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
pub enum CheckAction {
    /// The instance goes to Fault (gives up or never takes the VIP) while the check is down.
    Fault,
}

/// The state of a check before its first rise/fall decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InitialState {
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

impl CheckSpec {
    /// The kind keys that are set, by their YAML names.
    pub(crate) fn kind_keys(&self) -> Vec<&'static str> {
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
}
