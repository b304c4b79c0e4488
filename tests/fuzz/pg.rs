//! The pgwire target: a real [`PgServer`] (real store, real sessions; only the router is a test
//! double) serving in-memory connections through [`PgServerHandle::serve_stream`], the code path
//! of every TCP connection. Inputs start from what psql, psycopg, asyncpg and pgbench sent in
//! recorded sessions (tests/fuzz/seeds), mutated at the byte and message level, before and after
//! login, in plaintext and over TLS (SASL with unknown users, certificate login).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tandem::ids::TenantId;
use tandem::kv::Store;
use tandem::pgwire::{ConnectionRouter, PgServer, PgServerHandle};
use tandem::security::{
    CertOptions, SslMode, client_config, create_ca, create_client, create_node, server_config,
};
use tandem::settings::KvSettings;
use tandem::sql::catalog::{Catalog, UserRecord};
use tandem::sql::error::SqlError;
use tandem::sql::session::SessionEnv;
use tandem::sql::sqlstate::SqlState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Rng, chunks, mutate_bytes};

/// How long one connection may take to be answered and closed after the client stops writing.
pub const HANG_TIMEOUT: Duration = Duration::from_secs(30);

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];
const GSS_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 48];
/// Every frontend message type byte.
const TAGS: &[u8] = b"QPBEDCHSXdcfFp";

const RAW_SEEDS: &[(&str, &[u8])] = &[
    ("psql", include_bytes!("seeds/psql.bin")),
    ("psycopg", include_bytes!("seeds/psycopg.bin")),
    ("asyncpg", include_bytes!("seeds/asyncpg.bin")),
    ("pgbench simple", include_bytes!("seeds/pgbench_simple.bin")),
    (
        "pgbench extended",
        include_bytes!("seeds/pgbench_extended.bin"),
    ),
    (
        "pgbench prepared",
        include_bytes!("seeds/pgbench_prepared.bin"),
    ),
];

/// A recorded client session: its startup packet and its typed messages (Terminate dropped).
pub struct Seed {
    pub name: &'static str,
    pub startup: Vec<u8>,
    pub messages: Vec<Vec<u8>>,
}

fn be32(b: &[u8]) -> usize {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
}

/// The recorded sessions, split into messages.
pub fn seeds() -> Vec<Seed> {
    RAW_SEEDS
        .iter()
        .map(|(name, raw)| {
            let n = be32(raw);
            let mut messages = Vec::new();
            let mut at = n;
            while at < raw.len() {
                let len = be32(&raw[at + 1..]);
                if raw[at] != b'X' {
                    messages.push(raw[at..at + 1 + len].to_vec());
                }
                at += 1 + len;
            }
            assert_eq!(at, raw.len(), "seed {name} is a whole session");
            Seed {
                name,
                startup: raw[..n].to_vec(),
                messages,
            }
        })
        .collect()
}

/// A typed message with a consistent length.
pub fn typed(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn cstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
    out.push(0);
}

pub fn query(sql: &str) -> Vec<u8> {
    let mut b = Vec::new();
    cstr(&mut b, sql.as_bytes());
    typed(b'Q', &b)
}

/// A protocol 3.0 startup packet.
pub fn startup(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (k, v) in params {
        cstr(&mut body, k.as_bytes());
        cstr(&mut body, v.as_bytes());
    }
    body.push(0);
    let mut p = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    p.extend_from_slice(&body);
    p
}

/// A SASLInitialResponse; `data` None ends the message right after the mechanism name.
pub fn sasl_initial(mechanism: &str, data: Option<&[u8]>) -> Vec<u8> {
    let mut b = Vec::new();
    cstr(&mut b, mechanism.as_bytes());
    if let Some(d) = data {
        b.extend_from_slice(&(d.len() as i32).to_be_bytes());
        b.extend_from_slice(d);
    }
    typed(b'p', &b)
}

struct Router {
    store: Store,
}

#[async_trait::async_trait]
impl ConnectionRouter for Router {
    async fn route(&self, cluster: Option<&str>) -> Result<(TenantId, String), SqlError> {
        match cluster.unwrap_or("system") {
            "system" => Ok((TenantId::SYSTEM, "system".into())),
            other => Err(SqlError::new(
                SqlState::UNDEFINED_VIRTUAL_CLUSTER,
                format!("virtual cluster \"{other}\" does not exist"),
            )),
        }
    }

    async fn user(&self, tenant: TenantId, user: &str) -> Result<Option<UserRecord>, SqlError> {
        let mut txn = self.store.begin();
        let r = Catalog::new(tenant).user(&mut txn, user).await;
        txn.rollback();
        r
    }

    fn session_env(&self, _tenant: TenantId) -> SessionEnv {
        SessionEnv {
            replication: None,
            store: self.store.clone(),
            clusters: None,
            sql_memory: tandem::sql::exec::MemoryPool::new(0),
        }
    }

    fn draining(&self) -> bool {
        false
    }
}

/// How a fuzz connection reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The insecure server, plaintext.
    Plain,
    /// The secure server: SSLRequest, TLS without a client certificate.
    Tls,
    /// The secure server: TLS with the client certificate of root.
    TlsCert,
}

/// The servers under test.
pub struct Target {
    pub insecure: PgServerHandle,
    pub secure: PgServerHandle,
    tls_plain: Arc<rustls::ClientConfig>,
    tls_cert: Arc<rustls::ClientConfig>,
    pub seeds: Vec<Seed>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl Target {
    /// Both servers on one bootstrapped store (users root and alice, pgbench's tables).
    pub async fn start() -> Target {
        let dir = tempfile::tempdir().expect("tempdir");
        let store =
            Store::open(dir.path().join("store"), KvSettings::for_tests()).expect("open store");
        let catalog = Catalog::new(TenantId::SYSTEM);
        let mut txn = store.begin();
        catalog.bootstrap(&mut txn).await.expect("bootstrap");
        catalog
            .put_user(
                &mut txn,
                &UserRecord {
                    name: "alice".into(),
                    scram_verifier: Some(tandem::sql::scram::make_verifier("pw")),
                    login: true,
                    is_role: false,
                    options: vec![],
                },
            )
            .expect("alice");
        txn.commit().await.expect("commit bootstrap");
        let certs = tempfile::tempdir().expect("certs dir");
        let ca_key = certs.path().join("ca.key");
        let opts = CertOptions::default();
        create_ca(certs.path(), &ca_key, &opts).expect("ca");
        create_node(certs.path(), &ca_key, &["localhost".to_owned()], &opts).expect("node");
        create_client(certs.path(), &ca_key, "root", &opts).expect("client");
        let d = certs.path();
        let ca = d.join("ca.crt");
        let (crt, key) = (d.join("client.root.crt"), d.join("client.root.key"));
        let tls_plain = client_config(Some(&ca), None, None, SslMode::VerifyFull).expect("tls");
        let tls_cert = client_config(
            Some(&ca),
            None,
            Some((crt.as_path(), key.as_path())),
            SslMode::VerifyFull,
        )
        .expect("tls with cert");
        let router = Arc::new(Router {
            store: store.clone(),
        });
        let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
        let insecure = PgServer::start(bind().await.expect("bind"), None, router.clone());
        let tls = server_config(d, false).expect("server tls");
        let secure = PgServer::start(bind().await.expect("bind"), Some(tls), router);
        let target = Target {
            insecure,
            secure,
            tls_plain,
            tls_cert,
            seeds: seeds(),
            _dirs: (dir, certs),
        };
        let mut setup = startup(&[("user", "root"), ("database", "defaultdb")]);
        for sql in [
            "CREATE TABLE pgbench_branches (bid INT PRIMARY KEY, bbalance INT, filler STRING)",
            "CREATE TABLE pgbench_tellers (tid INT PRIMARY KEY, bid INT, tbalance INT, filler STRING)",
            "CREATE TABLE pgbench_accounts (aid INT PRIMARY KEY, bid INT, abalance INT, filler STRING)",
            "CREATE TABLE pgbench_history (tid INT, bid INT, aid INT, delta INT, mtime TIMESTAMP, filler STRING)",
            "INSERT INTO pgbench_branches VALUES (1, 0, '')",
            "INSERT INTO pgbench_tellers SELECT g, 1, 0, '' FROM generate_series(1, 10) AS g",
            "INSERT INTO pgbench_accounts SELECT g, 1, 0, '' FROM generate_series(1, 100) AS g",
        ] {
            setup.extend(query(sql));
        }
        let out = target
            .exchange(Mode::Plain, vec![setup], 0)
            .await
            .expect("setup");
        let messages = backend_messages(&out, 0).expect("setup output");
        assert!(
            messages.iter().all(|m| m[0] != b'E'),
            "setup failed: {}",
            String::from_utf8_lossy(&out)
        );
        target
    }

    fn server(&self, mode: Mode) -> &PgServerHandle {
        match mode {
            Mode::Plain => &self.insecure,
            Mode::Tls | Mode::TlsCert => &self.secure,
        }
    }

    /// Sends `chunks` on a new connection (after TLS for the TLS modes), then closes the writing
    /// side; returns everything the server sent until it closed the connection. Err: the
    /// server neither answered nor closed within [`HANG_TIMEOUT`], or TLS failed.
    pub async fn exchange(
        &self,
        mode: Mode,
        chunks: Vec<Vec<u8>>,
        port: u16,
    ) -> Result<Vec<u8>, String> {
        let (mut client, server_side) = tokio::io::duplex(1 << 16);
        let peer = SocketAddr::from(([127, 0, 0, 1], port));
        self.server(mode).serve_stream(server_side, peer);
        let config = match mode {
            Mode::Plain => return drive(client, chunks).await,
            Mode::Tls => &self.tls_plain,
            Mode::TlsCert => &self.tls_cert,
        };
        let handshake = async {
            client
                .write_all(&SSL_REQUEST)
                .await
                .map_err(|e| e.to_string())?;
            let answer = client.read_u8().await.map_err(|e| e.to_string())?;
            if answer != b'S' {
                return Err(format!("SSLRequest answered {answer:?}"));
            }
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
            tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, client)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))
        };
        let tls = tokio::time::timeout(HANG_TIMEOUT, handshake)
            .await
            .map_err(|_| "TLS handshake hung".to_string())??;
        drive(tls, chunks).await
    }

    /// A well-formed login and `SELECT 1` works (for `mode`'s server).
    pub async fn healthy(&self, mode: Mode) -> Result<(), String> {
        let mut bytes = startup(&[("user", "root"), ("database", "defaultdb")]);
        bytes.extend(query("SELECT 1"));
        bytes.extend(typed(b'X', &[]));
        let out = self.exchange(mode, vec![bytes], 1).await?;
        let messages = backend_messages(&out, 0)?;
        let row = typed(b'D', &[0, 1, 0, 0, 0, 1, b'1']);
        if messages.contains(&row) && messages.last().is_some_and(|m| m[0] == b'Z') {
            Ok(())
        } else {
            Err(format!(
                "SELECT 1 not answered: {}",
                String::from_utf8_lossy(&out)
            ))
        }
    }
}

/// Writes the chunks while reading everything the server sends, until it closes.
pub async fn drive<S>(stream: S, chunks: Vec<Vec<u8>>) -> Result<Vec<u8>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    let (mut r, mut w) = tokio::io::split(stream);
    let write = async move {
        for c in chunks {
            if w.write_all(&c).await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
        let _ = w.shutdown().await;
    };
    let read = async move {
        let mut out = Vec::new();
        let _ = r.read_to_end(&mut out).await;
        out
    };
    match tokio::time::timeout(HANG_TIMEOUT, async { tokio::join!(write, read).1 }).await {
        Ok(out) => Ok(out),
        Err(_) => Err(format!(
            "the server neither finished answering nor closed the connection within {HANG_TIMEOUT:?}"
        )),
    }
}

/// Splits the server's output into backend messages, after up to `leading` one-byte answers to
/// SSL/GSS requests ('N'). Err when the output is not a sequence of whole messages.
pub fn backend_messages(out: &[u8], leading: usize) -> Result<Vec<Vec<u8>>, String> {
    let mut at = 0;
    while at < leading && out.get(at) == Some(&b'N') {
        at += 1;
    }
    let mut messages = Vec::new();
    while at < out.len() {
        if out.len() - at < 5 {
            return Err(format!("partial message at byte {at}"));
        }
        let len = be32(&out[at + 1..]);
        if len < 4 || out.len() - at - 1 < len {
            return Err(format!("bad message length {len} at byte {at}"));
        }
        messages.push(out[at..at + 1 + len].to_vec());
        at += 1 + len;
    }
    Ok(messages)
}

/// What the outputs of a run covered: logins, statements answered, errors by SQLSTATE.
#[derive(Debug, Default)]
pub struct Coverage {
    pub logins: u64,
    pub ready: u64,
    pub rows: u64,
    pub codes: std::collections::BTreeMap<String, u64>,
}

impl Coverage {
    pub fn add(&mut self, messages: &[Vec<u8>]) {
        for m in messages {
            match m[0] {
                b'R' if m.get(5..9) == Some(&[0, 0, 0, 0]) => self.logins += 1,
                b'Z' => self.ready += 1,
                b'D' => self.rows += 1,
                b'E' => {
                    let mut fields = m[5..].split(|b| *b == 0);
                    if let Some(code) = fields.find_map(|f| f.strip_prefix(b"C")) {
                        *self
                            .codes
                            .entry(String::from_utf8_lossy(code).into_owned())
                            .or_default() += 1;
                    }
                }
                _ => {}
            }
        }
    }
}

/// One generated case: how to connect, what to send, and how many leading 'N' answers the
/// output may start with.
pub struct Case {
    pub mode: Mode,
    pub bytes: Vec<u8>,
    pub leading: usize,
    pub what: &'static str,
}

impl Case {
    pub fn chunks(&self, rng: &mut Rng) -> Vec<Vec<u8>> {
        chunks(rng, &self.bytes)
    }
}

/// Generates the input of one iteration.
pub fn case(rng: &mut Rng, seeds: &[Seed]) -> Case {
    match rng.below(100) {
        0..=14 => before_login(rng, seeds),
        15..=19 => Case {
            mode: Mode::Plain,
            bytes: {
                let n = rng.below(96);
                rng.bytes(n)
            },
            leading: 0,
            what: "random bytes",
        },
        20..=27 => sasl(rng),
        28..=31 => {
            let mut c = session(rng, seeds);
            c.mode = Mode::TlsCert;
            c.what = "session over TLS with a client certificate";
            c
        }
        _ => session(rng, seeds),
    }
}

/// A mutated first packet, maybe after SSL/GSS requests, maybe followed by messages.
fn before_login(rng: &mut Rng, seeds: &[Seed]) -> Case {
    let mut bytes = Vec::new();
    let mut leading = 0;
    for _ in 0..rng.below(3) {
        let mut req = if rng.chance(50) {
            SSL_REQUEST
        } else {
            GSS_REQUEST
        }
        .to_vec();
        if rng.chance(20) {
            mutate_bytes(rng, &mut req);
        }
        bytes.extend(req);
        leading += 1;
    }
    let mut first = match rng.below(4) {
        0 => {
            // CancelRequest with a random key.
            let mut c = vec![0, 0, 0, 16, 4, 210, 22, 46];
            c.extend(rng.bytes(8));
            c
        }
        1 => {
            let params: Vec<(String, String)> = (0..rng.below(4))
                .map(|_| {
                    let k = rng.pick(&["user", "database", "options", "application_name", "x"]);
                    let v = rng.pick(&["root", "alice", "", "-ccluster=nope", "-c", "defaultdb"]);
                    (k.to_string(), v.to_string())
                })
                .collect();
            let refs: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            startup(&refs)
        }
        _ => rng.pick(seeds).startup.clone(),
    };
    for _ in 0..1 + rng.below(3) {
        mutate_bytes(rng, &mut first);
    }
    bytes.extend(first);
    if rng.chance(40) {
        let seed = rng.pick(seeds);
        for m in seed.messages.iter().take(rng.below(4)) {
            bytes.extend_from_slice(m);
        }
    }
    Case {
        mode: Mode::Plain,
        bytes,
        leading,
        what: "mutated first packet",
    }
}

/// TLS without a certificate, then SCRAM messages (well-formed, truncated or mutated) for a
/// known or unknown user.
fn sasl(rng: &mut Rng) -> Case {
    let user = *rng.pick(&["nobody", "alice", "root", ""]);
    let mut bytes = startup(&[("user", user), ("database", "defaultdb")]);
    let nonce: String = (0..24)
        .map(|_| char::from(*rng.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop0123456789+/")))
        .collect();
    let first = format!("n,,n=,r={nonce}");
    let mut initial = match rng.below(5) {
        // Ends right after the mechanism name.
        0 => sasl_initial("SCRAM-SHA-256", None),
        1 => {
            let mechanism = *rng.pick(&["SCRAM-SHA-256-PLUS", "PLAIN", ""]);
            sasl_initial(mechanism, Some(first.as_bytes()))
        }
        _ => sasl_initial("SCRAM-SHA-256", Some(first.as_bytes())),
    };
    if rng.chance(50) {
        mutate_bytes(rng, &mut initial);
    }
    bytes.extend(initial);
    if rng.chance(60) {
        let proof = rng
            .bytes(32)
            .iter()
            .map(|b| format!("{:02x}", b))
            .collect::<String>();
        let mut fin = format!("c=biws,r={nonce}server,p={proof}").into_bytes();
        if rng.chance(50) {
            mutate_bytes(rng, &mut fin);
        }
        let mut m = typed(b'p', &fin);
        if rng.chance(30) {
            mutate_bytes(rng, &mut m);
        }
        bytes.extend(m);
    }
    if rng.chance(30) {
        bytes.extend(query("SELECT 1"));
    }
    Case {
        mode: Mode::Tls,
        bytes,
        leading: 0,
        what: "SASL over TLS",
    }
}

/// A seed's login, then a window of its messages mutated at the message level.
fn session(rng: &mut Rng, seeds: &[Seed]) -> Case {
    let seed = rng.pick(seeds);
    let start = rng.below(seed.messages.len());
    let len = 1 + rng.below(40);
    let mut msgs: Vec<Vec<u8>> = seed
        .messages
        .iter()
        .skip(start)
        .take(len)
        .cloned()
        .collect();
    let mutations = rng.below(5);
    for _ in 0..mutations {
        mutate_messages(rng, &mut msgs, seeds);
    }
    let mut bytes = seed.startup.clone();
    for m in msgs {
        bytes.extend(m);
    }
    if rng.chance(80) {
        bytes.extend(typed(b'S', &[]));
        bytes.extend(query("SELECT 1"));
    }
    Case {
        mode: Mode::Plain,
        bytes,
        leading: 0,
        what: "mutated session",
    }
}

fn fix_length(m: &mut [u8]) {
    if m.len() >= 5 {
        let len = ((m.len() - 1) as u32).to_be_bytes();
        m[1..5].copy_from_slice(&len);
    }
}

fn mutate_messages(rng: &mut Rng, msgs: &mut Vec<Vec<u8>>, seeds: &[Seed]) {
    let n = msgs.len();
    let i = rng.below(n);
    match rng.below(12) {
        0 if n > 0 => mutate_bytes(rng, &mut msgs[i]),
        1 if n > 0 && msgs[i].len() > 5 => {
            // Inside the body, keeping the length consistent.
            let mut body = msgs[i].split_off(5);
            mutate_bytes(rng, &mut body);
            msgs[i].extend(body);
            fix_length(&mut msgs[i]);
        }
        2 if n > 0 && msgs[i].len() >= 5 => {
            let len = rng.length(msgs[i].len() as i32 - 1).to_be_bytes();
            msgs[i][1..5].copy_from_slice(&len);
        }
        3 if n > 0 && msgs[i].len() > 5 => {
            let keep = 5 + rng.below(msgs[i].len() - 5);
            msgs[i].truncate(keep);
            fix_length(&mut msgs[i]);
        }
        4 => {
            let tag = if rng.chance(80) {
                *rng.pick(TAGS)
            } else {
                rng.byte()
            };
            let len = rng.below(24);
            let m = typed(tag, &rng.bytes(len));
            msgs.insert(rng.below(n + 1), m);
        }
        5 => {
            let m = match rng.below(7) {
                0 => typed(b'd', b"1\tx\n"),
                1 => typed(b'c', &[]),
                2 => typed(b'f', b"stop\0"),
                3 => typed(b'H', &[]),
                4 => typed(b'S', &[]),
                5 => query("COPY pgbench_branches FROM STDIN"),
                _ => query("BEGIN"),
            };
            msgs.insert(rng.below(n + 1), m);
        }
        6 if n > 0 => {
            let m = msgs[i].clone();
            msgs.insert(rng.below(n + 1), m);
        }
        7 if n > 1 => {
            let j = rng.below(n);
            msgs.swap(i, j);
        }
        8 if n > 0 => {
            msgs.remove(i);
        }
        9 => {
            let other = rng.pick(seeds);
            if !other.messages.is_empty() {
                let m = rng.pick(&other.messages).clone();
                msgs.insert(rng.below(n + 1), m);
            }
        }
        10 if n > 0 && msgs[i].len() > 6 => {
            // Invalid UTF-8 inside a string (not over its terminator).
            let at = 5 + rng.below(msgs[i].len() - 6);
            if msgs[i][at] != 0 {
                msgs[i][at] = *rng.pick(&[0xff, 0xc3, 0x80, 0xed]);
            }
        }
        _ => msgs.insert(rng.below(n + 1), extended_message(rng)),
    }
}

/// A well-framed Parse, Bind, Describe, Close or Execute with random fields.
fn extended_message(rng: &mut Rng) -> Vec<u8> {
    let name = *rng.pick(&["", "s1", "__asyncpg_stmt_1__", "P_1"]);
    let mut b = Vec::new();
    match rng.below(4) {
        0 => {
            cstr(&mut b, name.as_bytes());
            cstr(
                &mut b,
                rng.pick(&["SELECT $1", "SELECT $1::INT8, $2", "SELECT 1", ""])
                    .as_bytes(),
            );
            let n = rng.below(4);
            b.extend_from_slice(&(n as u16).to_be_bytes());
            for _ in 0..n {
                let oid = *rng.pick(&[0u32, 20, 25, 600, 1043, 99_999, 3802, 1009, 16]);
                b.extend_from_slice(&oid.to_be_bytes());
            }
            typed(b'P', &b)
        }
        1 => {
            cstr(&mut b, b"");
            cstr(&mut b, name.as_bytes());
            let nf = rng.below(4);
            b.extend_from_slice(&(nf as u16).to_be_bytes());
            for _ in 0..nf {
                let f = *rng.pick(&[0i16, 1, 2, -1]);
                b.extend_from_slice(&f.to_be_bytes());
            }
            let np = rng.below(4);
            b.extend_from_slice(&(np as u16).to_be_bytes());
            for _ in 0..np {
                match rng.below(4) {
                    0 => b.extend_from_slice(&(-1i32).to_be_bytes()),
                    1 => b.extend_from_slice(&rng.length(4).to_be_bytes()),
                    _ => {
                        const VALUES: [&[u8]; 4] =
                            [b"1", b"abc", b"\xff\xfe", &[0, 0, 0, 0, 0, 0, 0, 7]];
                        let v = *rng.pick(&VALUES);
                        b.extend_from_slice(&(v.len() as i32).to_be_bytes());
                        b.extend_from_slice(v);
                    }
                }
            }
            let nr = rng.below(3);
            b.extend_from_slice(&(nr as u16).to_be_bytes());
            for _ in 0..nr {
                b.extend_from_slice(&rng.pick(&[0i16, 1, 7]).to_be_bytes());
            }
            typed(b'B', &b)
        }
        2 => {
            b.push(*rng.pick(b"SPX"));
            cstr(&mut b, name.as_bytes());
            typed(if rng.chance(50) { b'D' } else { b'C' }, &b)
        }
        _ => {
            cstr(&mut b, b"");
            b.extend_from_slice(&rng.length(0).to_be_bytes());
            typed(b'E', &b)
        }
    }
}
