//! HTTP/1.1 GET over a fresh connection per probe (plain or TLS), with hyper.

use std::path::Path;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Empty};
use hyper::header::{ACCEPT, AUTHORIZATION, CONNECTION, HOST, HeaderValue, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use super::tls::{self, TlsOptions};
use super::{AbortOnDrop, ProbeError, ProbeOk};
use crate::config::HttpCheck;

/// Body bytes read from a plain HTTP check; the rest is not read.
pub(crate) const HTTP_BODY_LIMIT: usize = 64 * 1024;

/// Longest bearer token read.
const TOKEN_LIMIT: usize = 64 * 1024;

const USER_AGENT_VALUE: &str = concat!("vip-health/", env!("CARGO_PKG_VERSION"));

/// One GET.
pub(crate) struct Get<'a> {
    pub(crate) https: bool,
    /// Where to connect (no brackets).
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    /// Host header value unless overridden.
    pub(crate) authority: &'a str,
    pub(crate) path: &'a str,
    /// Host header and TLS server name override.
    pub(crate) host_override: Option<&'a str>,
    pub(crate) tls: TlsOptions<'a>,
    pub(crate) token_file: Option<&'a Path>,
    pub(crate) accept: &'static str,
    pub(crate) body_limit: usize,
    /// For messages.
    pub(crate) url: &'a str,
}

/// What came back.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
}

fn timeout_error(timeout: Duration, stage: &'static str, target: &str) -> ProbeError {
    ProbeError::Timeout {
        timeout,
        stage,
        target: target.to_owned(),
    }
}

async fn bearer(path: &Path) -> Result<HeaderValue, ProbeError> {
    let fail = |message: String| ProbeError::Token {
        path: path.display().to_string(),
        message,
    };
    let bytes = super::read_bounded(path, TOKEN_LIMIT)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| fail("is not UTF-8 text".to_owned()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(fail("is empty".to_owned()));
    }
    let mut value = HeaderValue::try_from(format!("Bearer {token}"))
        .map_err(|_| fail("holds characters not allowed in an HTTP header".to_owned()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// A response whose body is still to be read, and the connection it comes on (closed when
/// this is dropped).
pub(crate) struct Opened {
    pub(crate) status: u16,
    pub(crate) body: hyper::body::Incoming,
    _connection: AbortOnDrop,
}

/// Performs the GET; every stage is bounded by `deadline`.
pub(crate) async fn get(
    req: &Get<'_>,
    deadline: Instant,
    timeout: Duration,
) -> Result<Response, ProbeError> {
    let opened = open(req, deadline, timeout).await?;
    let status = opened.status;
    let mut body = opened.body;
    let mut collected = BytesMut::new();
    while collected.len() < req.body_limit {
        let frame = timeout_at(deadline, body.frame())
            .await
            .map_err(|_| timeout_error(timeout, "reading the body from", req.url))?;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| http_error(req.url, &e))?;
        if let Ok(data) = frame.into_data() {
            let room = req.body_limit - collected.len();
            collected.extend_from_slice(&data[..data.len().min(room)]);
        }
    }
    Ok(Response {
        status,
        body: collected.freeze(),
    })
}

/// Sends the GET and returns once the status line and headers are in (the token and the TLS
/// files are read now); every stage is bounded by `deadline`. The body is the caller's to
/// read, at its pace.
pub(crate) async fn open(
    req: &Get<'_>,
    deadline: Instant,
    timeout: Duration,
) -> Result<Opened, ProbeError> {
    let address = if req.host.contains(':') {
        format!("[{}]:{}", req.host, req.port)
    } else {
        format!("{}:{}", req.host, req.port)
    };
    let authorization = match req.token_file {
        Some(path) => Some(bearer(path).await?),
        None => None,
    };
    let tls_config = if req.https {
        Some(tls::client_config(&req.tls).await?)
    } else {
        None
    };
    let stream = timeout_at(deadline, TcpStream::connect((req.host, req.port)))
        .await
        .map_err(|_| timeout_error(timeout, "connecting to", &address))?
        .map_err(|e| ProbeError::Connect {
            address: address.clone(),
            message: e.to_string(),
        })?;
    // Nagle only delays a one-shot request.
    let _ = stream.set_nodelay(true);
    let host_header = req.host_override.unwrap_or(req.authority);
    let request = hyper::Request::get(req.path)
        .header(HOST, host_header)
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(ACCEPT, req.accept)
        .header(CONNECTION, "close");
    let mut request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| ProbeError::Http {
            url: req.url.to_owned(),
            message: e.to_string(),
        })?;
    if let Some(value) = authorization {
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    match tls_config {
        None => exchange(stream, request, req, deadline, timeout).await,
        Some(config) => {
            let name_host = req.host_override.map_or(req.host, |h| strip_port(h));
            let server_name = tls::server_name(name_host)?;
            let connector = tokio_rustls::TlsConnector::from(config);
            let tls_stream = timeout_at(deadline, connector.connect(server_name, stream))
                .await
                .map_err(|_| timeout_error(timeout, "in the TLS handshake with", &address))?
                .map_err(|e| ProbeError::Tls {
                    server: address.clone(),
                    message: tls::describe_handshake_error(&e, &req.tls),
                })?;
            exchange(tls_stream, request, req, deadline, timeout).await
        }
    }
}

/// `host` of a `host[:port]` Host header, without IPv6 brackets.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

/// An HTTP failure of `url`, with its causes.
pub(crate) fn http_error(url: &str, e: &hyper::Error) -> ProbeError {
    ProbeError::Http {
        url: url.to_owned(),
        message: describe_hyper_error(e),
    }
}

async fn exchange<I>(
    io: I,
    request: hyper::Request<Empty<Bytes>>,
    req: &Get<'_>,
    deadline: Instant,
    timeout: Duration,
) -> Result<Opened, ProbeError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = timeout_at(
        deadline,
        hyper::client::conn::http1::handshake(TokioIo::new(io)),
    )
    .await
    .map_err(|_| timeout_error(timeout, "opening an HTTP connection to", req.url))?
    .map_err(|e| http_error(req.url, &e))?;
    let connection = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let response = timeout_at(deadline, sender.send_request(request))
        .await
        .map_err(|_| timeout_error(timeout, "waiting for the response from", req.url))?
        .map_err(|e| http_error(req.url, &e))?;
    Ok(Opened {
        status: response.status().as_u16(),
        body: response.into_body(),
        _connection: connection,
    })
}

fn describe_hyper_error(e: &hyper::Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `200` or `one of 200, 204`.
pub(crate) fn expected_text(expect: &[u16]) -> String {
    match expect {
        [one] => one.to_string(),
        many => format!(
            "one of {}",
            many.iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub(crate) async fn probe(
    check: &HttpCheck,
    deadline: Instant,
    timeout: Duration,
) -> Result<ProbeOk, ProbeError> {
    let t = &check.target;
    let req = Get {
        https: t.https,
        host: &t.host,
        port: t.port,
        authority: &t.authority,
        path: &t.path_and_query,
        host_override: check.host.as_deref(),
        tls: TlsOptions {
            ca_file: check.ca_file.as_deref(),
            client_cert: check.client_cert.as_deref(),
            client_key: check.client_key.as_deref(),
            insecure_skip_verify: check.insecure_skip_verify,
        },
        token_file: check.bearer_token_file.as_deref(),
        accept: "*/*",
        body_limit: HTTP_BODY_LIMIT,
        url: &check.url,
    };
    let response = get(&req, deadline, timeout).await?;
    if check.expect_status.contains(&response.status) {
        Ok(ProbeOk::detail(format!("HTTP {}", response.status)))
    } else {
        Err(ProbeError::Status {
            url: check.url.clone(),
            status: response.status,
            expected: expected_text(&check.expect_status),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{expected_text, strip_port};

    #[test]
    fn host_header_to_server_name() {
        assert_eq!(strip_port("ingress.example"), "ingress.example");
        assert_eq!(strip_port("ingress.example:8443"), "ingress.example");
        assert_eq!(strip_port("[::1]:443"), "::1");
        assert_eq!(strip_port("[::1]"), "::1");
    }

    #[test]
    fn expected_statuses() {
        assert_eq!(expected_text(&[200]), "200");
        assert_eq!(expected_text(&[200, 204]), "one of 200, 204");
    }
}
