//! `kube-api` and `node-ready` (on the client that `kube_watch` shares) against the local
//! HTTPS fake of the Kubernetes API of `common::kube`, which checks the bearer token.

mod common;

use std::time::Duration;

use common::kube::{FakeKube, NODES};
use common::{Ca, check, check_with_env, first_event, next_event, no_event, start};
use vip_health::TrackState;

/// The fake API of `common::kube` with one node, worker-1.
struct FakeApi {
    kube: FakeKube,
}

fn node_json(name: &str, ready: (&str, &str, &str)) -> serde_json::Value {
    serde_json::from_str(&format!(
        r#"{{"kind":"Node","apiVersion":"v1","metadata":{{"name":"{name}"}},
        "status":{{"conditions":[
          {{"type":"MemoryPressure","status":"False","reason":"KubeletHasSufficientMemory"}},
          {{"type":"Ready","status":"{}","reason":"{}","message":"{}"}}]}}}}"#,
        ready.0, ready.1, ready.2
    ))
    .unwrap()
}

async fn fake_api() -> FakeApi {
    let api = FakeApi {
        kube: FakeKube::start("127.0.0.1:0".parse().unwrap()).await,
    };
    api.set_ready("True", "KubeletReady", "kubelet is posting ready status");
    api
}

impl FakeApi {
    fn endpoint(&self) -> String {
        self.kube.endpoint_yaml()
    }

    fn set_ready(&self, status: &str, reason: &str, message: &str) {
        self.kube
            .put(NODES, node_json("worker-1", (status, reason, message)));
    }

    fn last_request(&self) -> common::Request {
        self.kube.requests().last().cloned().unwrap()
    }
}

#[tokio::test]
async fn kube_api_builtin_is_up_on_healthz_and_adds_nothing_while_up() {
    let api = fake_api().await;
    let config = check(&format!(
        "builtin: kube-api\nkube_api: {{ {} }}",
        api.endpoint()
    ));
    assert_eq!(config.name, "kube-api");
    assert_eq!(config.track_weight(), -40);
    let event = first_event(config).await;
    assert!(event.up, "{event:?}");
    assert_eq!(
        event.track,
        TrackState {
            up: true,
            weight: None
        },
        "up, so the engine does not apply the negative weight"
    );
    let request = api.last_request();
    assert_eq!(request.path, "/healthz");
    assert_eq!(
        request.header("host"),
        Some(format!("127.0.0.1:{}", api.kube.port()).as_str())
    );
}

#[tokio::test]
async fn kube_api_livez_path() {
    let api = fake_api().await;
    let event = first_event(check(&format!(
        "builtin: kube-api\nkube_api: {{ path: /livez, {} }}",
        api.endpoint()
    )))
    .await;
    assert!(event.up);
    assert_eq!(api.last_request().path, "/livez");
}

#[tokio::test]
async fn kube_api_with_a_wrong_token_is_down_and_lowers_the_priority_by_40() {
    let api = fake_api().await;
    std::fs::write(&api.kube.token_file, "not-the-token").unwrap();
    let config = check(&format!(
        "builtin: kube-api\nkube_api: {{ {} }}",
        api.endpoint()
    ));
    assert_eq!(
        config.track_weight(),
        -40,
        "kube-api has a weight, not a fault action"
    );
    let event = first_event(config).await;
    assert!(!event.up);
    assert_eq!(
        event.track,
        TrackState {
            up: false,
            weight: None
        },
        "down, so the engine applies the weight -40"
    );
    assert!(
        event
            .reason
            .ends_with("answered HTTP 401 Unauthorized, expected 200"),
        "{}",
        event.reason
    );
}

#[tokio::test]
async fn kube_api_verifies_the_api_server_certificate() {
    let api = fake_api().await;
    let other = Ca::new("not kubernetes");
    let wrong_ca = api.kube.dir.write("wrong-ca.crt", &other.pem);
    let event = first_event(check(&format!(
        "builtin: kube-api\nkube_api: {{ host: 127.0.0.1, port: {}, token_file: '{}', ca_file: '{}' }}",
        api.kube.port(),
        api.kube.token_file.display(),
        wrong_ca.display()
    )))
    .await;
    assert!(!event.up);
    assert!(
        event.reason.contains("not signed by a trusted CA"),
        "{}",
        event.reason
    );
    assert_eq!(
        api.kube.requests().len(),
        0,
        "the token is not sent to an unverified server"
    );
}

#[tokio::test]
async fn kube_api_defaults_come_from_the_in_cluster_environment() {
    let api = fake_api().await;
    let port = api.kube.port().to_string();
    let env = move |name: &str| match name {
        "KUBERNETES_SERVICE_HOST" => Some("127.0.0.1".to_owned()),
        "KUBERNETES_SERVICE_PORT" => Some(port.clone()),
        _ => None,
    };
    let config = check_with_env(
        &format!(
            "builtin: kube-api\nkube_api: {{ token_file: '{}', ca_file: '{}' }}",
            api.kube.token_file.display(),
            api.kube.ca_file.display()
        ),
        &env,
    );
    assert!(first_event(config).await.up);
}

#[tokio::test]
async fn node_ready_follows_the_ready_condition() {
    let api = fake_api().await;
    let config = check(&format!(
        "builtin: node-ready\nnode_ready: {{ node: worker-1, {} }}\ninterval: 100ms",
        api.endpoint()
    ));
    assert_eq!(config.fall, 3, "node-ready's fall");
    assert_eq!(config.track_weight(), 0, "node-ready is a fault check");
    let config = {
        // fall 1 for this sequence.
        let mut c = config;
        c.fall = 1;
        c
    };
    let (monitor, mut events) = start(config);
    let event = next_event(&mut events, Duration::from_secs(5)).await;
    assert!(event.up, "Ready=True: {event:?}");
    assert_eq!(event.reason, "Ready=True");
    assert_eq!(api.last_request().path, "/api/v1/nodes/worker-1");
    assert_eq!(
        api.last_request().header("accept"),
        Some("application/json")
    );

    api.set_ready("False", "KubeletNotReady", "container runtime is down");
    let event = next_event(&mut events, Duration::from_secs(5)).await;
    assert!(!event.up);
    assert_eq!(
        event.track,
        TrackState {
            up: false,
            weight: None
        },
        "node-ready is a fault check (weight 0): Fault"
    );
    assert_eq!(
        event.reason,
        "node worker-1 is not Ready (Ready=False: KubeletNotReady, container runtime is down)"
    );

    api.set_ready(
        "Unknown",
        "NodeStatusUnknown",
        "Kubelet stopped posting node status.",
    );
    no_event(&mut events, Duration::from_millis(400)).await;
    let status = monitor.status(&"VI_1".to_owned(), "node-ready").unwrap();
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap()
            .contains("Ready=Unknown: NodeStatusUnknown"),
        "{status:?}"
    );

    api.set_ready("True", "KubeletReady", "ok");
    let event = next_event(&mut events, Duration::from_secs(5)).await;
    assert!(event.up);
    monitor.stop().await;
}

#[tokio::test]
async fn node_ready_takes_the_node_from_node_name_and_401_without_the_token() {
    let api = fake_api().await;
    let env = |name: &str| (name == "NODE_NAME").then(|| "worker-1".to_owned());
    let config = check_with_env(
        &format!("builtin: node-ready\nnode_ready: {{ {} }}", api.endpoint()),
        &env,
    );
    assert!(first_event(config).await.up);

    std::fs::write(&api.kube.token_file, "expired").unwrap();
    let config = check_with_env(
        &format!("builtin: node-ready\nnode_ready: {{ {} }}", api.endpoint()),
        &env,
    );
    let event = first_event(config).await;
    assert!(!event.up);
    assert!(
        event.reason.contains("HTTP 401 Unauthorized"),
        "{}",
        event.reason
    );
}

#[tokio::test]
async fn node_ready_for_an_unknown_node_is_down() {
    let api = fake_api().await;
    let event = first_event(check(&format!(
        "builtin: node-ready\nnode_ready: {{ node: worker-9, {} }}",
        api.endpoint()
    )))
    .await;
    assert!(!event.up);
    assert!(
        event
            .reason
            .ends_with("/api/v1/nodes/worker-9 answered HTTP 404 Not Found, expected 200"),
        "{}",
        event.reason
    );
}
