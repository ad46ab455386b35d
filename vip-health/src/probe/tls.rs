//! TLS client configuration (rustls with the ring provider) and readable handshake errors.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::ProbeError;

/// Where the system CA bundle is looked for when a check gives no `ca_file`, in order
/// (Debian/Ubuntu/Alpine, Fedora/RHEL, openSUSE, and the OpenSSL default).
pub(crate) const SYSTEM_CA_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// TLS settings of one probe.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TlsOptions<'a> {
    pub(crate) ca_file: Option<&'a Path>,
    pub(crate) client_cert: Option<&'a Path>,
    pub(crate) client_key: Option<&'a Path>,
    pub(crate) insecure_skip_verify: bool,
}

impl TlsOptions<'_> {
    /// What is trusted, for error messages.
    pub(crate) fn trust(&self) -> String {
        match self.ca_file {
            Some(ca) => format!("trusting only the CAs in {}", ca.display()),
            None => "trusting the system CA bundle".to_owned(),
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Longest PEM file read.
const PEM_LIMIT: usize = 4 * 1024 * 1024;

async fn read(path: &Path, what: &str) -> Result<Vec<u8>, ProbeError> {
    super::read_bounded(path, PEM_LIMIT)
        .await
        .map_err(|e| ProbeError::TlsConfig(format!("reading {what} {}: {e}", path.display())))
}

fn parse_certs(
    pem: &[u8],
    path: &Path,
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, ProbeError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| ProbeError::TlsConfig(format!("{what} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ProbeError::TlsConfig(format!(
            "{what} {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn roots_from(
    certs: Vec<CertificateDer<'static>>,
    path: &Path,
) -> Result<RootCertStore, ProbeError> {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(ProbeError::TlsConfig(format!(
            "CA file {} holds no usable CA certificate",
            path.display()
        )));
    }
    Ok(roots)
}

/// The system bundle, loaded once.
static SYSTEM_ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();

async fn system_roots() -> Result<Arc<RootCertStore>, ProbeError> {
    if let Some(roots) = SYSTEM_ROOTS.get() {
        return Ok(Arc::clone(roots));
    }
    for candidate in SYSTEM_CA_BUNDLES {
        let path = PathBuf::from(candidate);
        let Ok(pem) = super::read_bounded(&path, PEM_LIMIT).await else {
            continue;
        };
        let Ok(certs) = parse_certs(&pem, &path, "system CA bundle") else {
            continue;
        };
        if let Ok(roots) = roots_from(certs, &path) {
            let roots = Arc::new(roots);
            return Ok(Arc::clone(SYSTEM_ROOTS.get_or_init(|| roots)));
        }
    }
    Err(ProbeError::TlsConfig(format!(
        "no ca_file given and no system CA bundle found (looked at {}); set ca_file",
        SYSTEM_CA_BUNDLES.join(", ")
    )))
}

/// Builds the client configuration, reading the CA, certificate and key files now (so
/// rotated files take effect at the next probe).
pub(crate) async fn client_config(opts: &TlsOptions<'_>) -> Result<Arc<ClientConfig>, ProbeError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeError::TlsConfig(e.to_string()))?;
    let builder = if opts.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
    } else {
        let roots = match opts.ca_file {
            Some(ca) => {
                let pem = read(ca, "CA file").await?;
                Arc::new(roots_from(parse_certs(&pem, ca, "CA file")?, ca)?)
            }
            None => system_roots().await?,
        };
        builder.with_root_certificates(roots)
    };
    let mut config = match (opts.client_cert, opts.client_key) {
        (Some(cert), Some(key)) => {
            let chain = parse_certs(
                &read(cert, "client certificate").await?,
                cert,
                "client certificate",
            )?;
            let key_pem = read(key, "client key").await?;
            let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| ProbeError::TlsConfig(format!("client key {}: {e}", key.display())))?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                ProbeError::TlsConfig(format!(
                    "client certificate {} with key {}: {e}",
                    cert.display(),
                    key.display()
                ))
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Turns a handshake error into a sentence that says what to fix.
pub(crate) fn describe_handshake_error(err: &std::io::Error, opts: &TlsOptions<'_>) -> String {
    let Some(tls) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return err.to_string();
    };
    match tls {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the server's certificate is not signed by a trusted CA ({}): {tls}",
            opts.trust()
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => format!("the server's certificate has expired: {tls}"),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => format!("the server's certificate is not valid yet: {tls}"),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the server's certificate does not name the host (set `host` to a name it \
             carries): {tls}"
        ),
        other => other.to_string(),
    }
}

/// Turns a host into a TLS server name (DNS name or IP address).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, ProbeError> {
    ServerName::try_from(host.to_owned())
        .map_err(|e| ProbeError::TlsConfig(format!("`{host}` is not a TLS server name: {e}")))
}

/// The verifier behind `insecure_skip_verify`: accepts any certificate, but still checks
/// that the server holds the key of the certificate it sent.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
