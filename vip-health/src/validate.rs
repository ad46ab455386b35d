//! The rules: [`CheckSpec::validate`] and [`validate_checks`] turn the configuration as
//! written ([`CheckSpec`]) into validated [`CheckConfig`]s, or a list of [`FieldError`]s.

use std::time::Duration;

use crate::address::{ParsedUrl, check_interface_name, parse_host_port};
use crate::builtins;
use crate::config::{
    CheckConfig, CheckEffect, CheckKind, ExecCheck, FileCheck, HttpCheck, InterfaceCheck,
    KubeApiCheck, NodeReadyCheck, TcpCheck,
};
use crate::damping::DampingConfig;
use crate::duration::{ConfigDuration, display_duration};
use crate::env::{kube_endpoint, node_name};
use crate::field_error::{FieldError, FieldErrors};
use crate::spec::{CheckAction, CheckSpec, HttpSpec};

/// Interval of a check that gives none (keepalived's `vrrp_script` default).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// Upper bound of the default timeout, which is half the interval but at most this.
pub const DEFAULT_TIMEOUT_CAP: Duration = Duration::from_secs(2);
/// The shortest interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The largest `|weight|`, as for keepalived's `track_file` and `track_process`.
pub const MAX_WEIGHT: i32 = 254;

impl CheckSpec {
    /// Validates this check. `field` is its path for error messages (e.g.
    /// `instances[0].checks[1]`); `env` looks up environment variables
    /// (`KUBERNETES_SERVICE_HOST`, `KUBERNETES_SERVICE_PORT`, `NODE_NAME`), usually
    /// [`process_env`](crate::process_env). Touches no file and no network.
    ///
    /// # Errors
    /// Every problem found, each naming its field and the fix.
    pub fn validate(
        &self,
        field: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<CheckConfig, Vec<FieldError>> {
        let mut errors = FieldErrors::new(field);
        let Some(spec) = builtins::resolve(self, &mut errors) else {
            return Err(errors.list);
        };
        let config = spec.validate_merged(&mut errors, env);
        match config {
            Some(c) if errors.is_empty() => Ok(c),
            _ => Err(errors.list),
        }
    }

    #[allow(clippy::too_many_lines)]
    fn validate_merged(
        &self,
        errors: &mut FieldErrors<'_>,
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
                CheckEffect::Fault
            }
            (Some(CheckAction::Fault), None) => CheckEffect::Fault,
            (None, Some(w)) => match i16::try_from(w) {
                Ok(w16) if (-MAX_WEIGHT..=MAX_WEIGHT).contains(&w) => {
                    if w16 == 0 {
                        CheckEffect::Fault
                    } else {
                        CheckEffect::Weight(w16)
                    }
                }
                _ => {
                    errors.push(
                        "weight",
                        format!("must be between -{MAX_WEIGHT} and {MAX_WEIGHT}; got {w}"),
                    );
                    CheckEffect::Fault
                }
            },
            // keepalived's track_file weight defaults to 1; every other kind defaults to fault.
            (None, None) if is_file => CheckEffect::Weight(1),
            (None, None) => CheckEffect::Fault,
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
        errors: &mut FieldErrors<'_>,
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
            let run_as = match e.run_as.as_ref().map(crate::RunAsSpec::resolve) {
                Some(Ok(run_as)) => Some(run_as),
                Some(Err(err)) => {
                    errors.push(&format!("exec.run_as.{}", err.field), err.message);
                    return None;
                }
                None => None,
            };
            return Some(CheckKind::Exec(ExecCheck {
                command,
                shell,
                run_as,
            }));
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
            let node = node_name(n.node.as_ref(), errors, env);
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

fn validate_http(h: &HttpSpec, errors: &mut FieldErrors<'_>) -> Option<HttpCheck> {
    let Some(url) = &h.url else {
        errors.push(
            "http.url",
            "required: an http:// or https:// URL, e.g. http://127.0.0.1:10254/healthz",
        );
        return None;
    };
    let parsed = match ParsedUrl::parse(url) {
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

/// Checks a check's name: short, and safe in logs, metrics labels and file names.
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
