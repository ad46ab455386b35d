//! `vipd manifest static-pod`: the Kubernetes static Pod that runs vipd, printed without Helm,
//! for day-1 bootstrap (the VIP must be up before the API server it fronts).
//!
//! It is the Pod that the chart (`charts/vipd`) renders with `static: true`, field for field
//! (`scripts/chart-test.sh` compares the two): host network, only `NET_ADMIN` and `NET_RAW`
//! (and `SETUID`, `SETGID`, `KILL` for a `script_user`, as the chart's `scriptUser` adds),
//! a read-only root, the chart's default resources and priority class, httpGet probes on the
//! config's `api.listen`.
//!
//! A static Pod cannot use a ConfigMap or a Secret, so the configuration travels inside the
//! Pod: it is the annotation [`CONFIG_ANNOTATION`], which the downward API projects to
//! [`CONFIG_PATH`], where `vipd run` reads it (`VIPD_CONFIG`). One file,
//! `/etc/kubernetes/manifests/vipd.yaml`, is all a node needs. A VRRPv2 password cannot be in
//! the configuration (it would be visible in the annotation); it goes into the container's
//! environment as `VIPD_PASSWORD`, which is visible in the manifest and in the mirror Pod, so
//! the output carries a warning: prefer VRRPv3, which has no authentication anyway. Checks that
//! talk to the Kubernetes API (`kube-api`, `node-ready`) are refused: a static Pod has no
//! service-account token.
//!
//! ```
//! use vipd::config::Config;
//! use vipd::manifest::{StaticPodArgs, static_pod};
//!
//! let config =
//!     Config::from_yaml("instances: [{interface: eth0, vrid: 51, vips: [10.0.0.100/24]}]")
//!         .unwrap();
//! let pod = static_pod(&StaticPodArgs::default(), &config).unwrap();
//! assert!(pod.yaml.contains("kind: Pod"));
//! assert!(pod.yaml.contains("vipd.io/config"));
//! assert!(pod.warnings.is_empty());
//! ```

use std::net::SocketAddr;

use serde_yaml_ng::{Mapping, Number, Value};

use crate::config::Config;

/// The Pod annotation that holds the configuration file.
pub const CONFIG_ANNOTATION: &str = "vipd.io/config";
/// Where the configuration is mounted in the container.
pub const CONFIG_DIR: &str = "/etc/vipd";
/// The configuration file in the container.
pub const CONFIG_PATH: &str = "/etc/vipd/vipd.yaml";

/// The image of this version of vipd.
#[must_use]
pub fn default_image() -> String {
    format!("ghcr.io/vipd/vipd:{}", crate::VERSION)
}

/// The Pod's settings other than the vipd configuration; the defaults are the chart's.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct StaticPodArgs {
    /// Pod name (the kubelet appends the node's name).
    #[arg(long, default_value = "vipd")]
    pub name: String,
    /// Pod namespace.
    #[arg(long, default_value = "kube-system")]
    pub namespace: String,
    /// Container image.
    #[arg(long, default_value_t = default_image())]
    pub image: String,
    /// Image pull policy.
    #[arg(long, default_value = "IfNotPresent", value_parser = ["Always", "IfNotPresent", "Never"])]
    pub image_pull_policy: String,
    /// vipd's log level in the Pod (VIPD_LOG_LEVEL).
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// vipd's log format in the Pod (VIPD_LOG_FORMAT).
    #[arg(long, default_value = "json", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Priority class; empty for none.
    #[arg(long, default_value = "system-node-critical")]
    pub priority_class_name: String,
    /// Seconds the kubelet waits after SIGTERM: enough for the handover.
    #[arg(long, default_value_t = 30)]
    pub termination_grace_period: u32,
    /// No liveness and readiness probes (they are httpGet on the config's `api.listen`, and
    /// left out anyway when the API is off).
    #[arg(long)]
    pub no_probes: bool,
}

impl Default for StaticPodArgs {
    fn default() -> Self {
        Self {
            name: "vipd".into(),
            namespace: "kube-system".into(),
            image: default_image(),
            image_pull_policy: "IfNotPresent".into(),
            log_level: "info".into(),
            log_format: "json".into(),
            priority_class_name: "system-node-critical".into(),
            termination_grace_period: 30,
            no_probes: false,
        }
    }
}

/// A rendered static Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticPod {
    /// The Pod manifest, YAML.
    pub yaml: String,
    /// What the user should know (e.g. the password is in the manifest).
    pub warnings: Vec<String>,
}

/// Why no manifest could be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Passwords of several instances: `VIPD_PASSWORD` sets the single instance's only.
    #[error(
        "{count} instances have a password, but a static Pod passes it as VIPD_PASSWORD, which \
         sets the password of a single-instance configuration only"
    )]
    PasswordWithManyInstances {
        /// How many instances.
        count: usize,
    },
    /// A check that talks to the Kubernetes API, which a static Pod has no token for.
    #[error(
        "instances[{instance}].checks[{check}] ({what}) talks to the Kubernetes API, but a \
         static Pod has no service-account token: leave it out of the static Pod's \
         configuration (the chart's DaemonSet can run it once the cluster is up)"
    )]
    ApiCheck {
        /// The instance's index.
        instance: usize,
        /// The check's index.
        check: usize,
        /// Which check.
        what: String,
    },
    /// Peers discovered from the API, which a static Pod cannot reach, and no static peer
    /// to keep.
    #[error(
        "instances[{instance}].unicast_peers_from: a static Pod runs before the Kubernetes \
         API exists (and has no service-account token), so it cannot discover its peers; \
         list them in `unicast_peers` for the static Pod (the chart's DaemonSet can discover \
         them once the cluster is up)"
    )]
    DiscoveryWithoutStaticPeers {
        /// The instance's index.
        instance: usize,
    },
    /// The manifest could not be serialized.
    #[error("cannot render the manifest: {0}")]
    Render(String),
}

fn s(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Mapping(
        pairs
            .into_iter()
            .map(|(k, v)| (s(k), v))
            .collect::<Mapping>(),
    )
}

fn list<const N: usize>(items: [Value; N]) -> Value {
    Value::Sequence(items.into())
}

fn env(name: &str, value: &str) -> Value {
    map([("name", s(name)), ("value", s(value))])
}

/// Renders the static Pod for `config` (already validated). The config's password, if any,
/// moves to `VIPD_PASSWORD`.
///
/// # Errors
/// [`ManifestError`] when several instances have a password.
pub fn static_pod(args: &StaticPodArgs, config: &Config) -> Result<StaticPod, ManifestError> {
    for (instance, spec) in config.instances.iter().enumerate() {
        for (check, c) in spec.checks.iter().enumerate() {
            let builtin = c.builtin.as_deref();
            if c.kube_api.is_some()
                || c.node_ready.is_some()
                || matches!(builtin, Some("kube-api" | "node-ready"))
            {
                let what = builtin
                    .map(str::to_owned)
                    .or_else(|| c.name.clone())
                    .unwrap_or_else(|| "kube_api / node_ready".into());
                return Err(ManifestError::ApiCheck {
                    instance,
                    check,
                    what,
                });
            }
        }
    }
    let mut config = config.clone();
    let mut warnings = Vec::new();
    for (instance, spec) in config.instances.iter_mut().enumerate() {
        if spec.unicast_peers_from.take().is_none() {
            continue;
        }
        if spec.unicast_peers.is_empty() {
            return Err(ManifestError::DiscoveryWithoutStaticPeers { instance });
        }
        warnings.push(format!(
            "instances[{instance}].unicast_peers_from is left out: a static Pod runs before the \
             Kubernetes API exists, so it keeps its static unicast_peers ({})",
            spec.unicast_peers.join(", ")
        ));
    }
    let with_password = config
        .instances
        .iter()
        .filter(|i| i.password.is_some())
        .count();
    if with_password > 1 || (with_password == 1 && config.instances.len() > 1) {
        return Err(ManifestError::PasswordWithManyInstances {
            count: with_password,
        });
    }
    let password = config
        .instances
        .first_mut()
        .and_then(|i| i.password.take())
        .map(|p| p.0);
    if password.is_some() {
        warnings.push(
            "the VRRP password is in the manifest as VIPD_PASSWORD, and so in the mirror Pod \
             that the API server shows: keep /etc/kubernetes/manifests root-only, or use VRRPv3 \
             without authentication"
                .to_owned(),
        );
    }
    // Hooks and exec checks as another user: vipd needs to switch to it and to kill its hooks
    // (the chart's scriptUser does the same); the image has no /etc/passwd to look names up.
    let users: Vec<&vip_health::RunAsSpec> = config
        .script_user
        .iter()
        .chain(config.instances.iter().flat_map(|i| {
            i.notify.run_as.iter().chain(
                i.checks
                    .iter()
                    .filter_map(|c| c.exec.as_ref()?.run_as.as_ref()),
            )
        }))
        .collect();
    let named = users.iter().any(|u| {
        [Some(&u.user), u.group.as_ref()]
            .into_iter()
            .flatten()
            .any(|n| matches!(n, vip_health::NameOrId::Name(n) if n.parse::<u32>().is_err()))
    });
    if named {
        warnings.push(
            "script_user / run_as name a user or group: the image has no /etc/passwd or \
             /etc/group to find it in, so vipd will refuse it at start; give numeric ids \
             (user: 65534, group: 65534)"
                .to_owned(),
        );
    }
    let mut caps = vec![s("NET_ADMIN"), s("NET_RAW")];
    if !users.is_empty() {
        caps.extend([s("SETUID"), s("SETGID"), s("KILL")]);
    }
    let config_text = format!(
        "# vipd configuration of a static Pod (vipd manifest static-pod).\n{}",
        config.to_yaml()
    );
    let mut env_list = vec![
        env("VIPD_CONFIG", CONFIG_PATH),
        env("VIPD_LOG_FORMAT", &args.log_format),
        env("VIPD_LOG_LEVEL", &args.log_level),
        map([
            ("name", s("NODE_NAME")),
            (
                "valueFrom",
                map([("fieldRef", map([("fieldPath", s("spec.nodeName"))]))]),
            ),
        ]),
    ];
    if let Some(p) = &password {
        env_list.push(env("VIPD_PASSWORD", p));
    }
    let runtime_default = || map([("type", s("RuntimeDefault"))]);
    let mut container = Mapping::new();
    for (k, v) in [
        ("name", s("vipd")),
        ("image", s(&args.image)),
        ("imagePullPolicy", s(&args.image_pull_policy)),
        ("args", list([s("run")])),
        ("env", Value::Sequence(env_list)),
    ] {
        container.insert(s(k), v);
    }
    // The chart's probes: httpGet on vipd's API (the kubelet shares the host network).
    let api = match config.api.listen.trim() {
        "off" | "" => None,
        text => text.parse::<SocketAddr>().ok(),
    };
    if let Some(api) = api.filter(|_| !args.no_probes) {
        let port = || Value::Number(Number::from(api.port()));
        let probe = |path: &str, period: u64| {
            let mut get = Mapping::new();
            get.insert(s("path"), s(path));
            get.insert(s("port"), port());
            if !api.ip().is_unspecified() {
                get.insert(s("host"), s(&api.ip().to_string()));
            }
            let n = |x: u64| Value::Number(Number::from(x));
            map([
                ("httpGet", Value::Mapping(get)),
                ("initialDelaySeconds", n(0)),
                ("periodSeconds", n(period)),
                ("timeoutSeconds", n(2)),
                ("failureThreshold", n(3)),
            ])
        };
        container.insert(
            s("ports"),
            list([map([
                ("name", s("http")),
                ("containerPort", port()),
                ("protocol", s("TCP")),
            ])]),
        );
        container.insert(s("livenessProbe"), probe("/healthz", 10));
        container.insert(s("readinessProbe"), probe("/readyz", 5));
    }
    for (k, v) in [
        (
            "resources",
            map([
                ("requests", map([("cpu", s("80m")), ("memory", s("6Mi"))])),
                ("limits", map([("memory", s("12Mi"))])),
            ]),
        ),
        (
            "securityContext",
            map([
                ("allowPrivilegeEscalation", Value::Bool(false)),
                ("privileged", Value::Bool(false)),
                ("readOnlyRootFilesystem", Value::Bool(true)),
                (
                    "capabilities",
                    map([("drop", list([s("ALL")])), ("add", Value::Sequence(caps))]),
                ),
                ("seccompProfile", runtime_default()),
            ]),
        ),
        (
            "volumeMounts",
            list([map([
                ("name", s("config")),
                ("mountPath", s(CONFIG_DIR)),
                ("readOnly", Value::Bool(true)),
            ])]),
        ),
    ] {
        container.insert(s(k), v);
    }
    let mut spec = Mapping::new();
    spec.insert(s("hostNetwork"), Value::Bool(true));
    spec.insert(s("enableServiceLinks"), Value::Bool(false));
    if !args.priority_class_name.is_empty() {
        spec.insert(s("priorityClassName"), s(&args.priority_class_name));
    }
    spec.insert(
        s("terminationGracePeriodSeconds"),
        Value::Number(Number::from(u64::from(args.termination_grace_period))),
    );
    spec.insert(
        s("securityContext"),
        map([("seccompProfile", runtime_default())]),
    );
    spec.insert(s("containers"), list([Value::Mapping(container)]));
    spec.insert(
        s("volumes"),
        list([map([
            ("name", s("config")),
            (
                "downwardAPI",
                map([(
                    "items",
                    list([map([
                        ("path", s("vipd.yaml")),
                        (
                            "fieldRef",
                            map([(
                                "fieldPath",
                                s(&format!("metadata.annotations['{CONFIG_ANNOTATION}']")),
                            )]),
                        ),
                    ])]),
                )]),
            ),
        ])]),
    );
    let pod = map([
        ("apiVersion", s("v1")),
        ("kind", s("Pod")),
        (
            "metadata",
            map([
                ("name", s(&args.name)),
                ("namespace", s(&args.namespace)),
                (
                    "labels",
                    map([
                        ("app.kubernetes.io/name", s("vipd")),
                        ("app.kubernetes.io/instance", s(&args.name)),
                        ("app.kubernetes.io/version", s(crate::VERSION)),
                        ("app.kubernetes.io/component", s("vip")),
                    ]),
                ),
                ("annotations", map([(CONFIG_ANNOTATION, s(&config_text))])),
            ]),
        ),
        ("spec", Value::Mapping(spec)),
    ]);
    let body = serde_yaml_ng::to_string(&pod).map_err(|e| ManifestError::Render(e.to_string()))?;
    Ok(StaticPod {
        yaml: format!(
            "# A vipd static Pod: copy to /etc/kubernetes/manifests/ on each node that may hold \
             the VIP.\n{body}"
        ),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml: &str) -> (Value, StaticPod) {
        let config = Config::from_yaml(yaml).unwrap();
        config.validate().unwrap();
        let out = static_pod(&StaticPodArgs::default(), &config).unwrap();
        (serde_yaml_ng::from_str(&out.yaml).unwrap(), out)
    }

    #[test]
    fn the_config_travels_in_the_annotation_and_validates_again() {
        let (v, out) = pod(
            "instances: [{name: api, interface: eth0, vrid: 51, priority: 150, vips: [10.0.0.100/24]}]",
        );
        assert!(out.warnings.is_empty());
        let text = v["metadata"]["annotations"][CONFIG_ANNOTATION]
            .as_str()
            .unwrap();
        let again = Config::from_yaml(text).unwrap();
        let plan = again.validate().unwrap();
        assert_eq!(plan.instances()[0].name(), "api");
        assert_eq!(plan.instances()[0].engine().priority.get(), 150);
        let path = v["spec"]["volumes"][0]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"]
            .as_str()
            .unwrap();
        assert_eq!(path, "metadata.annotations['vipd.io/config']");
        let c = &v["spec"]["containers"][0];
        assert_eq!(c["env"][0]["value"].as_str(), Some(CONFIG_PATH));
        assert_eq!(c["volumeMounts"][0]["mountPath"].as_str(), Some(CONFIG_DIR));
    }

    #[test]
    fn the_probes_follow_the_api_address() {
        let (v, _) = pod("instances: [{interface: eth0, vrid: 51, vips: [10.0.0.100/24]}]");
        let c = &v["spec"]["containers"][0];
        assert_eq!(
            c["livenessProbe"]["httpGet"]["path"].as_str(),
            Some("/healthz")
        );
        assert_eq!(
            c["readinessProbe"]["httpGet"]["path"].as_str(),
            Some("/readyz")
        );
        assert_eq!(c["livenessProbe"]["httpGet"]["port"].as_u64(), Some(9370));
        assert_eq!(
            c["livenessProbe"]["httpGet"]["host"].as_str(),
            Some("127.0.0.1")
        );
        let (v, _) = pod(
            "api: {listen: '0.0.0.0:9999'}\ninstances: [{interface: eth0, vrid: 51, vips: [10.0.0.100/24]}]",
        );
        let get = &v["spec"]["containers"][0]["readinessProbe"]["httpGet"];
        assert_eq!(get["port"].as_u64(), Some(9999));
        assert!(get.get("host").is_none());
        let (v, _) = pod(
            "api: {listen: 'off'}\ninstances: [{interface: eth0, vrid: 51, vips: [10.0.0.100/24]}]",
        );
        assert!(v["spec"]["containers"][0].get("livenessProbe").is_none());
    }

    #[test]
    fn a_script_user_adds_setuid_setgid_and_kill_and_names_are_warned_about() {
        let (v, out) = pod("script_user: {user: 65534, group: 65534}\n\
             instances: [{interface: eth0, vrid: 51, vips: [10.0.0.100/24]}]");
        assert_eq!(
            v["spec"]["containers"][0]["securityContext"]["capabilities"]["add"],
            list([
                s("NET_ADMIN"),
                s("NET_RAW"),
                s("SETUID"),
                s("SETGID"),
                s("KILL")
            ])
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let (_, out) = pod(
            "instances: [{interface: eth0, vrid: 51, vips: [10.0.0.100/24], \
             checks: [{name: c, exec: {command: [/bin/true], run_as: {user: root}}}]}]",
        );
        assert!(
            out.warnings
                .iter()
                .any(|w| w.contains("the image has no /etc/passwd")),
            "{:?}",
            out.warnings
        );
    }

    #[test]
    fn only_net_admin_and_net_raw_on_a_read_only_root() {
        let (v, _) = pod("instances: [{interface: eth0, vrid: 51, vips: [10.0.0.100/24]}]");
        let sc = &v["spec"]["containers"][0]["securityContext"];
        assert_eq!(sc["capabilities"]["drop"], list([s("ALL")]));
        assert_eq!(
            sc["capabilities"]["add"],
            list([s("NET_ADMIN"), s("NET_RAW")])
        );
        assert_eq!(sc["readOnlyRootFilesystem"], Value::Bool(true));
        assert_eq!(sc["allowPrivilegeEscalation"], Value::Bool(false));
        assert_eq!(v["spec"]["hostNetwork"], Value::Bool(true));
    }

    #[test]
    fn the_password_goes_to_the_environment_never_the_annotation() {
        let (v, out) = pod(
            "instances: [{interface: eth0, vrid: 51, version: 2, password: s3cret, vips: [10.0.0.100/24]}]",
        );
        let text = v["metadata"]["annotations"][CONFIG_ANNOTATION]
            .as_str()
            .unwrap();
        assert!(
            !text.contains("s3cret") && !text.contains("password"),
            "{text}"
        );
        let env = v["spec"]["containers"][0]["env"].as_sequence().unwrap();
        assert!(env.contains(&super::env("VIPD_PASSWORD", "s3cret")));
        assert_eq!(out.warnings.len(), 1);
    }

    #[test]
    fn checks_that_need_the_api_are_refused() {
        for check in [
            "{builtin: kube-api}",
            "{builtin: node-ready}",
            "{name: api, kube_api: {}}",
        ] {
            let config = Config::from_yaml(&format!(
                "instances: [{{interface: eth0, vrid: 51, vips: [10.0.0.1/24], checks: [{{builtin: kubelet}}, {check}]}}]"
            ))
            .unwrap();
            let e = static_pod(&StaticPodArgs::default(), &config).unwrap_err();
            assert!(
                matches!(
                    e,
                    ManifestError::ApiCheck {
                        instance: 0,
                        check: 1,
                        ..
                    }
                ),
                "{check}: {e}"
            );
        }
    }

    #[test]
    fn discovery_gives_way_to_the_static_peers() {
        let source = "unicast_peers_from: {kubernetes: {host: 127.0.0.1, token_file: /t, \
                      ca_file: /c, pods: {selector: app=vipd, namespace: vip}}}";
        let config = Config::from_yaml(&format!(
            "instances: [{{interface: eth0, vrid: 51, vips: [10.0.0.1/24], \
             unicast_peers: [10.0.0.2, 10.0.0.3], {source}}}]"
        ))
        .unwrap();
        let (pod, out) = {
            let out = static_pod(&StaticPodArgs::default(), &config).unwrap();
            let pod: Value = serde_yaml_ng::from_str(&out.yaml).unwrap();
            (pod, out)
        };
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        assert!(
            out.warnings[0].contains("keeps its static unicast_peers (10.0.0.2, 10.0.0.3)"),
            "{}",
            out.warnings[0]
        );
        let text = pod["metadata"]["annotations"][CONFIG_ANNOTATION]
            .as_str()
            .unwrap();
        assert!(!text.contains("unicast_peers_from"), "{text}");
        assert!(text.contains("10.0.0.3"), "{text}");

        let alone = Config::from_yaml(&format!(
            "instances: [{{interface: eth0, vrid: 51, vips: [10.0.0.1/24], {source}}}]"
        ))
        .unwrap();
        let e = static_pod(&StaticPodArgs::default(), &alone).unwrap_err();
        assert!(
            matches!(
                e,
                ManifestError::DiscoveryWithoutStaticPeers { instance: 0 }
            ),
            "{e}"
        );
        assert!(
            e.to_string().contains("list them in `unicast_peers`"),
            "{e}"
        );
    }

    #[test]
    fn passwords_of_several_instances_are_refused() {
        let config = Config::from_yaml(
            "instances: [{interface: eth0, vrid: 51, version: 2, password: a, vips: [10.0.0.1/24]}, {interface: eth0, vrid: 52, vips: [10.0.0.2/24]}]",
        )
        .unwrap();
        let e = static_pod(&StaticPodArgs::default(), &config).unwrap_err();
        assert!(
            matches!(e, ManifestError::PasswordWithManyInstances { count: 1 }),
            "{e}"
        );
    }
}
