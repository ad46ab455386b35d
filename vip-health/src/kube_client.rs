//! The one Kubernetes client of vipd (kube-rs): built from a [`KubeEndpoint`], verified
//! against its CA bundle, authenticated with its bearer token file. vipd's peer discovery
//! uses it, and so do the `kube_api` and `node_ready` checks.

use std::time::Duration;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::config::KubeEndpoint;

pub use kube;
pub use kube::runtime;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeClientError {
    /// The CA bundle cannot be read.
    #[error("cannot read the CA bundle {path}: {source}")]
    Ca {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The token file cannot be read.
    #[error("cannot read the token file {path}: {source}")]
    Token {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The CA bundle holds no PEM certificate.
    #[error("the CA bundle {path} holds no PEM certificate")]
    NoCertificate {
        /// The file.
        path: String,
    },
    /// The host and port do not make a URL.
    #[error("`{url}` is not a URL: {message}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// kube-rs refused the configuration.
    #[error("{0}")]
    Client(#[from] kube::Error),
}

/// The `https://HOST:PORT` URL of `endpoint`.
#[must_use]
pub fn base_url(endpoint: &KubeEndpoint) -> String {
    if endpoint.host.contains(':') {
        format!("https://[{}]:{}", endpoint.host, endpoint.port)
    } else {
        format!("https://{}:{}", endpoint.host, endpoint.port)
    }
}

/// A client of the API server of `endpoint`: the server's certificate is always verified
/// against `ca_file` (re-read by kube-rs about every minute, for CA rotation), and each
/// request carries the token of `token_file` (re-read likewise, as projected service-account
/// tokens rotate). Requests are not retried by the client (a check must see the API's
/// answer; the watcher has its own backoff); connecting is bounded by `connect_timeout`.
///
/// # Errors
/// [`KubeClientError`] when a file cannot be read or kube-rs refuses the configuration.
pub fn client(
    endpoint: &KubeEndpoint,
    connect_timeout: Duration,
) -> Result<kube::Client, KubeClientError> {
    // Read both files now, so that a missing one is reported as such (kube-rs would only
    // say the configuration is invalid).
    let ca = std::fs::read(&endpoint.ca_file).map_err(|source| KubeClientError::Ca {
        path: endpoint.ca_file.display().to_string(),
        source,
    })?;
    std::fs::metadata(&endpoint.token_file).map_err(|source| KubeClientError::Token {
        path: endpoint.token_file.display().to_string(),
        source,
    })?;
    let roots: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&ca)
        .filter_map(Result::ok)
        .map(|c| c.as_ref().to_vec())
        .collect();
    if roots.is_empty() {
        return Err(KubeClientError::NoCertificate {
            path: endpoint.ca_file.display().to_string(),
        });
    }
    let url = base_url(endpoint);
    let uri = url
        .parse::<hyper::http::Uri>()
        .map_err(|e| KubeClientError::Url {
            url: url.clone(),
            message: e.to_string(),
        })?;
    let mut config = kube::Config::new(uri);
    config.root_cert = Some(roots);
    config.root_cert_file = Some(endpoint.ca_file.clone());
    config.auth_info.token_file = Some(endpoint.token_file.display().to_string());
    config.connect_timeout = Some(connect_timeout);
    config.default_retry = false;
    Ok(kube::Client::try_from(config)?)
}
