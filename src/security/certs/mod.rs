//! Certificate authority and certificate files: the logic behind `tandem cert create-ca`,
//! `create-node <hosts...>`, `create-client <user>` and `list`, modelled on `cockroach cert`.
//!
//! Layout of a certificates directory (`--certs-dir`): `ca.crt` (the CA certificate, PEM),
//! `node.crt` / `node.key` (one certificate per node, used both as TLS server certificate and as
//! client certificate for inter-node mutual TLS), `client.<user>.crt` / `client.<user>.key`
//! (CN = SQL user). The CA key lives outside that directory, at the `--ca-key` path, so that the
//! directory can be copied to nodes without the ability to mint new certificates.
//!
//! Invariants: keys are ECDSA P-256 in PKCS#8 PEM; private keys are created with mode 0600 (the
//! mode is given when the file is created, never fixed up afterwards), certificates with 0644,
//! new directories with 0700. No file is written when any of the command's output files already
//! exists and `overwrite` is not set; with `overwrite`, each file is replaced atomically (written
//! to a temporary file beside it, then renamed). Before signing, the CA key is checked against
//! `ca.crt` so a wrong `--ca-key` cannot produce certificates nobody trusts. A signed
//! certificate never outlives the CA that signed it (its expiry is clamped to the CA's).
//!
//! On failure every function returns a [`SecurityError`] naming the offending file, host or user;
//! a failure part-way through may leave the files written before it (e.g. the key without the
//! certificate), which a rerun with `overwrite` replaces.

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::error::{Result, SecurityError};
use super::tls::parse_certs_pem;

mod listing;

pub use listing::*;

/// File name of the CA certificate inside the certificates directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// File name of the node certificate inside the certificates directory.
pub const NODE_CERT_FILE: &str = "node.crt";
/// File name of the node private key inside the certificates directory.
pub const NODE_KEY_FILE: &str = "node.key";
/// Common name of the CA certificate.
pub const CA_COMMON_NAME: &str = "Tandem CA";
/// Common name of every node certificate.
pub const NODE_COMMON_NAME: &str = "node";
/// Organization written into every certificate's subject.
pub const ORGANIZATION: &str = "Tandem";

const DAY: u64 = 24 * 60 * 60;
/// Default CA lifetime: 10 years of 366 days (`cockroach cert`'s 87840h).
pub const DEFAULT_CA_LIFETIME: Duration = Duration::from_secs(10 * 366 * DAY);
/// Default node and client certificate lifetime: 5 years of 366 days (43920h).
pub const DEFAULT_CERT_LIFETIME: Duration = Duration::from_secs(5 * 366 * DAY);
/// Certificates are back-dated by this much to tolerate clock skew between machines.
const BACKDATE: Duration = Duration::from_secs(DAY);

const KEY_MODE: u32 = 0o600;
const CERT_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o700;

/// File name of the certificate of SQL user `user` (`client.<user>.crt`).
pub fn client_cert_file(user: &str) -> String {
    format!("client.{user}.crt")
}

/// File name of the private key of SQL user `user` (`client.<user>.key`).
pub fn client_key_file(user: &str) -> String {
    format!("client.{user}.key")
}

/// Options shared by the `create-*` commands.
#[derive(Debug, Clone, Default)]
pub struct CertOptions {
    /// Validity period from now; `None` = [`DEFAULT_CA_LIFETIME`] for the CA,
    /// [`DEFAULT_CERT_LIFETIME`] for node and client certificates.
    pub lifetime: Option<Duration>,
    /// Replace existing output files instead of refusing.
    pub overwrite: bool,
    /// `create-ca` only: if the CA key file exists, reuse it instead of refusing (or, with
    /// `overwrite`, generating a new one). Lets a CA certificate be re-issued with the same key.
    pub allow_ca_key_reuse: bool,
}

/// Parses a certificate lifetime such as `43800h`, `365d`, `10y`, `90m` or `3600s` (a bare
/// number is hours, as in `cockroach cert --lifetime`). Years are 366 days.
pub fn parse_lifetime(value: &str) -> Result<Duration> {
    let invalid = |reason: &str| SecurityError::InvalidLifetime {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let s = value.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| invalid("expected a number followed by s, m, h, d or y"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "" | "h" => 60 * 60,
        "d" => DAY,
        "y" => 366 * DAY,
        _ => return Err(invalid("unknown unit; use s, m, h, d or y")),
    };
    if n == 0 {
        return Err(invalid("must be positive"));
    }
    let secs = n
        .checked_mul(unit_secs)
        .ok_or_else(|| invalid("too large"))?;
    Ok(Duration::from_secs(secs))
}

/// Creates a new CA: writes `<certs_dir>/ca.crt` and the CA key at `ca_key_path`.
///
/// Refuses (before writing anything) if either file exists, unless `opts.overwrite` is set; an
/// existing key is reused instead when `opts.allow_ca_key_reuse` is set.
pub fn create_ca(certs_dir: &Path, ca_key_path: &Path, opts: &CertOptions) -> Result<()> {
    let cert_path = certs_dir.join(CA_CERT_FILE);
    let reuse_key = opts.allow_ca_key_reuse && ca_key_path.exists();
    if !opts.overwrite {
        refuse_existing(&cert_path)?;
        if !reuse_key {
            refuse_existing(ca_key_path)?;
        }
    }

    let key = if reuse_key {
        load_key_pair(ca_key_path, |p| SecurityError::MissingCaKey { path: p })?
    } else {
        KeyPair::generate()?
    };

    let (not_before, not_after) = validity(opts.lifetime.unwrap_or(DEFAULT_CA_LIFETIME), None)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = subject(CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial());
    let cert = params.self_signed(&key)?;

    if !reuse_key {
        write_file(
            ca_key_path,
            key.serialize_pem().as_bytes(),
            KEY_MODE,
            opts.overwrite,
        )?;
    }
    write_file(&cert_path, cert.pem().as_bytes(), CERT_MODE, opts.overwrite)
}

/// Creates `<certs_dir>/node.crt` and `node.key`, signed by the CA (`<certs_dir>/ca.crt` +
/// `ca_key_path`), valid for every host in `hosts` (IP literals become IP SANs, anything else
/// DNS SANs; `localhost` only if given), CN `node`, usable as TLS server and client.
pub fn create_node(
    certs_dir: &Path,
    ca_key_path: &Path,
    hosts: &[String],
    opts: &CertOptions,
) -> Result<()> {
    let sans = parse_hosts(hosts)?;
    let cert_path = certs_dir.join(NODE_CERT_FILE);
    let key_path = certs_dir.join(NODE_KEY_FILE);
    if !opts.overwrite {
        refuse_existing(&cert_path)?;
        refuse_existing(&key_path)?;
    }
    let ca = load_ca(certs_dir, ca_key_path)?;

    let mut params = CertificateParams::default();
    params.distinguished_name = subject(NODE_COMMON_NAME);
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    sign_and_write(params, &ca, &cert_path, &key_path, opts)
}

/// Creates `<certs_dir>/client.<user>.crt` and `.key` (CN = `user`, clientAuth only), signed by
/// the CA. `user` must be 1–63 characters of `a-z`, `0-9`, `_`, `-`, `.`, not starting with
/// `-` or `.`.
pub fn create_client(
    certs_dir: &Path,
    ca_key_path: &Path,
    user: &str,
    opts: &CertOptions,
) -> Result<()> {
    validate_user(user)?;
    let cert_path = certs_dir.join(client_cert_file(user));
    let key_path = certs_dir.join(client_key_file(user));
    if !opts.overwrite {
        refuse_existing(&cert_path)?;
        refuse_existing(&key_path)?;
    }
    let ca = load_ca(certs_dir, ca_key_path)?;

    let mut params = CertificateParams::default();
    params.distinguished_name = subject(user);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    sign_and_write(params, &ca, &cert_path, &key_path, opts)
}

/// Checks a SQL user name for use in a client certificate (and its file name).
pub fn validate_user(user: &str) -> Result<()> {
    let invalid = |reason: &str| SecurityError::InvalidUser {
        user: user.to_string(),
        reason: reason.to_string(),
    };
    if user.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if user.len() > 63 {
        return Err(invalid("must be at most 63 characters"));
    }
    if let Some(c) = user
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-' | '.'))
    {
        return Err(invalid(&format!(
            "character {c:?} not allowed; use lowercase letters, digits, '_', '-' and '.'"
        )));
    }
    if user.starts_with(['-', '.']) {
        return Err(invalid("must start with a letter, digit or '_'"));
    }
    Ok(())
}
/// The loaded CA: signer plus its expiry (signed certificates are clamped to it).
struct LoadedCa {
    issuer: Issuer<'static, KeyPair>,
    not_after: OffsetDateTime,
}

/// Loads `<certs_dir>/ca.crt` (the first certificate in it) and the CA key, checking that the
/// certificate is a CA and that the key belongs to it.
fn load_ca(certs_dir: &Path, ca_key_path: &Path) -> Result<LoadedCa> {
    let cert_path = certs_dir.join(CA_CERT_FILE);
    let pem = read(&cert_path, |p| SecurityError::MissingCaCert { path: p })?;
    let certs = parse_certs_pem(&pem, &cert_path.display().to_string())?;
    let der = certs.first().ok_or_else(|| SecurityError::BadPem {
        origin: cert_path.display().to_string(),
        reason: "no CERTIFICATE block".into(),
    })?;
    let x509 = parse_x509(der, &cert_path.display().to_string())?;
    if !x509.is_ca() {
        return Err(SecurityError::NotCa { path: cert_path });
    }
    let key = load_key_pair(ca_key_path, |p| SecurityError::MissingCaKey { path: p })?;
    if key.der_bytes() != x509.public_key().subject_public_key.data.as_ref() {
        return Err(SecurityError::KeyMismatch {
            cert: cert_path,
            key: ca_key_path.to_path_buf(),
        });
    }
    let not_after = x509.validity().not_after.to_datetime();
    let issuer = Issuer::from_ca_cert_der(der, key)?;
    Ok(LoadedCa { issuer, not_after })
}

/// Finishes `params` (validity, serial, key usage, AKI), signs it with a new key and writes the
/// key (0600) and the certificate (0644).
fn sign_and_write(
    mut params: CertificateParams,
    ca: &LoadedCa,
    cert_path: &Path,
    key_path: &Path,
    opts: &CertOptions,
) -> Result<()> {
    let (not_before, not_after) = validity(
        opts.lifetime.unwrap_or(DEFAULT_CERT_LIFETIME),
        Some(ca.not_after),
    )?;
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial());
    // ECDSA keys only sign (RFC 5480 §3 forbids keyEncipherment for them).
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca.issuer)?;
    write_file(
        key_path,
        key.serialize_pem().as_bytes(),
        KEY_MODE,
        opts.overwrite,
    )?;
    write_file(cert_path, cert.pem().as_bytes(), CERT_MODE, opts.overwrite)
}

fn subject(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::CommonName, common_name);
    dn
}

/// `(now - BACKDATE, now + lifetime)`, the end clamped to `cap` (the CA's expiry).
fn validity(
    lifetime: Duration,
    cap: Option<OffsetDateTime>,
) -> Result<(OffsetDateTime, OffsetDateTime)> {
    let invalid = |reason: &str| SecurityError::InvalidLifetime {
        value: format!("{}s", lifetime.as_secs()),
        reason: reason.to_string(),
    };
    if lifetime.is_zero() {
        return Err(invalid("must be positive"));
    }
    let now = OffsetDateTime::now_utc();
    let not_before = now - BACKDATE;
    let lifetime = time::Duration::try_from(lifetime).map_err(|_| invalid("too large"))?;
    let mut not_after = now
        .checked_add(lifetime)
        .filter(|t| t.year() <= 9999)
        .ok_or_else(|| invalid("ends after the year 9999"))?;
    if let Some(cap) = cap {
        not_after = not_after.min(cap);
    }
    Ok((not_before, not_after))
}

/// A random positive 128-bit serial number.
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // never a leading zero byte, so the DER length is always 16
    SerialNumber::from_slice(&bytes)
}

/// Turns the hosts given to `create-node` into SANs (deduplicated, order kept).
fn parse_hosts(hosts: &[String]) -> Result<Vec<SanType>> {
    if hosts.is_empty() {
        return Err(SecurityError::NoHosts);
    }
    let mut sans: Vec<SanType> = Vec::with_capacity(hosts.len());
    for host in hosts {
        let san = parse_host(host)?;
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    Ok(sans)
}

fn parse_host(host: &str) -> Result<SanType> {
    let invalid = |reason: &str| SecurityError::InvalidHost {
        host: host.to_string(),
        reason: reason.to_string(),
    };
    let h = host.trim();
    if h.is_empty() {
        return Err(invalid("empty"));
    }
    let unbracketed = h
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(h);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let name = h.trim_end_matches('.').to_ascii_lowercase();
    if name.len() > 253 {
        return Err(invalid("longer than 253 characters"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        if i == 0 && *label == "*" && labels.len() > 2 {
            continue; // wildcard, e.g. *.db.example.com
        }
        if label.is_empty() || label.len() > 63 {
            return Err(invalid("each dot-separated label must be 1-63 characters"));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(invalid(
                "not an IP address, and a DNS name may only contain letters, digits, '-' and '.'",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("a DNS label must not start or end with '-'"));
        }
    }
    let ia5 = Ia5String::try_from(name).map_err(|e| invalid(&e.to_string()))?;
    Ok(SanType::DnsName(ia5))
}

/// Reads a PKCS#8 PEM key with rcgen (to sign with it).
fn load_key_pair(path: &Path, missing: impl FnOnce(PathBuf) -> SecurityError) -> Result<KeyPair> {
    let pem = read(path, missing)?;
    let text = String::from_utf8(pem).map_err(|_| SecurityError::BadPem {
        origin: path.display().to_string(),
        reason: "not UTF-8 text".into(),
    })?;
    KeyPair::from_pem(&text).map_err(|e| SecurityError::BadKey {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Reads a whole file; a missing file becomes `missing(path)`, other errors `Io`.
pub(crate) fn read(path: &Path, missing: impl FnOnce(PathBuf) -> SecurityError) -> Result<Vec<u8>> {
    match fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing(path.to_path_buf())),
        Err(e) => Err(SecurityError::io(path, e)),
    }
}

fn refuse_existing(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(_) => Err(SecurityError::AlreadyExists {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SecurityError::io(path, e)),
    }
}

/// Creates `dir` and its missing parents with mode 0700 (existing directories are untouched).
fn create_dir_all(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir).map_err(|e| SecurityError::io(dir, e))
}

/// Opens a new file exclusively with `mode` set at creation.
fn create_new(path: &Path, mode: u32) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// Writes `contents` to `path` with `mode`. Without `overwrite` the file is created exclusively
/// (an existing file is an error); with it, the contents go to a temporary file in the same
/// directory that is then renamed over `path`.
fn write_file(path: &Path, contents: &[u8], mode: u32, overwrite: bool) -> Result<()> {
    if let Some(parent) = path.parent() {
        create_dir_all(parent)?;
    }
    let write_all = |target: &Path| -> std::io::Result<()> {
        let mut f = create_new(target, mode)?;
        f.write_all(contents)?;
        f.sync_all()
    };
    if !overwrite {
        return match write_all(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(SecurityError::AlreadyExists {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => {
                let _ = fs::remove_file(path);
                Err(SecurityError::io(path, e))
            }
        };
    }
    let file_name = path
        .file_name()
        .ok_or_else(|| {
            SecurityError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
            )
        })?
        .to_string_lossy();
    let tmp = path.with_file_name(format!(".{file_name}.tmp{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    if let Err(e) = write_all(&tmp) {
        let _ = fs::remove_file(&tmp);
        return Err(SecurityError::io(&tmp, e));
    }
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        SecurityError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let certs = tmp.path().join("certs");
        let ca_key = tmp.path().join("safe").join("ca.key");
        create_ca(&certs, &ca_key, &CertOptions::default()).expect("create_ca");
        (tmp, certs, ca_key)
    }

    fn hosts(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn key_files_are_0600_and_certs_0644() {
        let (_tmp, certs, ca_key) = setup();
        let opts = CertOptions::default();
        create_node(&certs, &ca_key, &hosts(&["localhost"]), &opts).expect("node");
        create_client(&certs, &ca_key, "root", &opts).expect("client");
        assert_eq!(mode(&ca_key), 0o600);
        assert_eq!(mode(&certs.join(NODE_KEY_FILE)), 0o600);
        assert_eq!(mode(&certs.join("client.root.key")), 0o600);
        for cert in [CA_CERT_FILE, NODE_CERT_FILE, "client.root.crt"] {
            let m = mode(&certs.join(cert));
            assert_eq!(
                m & !0o644,
                0,
                "{cert}: at most 0644 (umask may remove more)"
            );
            assert_eq!(m & 0o600, 0o600, "{cert}");
        }
        assert_eq!(mode(&certs) & 0o077, 0, "new certs dir is private");
        // Overwriting keeps the modes (file is created anew, not chmod-ed).
        let over = CertOptions {
            overwrite: true,
            ..Default::default()
        };
        create_node(&certs, &ca_key, &hosts(&["localhost"]), &over).expect("overwrite node");
        assert_eq!(mode(&certs.join(NODE_KEY_FILE)), 0o600);
    }

    #[test]
    fn node_sans_are_the_given_hosts() {
        let (_tmp, certs, ca_key) = setup();
        let given = hosts(&["127.0.0.1", "node1.example.com", "::1", "Node1.Example.com"]);
        create_node(&certs, &ca_key, &given, &CertOptions::default()).expect("node");
        let infos = list(&certs).expect("list");
        let node = infos
            .iter()
            .find(|i| i.usage == CertUsage::Node)
            .expect("node listed");
        assert_eq!(node.common_name, "node");
        assert_eq!(node.sans, vec!["127.0.0.1", "node1.example.com", "::1"]);
        assert!(!node.sans.iter().any(|s| s == "localhost"));

        let pem = fs::read(certs.join(NODE_CERT_FILE)).expect("read");
        let der = parse_certs_pem(&pem, "node").expect("pem").remove(0);
        let x509 = parse_x509(&der, "node").expect("x509");
        let eku = x509.extended_key_usage().expect("eku").expect("present");
        assert!(eku.value.server_auth && eku.value.client_auth);
        assert!(!x509.is_ca());
    }

    #[test]
    fn list_shows_all_three_kinds() {
        let (_tmp, certs, ca_key) = setup();
        let opts = CertOptions::default();
        create_node(&certs, &ca_key, &hosts(&["localhost", "127.0.0.1"]), &opts).expect("node");
        create_client(&certs, &ca_key, "root", &opts).expect("root");
        create_client(&certs, &ca_key, "alice", &opts).expect("alice");
        fs::write(certs.join("README.txt"), "ignored").expect("write");
        let infos = list(&certs).expect("list");
        let kinds: Vec<(CertUsage, &str)> = infos
            .iter()
            .map(|i| (i.usage, i.common_name.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (CertUsage::Ca, CA_COMMON_NAME),
                (CertUsage::Node, "node"),
                (CertUsage::Client, "alice"),
                (CertUsage::Client, "root"),
            ]
        );
        assert!(infos.iter().all(|i| i.error.is_none()));
        assert_eq!(infos[0].key_file, None, "CA key lives outside certs dir");
        assert_eq!(infos[1].key_file, Some(certs.join(NODE_KEY_FILE)));

        // Node/client expiry ~5 years, CA ~10 years.
        let now = OffsetDateTime::now_utc();
        let years = |i: &CertInfo| (i.not_after.expect("expiry") - now).whole_days() / 365;
        assert_eq!(years(&infos[0]), 10);
        assert_eq!(years(&infos[1]), 5);

        let table = format_list(&infos);
        assert!(table.contains("Usage"), "{table}");
        assert!(table.contains("ca.crt"), "{table}");
        assert!(table.contains("addresses: localhost,127.0.0.1"), "{table}");
        assert!(table.contains("user: root"), "{table}");
        assert!(table.contains("client.root.key"), "{table}");
        assert!(table.ends_with("(4 rows)\n"), "{table}");
    }

    #[test]
    fn list_reports_broken_files_without_failing() {
        let (_tmp, certs, _ca_key) = setup();
        fs::write(certs.join("client.bob.crt"), "garbage").expect("write");
        let infos = list(&certs).expect("list");
        let bob = infos
            .iter()
            .find(|i| i.usage == CertUsage::Client)
            .expect("bob");
        assert!(bob.error.is_some());
        assert!(format_list(&infos).contains("client.bob.crt"));
    }

    #[test]
    fn refuses_to_overwrite_unless_asked() {
        let (_tmp, certs, ca_key) = setup();
        let before = fs::read(certs.join(CA_CERT_FILE)).expect("read");
        let err = create_ca(&certs, &ca_key, &CertOptions::default()).expect_err("must refuse");
        assert!(matches!(err, SecurityError::AlreadyExists { .. }), "{err}");
        assert!(err.to_string().contains("ca.crt"), "{err}");
        assert_eq!(fs::read(certs.join(CA_CERT_FILE)).expect("read"), before);

        let opts = CertOptions::default();
        create_node(&certs, &ca_key, &hosts(&["localhost"]), &opts).expect("node");
        let err = create_node(&certs, &ca_key, &hosts(&["localhost"]), &opts).expect_err("refuse");
        assert!(err.to_string().contains("node.crt"), "{err}");
        create_client(&certs, &ca_key, "root", &opts).expect("client");
        assert!(matches!(
            create_client(&certs, &ca_key, "root", &opts),
            Err(SecurityError::AlreadyExists { .. })
        ));

        let over = CertOptions {
            overwrite: true,
            ..Default::default()
        };
        create_ca(&certs, &ca_key, &over).expect("overwrite ca");
        assert_ne!(fs::read(certs.join(CA_CERT_FILE)).expect("read"), before);
    }

    #[test]
    fn ca_key_reuse_keeps_the_key() {
        let (_tmp, certs, ca_key) = setup();
        let key_before = fs::read(&ca_key).expect("read");
        let opts = CertOptions {
            overwrite: true,
            allow_ca_key_reuse: true,
            ..Default::default()
        };
        create_ca(&certs, &ca_key, &opts).expect("reissue");
        assert_eq!(fs::read(&ca_key).expect("read"), key_before);
        create_client(&certs, &ca_key, "root", &CertOptions::default()).expect("signs");
    }

    #[test]
    fn bad_user_names_are_rejected() {
        for bad in [
            "",
            "Root",
            "a b",
            "../etc",
            "-x",
            ".x",
            "über",
            &"a".repeat(64),
        ] {
            let err = validate_user(bad).expect_err(bad);
            assert!(
                matches!(err, SecurityError::InvalidUser { .. }),
                "{bad}: {err}"
            );
        }
        for good in [
            "root",
            "a",
            "user_1",
            "my-app.v2",
            "_x",
            "1abc",
            &"a".repeat(63),
        ] {
            validate_user(good).expect(good);
        }
        let (_tmp, certs, ca_key) = setup();
        let err = create_client(&certs, &ca_key, "Bad/User", &CertOptions::default())
            .expect_err("invalid");
        assert!(err.to_string().contains("Bad/User"), "{err}");
    }

    #[test]
    fn bad_hosts_are_rejected() {
        for bad in ["", "a b", "foo..bar", "-foo", "x_y.com", "*"] {
            let err = parse_host(bad).expect_err(bad);
            assert!(
                matches!(err, SecurityError::InvalidHost { .. }),
                "{bad}: {err}"
            );
        }
        assert!(matches!(parse_hosts(&[]), Err(SecurityError::NoHosts)));
        assert_eq!(
            parse_host("[::1]").expect("ipv6"),
            SanType::IpAddress("::1".parse().expect("ip"))
        );
        parse_host("*.db.example.com").expect("wildcard");
    }

    #[test]
    fn missing_or_wrong_ca_is_reported() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let certs = tmp.path().join("certs");
        let ca_key = tmp.path().join("ca.key");
        let opts = CertOptions::default();
        let err = create_client(&certs, &ca_key, "root", &opts).expect_err("no CA");
        assert!(matches!(err, SecurityError::MissingCaCert { .. }), "{err}");

        create_ca(&certs, &ca_key, &opts).expect("ca");
        let other = tmp.path().join("other");
        let other_key = tmp.path().join("other.key");
        create_ca(&other, &other_key, &opts).expect("other ca");
        let err = create_client(&certs, &other_key, "root", &opts).expect_err("wrong key");
        assert!(matches!(err, SecurityError::KeyMismatch { .. }), "{err}");

        let err = create_client(&certs, &tmp.path().join("nope.key"), "root", &opts)
            .expect_err("missing key");
        assert!(matches!(err, SecurityError::MissingCaKey { .. }), "{err}");

        fs::write(&ca_key, "not a key").expect("write");
        let err = create_client(&certs, &ca_key, "root", &opts).expect_err("bad key");
        assert!(matches!(err, SecurityError::BadKey { .. }), "{err}");
    }

    #[test]
    fn lifetimes_parse_and_clamp() {
        assert_eq!(
            parse_lifetime("48h").expect("h"),
            Duration::from_secs(48 * 3600)
        );
        assert_eq!(
            parse_lifetime("2d").expect("d"),
            Duration::from_secs(2 * DAY)
        );
        assert_eq!(
            parse_lifetime("100").expect("bare"),
            Duration::from_secs(100 * 3600)
        );
        for bad in ["", "0h", "h", "5w", "-1h", "99999999999999999999y"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let certs = tmp.path().join("certs");
        let ca_key = tmp.path().join("ca.key");
        let short = CertOptions {
            lifetime: Some(Duration::from_secs(30 * DAY)),
            ..Default::default()
        };
        create_ca(&certs, &ca_key, &short).expect("ca");
        create_client(&certs, &ca_key, "root", &CertOptions::default()).expect("client");
        let infos = list(&certs).expect("list");
        assert!(
            infos[1].not_after <= infos[0].not_after,
            "clamped to CA expiry"
        );
    }
}
