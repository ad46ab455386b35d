//! What validation reads from the environment: the in-cluster defaults of the Kubernetes
//! checks (`KUBERNETES_SERVICE_HOST`, `KUBERNETES_SERVICE_PORT`, `NODE_NAME`, the
//! service-account files). Validation gets the environment as a closure, usually
//! [`process_env`], so tests can give their own.

use std::path::PathBuf;

use crate::address::check_node_name;
use crate::config::KubeEndpoint;
use crate::field_error::{FieldError, FieldErrors};

/// The service-account token that in-cluster checks send by default.
pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// The service-account CA that in-cluster checks trust by default.
pub const SERVICE_ACCOUNT_CA: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
/// The namespace of the pod, as its service account mounts it.
pub const SERVICE_ACCOUNT_NAMESPACE: &str =
    "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Reads the process environment; the usual `env` argument of
/// [`CheckSpec::validate`](crate::CheckSpec::validate).
#[must_use]
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The node of a `node_ready` check: `node` as given, else `$NODE_NAME`.
pub(crate) fn node_name(
    node: Option<&String>,
    errors: &mut FieldErrors<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let Some(node) = node.cloned().or_else(|| env("NODE_NAME")) else {
        errors.push(
            "node_ready.node",
            "not set and the environment variable NODE_NAME is unset: set `node`, or set \
             NODE_NAME from the downward API (fieldRef spec.nodeName)",
        );
        return None;
    };
    match check_node_name(&node) {
        Ok(()) => Some(node),
        Err(message) => {
            errors.push("node_ready.node", message);
            None
        }
    }
}

/// The API server of a Kubernetes client configured at `key` of the entry `prefix` (e.g.
/// prefix `instances[0].unicast_peers_from`, key `kubernetes`): each setting as given, else
/// its in-cluster default (`$KUBERNETES_SERVICE_HOST`, `$KUBERNETES_SERVICE_PORT` or 443,
/// the service account's token and CA).
///
/// # Errors
/// Every problem, each naming its field (`PREFIX.KEY.host`, ...).
#[allow(clippy::too_many_arguments)]
pub fn kube_endpoint_at(
    prefix: &str,
    key: &str,
    host: Option<&String>,
    port: Option<u16>,
    token_file: Option<&PathBuf>,
    ca_file: Option<&PathBuf>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<KubeEndpoint, Vec<FieldError>> {
    let mut errors = FieldErrors::new(prefix);
    let endpoint = kube_endpoint(key, host, port, token_file, ca_file, &mut errors, env);
    match endpoint {
        Some(e) if errors.list.is_empty() => Ok(e),
        _ => Err(errors.list),
    }
}

/// The API server of a `kube_api` or `node_ready` check (`key`): each setting as given, else
/// its in-cluster default.
#[allow(clippy::too_many_arguments)]
pub(crate) fn kube_endpoint(
    key: &str,
    host: Option<&String>,
    port: Option<u16>,
    token_file: Option<&PathBuf>,
    ca_file: Option<&PathBuf>,
    errors: &mut FieldErrors<'_>,
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

/// Whether the environment variable `name` is kept from the programs vipd runs (exec checks,
/// notify hooks): names starting with `VIPD_` (vipd's own settings, the VRRPv2 password among
/// them) or ending in `_PASSWORD`, `_TOKEN` or `_SECRET`, in any ASCII case. The one rule for
/// both; the programs get the rest of vipd's environment.
#[must_use]
pub fn is_secret_env(name: &std::ffi::OsStr) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let name = name.as_bytes().to_ascii_uppercase();
    name.starts_with(b"VIPD_")
        || [&b"_PASSWORD"[..], b"_TOKEN", b"_SECRET"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
}
