//! `tandem start` / `tandem start-single-node`: flags to configuration, `--background`, and the
//! hand-off to the node supervisor.
//!
//! Flags are `Option`s: only flags actually given override the lower configuration layers
//! (defaults < profile < `--config` < `TANDEM_*` < flags). Configuration errors are reported and
//! the process exits non-zero before anything touches the store. With `--background` the
//! process re-executes itself in the background with the same flags, waits until the child
//! reports readiness (through a ready file), prints where it logs, and exits 0.

use crate::config::{ConfigSources, NodeConfig};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Flags of `start` and `start-single-node`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StartFlags {
    /// Directory with ca.crt, node.crt and node.key (and client certificates).
    #[arg(long)]
    pub certs_dir: Option<PathBuf>,
    /// Run without TLS or authentication (development only).
    #[arg(long)]
    pub insecure: bool,
    /// Store directory.
    #[arg(long)]
    pub store: Option<String>,
    /// Address to listen on for SQL and inter-node traffic (host:port, :port).
    #[arg(long)]
    pub listen_addr: Option<String>,
    /// Address other nodes and clients should use to reach this node.
    #[arg(long)]
    pub advertise_addr: Option<String>,
    /// Separate SQL address.
    #[arg(long)]
    pub sql_addr: Option<String>,
    /// Address of the HTTP server (DB Console, metrics).
    #[arg(long)]
    pub http_addr: Option<String>,
    /// Addresses of the cluster's nodes (comma-separated).
    #[arg(long)]
    pub join: Option<String>,
    /// Block cache size (e.g. 128MiB, 25%).
    #[arg(long)]
    pub cache: Option<String>,
    /// The node's SQL memory pool, shared by all sessions (e.g. 25%, 4GiB).
    #[arg(long)]
    pub max_sql_memory: Option<String>,
    /// Detach once the node is ready.
    #[arg(long)]
    pub background: bool,
    /// Configuration profile: default, replication-source, replication-target.
    #[arg(long)]
    pub config_profile: Option<String>,
    /// Extra configuration file (TOML).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

impl StartFlags {
    /// The configuration sources these flags describe.
    pub fn sources(&self) -> ConfigSources {
        let mut overrides = Vec::new();
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                overrides.push((k.to_string(), v.clone()));
            }
        };
        put("store", &self.store);
        put("listen_addr", &self.listen_addr);
        put("advertise_addr", &self.advertise_addr);
        put("sql_addr", &self.sql_addr);
        put("http_addr", &self.http_addr);
        put("join", &self.join);
        put("cache", &self.cache);
        put("max_sql_memory", &self.max_sql_memory);
        put(
            "certs_dir",
            &self.certs_dir.as_ref().map(|p| p.display().to_string()),
        );
        if self.insecure {
            overrides.push(("insecure".into(), "true".into()));
        }
        ConfigSources {
            profile: self.config_profile.clone(),
            config_file: self.config.clone(),
            env: std::env::vars().collect(),
            overrides,
            config_dir: None,
        }
    }

    /// Loads and validates the node configuration.
    pub fn load(&self) -> Result<NodeConfig, crate::config::ConfigError> {
        crate::config::load(&self.sources())
    }
}

/// Environment variable carrying the ready file to a background child.
pub const READY_FILE_ENV: &str = "TANDEM_READY_FILE";

/// Re-executes this process without `--background` and waits for it to become ready.
pub fn daemonize(store: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let exe = std::env::current_exe().context("find the tandem executable")?;
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--background")
        .collect();
    std::fs::create_dir_all(store).with_context(|| format!("create {}", store.display()))?;
    let log_dir = store.join("logs");
    std::fs::create_dir_all(&log_dir).with_context(|| format!("create {}", log_dir.display()))?;
    let log_path = log_dir.join("tandem.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("open {}", log_path.display()))?;
    let ready = store.join(format!("ready.{}", std::process::id()));
    let _ = std::fs::remove_file(&ready);
    let mut child = std::process::Command::new(exe)
        .args(&args)
        .env(READY_FILE_ENV, &ready)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().context("duplicate log handle")?)
        .stderr(log)
        .spawn()
        .context("start the background node")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            let _ = std::fs::remove_file(&ready);
            print!("{text}");
            println!("logs: {}", log_path.display());
            return Ok(());
        }
        if let Some(status) = child.try_wait().context("poll the background node")? {
            anyhow::bail!(
                "the background node exited with {status} before becoming ready; see {}",
                log_path.display()
            );
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the background node did not become ready within 120s; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
