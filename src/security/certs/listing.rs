//! Listing the certificates directory: what each file is for ([`CertUsage`]), what its
//! certificate says ([`CertInfo`]) and the table `tandem cert list` prints. Reads files only;
//! an unreadable or malformed certificate is a [`SecurityError`] naming the file.

use super::*;

/// What a certificate in the certificates directory is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CertUsage {
    /// `ca.crt`.
    Ca,
    /// `node.crt`.
    Node,
    /// `client.<user>.crt`.
    Client,
}

impl fmt::Display for CertUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertUsage::Ca => "CA",
            CertUsage::Node => "Node",
            CertUsage::Client => "Client",
        })
    }
}

/// One certificate file found by [`list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// CA, node or client.
    pub usage: CertUsage,
    /// Path of the certificate file.
    pub cert_file: PathBuf,
    /// Path of the matching key file, if it exists in the directory.
    pub key_file: Option<PathBuf>,
    /// Subject common name of the (first) certificate; empty if it could not be read.
    pub common_name: String,
    /// Expiry of the (first) certificate; `None` if it could not be read.
    pub not_after: Option<OffsetDateTime>,
    /// Subject alternative names (DNS names and IP addresses) of the (first) certificate.
    pub sans: Vec<String>,
    /// Number of certificates in the file (a CA file may hold several during rotation).
    pub num_certs: usize,
    /// Why the file could not be read, if it could not.
    pub error: Option<String>,
}

/// Lists the CA, node and client certificates in `certs_dir`, ordered CA, Node, Client, then by
/// file name. Files that fail to parse are listed with [`CertInfo::error`] set; other file names
/// are ignored. Fails only if the directory cannot be read.
pub fn list(certs_dir: &Path) -> Result<Vec<CertInfo>> {
    let entries = fs::read_dir(certs_dir).map_err(|e| SecurityError::io(certs_dir, e))?;
    let mut infos = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| SecurityError::io(certs_dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let (usage, key_name) = if name == CA_CERT_FILE {
            (CertUsage::Ca, "ca.key".to_string())
        } else if name == NODE_CERT_FILE {
            (CertUsage::Node, NODE_KEY_FILE.to_string())
        } else if let Some(user) = name
            .strip_prefix("client.")
            .and_then(|rest| rest.strip_suffix(".crt"))
            .filter(|u| !u.is_empty())
        {
            (CertUsage::Client, client_key_file(user))
        } else {
            continue;
        };
        let cert_file = entry.path();
        let key_file = Some(certs_dir.join(key_name)).filter(|p| p.is_file());
        let mut info = CertInfo {
            usage,
            cert_file,
            key_file,
            common_name: String::new(),
            not_after: None,
            sans: Vec::new(),
            num_certs: 0,
            error: None,
        };
        if let Err(e) = describe(&mut info) {
            info.error = Some(e.to_string());
        }
        infos.push(info);
    }
    infos.sort_by(|a, b| (a.usage, &a.cert_file).cmp(&(b.usage, &b.cert_file)));
    Ok(infos)
}

/// Renders [`list`]'s result as a table in the style of `cockroach cert list`.
pub fn format_list(infos: &[CertInfo]) -> String {
    const HEADERS: [&str; 6] = [
        "Usage",
        "Certificate File",
        "Key File",
        "Expires",
        "Notes",
        "Error",
    ];
    let file_name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| p.display().to_string())
    };
    let rows: Vec<[String; 6]> = infos
        .iter()
        .map(|i| {
            let notes = if i.error.is_some() {
                String::new()
            } else {
                match i.usage {
                    CertUsage::Ca => format!("num certs: {}", i.num_certs),
                    CertUsage::Node => format!("addresses: {}", i.sans.join(",")),
                    CertUsage::Client => format!("user: {}", i.common_name),
                }
            };
            [
                i.usage.to_string(),
                file_name(&i.cert_file),
                i.key_file.as_deref().map(file_name).unwrap_or_default(),
                i.not_after
                    .map(|t| format!("{:04}/{:02}/{:02}", t.year(), u8::from(t.month()), t.day()))
                    .unwrap_or_default(),
                notes,
                i.error.clone().unwrap_or_default(),
            ]
        })
        .collect();

    let mut widths = HEADERS.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!(" {c:<w$} "))
            .collect();
        out.push_str(padded.join("|").trim_end());
        out.push('\n');
    };
    line(&HEADERS.map(String::from), &mut out);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    out.push_str(&rule.join("+"));
    out.push('\n');
    for row in &rows {
        line(row, &mut out);
    }
    let n = rows.len();
    out.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
    out
}

/// Fills `info` from its certificate file.
pub(super) fn describe(info: &mut CertInfo) -> Result<()> {
    let origin = info.cert_file.display().to_string();
    let pem = read(&info.cert_file, |p| {
        SecurityError::io(p, std::io::ErrorKind::NotFound.into())
    })?;
    let certs = parse_certs_pem(&pem, &origin)?;
    info.num_certs = certs.len();
    let der = certs.first().ok_or_else(|| SecurityError::BadPem {
        origin: origin.clone(),
        reason: "no CERTIFICATE block".into(),
    })?;
    let x509 = parse_x509(der, &origin)?;
    info.common_name = common_name(&x509).unwrap_or_default();
    info.not_after = Some(x509.validity().not_after.to_datetime());
    if let Ok(Some(san)) = x509.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => info.sans.push((*d).to_string()),
                GeneralName::IPAddress(bytes) => info.sans.push(format_ip(bytes)),
                _ => {}
            }
        }
    }
    Ok(())
}

pub(super) fn format_ip(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => {
            let a: [u8; 4] = bytes.try_into().expect("length checked to be 4");
            IpAddr::from(a).to_string()
        }
        16 => {
            let a: [u8; 16] = bytes.try_into().expect("length checked to be 16");
            IpAddr::from(a).to_string()
        }
        _ => format!("<invalid IP {bytes:02x?}>"),
    }
}

/// Parses one DER certificate; `origin` names it in errors.
pub(crate) fn parse_x509<'a>(der: &'a [u8], origin: &str) -> Result<X509Certificate<'a>> {
    let (_rest, cert) = X509Certificate::from_der(der).map_err(|e| SecurityError::BadCert {
        origin: origin.to_string(),
        reason: e.to_string(),
    })?;
    Ok(cert)
}

/// The first subject common name of `cert`, if it has a readable one.
pub(crate) fn common_name(cert: &X509Certificate<'_>) -> Option<String> {
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
}
