//! In-cluster checks against the Kubernetes API: its health endpoint and a node's `Ready`
//! condition. HTTPS through vipd's one Kubernetes client (kube-rs, [`crate::kube_client`]):
//! the service-account token and CA, always verified, read anew for each probe.

use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use super::{ProbeError, ProbeOk};
use crate::config::{KubeApiCheck, KubeEndpoint, NodeReadyCheck};

/// Node objects carry image lists and can be large.
#[cfg(feature = "kubernetes")]
const NODE_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// What came back.
#[cfg(feature = "kubernetes")]
struct Answer {
    status: u16,
    body: bytes::Bytes,
}

/// `GET path` with `accept`, through a client built for this probe (so the token and CA
/// files are read now), bounded by `deadline`.
#[cfg(feature = "kubernetes")]
async fn kube_get(
    endpoint: &KubeEndpoint,
    path: &str,
    accept: &'static str,
    body_limit: usize,
    deadline: Instant,
    timeout: Duration,
) -> Result<Answer, ProbeError> {
    use http_body_util::{BodyExt, Limited};

    use crate::kube_client::{KubeClientError, base_url, client};

    let server = base_url(endpoint).trim_start_matches("https://").to_owned();
    let url = format!("{}{path}", base_url(endpoint));
    let client = client(endpoint, timeout).map_err(|e| match e {
        KubeClientError::Token { path, source } => ProbeError::Token {
            path,
            message: source.to_string(),
        },
        KubeClientError::Ca { .. } | KubeClientError::NoCertificate { .. } => {
            ProbeError::TlsConfig(e.to_string())
        }
        other => ProbeError::Http {
            url: url.clone(),
            message: other.to_string(),
        },
    })?;
    let request = hyper::http::Request::get(path)
        .header(hyper::header::ACCEPT, accept)
        .body(kube::client::Body::from(Vec::new()))
        .map_err(|e| ProbeError::Http {
            url: url.clone(),
            message: e.to_string(),
        })?;
    let timed_out = |stage: &'static str| ProbeError::Timeout {
        timeout,
        stage,
        target: url.clone(),
    };
    let response = tokio::time::timeout_at(deadline, client.send(request))
        .await
        .map_err(|_| timed_out("waiting for the response from"))?
        .map_err(|e| failure(&e, endpoint, &server, &url))?;
    let status = response.status().as_u16();
    let body = tokio::time::timeout_at(
        deadline,
        Limited::new(response.into_body(), body_limit).collect(),
    )
    .await
    .map_err(|_| timed_out("reading the body of"))?
    .map_err(|e| ProbeError::Http {
        url: url.clone(),
        message: format!("reading the body: {e}"),
    })?
    .to_bytes();
    Ok(Answer { status, body })
}

/// A failed request as a probe error: the TLS handshake, the connection, or the exchange.
#[cfg(feature = "kubernetes")]
fn failure(
    e: &(dyn std::error::Error + 'static),
    endpoint: &KubeEndpoint,
    server: &str,
    url: &str,
) -> ProbeError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut chain = Vec::new();
    while let Some(s) = source {
        if let Some(tls) = rustls_error(s) {
            return tls_failure(tls, endpoint, server);
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
                    | std::io::ErrorKind::AddrNotAvailable
            )
        {
            return ProbeError::Connect {
                address: server.to_owned(),
                message: io.to_string(),
            };
        }
        let text = s.to_string();
        if !chain.iter().any(|c: &String| c.contains(&text)) {
            chain.push(text);
        }
        source = s.source();
    }
    ProbeError::Http {
        url: url.to_owned(),
        message: chain.join(": "),
    }
}

/// The TLS error that `e` is or wraps: an I/O error's `source` skips the error it wraps
/// (and the connector wraps it in two), so look inside.
#[cfg(feature = "kubernetes")]
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(tls);
    }
    let inner = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    rustls_error(inner as &(dyn std::error::Error + 'static))
}

#[cfg(feature = "kubernetes")]
fn tls_failure(tls: &rustls::Error, endpoint: &KubeEndpoint, server: &str) -> ProbeError {
    let opts = super::tls::TlsOptions {
        ca_file: Some(&endpoint.ca_file),
        client_cert: None,
        client_key: None,
        insecure_skip_verify: false,
    };
    ProbeError::Tls {
        server: server.to_owned(),
        message: super::tls::describe_tls_error(tls, &opts),
    }
}

#[cfg(not(feature = "kubernetes"))]
fn unavailable(endpoint: &KubeEndpoint) -> ProbeError {
    ProbeError::Http {
        url: format!("https://{}:{}", endpoint.host, endpoint.port),
        message: "this build has no Kubernetes client (cargo feature `kubernetes`)".to_owned(),
    }
}

pub(crate) async fn probe_api(
    check: &KubeApiCheck,
    deadline: Instant,
    timeout: Duration,
) -> Result<ProbeOk, ProbeError> {
    #[cfg(not(feature = "kubernetes"))]
    {
        let _ = (deadline, timeout);
        Err(unavailable(&check.endpoint))
    }
    #[cfg(feature = "kubernetes")]
    {
        let answer = kube_get(
            &check.endpoint,
            &check.path,
            "*/*",
            super::http::HTTP_BODY_LIMIT,
            deadline,
            timeout,
        )
        .await?;
        if answer.status == 200 {
            Ok(ProbeOk::detail("HTTP 200"))
        } else {
            Err(ProbeError::Status {
                url: format!(
                    "{}{}",
                    crate::kube_client::base_url(&check.endpoint),
                    check.path
                ),
                status: answer.status,
                expected: "200".to_owned(),
            })
        }
    }
}

#[derive(Deserialize)]
struct Node {
    #[serde(default)]
    status: Option<NodeStatus>,
}

#[derive(Deserialize)]
struct NodeStatus {
    #[serde(default)]
    conditions: Vec<Condition>,
}

#[derive(Deserialize)]
struct Condition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Bounds text taken from the API for error messages.
fn bounded(text: &str) -> String {
    const MAX: usize = 200;
    let line = text.lines().next().unwrap_or("");
    if line.len() <= MAX {
        return line.to_owned();
    }
    let mut end = MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &line[..end])
}

/// Up iff the `Ready` condition's status is `"True"`.
pub(crate) fn node_ready(node: &str, body: &[u8]) -> Result<ProbeOk, ProbeError> {
    let parsed: Node = serde_json::from_slice(body).map_err(|e| ProbeError::NodeResponse {
        node: node.to_owned(),
        message: format!("the API answered something that is not a Node object: {e}"),
    })?;
    let conditions = parsed.status.map(|s| s.conditions).unwrap_or_default();
    let Some(ready) = conditions.iter().find(|c| c.kind == "Ready") else {
        return Err(ProbeError::NodeNotReady {
            node: node.to_owned(),
            status: "missing".to_owned(),
            detail: ": the node has no Ready condition".to_owned(),
        });
    };
    if ready.status == "True" {
        return Ok(ProbeOk::detail("Ready=True"));
    }
    let mut detail = String::new();
    if let Some(reason) = ready.reason.as_deref().filter(|r| !r.is_empty()) {
        detail.push_str(": ");
        detail.push_str(&bounded(reason));
    }
    if let Some(message) = ready.message.as_deref().filter(|m| !m.is_empty()) {
        detail.push_str(if detail.is_empty() { ": " } else { ", " });
        detail.push_str(&bounded(message));
    }
    Err(ProbeError::NodeNotReady {
        node: node.to_owned(),
        status: bounded(&ready.status),
        detail,
    })
}

pub(crate) async fn probe_node(
    check: &NodeReadyCheck,
    deadline: Instant,
    timeout: Duration,
) -> Result<ProbeOk, ProbeError> {
    #[cfg(not(feature = "kubernetes"))]
    {
        let _ = (deadline, timeout);
        Err(unavailable(&check.endpoint))
    }
    #[cfg(feature = "kubernetes")]
    {
        let path = format!("/api/v1/nodes/{}", check.node);
        let answer = kube_get(
            &check.endpoint,
            &path,
            "application/json",
            NODE_BODY_LIMIT,
            deadline,
            timeout,
        )
        .await?;
        if answer.status != 200 {
            return Err(ProbeError::Status {
                url: format!("{}{path}", crate::kube_client::base_url(&check.endpoint)),
                status: answer.status,
                expected: "200".to_owned(),
            });
        }
        node_ready(&check.node, &answer.body)
    }
}

#[cfg(test)]
mod tests {
    use super::node_ready;
    use crate::probe::ProbeError;

    #[test]
    fn ready_condition() {
        let body = br#"{"kind":"Node","status":{"conditions":[
            {"type":"MemoryPressure","status":"False"},
            {"type":"Ready","status":"True","reason":"KubeletReady"}]}}"#;
        assert!(node_ready("n1", body).is_ok());

        let body = br#"{"status":{"conditions":[{"type":"Ready","status":"Unknown",
            "reason":"NodeStatusUnknown","message":"Kubelet stopped posting node status."}]}}"#;
        let err = node_ready("n1", body).unwrap_err();
        assert_eq!(
            err.to_string(),
            "node n1 is not Ready (Ready=Unknown: NodeStatusUnknown, Kubelet stopped posting \
             node status.)"
        );

        let err = node_ready("n1", br#"{"status":{}}"#).unwrap_err();
        assert!(matches!(err, ProbeError::NodeNotReady { ref status, .. } if status == "missing"));

        let err = node_ready("n1", b"<html>").unwrap_err();
        assert!(matches!(err, ProbeError::NodeResponse { .. }), "{err}");
    }
}
