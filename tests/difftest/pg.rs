//! A throwaway PostgreSQL 15 server for the differential tests: `initdb` into a temp directory,
//! `pg_ctl start` on a free loopback port (no Unix socket), `pg_ctl stop` when dropped. As root
//! it runs as an unprivileged user (`DIFFTEST_PG_USER`, default `nobody`) through `runuser`,
//! since PostgreSQL refuses to run as root. Durability is off (`fsync = off`): the data lives
//! only as long as the test.
//!
//! [`PgServer::find`] tells whether PostgreSQL 15 is installed (`DIFFTEST_PG_BINDIR`, else
//! `/usr/lib/postgresql/15/bin`, else the `postgres` on /usr/local/bin); callers skip with its
//! reason when it is not.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running PostgreSQL server, stopped on drop.
pub struct PgServer {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    user: Option<String>,
    /// The loopback port it listens on.
    pub port: u16,
    running: bool,
}

/// The PostgreSQL 15 binary directory, or why there is none.
pub fn find() -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("DIFFTEST_PG_BINDIR") {
        Some(d) => vec![PathBuf::from(d)],
        None => vec![
            PathBuf::from("/usr/lib/postgresql/15/bin"),
            PathBuf::from("/usr/local/bin"),
        ],
    };
    for dir in &candidates {
        let postgres = dir.join("postgres");
        if !postgres.is_file() || !dir.join("initdb").is_file() || !dir.join("pg_ctl").is_file() {
            continue;
        }
        let version = Command::new(&postgres)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if version.contains(" 15.") {
            return Ok(dir.clone());
        }
    }
    Err(format!(
        "PostgreSQL 15 not found (looked for postgres, initdb and pg_ctl in {}; set DIFFTEST_PG_BINDIR)",
        candidates
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl PgServer {
    /// Initialises and starts a server from `bindir` (as returned by [`find`]).
    pub fn start(bindir: &Path) -> Result<PgServer, String> {
        let user = if is_root() {
            Some(std::env::var("DIFFTEST_PG_USER").unwrap_or_else(|_| "nobody".into()))
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("difftest-pg.")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let mut server = PgServer {
            dir,
            bindir: bindir.to_path_buf(),
            user,
            port: 0,
            running: false,
        };
        server.prepare_dir()?;
        server.run("initdb", &server.initdb_args())?;
        // The port is free when chosen but may be taken before the server binds it: retry.
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port().map_err(|e| format!("free port: {e}"))?;
            server.write_conf()?;
            match server.run("pg_ctl", &server.pg_ctl_args("start")) {
                Ok(()) => {
                    server.running = true;
                    return Ok(server);
                }
                Err(e) => last = e,
            }
        }
        Err(format!(
            "PostgreSQL did not start: {last}\n{}",
            server.log()
        ))
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn prepare_dir(&self) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.dir.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod: {e}"))?;
        if let Some(user) = &self.user {
            let st = Command::new("chown")
                .arg(user)
                .arg(self.dir.path())
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !st.success() {
                return Err(format!("chown {user} {} failed", self.dir.path().display()));
            }
        }
        Ok(())
    }

    fn initdb_args(&self) -> Vec<String> {
        vec![
            "-D".into(),
            self.data().display().to_string(),
            "-U".into(),
            "postgres".into(),
            "-A".into(),
            "trust".into(),
            "-E".into(),
            "UTF8".into(),
            "--locale=C".into(),
            "--no-sync".into(),
        ]
    }

    fn pg_ctl_args(&self, action: &str) -> Vec<String> {
        let mut args = vec![
            "-D".into(),
            self.data().display().to_string(),
            "-l".into(),
            self.dir.path().join("pg.log").display().to_string(),
            "-w".into(),
            "-t".into(),
            "60".into(),
        ];
        if action == "stop" {
            args.extend(["-m".into(), "immediate".into()]);
        }
        args.push(action.into());
        args
    }

    fn write_conf(&self) -> Result<(), String> {
        let conf = format!(
            "\n# difftest\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = ''\n\
             max_connections = 30\nshared_buffers = 64MB\nfsync = off\nsynchronous_commit = off\n\
             full_page_writes = off\ntimezone = 'UTC'\nlc_messages = 'C'\n\
             statement_timeout = '60s'\n",
            self.port
        );
        let path = self.data().join("postgresql.auto.conf");
        std::fs::write(&path, conf).map_err(|e| format!("write {}: {e}", path.display()))
    }

    /// Runs a PostgreSQL tool (as the unprivileged user when root).
    fn run(&self, tool: &str, args: &[String]) -> Result<(), String> {
        let bin = self.bindir.join(tool);
        let mut cmd = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} exited with {}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pg.log")).unwrap_or_default()
    }

    /// A tokio-postgres connection string for database `db` as the superuser.
    pub fn conn_str(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={db} connect_timeout=10",
            self.port
        )
    }

    /// Connects to `db`; the connection task runs on the current runtime.
    pub async fn connect(&self, db: &str) -> Result<tokio_postgres::Client, String> {
        self.connect_with(db, "").await
    }

    /// Connects to `db` with extra connection parameters (`options='-c ...'`).
    pub async fn connect_with(
        &self,
        db: &str,
        extra: &str,
    ) -> Result<tokio_postgres::Client, String> {
        let conn_str = format!("{} {extra}", self.conn_str(db));
        let (client, conn) = tokio_postgres::connect(&conn_str, tokio_postgres::NoTls)
            .await
            .map_err(|e| format!("connect to PostgreSQL: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(client)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            self.running = false;
            let _ = self.run("pg_ctl", &self.pg_ctl_args("stop"));
        }
    }
}
