//! Validated check configuration, the runtime types built by
//! [`CheckSpec::validate`](crate::CheckSpec::validate), and their rendering back to the
//! written shape ([`CheckConfig::to_spec`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::address::ParsedUrl;
use crate::damping::DampingConfig;
use crate::duration::to_config_duration;
use crate::spec::{
    CheckAction, CheckSpec, DampingSpec, ExecSpec, FileSpec, HttpSpec, InitialState, InterfaceSpec,
    KubeApiSpec, NodeReadySpec, TcpSpec,
};

/// One validated health check.
///
/// Serializes to the YAML shape of [`CheckSpec`] with every default filled in (for
/// `vipd check-config`); it shows file paths but never a token.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CheckConfig {
    /// Unique within its instance.
    pub name: String,
    /// The builtin it came from, if any.
    pub builtin: Option<String>,
    /// What is probed.
    pub kind: CheckKind,
    /// Time between probe starts.
    pub interval: Duration,
    /// Bound on each probe; below `interval`.
    pub timeout: Duration,
    /// Consecutive successes to go up.
    pub rise: u32,
    /// Consecutive failures to go down.
    pub fall: u32,
    /// What the check does to its instance.
    pub effect: CheckEffect,
    /// State before the first decision.
    pub initial: InitialState,
    /// Flap damping.
    pub damping: Option<DampingConfig>,
}

/// What a check does to the priority or eligibility of its instance; keepalived's meaning.
///
/// For a `file` check the weight multiplies the number read from the file instead (see
/// [`FileCheck`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckEffect {
    /// Fault while down (keepalived weight 0).
    Fault,
    /// A positive weight is added to the priority while the check is up, a negative one while
    /// it is down. Never 0.
    Weight(i16),
}

/// What a check probes.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CheckKind {
    /// HTTP or HTTPS GET.
    Http(HttpCheck),
    /// TCP connect.
    Tcp(TcpCheck),
    /// Run a program.
    Exec(ExecCheck),
    /// A number in a file (keepalived `track_file`).
    File(FileCheck),
    /// Interface link state.
    Interface(InterfaceCheck),
    /// Kubernetes API server health endpoint.
    KubeApi(KubeApiCheck),
    /// Kubernetes node `Ready` condition.
    NodeReady(NodeReadyCheck),
    /// A probe of the embedder's ([`CheckConfig::custom`]).
    Custom(crate::CustomCheck),
}

/// `http` check settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpCheck {
    /// The URL as written.
    pub url: String,
    /// The URL, parsed.
    pub target: ParsedUrl,
    /// Statuses that count as up.
    pub expect_status: Vec<u16>,
    /// Trust only these CAs (PEM), else the system bundle.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM).
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM).
    pub client_key: Option<PathBuf>,
    /// Bearer token file, read on every probe.
    pub bearer_token_file: Option<PathBuf>,
    /// Host header and TLS server name override.
    pub host: Option<String>,
    /// Accept any server certificate.
    pub insecure_skip_verify: bool,
}

/// `tcp` check settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpCheck {
    /// As written.
    pub address: String,
    /// Host (name or address, no brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

/// `exec` check settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExecCheck {
    /// argv, or the one string for `/bin/sh -c`.
    pub command: Vec<String>,
    /// Run with `/bin/sh -c`.
    pub shell: bool,
    /// The user and group it runs as; `None`: the daemon's own.
    pub run_as: Option<crate::RunAs>,
}

/// `file` check settings: keepalived's `track_file`.
///
/// The file is read on every probe and the number at its start is taken (decimal, or `0x` hex
/// or leading-`0` octal, after optional whitespace and sign; anything after it is ignored).
/// A missing, unreadable or empty file, or text that does not start with a number, reads as
/// 0; a number beyond the 32-bit range is ignored (the previous value stays).
///
/// * With `action: fault` (keepalived weight 0), a non-zero number is down (Fault) and 0 is
///   up.
/// * With a `weight` (default 1), the number times the weight is the priority adjustment; a
///   result at or below -254 is down (Fault), and one above 253 counts as 253.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileCheck {
    /// The file.
    pub path: PathBuf,
}

/// `interface` check settings: up while `/sys/class/net/NAME/operstate` is `up` (or `unknown`
/// with carrier, as for loopback); down when it is anything else or the interface is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InterfaceCheck {
    /// Interface name.
    pub name: String,
}

/// Where and how in-cluster checks reach the Kubernetes API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KubeEndpoint {
    /// API server host (no brackets).
    pub host: String,
    /// API server port.
    pub port: u16,
    /// Bearer token file, read on every probe.
    pub token_file: PathBuf,
    /// CA bundle trusted for the API server.
    pub ca_file: PathBuf,
}

/// `kube_api` check settings: GET `https://HOST:PORT/PATH`, up on 200.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KubeApiCheck {
    /// Path, e.g. `/healthz` or `/livez`.
    pub path: String,
    /// The API server.
    pub endpoint: KubeEndpoint,
}

/// `node_ready` check settings: GET `/api/v1/nodes/NODE`, up iff its `Ready` condition is
/// `"True"`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeReadyCheck {
    /// Node name.
    pub node: String,
    /// The API server.
    pub endpoint: KubeEndpoint,
}

impl CheckConfig {
    /// The configuration in its YAML shape with every default filled in.
    #[must_use]
    pub fn to_spec(&self) -> CheckSpec {
        let mut spec = CheckSpec {
            name: Some(self.name.clone()),
            builtin: self.builtin.clone(),
            interval: Some(to_config_duration(self.interval)),
            timeout: Some(to_config_duration(self.timeout)),
            rise: Some(self.rise),
            fall: Some(self.fall),
            initial: Some(self.initial),
            damping: self.damping.map(|d| DampingSpec {
                penalty: Some(d.penalty),
                half_life: Some(to_config_duration(d.half_life)),
                suppress: Some(d.suppress),
                reuse: Some(d.reuse),
                max_suppress: Some(to_config_duration(d.max_suppress)),
            }),
            ..CheckSpec::default()
        };
        match self.effect {
            CheckEffect::Fault => spec.action = Some(CheckAction::Fault),
            CheckEffect::Weight(w) => spec.weight = Some(i32::from(w)),
        }
        match &self.kind {
            CheckKind::Http(h) => {
                spec.http = Some(HttpSpec {
                    url: Some(h.url.clone()),
                    expect_status: Some(h.expect_status.clone()),
                    ca_file: h.ca_file.clone(),
                    client_cert: h.client_cert.clone(),
                    client_key: h.client_key.clone(),
                    bearer_token_file: h.bearer_token_file.clone(),
                    host: h.host.clone(),
                    insecure_skip_verify: h.target.https.then_some(h.insecure_skip_verify),
                });
            }
            CheckKind::Tcp(t) => {
                spec.tcp = Some(TcpSpec {
                    address: Some(t.address.clone()),
                });
            }
            CheckKind::Exec(e) => {
                spec.exec = Some(ExecSpec {
                    command: Some(e.command.clone()),
                    shell: Some(e.shell),
                    run_as: e.run_as.map(crate::RunAs::to_spec),
                });
            }
            CheckKind::File(f) => {
                spec.file = Some(FileSpec {
                    path: Some(f.path.clone()),
                });
            }
            CheckKind::Interface(i) => {
                spec.interface = Some(InterfaceSpec {
                    name: Some(i.name.clone()),
                });
            }
            CheckKind::KubeApi(k) => {
                spec.kube_api = Some(KubeApiSpec {
                    path: Some(k.path.clone()),
                    host: Some(k.endpoint.host.clone()),
                    port: Some(k.endpoint.port),
                    token_file: Some(k.endpoint.token_file.clone()),
                    ca_file: Some(k.endpoint.ca_file.clone()),
                });
            }
            CheckKind::NodeReady(n) => {
                spec.node_ready = Some(NodeReadySpec {
                    node: Some(n.node.clone()),
                    host: Some(n.endpoint.host.clone()),
                    port: Some(n.endpoint.port),
                    token_file: Some(n.endpoint.token_file.clone()),
                    ca_file: Some(n.endpoint.ca_file.clone()),
                });
            }
            // A program's own probe has no written form: only its timing and effect show.
            CheckKind::Custom(_) => {}
        }
        spec
    }
}

impl Serialize for CheckConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_spec().serialize(serializer)
    }
}
