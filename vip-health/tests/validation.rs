//! Configuration: every validation error names its field; builtins, defaults, durations and
//! the effective configuration round trip.

use std::time::Duration;

use vip_health::{
    CheckConfig, CheckEffect, CheckKind, CheckSpec, FieldError, InitialState, validate_checks,
};

fn specs(yaml: &str) -> Vec<CheckSpec> {
    serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn errors(yaml: &str) -> Vec<FieldError> {
    validate_checks(&specs(yaml), "instances[0].checks", &no_env)
        .expect_err("the configuration is invalid")
}

fn valid(yaml: &str) -> Vec<CheckConfig> {
    validate_checks(&specs(yaml), "instances[0].checks", &no_env)
        .unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn every_error_names_its_field_and_the_fix() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "- name: a\n  http: { url: 'http://x/' }\n  interval: 1s\n  timeout: 1s",
            "instances[0].checks[0].timeout",
            "must be below the interval (1s); got 1s",
        ),
        (
            "- name: a\n  http: { url: 'http://x/' }\n  tcp: { address: 'x:1' }",
            "instances[0].checks[0].tcp",
            "more than one check kind (http, tcp)",
        ),
        (
            "- name: a\n  interval: 2s",
            "instances[0].checks[0]",
            "no check kind: give exactly one of http, tcp, exec",
        ),
        (
            "- builtin: kubelett",
            "instances[0].checks[0].builtin",
            "unknown builtin `kubelett`; the builtins are service, kubelet, kube-api, node-ready",
        ),
        (
            "- name: a\n  tcp: { address: 'x:1' }\n  weight: 300",
            "instances[0].checks[0].weight",
            "must be between -254 and 254; got 300",
        ),
        (
            "- name: a\n  tcp: { address: 'x:1' }\n  weight: -255",
            "instances[0].checks[0].weight",
            "must be between -254 and 254; got -255",
        ),
        (
            "- name: a\n  tcp: { address: 'x:1' }\n  weight: -10\n  action: fault",
            "instances[0].checks[0].weight",
            "give either `action: fault` or a `weight`, not both",
        ),
        (
            "- name: a\n  http: { url: 'ftp://x/' }",
            "instances[0].checks[0].http.url",
            "the scheme must be http or https, not ftp",
        ),
        (
            "- name: a\n  http: { url: '127.0.0.1:80/healthz' }",
            "instances[0].checks[0].http.url",
            "is not a URL (invalid format): write http://HOST[:PORT]/PATH",
        ),
        (
            "- name: a\n  http: { url: 'http://user:pw@x/' }",
            "instances[0].checks[0].http.url",
            "credentials in the URL are not supported; use bearer_token_file",
        ),
        (
            "- name: a\n  http: {}",
            "instances[0].checks[0].http.url",
            "required: an http:// or https:// URL",
        ),
        (
            "- name: a\n  http: { url: 'https://x/', client_cert: /c.pem }",
            "instances[0].checks[0].http.client_key",
            "required with client_cert",
        ),
        (
            "- name: a\n  http: { url: 'https://x/', client_key: /k.pem }",
            "instances[0].checks[0].http.client_cert",
            "required with client_key",
        ),
        (
            "- name: a\n  http: { url: 'http://x/', ca_file: /ca.pem }",
            "instances[0].checks[0].http.ca_file",
            "is a TLS setting and the url is http://",
        ),
        (
            "- name: a\n  http: { url: 'http://x/', insecure_skip_verify: true }",
            "instances[0].checks[0].http.insecure_skip_verify",
            "is a TLS setting and the url is http://",
        ),
        (
            "- name: a\n  http: { url: 'https://x/', ca_file: /ca.pem, insecure_skip_verify: true }",
            "instances[0].checks[0].http.insecure_skip_verify",
            "cannot be combined with ca_file",
        ),
        (
            "- name: a\n  http: { url: 'http://x/', expect_status: [] }",
            "instances[0].checks[0].http.expect_status",
            "must list at least one status",
        ),
        (
            "- name: a\n  http: { url: 'http://x/', expect_status: [200, 999] }",
            "instances[0].checks[0].http.expect_status",
            "999 is not an HTTP status",
        ),
        (
            "- name: a\n  tcp: { address: 'x:1' }\n  rise: 0",
            "instances[0].checks[0].rise",
            "must be at least 1",
        ),
        (
            "- name: a\n  tcp: { address: 'x:1' }\n  fall: 0",
            "instances[0].checks[0].fall",
            "must be at least 1",
        ),
        (
            "- name: a\n  tcp: { address: '::1:6443' }",
            "instances[0].checks[0].tcp.address",
            "an IPv6 address needs brackets",
        ),
        (
            "- name: a\n  tcp: { address: '127.0.0.1' }",
            "instances[0].checks[0].tcp.address",
            "no port",
        ),
        (
            "- name: a\n  tcp: { address: '127.0.0.1:99999' }",
            "instances[0].checks[0].tcp.address",
            "the port must be 1..65535",
        ),
        (
            "- name: a\n  exec: { command: [] }",
            "instances[0].checks[0].exec.command",
            "required: the program and its arguments",
        ),
        (
            "- name: a\n  exec: { command: ['test', '-f', '/x'], shell: true }",
            "instances[0].checks[0].exec.command",
            "with `shell: true` give one string for `/bin/sh -c`; got 3 strings",
        ),
        (
            "- name: a\n  file: {}",
            "instances[0].checks[0].file.path",
            "required",
        ),
        (
            "- name: a\n  interface: { name: 'eth0/..' }",
            "instances[0].checks[0].interface.name",
            "is not an interface name",
        ),
        (
            "- builtin: node-ready",
            "instances[0].checks[0].node_ready.node",
            "the environment variable NODE_NAME is unset",
        ),
        (
            "- builtin: node-ready\n  node_ready: { node: Worker_1, host: h }",
            "instances[0].checks[0].node_ready.node",
            "is not a Kubernetes node name",
        ),
        (
            "- builtin: kube-api",
            "instances[0].checks[0].kube_api.host",
            "the environment variable KUBERNETES_SERVICE_HOST is unset",
        ),
        (
            "- builtin: kube-api\n  kube_api: { host: h, path: healthz }",
            "instances[0].checks[0].kube_api.path",
            "must be an absolute path",
        ),
        (
            "- tcp: { address: 'x:1' }",
            "instances[0].checks[0].name",
            "required: give the check a name",
        ),
        (
            "- name: 'has space'\n  tcp: { address: 'x:1' }",
            "instances[0].checks[0].name",
            "is not a check name",
        ),
        (
            "- builtin: service\n  tcp: { address: 'x:1' }",
            "instances[0].checks[0].tcp",
            "builtin `service` is a `http` check; override its settings under `http:`",
        ),
        (
            "- name: a\n  tcp: { address: 'x:1' }\n  damping: { reuse: 3000 }",
            "instances[0].checks[0].damping.reuse",
            "must be below suppress (2000)",
        ),
        (
            "- name: a\n  tcp: { address: 'x:1' }\n  damping: { half_life: 30s, max_suppress: 10s }",
            "instances[0].checks[0].damping.max_suppress",
            "could never be suppressed",
        ),
        (
            "- name: a\n  tcp: { address: 'x:1' }\n  interval: 0s",
            "instances[0].checks[0].interval",
            "must be at least 10ms",
        ),
        (
            "- name: a\n  tcp: { address: 'x:1' }\n  timeout: 0ms",
            "instances[0].checks[0].timeout",
            "must be above 0",
        ),
        (
            "- name: a\n  tcp: { address: 'x:1' }\n- name: b\n  tcp: { address: 'x:2' }\n- name: a\n  exec: { command: [x] }",
            "instances[0].checks[2].name",
            "duplicate check name `a` (also instances[0].checks[0])",
        ),
    ];
    for (yaml, field, fragment) in cases {
        let errs = errors(yaml);
        assert!(
            errs.iter()
                .any(|e| e.field == *field && e.message.contains(fragment)),
            "for\n{yaml}\nwanted {field}: ...{fragment}..., got {errs:#?}"
        );
        for e in &errs {
            assert!(
                e.field.starts_with("instances[0].checks["),
                "{e} does not name its field"
            );
            assert_eq!(e.to_string(), format!("{}: {}", e.field, e.message));
        }
    }
}

#[test]
fn all_errors_are_reported_at_once() {
    let errs = errors("- name: a\n  tcp: { address: nope }\n  rise: 0\n  fall: 0\n  weight: 999");
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    for f in ["tcp.address", "rise", "fall", "weight"] {
        assert!(
            fields.contains(&format!("instances[0].checks[0].{f}").as_str()),
            "{fields:?}"
        );
    }
}

#[test]
fn unknown_fields_are_refused() {
    let err = serde_yaml_ng::from_str::<Vec<CheckSpec>>(
        "- name: a\n  intervall: 2s\n  tcp: { address: 'x:1' }",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown field `intervall`"), "{err}");
    let err = serde_yaml_ng::from_str::<Vec<CheckSpec>>(
        "- name: a\n  http: { url: 'http://x/', verify: false }",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown field `verify`"), "{err}");
    let err = serde_yaml_ng::from_str::<Vec<CheckSpec>>(
        "- name: a\n  action: reboot\n  tcp: { address: 'x:1' }",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown variant `reboot`"), "{err}");
}

#[test]
fn builtins_carry_the_seed_defaults() {
    let env = |name: &str| match name {
        "KUBERNETES_SERVICE_HOST" => Some("10.96.0.1".to_owned()),
        "KUBERNETES_SERVICE_PORT" => Some("443".to_owned()),
        "NODE_NAME" => Some("worker-1".to_owned()),
        _ => None,
    };
    let yaml =
        "- builtin: service\n- builtin: kubelet\n- builtin: kube-api\n- builtin: node-ready\n";
    let checks = validate_checks(&specs(yaml), "checks", &env).unwrap();
    let summary: Vec<(&str, Duration, u32, u32, CheckEffect)> = checks
        .iter()
        .map(|c| (c.name.as_str(), c.interval, c.rise, c.fall, c.effect))
        .collect();
    let s = Duration::from_secs;
    assert_eq!(
        summary,
        vec![
            ("service", s(2), 2, 2, CheckEffect::Fault),
            ("kubelet", s(5), 1, 5, CheckEffect::Fault),
            ("kube-api", s(5), 1, 5, CheckEffect::Weight(-40)),
            ("node-ready", s(10), 1, 3, CheckEffect::Fault),
        ]
    );
    match &checks[0].kind {
        CheckKind::Http(h) => assert_eq!(h.url, "http://127.0.0.1:10254/healthz"),
        other => panic!("{other:?}"),
    }
    match &checks[1].kind {
        CheckKind::Http(h) => assert_eq!(h.url, "http://127.0.0.1:10248/healthz"),
        other => panic!("{other:?}"),
    }
    match &checks[2].kind {
        CheckKind::KubeApi(k) => {
            assert_eq!(k.path, "/healthz");
            assert_eq!(
                (k.endpoint.host.as_str(), k.endpoint.port),
                ("10.96.0.1", 443)
            );
            assert_eq!(
                k.endpoint.token_file.to_str(),
                Some("/var/run/secrets/kubernetes.io/serviceaccount/token")
            );
            assert_eq!(
                k.endpoint.ca_file.to_str(),
                Some("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
            );
        }
        other => panic!("{other:?}"),
    }
    match &checks[3].kind {
        CheckKind::NodeReady(n) => assert_eq!(n.node, "worker-1"),
        other => panic!("{other:?}"),
    }
    // Default timeouts: half the interval, at most 2 s.
    assert_eq!(checks[0].timeout, s(1));
    assert_eq!(checks[1].timeout, s(2));
    for c in &checks {
        assert_eq!(c.initial, InitialState::FirstResult);
    }
}

#[test]
fn fields_given_override_the_builtin() {
    let checks = valid(
        "- builtin: service\n  http: { url: 'http://127.0.0.1:6443/healthz' }\n  fall: 4\n\
         - builtin: service\n  name: service-2\n  weight: -20\n\
         - builtin: kube-api\n  kube_api: { host: 'fd00::1', port: 6443, path: /livez }\n  action: fault\n",
    );
    assert_eq!(checks[0].name, "service");
    assert_eq!((checks[0].rise, checks[0].fall), (2, 4));
    match &checks[0].kind {
        CheckKind::Http(h) => {
            assert_eq!(h.url, "http://127.0.0.1:6443/healthz");
            assert_eq!(h.expect_status, vec![200]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(checks[1].name, "service-2");
    assert_eq!(
        checks[1].effect,
        CheckEffect::Weight(-20),
        "weight replaces the builtin's action"
    );
    assert_eq!(
        checks[2].effect,
        CheckEffect::Fault,
        "action replaces the builtin's weight"
    );
    match &checks[2].kind {
        CheckKind::KubeApi(k) => {
            assert_eq!(
                (k.endpoint.host.as_str(), k.endpoint.port),
                ("fd00::1", 6443)
            );
            assert_eq!(k.path, "/livez");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tls_defaults_rendered_for_plain_http_are_accepted() {
    // A chart may render `insecure_skip_verify: false` for every URL.
    let checks = valid("- name: a\n  http: { url: 'http://x/', insecure_skip_verify: false }");
    match &checks[0].kind {
        CheckKind::Http(h) => assert!(!h.insecure_skip_verify && !h.target.https),
        other => panic!("{other:?}"),
    }
}

#[test]
fn durations_accept_units_and_plain_seconds() {
    let checks = valid(
        "- name: a\n  tcp: { address: 'x:1' }\n  interval: 2\n\
         - name: b\n  tcp: { address: 'x:1' }\n  interval: 500ms\n\
         - name: c\n  tcp: { address: 'x:1' }\n  interval: 1m\n  timeout: 1.5s\n\
         - name: d\n  tcp: { address: 'x:1' }\n",
    );
    let got: Vec<(Duration, Duration)> = checks.iter().map(|c| (c.interval, c.timeout)).collect();
    let ms = Duration::from_millis;
    assert_eq!(
        got,
        vec![
            (ms(2000), ms(1000)),
            (ms(500), ms(250)),
            (ms(60_000), ms(1500)),
            (ms(1000), ms(500))
        ]
    );
    let err = serde_yaml_ng::from_str::<Vec<CheckSpec>>("- name: a\n  interval: soon\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`soon` is not a duration"), "{err}");
}

#[test]
fn effects_and_initial_states_map_to_tracked_objects() {
    let checks = valid(
        "- name: fault\n  tcp: { address: 'x:1' }\n\
         - name: minus\n  tcp: { address: 'x:1' }\n  weight: -40\n\
         - name: plus\n  tcp: { address: 'x:1' }\n  weight: 10\n\
         - name: zero\n  tcp: { address: 'x:1' }\n  weight: 0\n\
         - name: file\n  file: { path: /w }\n\
         - name: up\n  tcp: { address: 'x:1' }\n  initial: up\n\
         - name: down\n  tcp: { address: 'x:1' }\n  weight: -40\n  initial: down\n",
    );
    let got: Vec<(&str, i16, bool)> = checks
        .iter()
        .map(|c| (c.name.as_str(), c.track_weight(), c.initially_up()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("fault", 0, false),
            ("minus", -40, true),
            ("plus", 10, false),
            ("zero", 0, false),
            ("file", 0, false),
            ("up", 0, true),
            ("down", -40, false),
        ]
    );
    assert_eq!(
        checks[3].effect,
        CheckEffect::Fault,
        "weight 0 is keepalived's fault"
    );
    assert_eq!(
        checks[4].effect,
        CheckEffect::Weight(1),
        "track_file's default weight is 1"
    );
}

#[test]
fn the_effective_configuration_round_trips_and_shows_no_token() {
    let yaml = "- builtin: service\n  http:\n    url: 'https://127.0.0.1:8443/healthz'\n    \
                bearer_token_file: /run/secrets/token\n    ca_file: /etc/ca.pem\n    host: ingress.example\n  \
                damping: { penalty: 500 }\n\
                - name: script\n  exec: { command: ['test -f /run/ok'], shell: true }\n  weight: 5\n  initial: down\n\
                - name: maint\n  file: { path: /etc/vipd/weight }\n  weight: 10\n\
                - name: uplink\n  interface: { name: eth1 }\n\
                - name: port\n  tcp: { address: '[::1]:6443' }\n  timeout: 300ms\n\
                - builtin: node-ready\n  node_ready: { node: worker-1, host: 10.0.0.1 }\n";
    let checks = valid(yaml);
    let printed = serde_yaml_ng::to_string(&checks).unwrap();
    assert!(
        printed.contains("bearer_token_file: /run/secrets/token"),
        "{printed}"
    );
    assert!(printed.contains("interval: 2s"), "{printed}");
    assert!(printed.contains("initial: first_result"), "{printed}");
    assert!(printed.contains("half_life: 30s"), "{printed}");
    let again = valid(&printed);
    assert_eq!(again, checks, "printed:\n{printed}");
}
