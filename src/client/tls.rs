//! Client TLS material: certificate paths resolved against the certificates directory and
//! inline (`sslinline`) certificate/key pairs turned into a rustls client certificate. Errors
//! name the parameter and the file tried.

use super::*;

/// Resolves one certificate path: as given, else under `certs_dir` (whole relative path, then
/// file name).
pub(super) fn resolve_path(
    param: &'static str,
    path: &Path,
    certs_dir: Option<&Path>,
) -> Result<PathBuf, ClientError> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let mut tried = Vec::new();
    if path.is_relative()
        && let Some(dir) = certs_dir
    {
        let joined = dir.join(path);
        if joined.is_file() {
            return Ok(joined);
        }
        tried.push(joined);
        if let Some(name) = path.file_name() {
            let by_name = dir.join(name);
            if !tried.contains(&by_name) {
                if by_name.is_file() {
                    return Ok(by_name);
                }
                tried.push(by_name);
            }
        }
    }
    Err(ClientError::MissingFile {
        param,
        path: path.to_path_buf(),
        tried,
    })
}

pub(super) fn inline_certified_key(
    cert_pem: &str,
    key_pem: &str,
) -> Result<CertifiedKey, ClientError> {
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| ClientError::BadInlinePem {
            param: "sslcert",
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(ClientError::BadInlinePem {
            param: "sslcert",
            reason: "no CERTIFICATE block".into(),
        });
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| ClientError::BadInlinePem {
            param: "sslkey",
            reason: e.to_string(),
        })?
        .ok_or_else(|| ClientError::BadInlinePem {
            param: "sslkey",
            reason: "no PRIVATE KEY block".into(),
        })?;
    CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider()).map_err(|e| {
        ClientError::BadInlinePem {
            param: "sslkey",
            reason: format!("unusable with sslcert: {e}"),
        }
    })
}

/// Presents one fixed client certificate (inline `sslcert`/`sslkey`).
#[derive(Debug)]
pub(super) struct FixedClientCert(pub(super) Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for FixedClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}
