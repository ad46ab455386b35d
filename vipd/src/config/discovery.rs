//! `unicast_peers_from`: unicast peers discovered at run time, as written and as validated.
//!
//! ```yaml
//! unicast_peers_from:
//!   kubernetes:
//!     pods:                      # the pods of this workload (host network: pod IP = node IP)
//!       selector: app.kubernetes.io/name=vipd
//!       namespace: kube-system   # default: the pod's own namespace
//!     # or nodes: { selector: node-role.kubernetes.io/control-plane }
//!     # host, port, token_file, ca_file: default in-cluster
//! ```

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use vip_health::{FieldError, KubeEndpoint};

/// Where discovered peers come from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeerSourceSpec {
    /// The Kubernetes API.
    pub kubernetes: KubernetesPeersSpec,
}

/// Peers from the Kubernetes API: exactly one of `pods` and `nodes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesPeersSpec {
    /// The pods of this vipd workload, read with a namespaced Role (least privilege).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodsSpec>,
    /// The Nodes matching a label selector, read with a ClusterRole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<NodesSpec>,
    /// API server host; default `$KUBERNETES_SERVICE_HOST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// API server port; default `$KUBERNETES_SERVICE_PORT`, else 443.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Bearer token file; default the service account's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// CA bundle of the API server; default the service account's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// `pods:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PodsSpec {
    /// Label selector of the vipd pods, e.g. `app.kubernetes.io/name=vipd`.
    #[serde(default)]
    pub selector: String,
    /// Their namespace; default the pod's own (from the service account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `nodes:` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodesSpec {
    /// Label selector of the nodes; empty for every node.
    #[serde(default)]
    pub selector: String,
}

/// A validated peer source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub(crate) objects: PeerObjects,
    pub(crate) endpoint: KubeEndpoint,
}

impl Discovery {
    /// The objects whose addresses are the peers.
    #[must_use]
    pub const fn objects(&self) -> &PeerObjects {
        &self.objects
    }

    /// The API server.
    #[must_use]
    pub const fn endpoint(&self) -> &KubeEndpoint {
        &self.endpoint
    }
}

/// The Kubernetes objects whose addresses are the peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerObjects {
    /// Pods matching `selector` in `namespace` (`None`: the pod's own namespace).
    Pods {
        /// The namespace.
        namespace: Option<String>,
        /// The label selector.
        selector: String,
    },
    /// Nodes matching `selector` (empty: all).
    Nodes {
        /// The label selector.
        selector: String,
    },
}

impl fmt::Display for PeerObjects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pods {
                namespace,
                selector,
            } => write!(
                f,
                "pods {selector} in {}",
                namespace.as_deref().unwrap_or("this pod's namespace")
            ),
            Self::Nodes { selector } if selector.is_empty() => f.write_str("all nodes"),
            Self::Nodes { selector } => write!(f, "nodes {selector}"),
        }
    }
}

/// A label selector as the API takes it: `key`, `key=value`, `key!=value`, `!key`,
/// `key in (a,b)` terms separated by commas; checked for what is surely wrong (blanks only,
/// control characters), the API judging the rest.
fn selector_problem(selector: &str) -> Option<String> {
    if selector.chars().any(char::is_control) {
        return Some("contains a control character".to_owned());
    }
    if !selector.is_empty() && selector.trim().is_empty() {
        return Some("is only blanks".to_owned());
    }
    if !selector.is_empty()
        && !selector.contains('(')
        && selector.split(',').any(|t| t.trim().is_empty())
    {
        return Some(format!(
            "`{selector}` has an empty term (two commas, or one at an end)"
        ));
    }
    None
}

/// A namespace name: a DNS label (RFC 1123), as Kubernetes requires.
fn namespace_problem(namespace: &str) -> Option<String> {
    let ok = !namespace.is_empty()
        && namespace.len() <= 63
        && namespace
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !namespace.starts_with('-')
        && !namespace.ends_with('-');
    (!ok).then(|| {
        format!(
            "`{namespace}` is not a namespace name (lowercase letters, digits and `-`, at most \
             63, starting and ending with a letter or digit)"
        )
    })
}

impl PeerSourceSpec {
    /// Validates the source of the instance at `prefix` (`instances[0]`).
    ///
    /// # Errors
    /// Every problem, each naming its field (`instances[0].unicast_peers_from.kubernetes.pods.selector`).
    pub(crate) fn validate(
        &self,
        prefix: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Discovery, Vec<FieldError>> {
        let at = format!("{prefix}.unicast_peers_from");
        let k = &self.kubernetes;
        let mut errors = Vec::new();
        let field = |rel: &str| format!("{at}.kubernetes.{rel}");
        let objects = match (&k.pods, &k.nodes) {
            (Some(pods), None) => {
                if pods.selector.trim().is_empty() {
                    errors.push(FieldError::new(
                        field("pods.selector"),
                        "empty: every pod of the namespace would be a peer; give the label \
                         selector of the vipd pods, e.g. app.kubernetes.io/name=vipd",
                    ));
                } else if let Some(p) = selector_problem(&pods.selector) {
                    errors.push(FieldError::new(field("pods.selector"), p));
                }
                if let Some(p) = pods.namespace.as_deref().and_then(namespace_problem) {
                    errors.push(FieldError::new(field("pods.namespace"), p));
                }
                PeerObjects::Pods {
                    namespace: pods.namespace.clone(),
                    selector: pods.selector.trim().to_owned(),
                }
            }
            (None, Some(nodes)) => {
                if let Some(p) = selector_problem(&nodes.selector) {
                    errors.push(FieldError::new(field("nodes.selector"), p));
                }
                PeerObjects::Nodes {
                    selector: nodes.selector.trim().to_owned(),
                }
            }
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    format!("{at}.kubernetes"),
                    "both `pods` and `nodes`: choose one (pods of this workload need only a \
                     namespaced Role)",
                ));
                PeerObjects::Nodes {
                    selector: String::new(),
                }
            }
            (None, None) => {
                errors.push(FieldError::new(
                    format!("{at}.kubernetes"),
                    "neither `pods` nor `nodes`: add `pods: {selector: app.kubernetes.io/name=vipd}` \
                     (the pods of this workload) or `nodes: {selector: ...}`",
                ));
                PeerObjects::Nodes {
                    selector: String::new(),
                }
            }
        };
        let endpoint = vip_health::kube_endpoint_at(
            &at,
            "kubernetes",
            k.host.as_ref(),
            k.port,
            k.token_file.as_ref(),
            k.ca_file.as_ref(),
            env,
        );
        let endpoint = match endpoint {
            Ok(e) => Some(e),
            Err(list) => {
                errors.extend(list);
                None
            }
        };
        match endpoint {
            Some(endpoint) if errors.is_empty() => Ok(Discovery { objects, endpoint }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigFileError};

    /// The fields named by the errors of an instance with this `unicast_peers_from`.
    fn fields(source: &str) -> Vec<String> {
        let config = Config::from_yaml(&format!(
            "instances: [{{interface: eth0, vrid: 1, vips: [10.0.0.100/24],
               unicast_peers_from: {source}}}]"
        ))
        .unwrap();
        match config.validate() {
            Ok(_) => Vec::new(),
            Err(ConfigFileError::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Err(e) => panic!("{e}"),
        }
    }

    const API: &str = "host: 10.96.0.1, token_file: /t, ca_file: /c";

    #[test]
    fn each_mistake_names_its_field() {
        let at = "instances[0].unicast_peers_from.kubernetes";
        assert_eq!(
            fields(&format!("{{kubernetes: {{{API}}}}}")),
            vec![at.to_owned()]
        );
        assert_eq!(
            fields(&format!(
                "{{kubernetes: {{{API}, pods: {{selector: a=b}}, nodes: {{}}}}}}"
            )),
            vec![at.to_owned()]
        );
        assert_eq!(
            fields(&format!(
                "{{kubernetes: {{{API}, pods: {{namespace: vip}}}}}}"
            )),
            vec![format!("{at}.pods.selector")]
        );
        assert_eq!(
            fields(&format!(
                "{{kubernetes: {{{API}, pods: {{selector: a=b, namespace: Not_A_Namespace}}}}}}"
            )),
            vec![format!("{at}.pods.namespace")]
        );
        assert_eq!(
            fields(&format!(
                "{{kubernetes: {{{API}, nodes: {{selector: 'a=b,,c=d'}}}}}}"
            )),
            vec![format!("{at}.nodes.selector")]
        );
        assert_eq!(
            fields(&format!("{{kubernetes: {{{API}, port: 0, nodes: {{}}}}}}")),
            vec![format!("{at}.port")]
        );
        assert!(fields(&format!("{{kubernetes: {{{API}, nodes: {{}}}}}}")).is_empty());
        assert!(
            fields(&format!(
                "{{kubernetes: {{{API}, pods: {{selector: 'app.kubernetes.io/name=vipd'}}}}}}"
            ))
            .is_empty()
        );
    }

    #[test]
    fn discovery_keeps_the_instance_unicast_without_peers() {
        let config = Config::from_yaml(&format!(
            "instances: [{{interface: eth0, vrid: 1, vips: [10.0.0.100/24],
               unicast_peers_from: {{kubernetes: {{{API}, nodes: {{}}}}}}}}]"
        ))
        .unwrap();
        let plan = config.validate().unwrap();
        let engine = plan.instances()[0].engine();
        assert!(engine.unicast_peers.is_empty());
        assert!(engine.is_unicast(), "no silent multicast fallback");
        let plain =
            Config::from_yaml("instances: [{interface: eth0, vrid: 1, vips: [10.0.0.100/24]}]")
                .unwrap()
                .validate()
                .unwrap();
        assert!(!plain.instances()[0].engine().is_unicast());
    }
}
