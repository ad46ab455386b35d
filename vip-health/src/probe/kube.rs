//! In-cluster checks against the Kubernetes API: its health endpoint and a node's `Ready`
//! condition. HTTPS with the service-account token and CA, always verified.

use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use super::http::{Get, HTTP_BODY_LIMIT, Response, get};
use super::tls::TlsOptions;
use super::{ProbeError, ProbeOk};
use crate::config::{KubeApiCheck, KubeEndpoint, NodeReadyCheck};

/// Node objects carry image lists and can be large.
const NODE_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// `host:port` of `endpoint` (IPv6 in brackets).
pub(crate) fn authority(endpoint: &KubeEndpoint) -> String {
    if endpoint.host.contains(':') {
        format!("[{}]:{}", endpoint.host, endpoint.port)
    } else {
        format!("{}:{}", endpoint.host, endpoint.port)
    }
}

/// A GET of `path` from the API server of `endpoint` (`authority` is
/// [`authority(endpoint)`](authority), `url` the full URL for messages): verified against
/// its CA, with its bearer token; both files are read when the request is sent.
pub(crate) fn request<'a>(
    endpoint: &'a KubeEndpoint,
    authority: &'a str,
    path: &'a str,
    url: &'a str,
    accept: &'static str,
    body_limit: usize,
) -> Get<'a> {
    Get {
        https: true,
        host: &endpoint.host,
        port: endpoint.port,
        authority,
        path,
        host_override: None,
        tls: TlsOptions {
            ca_file: Some(&endpoint.ca_file),
            client_cert: None,
            client_key: None,
            insecure_skip_verify: false,
        },
        token_file: Some(&endpoint.token_file),
        accept,
        body_limit,
        url,
    }
}

async fn kube_get(
    endpoint: &KubeEndpoint,
    path: &str,
    url: &str,
    accept: &'static str,
    body_limit: usize,
    deadline: Instant,
    timeout: Duration,
) -> Result<Response, ProbeError> {
    let authority = authority(endpoint);
    let req = request(endpoint, &authority, path, url, accept, body_limit);
    get(&req, deadline, timeout).await
}

pub(crate) async fn probe_api(
    check: &KubeApiCheck,
    deadline: Instant,
    timeout: Duration,
) -> Result<ProbeOk, ProbeError> {
    let url = format!("https://{}{}", authority(&check.endpoint), check.path);
    let response = kube_get(
        &check.endpoint,
        &check.path,
        &url,
        "*/*",
        HTTP_BODY_LIMIT,
        deadline,
        timeout,
    )
    .await?;
    if response.status == 200 {
        Ok(ProbeOk::detail("HTTP 200"))
    } else {
        Err(ProbeError::Status {
            url,
            status: response.status,
            expected: "200".to_owned(),
        })
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
    let path = format!("/api/v1/nodes/{}", check.node);
    let url = format!("https://{}{path}", authority(&check.endpoint));
    let response = kube_get(
        &check.endpoint,
        &path,
        &url,
        "application/json",
        NODE_BODY_LIMIT,
        deadline,
        timeout,
    )
    .await?;
    if response.status != 200 {
        return Err(ProbeError::Status {
            url,
            status: response.status,
            expected: "200".to_owned(),
        });
    }
    node_ready(&check.node, &response.body)
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
