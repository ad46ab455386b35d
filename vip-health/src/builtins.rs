//! The built-in checks (`builtin: service`, ...) with the seed charts' defaults, and how a
//! check that names one is laid over it.

use crate::duration::ConfigDuration;
use crate::field_error::FieldErrors;
use crate::spec::{CheckAction, CheckSpec, HttpSpec, KubeApiSpec, NodeReadySpec};

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
            action: Some(CheckAction::Fault),
            ..base
        },
        "kubelet" => CheckSpec {
            http: Some(http("http://127.0.0.1:10248/healthz")),
            interval: Some(ConfigDuration::from_secs(5)),
            rise: Some(1),
            fall: Some(5),
            action: Some(CheckAction::Fault),
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
            action: Some(CheckAction::Fault),
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

/// `spec` with its builtin's settings filled in (or `spec` itself when it names none).
///
/// `None`, with the errors recorded, when the builtin is unknown or `spec` gives a kind key
/// other than the builtin's.
pub(crate) fn resolve(spec: &CheckSpec, errors: &mut FieldErrors<'_>) -> Option<CheckSpec> {
    let Some(builtin) = &spec.builtin else {
        return Some(spec.clone());
    };
    let Some(base) = builtin_spec(builtin) else {
        errors.push(
            "builtin",
            format!(
                "unknown builtin `{builtin}`; the builtins are {}",
                BUILTINS.join(", ")
            ),
        );
        return None;
    };
    let base_kind = base.kind_keys();
    for key in spec.kind_keys() {
        if !base_kind.contains(&key) {
            errors.push(
                key,
                format!(
                    "builtin `{builtin}` is a `{}` check; override its settings under `{}:` \
                     or drop `builtin` to define a `{key}` check",
                    base_kind.join(""),
                    base_kind.join("")
                ),
            );
        }
    }
    if !errors.is_empty() {
        return None;
    }
    Some(over(spec, &base))
}

/// `user` laid over `base` (a builtin's): every field given in `user` wins, and so does the
/// pair `action`/`weight` if either is given.
fn over(user: &CheckSpec, base: &CheckSpec) -> CheckSpec {
    let effect_given = user.action.is_some() || user.weight.is_some();
    CheckSpec {
        name: merge_opt(user.name.as_ref(), base.name.as_ref()),
        builtin: user.builtin.clone(),
        http: merge_http(user.http.as_ref(), base.http.as_ref()),
        tcp: merge_opt(user.tcp.as_ref(), base.tcp.as_ref()),
        exec: merge_opt(user.exec.as_ref(), base.exec.as_ref()),
        file: merge_opt(user.file.as_ref(), base.file.as_ref()),
        interface: merge_opt(user.interface.as_ref(), base.interface.as_ref()),
        kube_api: merge_kube(user.kube_api.as_ref(), base.kube_api.as_ref()),
        node_ready: merge_node(user.node_ready.as_ref(), base.node_ready.as_ref()),
        interval: user.interval.or(base.interval),
        timeout: user.timeout.or(base.timeout),
        rise: user.rise.or(base.rise),
        fall: user.fall.or(base.fall),
        action: if effect_given {
            user.action
        } else {
            base.action
        },
        weight: if effect_given {
            user.weight
        } else {
            base.weight
        },
        initial: user.initial.or(base.initial),
        damping: merge_opt(user.damping.as_ref(), base.damping.as_ref()),
    }
}
