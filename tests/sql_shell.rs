//! `tandem sql` and the client URL layer, end to end.
//!
//! URL parsing is checked through the public API (`ConnUrl`). The shell is checked against a
//! real PostgreSQL server (the `initdb` / `pg_ctl` of the machine, started on an ephemeral
//! loopback port in a temporary directory, as `nobody` when the tests run as root because
//! PostgreSQL refuses to run as root): `-e` output and exit codes, statements from stdin, and
//! TLS (`verify-full` with tandem-generated certificates and client-certificate login,
//! `sslinline`, a wrong CA, a user without a certificate). When no PostgreSQL binaries are
//! installed those tests print a note and pass.

use std::io::{Cursor, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tandem::cli::sql_shell::{OutputFormat, SqlShellOptions, run, run_with_io};
use tandem::client::{CertSource, ClientError, ConnUrl};
use tandem::security::{CertOptions, SslMode, create_ca, create_client, create_node};

// ------------------------------------------------------------------------------------------
// URL parsing
// ------------------------------------------------------------------------------------------

fn parse(url: &str) -> ConnUrl {
    match ConnUrl::parse(url) {
        Ok(u) => u,
        Err(e) => panic!("{url}: {e}"),
    }
}

#[test]
fn url_cluster_option_both_spellings() {
    let cockroach = parse(
        "postgresql://root@n1:26257/defaultdb?options=-ccluster=system&sslmode=verify-full&sslrootcert=certs/ca.crt&sslcert=certs/client.root.crt&sslkey=certs/client.root.key",
    );
    let psql = parse(
        "postgresql://root@n1:26257/defaultdb?options=-ccluster%3Dsystem&sslmode=verify-full&sslrootcert=certs/ca.crt&sslcert=certs/client.root.crt&sslkey=certs/client.root.key",
    );
    assert_eq!(cockroach, psql);
    assert_eq!(cockroach.cluster.as_deref(), Some("system"));
    assert_eq!(cockroach.sslmode, SslMode::VerifyFull);
    assert_eq!(
        cockroach.sslcert,
        Some(CertSource::Path("certs/client.root.crt".into()))
    );
    for q in ["options=-c%20cluster%3Dapp", "options=--cluster=app"] {
        assert_eq!(
            parse(&format!("postgres://root@n1/?{q}"))
                .cluster
                .as_deref(),
            Some("app"),
            "{q}"
        );
    }
    assert_eq!(
        cockroach.prompt_label(),
        "root@n1:26257/system/defaultdb",
        "prompt shows the virtual cluster"
    );
}

#[test]
fn url_defaults_and_sslmodes() {
    let u = parse("postgresql://n1");
    assert_eq!(
        (u.user.as_str(), u.port, u.database.as_str()),
        ("root", 26257, "defaultdb")
    );
    for (mode, want) in [
        ("disable", SslMode::Disable),
        ("allow", SslMode::Require),
        ("prefer", SslMode::Require),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ] {
        assert_eq!(
            parse(&format!("postgresql://n1/?sslmode={mode}")).sslmode,
            want
        );
    }
    let err = ConnUrl::parse("postgresql://n1/?sslmode=bogus").expect_err("bad sslmode");
    assert!(
        err.to_string().contains("invalid sslmode \"bogus\""),
        "{err}"
    );
}

#[test]
fn url_cert_paths_resolve_against_certs_dir() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let certs = tmp.path().join("my-certs");
    std::fs::create_dir_all(&certs).expect("mkdir");
    for f in ["ca.crt", "client.root.crt", "client.root.key"] {
        std::fs::write(certs.join(f), "pem").expect("write");
    }
    let u = ConnUrl::parse_with_certs_dir(
        "postgresql://root@n1/?sslmode=verify-full&sslrootcert=certs/ca.crt",
        Some(&certs),
    )
    .expect("resolve");
    assert_eq!(u.sslrootcert, Some(CertSource::Path(certs.join("ca.crt"))));
    // No sslcert: the certs dir's client.root.crt is used, like cockroach.
    assert_eq!(
        u.sslcert,
        Some(CertSource::Path(certs.join("client.root.crt")))
    );
    assert_eq!(
        u.sslkey,
        Some(CertSource::Path(certs.join("client.root.key")))
    );

    let err = ConnUrl::parse_with_certs_dir(
        "postgresql://root@n1/?sslmode=verify-full&sslrootcert=missing/ca2.crt",
        Some(&certs),
    )
    .expect_err("missing file");
    assert!(
        matches!(
            err,
            ClientError::MissingFile {
                param: "sslrootcert",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("missing/ca2.crt"), "{err}");
}

#[test]
fn url_inline_certs_and_redaction() {
    let pem = "-----BEGIN CERTIFICATE-----\nMIIBfoo+bar/=\n-----END CERTIFICATE-----\n";
    let key = "-----BEGIN PRIVATE KEY-----\nsecretkey\n-----END PRIVATE KEY-----\n";
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let u = parse(&format!(
        "postgresql://repl:pw%2Fx@n1:26257?options=-ccluster=system&sslmode=verify-full&sslinline=true&sslrootcert={}&sslcert={}&sslkey={}",
        enc(pem),
        enc(pem),
        enc(key)
    ));
    assert_eq!(u.password.as_deref(), Some("pw/x"));
    assert_eq!(u.sslrootcert, Some(CertSource::Inline(pem.to_string())));
    assert_eq!(u.sslkey, Some(CertSource::Inline(key.to_string())));
    let r = u.redacted();
    assert_eq!(
        r,
        "postgresql://repl:redacted@n1:26257/defaultdb?options=-ccluster%3Dsystem&sslmode=verify-full"
    );
    assert!(!format!("{u:?}").contains("secretkey"));
    // The unredacted form round-trips.
    assert_eq!(parse(&u.to_url()), u);
}

#[test]
fn url_errors_are_clear() {
    for (url, want) in [
        ("n1:26257", "expected postgresql://"),
        ("http://n1", "unsupported scheme"),
        ("postgresql://n1:port/db", "invalid"),
        (
            "postgresql://n1/db?sslmode=verify-full&nope=1",
            "unknown parameter \"nope\"",
        ),
        ("postgresql://n1/db?options=-xcluster=a", "options"),
        (
            "postgresql://n1/db?sslinline=true&sslrootcert=ca.crt",
            "not PEM",
        ),
    ] {
        let err = ConnUrl::parse(url).expect_err(url);
        assert!(err.to_string().contains(want), "{url}: {err}");
    }
}

// ------------------------------------------------------------------------------------------
// A throwaway PostgreSQL server
// ------------------------------------------------------------------------------------------

fn pg_bindir() -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/local/bin")];
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        candidates.push(PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        ));
    }
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .collect();
        versions.sort();
        versions.reverse();
        candidates.extend(versions);
    }
    candidates
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

fn id_of(flag: &str, user: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, user]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// A PostgreSQL server in a temporary directory; stopped on drop.
struct Pg {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bindir: PathBuf,
    run_as: Option<String>,
    port: u16,
}

/// TLS files for the server: certificate, key, and the CA that client certificates chain to.
struct ServerTls<'a> {
    cert: &'a Path,
    key: &'a Path,
    ca: &'a Path,
}

impl Pg {
    /// Starts a server, or returns `None` (after printing a note) if PostgreSQL is not
    /// installed or cannot run here.
    fn start(tls: Option<ServerTls<'_>>) -> Option<Pg> {
        let Some(bindir) = pg_bindir() else {
            eprintln!("note: PostgreSQL binaries (initdb, pg_ctl) not found; skipping");
            return None;
        };
        let is_root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let mut owner = None;
        let run_as = if is_root {
            if !Path::new("/usr/sbin/runuser").exists() && !Path::new("/sbin/runuser").exists() {
                eprintln!(
                    "note: running as root without runuser; cannot start PostgreSQL; skipping"
                );
                return None;
            }
            let (Some(uid), Some(gid)) = (id_of("-u", "nobody"), id_of("-g", "nobody")) else {
                eprintln!("note: running as root and no `nobody` user; skipping");
                return None;
            };
            owner = Some((uid, gid));
            Some("nobody".to_string())
        } else {
            None
        };

        let dir = tempfile::tempdir().expect("tempdir");
        let chown = |p: &Path| {
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown");
            }
        };
        chown(dir.path());
        let data = dir.path().join("data");
        let mut pg = Pg {
            _dir: dir,
            data,
            bindir,
            run_as,
            port: 0,
        };
        let base = pg.data.parent().expect("parent").to_path_buf();
        let out = pg
            .command("initdb")
            .arg("-D")
            .arg(&pg.data)
            .args(["-U", "root", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        let mut settings = vec![
            "-c listen_addresses=127.0.0.1".to_string(),
            format!("-c unix_socket_directories={}", base.display()),
            "-c fsync=off".to_string(),
        ];
        if let Some(tls) = tls {
            for (src, name) in [
                (tls.cert, "server.crt"),
                (tls.key, "server.key"),
                (tls.ca, "ca.crt"),
            ] {
                let dst = base.join(name);
                std::fs::copy(src, &dst).expect("copy tls file");
                std::fs::set_permissions(&dst, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                    .expect("chmod");
                chown(&dst);
            }
            settings.push("-c ssl=on".into());
            settings.push(format!(
                "-c ssl_cert_file={}",
                base.join("server.crt").display()
            ));
            settings.push(format!(
                "-c ssl_key_file={}",
                base.join("server.key").display()
            ));
            settings.push(format!("-c ssl_ca_file={}", base.join("ca.crt").display()));
            // TLS connections must log in with a client certificate; plaintext ones are trusted.
            let mut hba = std::fs::File::create(pg.data.join("pg_hba.conf")).expect("hba");
            writeln!(
                hba,
                "local all all trust\nhostssl all all 127.0.0.1/32 cert\nhost all all 127.0.0.1/32 trust"
            )
            .expect("write hba");
            drop(hba);
            chown(&pg.data.join("pg_hba.conf"));
        }

        for _attempt in 0..5 {
            pg.port = free_port();
            let out = pg
                .command("pg_ctl")
                .arg("-D")
                .arg(&pg.data)
                .arg("-l")
                .arg(base.join("log"))
                .arg("-w")
                .arg("-o")
                .arg(format!("-p {} {}", pg.port, settings.join(" ")))
                .arg("start")
                .output()
                .expect("run pg_ctl");
            if out.status.success() {
                return Some(pg);
            }
        }
        let log = std::fs::read_to_string(base.join("log")).unwrap_or_default();
        panic!("PostgreSQL did not start:\n{log}");
    }

    fn command(&self, program: &str) -> Command {
        let bin = self.bindir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(bin).current_dir("/");
                c
            }
            None => Command::new(bin),
        }
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if self.port != 0 {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "stop"])
                .output();
        }
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A `Write` whose bytes can be read after the shell is done.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

/// Runs the shell on `stdin`, returning (exit code, stdout, stderr).
async fn shell(opts: SqlShellOptions, stdin: &str) -> (i32, String, String) {
    let out = SharedBuf::default();
    let err = SharedBuf::default();
    let code = run_with_io(
        opts,
        Box::new(Cursor::new(stdin.as_bytes().to_vec())),
        Box::new(out.clone()),
        Box::new(err.clone()),
    )
    .await
    .expect("shell");
    (code, out.text(), err.text())
}

fn opts(url: &str, execute: &[&str], format: OutputFormat) -> SqlShellOptions {
    SqlShellOptions {
        url: Some(url.to_string()),
        execute: execute.iter().map(|s| s.to_string()).collect(),
        format: Some(format),
        ..SqlShellOptions::default()
    }
}

// ------------------------------------------------------------------------------------------
// The shell against PostgreSQL
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn execute_statements_against_postgres() {
    let Some(pg) = Pg::start(None) else {
        return;
    };
    let url = format!(
        "postgresql://root@127.0.0.1:{}/postgres?sslmode=disable",
        pg.port
    );

    // Several statements in one -e: rows, then a command tag.
    let (code, out, err) = shell(
        opts(
            &url,
            &["select 1 as a, 'x' as b; create table t(a int)"],
            OutputFormat::Tsv,
        ),
        "",
    )
    .await;
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "a\tb\n1\tx\nCREATE TABLE\n");

    // Repeated -e, the table format, NULLs and INSERT tags.
    let (code, out, err) = shell(
        opts(
            &url,
            &[
                "insert into t values (1), (22)",
                "insert into t values (NULL)",
                "select a, a::text || 'x' as s from t order by a nulls last",
                "select a from t where false",
            ],
            OutputFormat::Table,
        ),
        "",
    )
    .await;
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        out,
        "INSERT 0 2\n\
         INSERT 0 1\n\
         \x20  a   |  s\n\
         -------+-------\n\
         \x20    1 | 1x\n\
         \x20   22 | 22x\n\
         \x20 NULL | NULL\n\
         (3 rows)\n\
         \x20 a\n\
         -----\n\
         (0 rows)\n"
    );

    // CSV.
    let (code, out, _) = shell(
        opts(&url, &["select 'a,b' as x, 2 as y"], OutputFormat::Csv),
        "",
    )
    .await;
    assert_eq!(code, 0);
    assert_eq!(out, "x,y\n\"a,b\",2\n");

    // Bad SQL: exit code 1, the error and its SQLSTATE on stderr, later -e not run.
    let (code, out, err) = shell(
        opts(
            &url,
            &["select 1 as ok", "selec 1", "create table never(a int)"],
            OutputFormat::Tsv,
        ),
        "",
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(out, "ok\n1\n");
    assert_eq!(
        err,
        "ERROR: syntax error at or near \"selec\"\nSQLSTATE: 42601\n"
    );
    let (code, _, err) = shell(opts(&url, &["select * from never"], OutputFormat::Tsv), "").await;
    assert_eq!(code, 1);
    assert!(err.contains("SQLSTATE: 42P01"), "{err}");

    // An error in the middle of one -e: earlier results are printed.
    let (code, out, err) = shell(
        opts(
            &url,
            &["select 5 as n; select 1/0; select 6"],
            OutputFormat::Tsv,
        ),
        "",
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(out, "n\n5\n");
    assert!(
        err.starts_with("ERROR: division by zero\nSQLSTATE: 22012"),
        "{err}"
    );

    // run() itself (process stdout/stderr): exit codes.
    assert_eq!(
        run(opts(&url, &["select 1"], OutputFormat::Tsv))
            .await
            .expect("run"),
        0
    );
    assert_eq!(
        run(opts(&url, &["select nope"], OutputFormat::Tsv))
            .await
            .expect("run"),
        1
    );
}

#[tokio::test]
async fn statements_from_stdin_against_postgres() {
    let Some(pg) = Pg::start(None) else {
        return;
    };
    let url = format!(
        "postgresql://root@127.0.0.1:{}/postgres?sslmode=disable",
        pg.port
    );
    let script = "-- a comment\ncreate table s(a int,\n  b text);\ninsert into s values (1, 'semi;colon');\n\
                  select b\n  from s;\nselect 'last' as w";
    let (code, out, err) = shell(opts(&url, &[], OutputFormat::Tsv), script).await;
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "CREATE TABLE\nINSERT 0 1\nb\nsemi;colon\nw\nlast\n");

    // Stops at the first error.
    let (code, out, err) = shell(
        opts(&url, &[], OutputFormat::Tsv),
        "select 1 as x;\nselect * from nope;\nselect 2 as y;\n",
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(out, "x\n1\n");
    assert!(err.contains("relation \"nope\" does not exist"), "{err}");

    // A server that is not there: exit code 1 and a clear message.
    drop(pg);
    let (code, _, err) = shell(opts(&url, &["select 1"], OutputFormat::Tsv), "").await;
    assert_eq!(code, 1);
    assert!(
        err.starts_with("ERROR: cannot connect to 127.0.0.1:"),
        "{err}"
    );
}

#[tokio::test]
async fn tls_verify_full_and_client_certs_against_postgres() {
    if pg_bindir().is_none() {
        eprintln!("note: PostgreSQL binaries (initdb, pg_ctl) not found; skipping");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let certs = tmp.path().join("certs");
    let ca_key = tmp.path().join("ca.key");
    let o = CertOptions::default();
    create_ca(&certs, &ca_key, &o).expect("ca");
    create_node(
        &certs,
        &ca_key,
        &["localhost".into(), "127.0.0.1".into()],
        &o,
    )
    .expect("node");
    create_client(&certs, &ca_key, "root", &o).expect("client root");
    // A second CA that signed nothing the server has.
    let other = tmp.path().join("other");
    create_ca(&other, &tmp.path().join("other.key"), &o).expect("other ca");

    let Some(pg) = Pg::start(Some(ServerTls {
        cert: &certs.join("node.crt"),
        key: &certs.join("node.key"),
        ca: &certs.join("ca.crt"),
    })) else {
        return;
    };
    let port = pg.port;
    let ssl_query = "select ssl, client_dn from pg_stat_ssl where pid = pg_backend_pid()";
    let with_certs = |url: String| SqlShellOptions {
        certs_dir: Some(certs.clone()),
        ..opts(&url, &[ssl_query], OutputFormat::Tsv)
    };

    // verify-full by name and by IP SAN; relative sslrootcert found in --certs-dir; the client
    // certificate comes from --certs-dir (client.root.crt) and PostgreSQL's `cert` auth accepts it.
    for host in ["localhost", "127.0.0.1"] {
        let url = format!(
            "postgresql://root@{host}:{port}/postgres?sslmode=verify-full&sslrootcert=certs/ca.crt"
        );
        let (code, out, err) = shell(with_certs(url), "").await;
        assert_eq!(code, 0, "{host}: {err}");
        assert_eq!(out, "ssl\tclient_dn\nt\t/O=Tandem/CN=root\n", "{host}");
    }

    // Explicit paths with the cockroach URL shape (and a cluster option PostgreSQL ignores is
    // not sent here: PostgreSQL rejects unknown settings).
    let url = format!(
        "postgresql://root@localhost:{port}/postgres?sslmode=verify-ca&sslrootcert={}&sslcert={}&sslkey={}",
        certs.join("ca.crt").display(),
        certs.join("client.root.crt").display(),
        certs.join("client.root.key").display()
    );
    let (code, out, err) = shell(opts(&url, &[ssl_query], OutputFormat::Tsv), "").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("t\t/O=Tandem/CN=root\n"), "{out}");

    // sslinline: the same certificates as PEM text inside the URL.
    let pem = |f: &str| {
        let text = std::fs::read_to_string(certs.join(f)).expect("read pem");
        utf8_percent_encode(&text, NON_ALPHANUMERIC).to_string()
    };
    let url = format!(
        "postgresql://root@localhost:{port}/postgres?sslmode=verify-full&sslinline=true&sslrootcert={}&sslcert={}&sslkey={}",
        pem("ca.crt"),
        pem("client.root.crt"),
        pem("client.root.key")
    );
    let (code, out, err) = shell(opts(&url, &[ssl_query], OutputFormat::Tsv), "").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with("t\t/O=Tandem/CN=root\n"), "{out}");

    // A CA that did not sign the server certificate: refused.
    let url = format!(
        "postgresql://root@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={}",
        other.join("ca.crt").display()
    );
    let (code, _, err) = shell(with_certs(url), "").await;
    assert_eq!(code, 1);
    assert!(
        err.starts_with("ERROR: cannot connect to localhost:") && err.contains("certificate"),
        "{err}"
    );

    // A user without a client certificate over TLS: the server's refusal, with its SQLSTATE.
    let url = format!("postgresql://bob@localhost:{port}/postgres?sslmode=require");
    let (code, _, err) = shell(opts(&url, &["select 1"], OutputFormat::Tsv), "").await;
    assert_eq!(code, 1);
    assert!(err.contains("SQLSTATE: 28000"), "{err}");

    // A missing certificate file named in the URL.
    let url = format!(
        "postgresql://root@localhost:{port}/postgres?sslmode=verify-full&sslrootcert=nope/other-ca.crt"
    );
    let (code, _, err) = shell(with_certs(url), "").await;
    assert_eq!(code, 1);
    assert!(
        err.contains("sslrootcert file nope/other-ca.crt not found"),
        "{err}"
    );

    // --insecure-style plaintext still works (pg_hba trusts plaintext on loopback).
    let url = format!("postgresql://root@127.0.0.1:{port}/postgres");
    let insecure = SqlShellOptions {
        insecure: true,
        ..opts(&url, &[ssl_query], OutputFormat::Tsv)
    };
    let (code, out, err) = shell(insecure, "").await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "ssl\tclient_dn\nf\tNULL\n");
}
