//! Connection URLs: [`ConnUrl`], parsed from and printed as CockroachDB-style
//! `postgresql://user:pass@host:port/db?params` URLs, with the `ssl*` parameters and the
//! `options` startup parameters. Parsing never panics; every error names the parameter and never
//! contains the password.

use super::*;

/// Where a certificate or key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum CertSource {
    /// A PEM file.
    Path(PathBuf),
    /// PEM text given inline in the URL (`sslinline=true`).
    Inline(String),
}

impl fmt::Debug for CertSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertSource::Path(p) => f.debug_tuple("Path").field(p).finish(),
            CertSource::Inline(_) => f.write_str("Inline(..)"),
        }
    }
}

/// A parsed `postgresql://` connection URL.
///
/// `Debug` and `Display` show [`ConnUrl::redacted`]; use [`ConnUrl::to_url`] for the full URL.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnUrl {
    /// SQL user (default `root`).
    pub user: String,
    /// Password, if the URL has one.
    pub password: Option<String>,
    /// Host name, IP address, or a Unix socket directory (starting with `/`).
    pub host: String,
    /// Port (default 26257).
    pub port: u16,
    /// Database (default `defaultdb`).
    pub database: String,
    /// Virtual cluster from `options=-ccluster=<name>`.
    pub cluster: Option<String>,
    /// Other `-c name=value` settings from `options`, in order.
    pub settings: Vec<(String, String)>,
    /// TLS mode (default `verify-full`).
    pub sslmode: SslMode,
    /// Whether the URL named an `sslmode` (callers with an `--insecure` flag default to
    /// `disable` only when it did not).
    pub sslmode_explicit: bool,
    /// Root CA (`sslrootcert`).
    pub sslrootcert: Option<CertSource>,
    /// Client certificate (`sslcert`).
    pub sslcert: Option<CertSource>,
    /// Client key (`sslkey`).
    pub sslkey: Option<CertSource>,
    /// `application_name`.
    pub application_name: Option<String>,
    /// `connect_timeout` (seconds in the URL); `None` means [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Option<Duration>,
    /// `crdb_route=gateway`: a replication stream sends every partition through this URL's
    /// address (a load balancer) instead of dialing each source node (`crdb_route=node`, the
    /// default). Other clients ignore it.
    pub route_gateway: bool,
}

impl Default for ConnUrl {
    fn default() -> Self {
        ConnUrl {
            user: DEFAULT_USER.to_string(),
            password: None,
            host: DEFAULT_HOST.to_string(),
            port: DEFAULT_PORT,
            database: DEFAULT_DATABASE.to_string(),
            cluster: None,
            settings: Vec::new(),
            sslmode: SslMode::VerifyFull,
            sslmode_explicit: false,
            sslrootcert: None,
            sslcert: None,
            sslkey: None,
            application_name: None,
            connect_timeout: None,
            route_gateway: false,
        }
    }
}

impl fmt::Debug for ConnUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnUrl({})", self.redacted())
    }
}

impl fmt::Display for ConnUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::str::FromStr for ConnUrl {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self, ClientError> {
        ConnUrl::parse(s)
    }
}

/// Characters escaped in user names and passwords.
pub(super) const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Characters escaped in path and query values (`/` stays readable in file paths; `=` inside
/// `options` is escaped, which psql requires).
pub(super) const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

pub(super) fn decode(s: &str, what: &str) -> Result<String, ClientError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            ClientError::invalid(format!("{what} is not valid UTF-8 after percent-decoding"))
        })
}

pub(super) fn parse_bool(name: &'static str, value: &str) -> Result<bool, ClientError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(ClientError::InvalidParameter {
            name,
            value: value.to_string(),
            reason: "expected true or false".into(),
        }),
    }
}

pub(super) fn parse_port(value: &str) -> Result<u16, ClientError> {
    match value.parse::<u16>() {
        Ok(0) | Err(_) => Err(ClientError::InvalidParameter {
            name: "port",
            value: value.to_string(),
            reason: "expected a port number between 1 and 65535".into(),
        }),
        Ok(p) => Ok(p),
    }
}

/// Splits the `options` startup parameter into `(name, value)` settings: `-c name=value`,
/// `-cname=value` and `--name=value`, whitespace-separated, with `\` escaping the next
/// character as PostgreSQL does. Names have `-` replaced by `_`.
pub fn parse_startup_options(options: &str) -> Result<Vec<(String, String)>, ClientError> {
    // Tokenize on unescaped whitespace.
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut chars = options.chars();
    let mut in_token = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                in_token = true;
                if let Some(next) = chars.next() {
                    cur.push(next);
                }
            }
            c if c.is_whitespace() => {
                if in_token {
                    tokens.push(std::mem::take(&mut cur));
                    in_token = false;
                }
            }
            c => {
                in_token = true;
                cur.push(c);
            }
        }
    }
    if in_token {
        tokens.push(cur);
    }

    let bad = |token: &str, reason: &str| ClientError::InvalidParameter {
        name: "options",
        value: options.to_string(),
        reason: format!(
            "{reason} at {token:?}; expected -c name=value, -cname=value or --name=value"
        ),
    };
    let mut settings = Vec::new();
    let mut iter = tokens.iter();
    while let Some(token) = iter.next() {
        let assignment = if let Some(rest) = token.strip_prefix("--") {
            rest.to_string()
        } else if let Some(rest) = token.strip_prefix("-c") {
            if rest.is_empty() {
                match iter.next() {
                    Some(next) => next.clone(),
                    None => return Err(bad(token, "missing setting after -c")),
                }
            } else {
                rest.to_string()
            }
        } else {
            return Err(bad(token, "unsupported option"));
        };
        let Some((name, value)) = assignment.split_once('=') else {
            return Err(bad(&assignment, "missing '='"));
        };
        let name = name.trim().replace('-', "_");
        if name.is_empty() {
            return Err(bad(&assignment, "empty setting name"));
        }
        settings.push((name, value.to_string()));
    }
    Ok(settings)
}

/// Escapes a value for the `options` startup parameter (backslash before whitespace and `\`).
pub(super) fn escape_option_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '\\' || c.is_whitespace() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Checks a URL's scheme (`postgresql` or `postgres`) and shape (no fragment, one host) and
/// splits what follows `://` into the part before the query and the query.
fn split_url(url: &str) -> Result<(&str, Option<&str>), ClientError> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(ClientError::invalid(
            "expected postgresql://[user[:password]@]host[:port][/database][?parameters]",
        ));
    };
    let scheme_lower = scheme.to_ascii_lowercase();
    if scheme_lower != "postgresql" && scheme_lower != "postgres" {
        return Err(ClientError::UnsupportedScheme(scheme.to_string()));
    }
    // Split off the query ourselves: the url crate would drop raw newlines (inline PEM) and
    // treats `+` as-is, while we want plain percent-decoding of every value.
    let (base, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    if base.contains('#') || query.is_some_and(|q| q.contains('#')) {
        return Err(ClientError::invalid("fragments ('#') are not allowed"));
    }
    let authority = base.split('/').next().unwrap_or("");
    let host_part = authority.rsplit('@').next().unwrap_or("");
    if host_part.contains(',') {
        return Err(ClientError::invalid("multiple hosts are not supported"));
    }
    Ok((base, query))
}

/// The certificate parameters of a URL, as given.
#[derive(Default)]
struct CertParams {
    /// `sslinline=true`: the values are PEM text, not paths.
    inline: bool,
    rootcert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

impl CertParams {
    /// Where certificate parameter `param` comes from: nothing for an empty value, the PEM
    /// text with `sslinline` (which must look like PEM), else a path.
    fn source(
        &self,
        param: &'static str,
        v: Option<String>,
    ) -> Result<Option<CertSource>, ClientError> {
        match v {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) if self.inline => {
                if !v.contains("-----BEGIN") {
                    return Err(ClientError::BadInlinePem {
                        param,
                        reason: "sslinline=true but the value is not PEM text (no -----BEGIN line)"
                            .into(),
                    });
                }
                Ok(Some(CertSource::Inline(v)))
            }
            Some(v) => Ok(Some(CertSource::Path(PathBuf::from(v)))),
        }
    }
}

impl ConnUrl {
    /// Parses a `postgresql://` (or `postgres://`) URL. Only the syntax is checked here:
    /// certificate paths are kept as written (see [`ConnUrl::resolve_files`]).
    ///
    /// Accepted query parameters: `options` (`-ccluster=x`, `-ccluster%3Dx`, `-c cluster=x`,
    /// `--cluster=x`, other `-c` settings), `sslmode` (`disable | allow | prefer | require |
    /// verify-ca | verify-full`; `allow` and `prefer` mean `require`), `sslrootcert`, `sslcert`,
    /// `sslkey`, `sslinline` (`true`: the three `ssl*` values are PEM text), `application_name`,
    /// `connect_timeout` (seconds), and libpq's `user`, `password`, `host`, `port`, `dbname`.
    /// Defaults: user `root`, host `localhost`, port 26257, database `defaultdb`, `verify-full`.
    pub fn parse(url: &str) -> Result<ConnUrl, ClientError> {
        let (base, query) = split_url(url)?;
        let mut out = ConnUrl::default();
        out.apply_base(base)?;
        let mut certs = CertParams::default();
        for pair in query.unwrap_or("").split('&') {
            if pair.is_empty() {
                continue;
            }
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(raw_name, "a parameter name")?;
            let value = decode(raw_value, &format!("the value of {name}"))?;
            out.apply_param(name, value, &mut certs)?;
        }
        if out.user.is_empty() {
            return Err(ClientError::invalid("empty user name"));
        }
        if out.database.is_empty() {
            out.database = DEFAULT_DATABASE.to_string();
        }
        out.sslrootcert = certs.source("sslrootcert", certs.rootcert.clone())?;
        out.sslcert = certs.source("sslcert", certs.cert.clone())?;
        out.sslkey = certs.source("sslkey", certs.key.clone())?;
        Ok(out)
    }

    /// Takes the user, password, host, port and database from the URL's part before the
    /// query (`user[:password]@host[:port][/database]`).
    fn apply_base(&mut self, base: &str) -> Result<(), ClientError> {
        let parsed = url::Url::parse(&format!("postgresql://{base}"))
            .map_err(|e| ClientError::invalid(e.to_string()))?;
        if !parsed.username().is_empty() {
            self.user = decode(parsed.username(), "the user name")?;
        }
        if let Some(pw) = parsed.password() {
            let pw = decode(pw, "the password")?;
            if !pw.is_empty() {
                self.password = Some(pw);
            }
        }
        match parsed.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => self.host = decode(d, "the host")?,
            Some(url::Host::Ipv4(ip)) => self.host = ip.to_string(),
            Some(url::Host::Ipv6(ip)) => self.host = ip.to_string(),
            _ => {}
        }
        if let Some(port) = parsed.port() {
            self.port = parse_port(&port.to_string())?;
        }
        let path = parsed.path().trim_start_matches('/');
        if path.contains('/') {
            return Err(ClientError::invalid(format!(
                "the path must be a single database name, got {path:?}"
            )));
        }
        if !path.is_empty() {
            self.database = decode(path, "the database name")?;
        }
        Ok(())
    }

    /// Applies one (decoded) query parameter; the certificate parameters go to `certs`, to be
    /// resolved once `sslinline` is known.
    fn apply_param(
        &mut self,
        name: String,
        value: String,
        certs: &mut CertParams,
    ) -> Result<(), ClientError> {
        match name.as_str() {
            "options" => {
                for (setting, v) in parse_startup_options(&value)? {
                    if setting == "cluster" {
                        self.cluster = Some(v);
                    } else {
                        self.settings.push((setting, v));
                    }
                }
            }
            "sslmode" => {
                self.sslmode = value
                    .parse::<SslMode>()
                    .map_err(|_| ClientError::InvalidSslMode(value.clone()))?;
                self.sslmode_explicit = true;
            }
            "sslrootcert" => certs.rootcert = Some(value),
            "sslcert" => certs.cert = Some(value),
            "sslkey" => certs.key = Some(value),
            "sslinline" => certs.inline = parse_bool("sslinline", &value)?,
            "application_name" => self.application_name = Some(value),
            "crdb_route" => {
                self.route_gateway = match value.trim().to_ascii_lowercase().as_str() {
                    "gateway" => true,
                    "node" => false,
                    _ => {
                        return Err(ClientError::InvalidParameter {
                            name: "crdb_route",
                            value: value.clone(),
                            reason: "expected gateway or node".into(),
                        });
                    }
                }
            }
            "connect_timeout" => {
                let secs: u64 =
                    value
                        .trim()
                        .parse()
                        .map_err(|_| ClientError::InvalidParameter {
                            name: "connect_timeout",
                            value: value.clone(),
                            reason: "expected a whole number of seconds".into(),
                        })?;
                self.connect_timeout = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "user" => self.user = value,
            "password" => self.password = (!value.is_empty()).then_some(value),
            "host" => self.host = value,
            "port" => self.port = parse_port(value.trim())?,
            "dbname" | "database" => self.database = value,
            _ => return Err(ClientError::UnknownParameter { name }),
        }
        Ok(())
    }

    /// [`ConnUrl::parse`] followed by [`ConnUrl::resolve_files`].
    pub fn parse_with_certs_dir(
        url: &str,
        certs_dir: Option<&Path>,
    ) -> Result<ConnUrl, ClientError> {
        let mut parsed = ConnUrl::parse(url)?;
        parsed.resolve_files(certs_dir)?;
        Ok(parsed)
    }

    /// Finds the certificate files this URL will use, as `cockroach sql` does:
    /// - a relative `sslrootcert`/`sslcert`/`sslkey` is used as given if it exists, otherwise
    ///   looked up under `certs_dir` (first the whole relative path, then its file name);
    ///   absolute paths must exist;
    /// - without `sslrootcert`, a verifying mode uses `<certs_dir>/ca.crt` if it exists;
    /// - without `sslcert`, `<certs_dir>/client.<user>.crt` and `.key` are used if both exist.
    ///
    /// Only the files the `sslmode` needs are checked (none for `disable`, no root CA for
    /// `require`). A missing file is a [`ClientError::MissingFile`] naming it.
    pub fn resolve_files(&mut self, certs_dir: Option<&Path>) -> Result<(), ClientError> {
        if !self.sslmode.uses_tls() {
            return Ok(());
        }
        let verifying = matches!(self.sslmode, SslMode::VerifyCa | SslMode::VerifyFull);

        if verifying {
            match &self.sslrootcert {
                Some(CertSource::Path(p)) => {
                    self.sslrootcert =
                        Some(CertSource::Path(resolve_path("sslrootcert", p, certs_dir)?));
                }
                Some(CertSource::Inline(_)) => {}
                None => {
                    if let Some(dir) = certs_dir {
                        let ca = dir.join(CA_CERT_FILE);
                        if ca.is_file() {
                            self.sslrootcert = Some(CertSource::Path(ca));
                        }
                    }
                }
            }
        }

        match (&self.sslcert, &self.sslkey) {
            (Some(CertSource::Path(c)), Some(CertSource::Path(k))) => {
                let c = resolve_path("sslcert", c, certs_dir)?;
                let k = resolve_path("sslkey", k, certs_dir)?;
                self.sslcert = Some(CertSource::Path(c));
                self.sslkey = Some(CertSource::Path(k));
            }
            (Some(CertSource::Inline(_)), Some(CertSource::Inline(_))) => {}
            (Some(_), None) => {
                return Err(ClientError::invalid("sslcert is given without sslkey"));
            }
            (None, Some(_)) => {
                return Err(ClientError::invalid("sslkey is given without sslcert"));
            }
            (Some(_), Some(_)) => {
                return Err(ClientError::invalid(
                    "sslcert and sslkey must both be files or both be inline PEM",
                ));
            }
            (None, None) => {
                if let Some(dir) = certs_dir {
                    let c = dir.join(client_cert_file(&self.user));
                    let k = dir.join(client_key_file(&self.user));
                    if c.is_file() && k.is_file() {
                        self.sslcert = Some(CertSource::Path(c));
                        self.sslkey = Some(CertSource::Path(k));
                    }
                }
            }
        }
        Ok(())
    }

    /// The URL with the password replaced by `redacted` and inline certificates and keys
    /// removed; safe to log and to show in `SHOW` output.
    pub fn redacted(&self) -> String {
        self.render(true)
    }

    /// The full URL, secrets included (for storing, e.g. a replication source).
    pub fn to_url(&self) -> String {
        self.render(false)
    }

    /// `user@host:port/db`, or `user@host:port/cluster/db` with a virtual cluster: the shell
    /// prompt.
    pub fn prompt_label(&self) -> String {
        let mut label = format!("{}@{}", self.user, self.host_port());
        if let Some(cluster) = &self.cluster {
            label.push('/');
            label.push_str(cluster);
        }
        label.push('/');
        label.push_str(&self.database);
        label
    }

    /// The same URL pointed at `addr` (`host:port`, IPv6 hosts in brackets): how a consumer
    /// reaches the other nodes of the cluster its URI names, with the same credentials.
    pub fn with_address(&self, addr: &str) -> Result<ConnUrl, ClientError> {
        let bad =
            || ClientError::invalid(format!("invalid node address {addr:?}: expected host:port"));
        let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        let mut url = self.clone();
        url.host = host.to_string();
        url.port = port;
        Ok(url)
    }

    /// `host:port` (IPv6 addresses in brackets).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The `options` startup parameter: `-ccluster=<name>` and the other settings, or `None`.
    pub fn startup_options(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(cluster) = &self.cluster {
            parts.push(format!("-ccluster={}", escape_option_value(cluster)));
        }
        for (name, value) in &self.settings {
            parts.push(format!("-c{}={}", name, escape_option_value(value)));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    pub(super) fn render(&self, redact: bool) -> String {
        let password = self.password.as_ref().map(|pw| {
            if redact {
                "redacted".to_string()
            } else {
                pw.clone()
            }
        });
        let mut params: Vec<(&str, String)> = Vec::new();
        let mut s = String::from("postgresql://");
        if self.host.starts_with('/') {
            // A Unix socket directory cannot be a URL host: everything goes in the query.
            params.push(("host", self.host.clone()));
            params.push(("port", self.port.to_string()));
            params.push(("user", self.user.clone()));
            if let Some(pw) = password {
                params.push(("password", pw));
            }
        } else {
            s.push_str(&utf8_percent_encode(&self.user, USERINFO).to_string());
            if let Some(pw) = password {
                s.push(':');
                s.push_str(&utf8_percent_encode(&pw, USERINFO).to_string());
            }
            s.push('@');
            s.push_str(&self.host_port());
        }
        s.push('/');
        s.push_str(&utf8_percent_encode(&self.database, QUERY_VALUE).to_string());

        if let Some(options) = self.startup_options() {
            params.push(("options", options));
        }
        if self.sslmode_explicit || self.sslmode != SslMode::VerifyFull {
            params.push(("sslmode", self.sslmode.as_str().to_string()));
        }
        let any_inline = [&self.sslrootcert, &self.sslcert, &self.sslkey]
            .iter()
            .any(|c| matches!(c, Some(CertSource::Inline(_))));
        for (name, src) in [
            ("sslrootcert", &self.sslrootcert),
            ("sslcert", &self.sslcert),
            ("sslkey", &self.sslkey),
        ] {
            match src {
                Some(CertSource::Path(p)) => params.push((name, p.display().to_string())),
                Some(CertSource::Inline(pem)) if !redact => params.push((name, pem.clone())),
                _ => {}
            }
        }
        if any_inline && !redact {
            params.push(("sslinline", "true".into()));
        }
        if let Some(app) = &self.application_name {
            params.push(("application_name", app.clone()));
        }
        if let Some(t) = self.connect_timeout {
            params.push(("connect_timeout", t.as_secs().to_string()));
        }
        if self.route_gateway {
            params.push(("crdb_route", "gateway".into()));
        }
        for (i, (name, value)) in params.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(name);
            s.push('=');
            s.push_str(&utf8_percent_encode(value, QUERY_VALUE).to_string());
        }
        s
    }

    /// The rustls client configuration for this URL's `sslmode` and certificates. Errors for
    /// `sslmode=disable`.
    pub fn tls_config(&self) -> Result<rustls::ClientConfig, ClientError> {
        let (root_path, root_inline) = match &self.sslrootcert {
            Some(CertSource::Path(p)) => (Some(p.as_path()), None),
            Some(CertSource::Inline(pem)) => (None, Some(pem.as_str())),
            None => (None, None),
        };
        let client_paths = match (&self.sslcert, &self.sslkey) {
            (Some(CertSource::Path(c)), Some(CertSource::Path(k))) => {
                Some((c.as_path(), k.as_path()))
            }
            _ => None,
        };
        let config =
            crate::security::client_config(root_path, root_inline, client_paths, self.sslmode)?;
        let mut config = Arc::unwrap_or_clone(config);
        if let (Some(CertSource::Inline(cert)), Some(CertSource::Inline(key))) =
            (&self.sslcert, &self.sslkey)
        {
            let certified = inline_certified_key(cert, key)?;
            config.client_auth_cert_resolver = Arc::new(FixedClientCert(Arc::new(certified)));
        }
        Ok(config)
    }

    pub(super) fn pg_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .user(&self.user)
            .host(&self.host)
            .port(self.port)
            .dbname(&self.database)
            .connect_timeout(self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT));
        if let Some(pw) = &self.password {
            config.password(pw);
        }
        if let Some(options) = self.startup_options() {
            config.options(options);
        }
        if let Some(app) = &self.application_name {
            config.application_name(app);
        }
        config.ssl_mode(if self.sslmode.uses_tls() {
            tokio_postgres::config::SslMode::Require
        } else {
            tokio_postgres::config::SslMode::Disable
        });
        config
    }
}
