//! Node configuration loading through the public API (`tandem::config::load`).
//!
//! Owns the checks that the layering `config/default.toml` < profile < `--config FILE` <
//! `TANDEM_*` environment < flags holds at every layer, that each built-in profile bootstraps the
//! virtual clusters DESIGN.md §7 names, that unknown keys and bad values in every layer are
//! rejected with the key and the source named, that the systemd environment example is a
//! valid environment layer, and that the Prometheus configuration loads alerting rules over
//! metrics the node really exports (checked and unit-tested with `promtool` when it is
//! installed). Everything runs in-process on temporary directories; nothing starts a node.

use std::path::{Path, PathBuf};
use std::time::Duration;
use tandem::config::{
    self, ConfigError, ConfigSources, DataState, HostPort, MemorySize, NodeConfig, ServiceMode,
};

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Sources for the built-in files with `--insecure`, so validation needs no certificates.
fn insecure() -> ConfigSources {
    ConfigSources {
        overrides: pairs(&[("insecure", "true")]),
        ..ConfigSources::default()
    }
}

fn load(sources: &ConfigSources) -> NodeConfig {
    config::load(sources).unwrap_or_else(|e| panic!("load failed: {e}"))
}

fn load_err(sources: &ConfigSources) -> ConfigError {
    match config::load(sources) {
        Ok(cfg) => panic!("expected an error, loaded {cfg:?}"),
        Err(e) => e,
    }
}

/// `(id, name, data_state, service_mode)` rows, as `SHOW VIRTUAL CLUSTERS` prints them.
fn clusters(cfg: &NodeConfig) -> Vec<(u64, String, String, String)> {
    cfg.bootstrap
        .virtual_clusters
        .iter()
        .map(|vc| {
            (
                vc.id.0,
                vc.name.clone(),
                vc.data_state.to_string(),
                vc.service_mode.to_string(),
            )
        })
        .collect()
}

fn row(id: u64, name: &str, data: &str, service: &str) -> (u64, String, String, String) {
    (id, name.into(), data.into(), service.into())
}

fn with_profile(name: &str) -> ConfigSources {
    ConfigSources {
        profile: Some(name.into()),
        ..insecure()
    }
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

/// A config directory: the built-in `default.toml` with `kv.gc_ttl` replaced, the built-in
/// `default` profile, and a profile `p` (the built-in default profile after `profile_extra`).
fn config_dir(default_gc_ttl: &str, profile_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let builtin = config::builtin_default();
    assert!(
        builtin.contains("\ngc_ttl = \"4h\"\n"),
        "default.toml sets kv.gc_ttl"
    );
    let default = builtin.replace(
        "\ngc_ttl = \"4h\"\n",
        &format!("\ngc_ttl = \"{default_gc_ttl}\"\n"),
    );
    write(&dir.path().join("default.toml"), &default);
    let builtin_profile = config::builtin_profile("default").expect("builtin");
    write(&dir.path().join("profiles/default.toml"), builtin_profile);
    let profile = format!("{profile_extra}\n{builtin_profile}");
    write(&dir.path().join("profiles/p.toml"), &profile);
    dir
}

#[test]
fn defaults_match_cockroach() {
    let cfg = load(&insecure());
    assert_eq!(cfg.profile, "default");
    assert_eq!(cfg.listen_addr, HostPort::new("localhost", 26257));
    assert_eq!(cfg.http_addr, HostPort::new("localhost", 8080));
    assert_eq!(cfg.advertise_addr(), &cfg.listen_addr);
    assert_eq!(cfg.sql_addr(), &cfg.listen_addr);
    assert_eq!(cfg.store, PathBuf::from("tandem-data"));
    assert_eq!(cfg.cache, MemorySize::Bytes(128 << 20));
    assert_eq!(cfg.max_sql_memory, MemorySize::Fraction(0.25));
    assert!(cfg.join.is_empty() && !cfg.background && cfg.insecure);
    let kv = cfg.kv_settings().expect("kv settings");
    assert_eq!(kv.closed_ts_target, Duration::from_millis(200));
    assert_eq!(kv.gc_ttl, Duration::from_secs(4 * 3600));
    assert_eq!(kv.cache_bytes, 128 << 20);
}

#[test]
fn percentage_resolves_to_bytes() {
    let cfg = load(&insecure());
    let total = config::system_memory_bytes().expect("system memory");
    let bytes = cfg.max_sql_memory_bytes().expect("resolves");
    assert_eq!(bytes, MemorySize::Fraction(0.25).resolve(total));
    assert!(bytes > 0 && bytes <= total / 4 + 1);

    let mut sources = insecure();
    sources.overrides.push(("cache".into(), ".5".into()));
    let cfg = load(&sources);
    assert_eq!(cfg.cache_bytes().expect("resolves"), total / 2);
    assert_eq!(cfg.kv_settings().expect("kv").cache_bytes, total / 2);
}

#[test]
fn default_profile_bootstraps_system_only() {
    let cfg = load(&with_profile("default"));
    assert_eq!(clusters(&cfg), [row(1, "system", "ready", "shared")]);
    assert_eq!(cfg.bootstrap.default_target_cluster, "system");
    assert!(cfg.bootstrap.cluster_settings.is_empty());
    assert_eq!(
        cfg.bootstrap.settings_to_apply(),
        [(
            "server.controller.default_target_cluster".to_string(),
            "system".to_string()
        )]
        .into()
    );
}

#[test]
fn replication_source_profile() {
    let cfg = load(&with_profile("replication-source"));
    assert_eq!(cfg.profile, "replication-source");
    assert_eq!(
        clusters(&cfg),
        [
            row(1, "system", "ready", "shared"),
            row(2, "template", "ready", "none"),
            row(3, "application", "ready", "shared"),
        ]
    );
    assert_eq!(cfg.bootstrap.default_target_cluster, "application");
    let settings = cfg.bootstrap.settings_to_apply();
    assert_eq!(
        settings
            .get("server.controller.default_target_cluster")
            .map(String::as_str),
        Some("application")
    );
    assert_eq!(
        settings.get("kv.rangefeed.enabled").map(String::as_str),
        Some("true")
    );
    // Node keys are untouched by the profile.
    assert_eq!(cfg.listen_addr, HostPort::new("localhost", 26257));
}

#[test]
fn replication_target_profile() {
    let cfg = load(&with_profile("replication-target"));
    assert_eq!(
        clusters(&cfg),
        [
            row(1, "system", "ready", "shared"),
            row(2, "template", "ready", "none"),
        ]
    );
    assert_eq!(cfg.bootstrap.default_target_cluster, "system");
    let template = &cfg.bootstrap.virtual_clusters[1];
    assert_eq!(template.data_state, DataState::Ready);
    assert_eq!(template.service_mode, ServiceMode::None);
}

#[test]
fn profile_from_environment_and_flag_wins() {
    let mut sources = insecure();
    sources.env = pairs(&[("TANDEM_PROFILE", "replication-target")]);
    assert_eq!(load(&sources).profile, "replication-target");
    sources.profile = Some("replication-source".into());
    assert_eq!(load(&sources).bootstrap.virtual_clusters.len(), 3);
}

#[test]
fn unknown_profile() {
    let e = load_err(&with_profile("replication-sauce"));
    let msg = e.to_string();
    assert!(matches!(e, ConfigError::UnknownProfile { .. }), "{msg}");
    assert!(msg.contains("replication-sauce"), "{msg}");
    assert!(msg.contains("replication-source"), "{msg}");
    assert!(
        load_err(&with_profile("../default"))
            .to_string()
            .contains("unknown config profile")
    );

    let dir = config_dir("4h", "");
    let mut sources = with_profile("missing");
    sources.config_dir = Some(dir.path().into());
    let msg = load_err(&sources).to_string();
    assert!(
        msg.contains("\"missing\"") && msg.contains("known profiles: default, p"),
        "{msg}"
    );
}

#[test]
fn precedence_at_every_layer() {
    let dir = config_dir("1h", "[kv]\ngc_ttl = \"2h\"\n");
    let file = dir.path().join("node.toml");
    write(&file, "[kv]\ngc_ttl = \"3h\"\n");
    let gc_ttl = |sources: &ConfigSources| load(sources).kv.gc_ttl.as_secs() / 3600;

    let mut sources = ConfigSources {
        config_dir: Some(dir.path().into()),
        profile: Some("default".into()),
        overrides: pairs(&[("insecure", "true")]),
        ..ConfigSources::default()
    };
    assert_eq!(gc_ttl(&sources), 1, "default.toml");
    sources.profile = Some("p".into());
    assert_eq!(gc_ttl(&sources), 2, "profile over default.toml");
    sources.config_file = Some(file.clone());
    assert_eq!(gc_ttl(&sources), 3, "--config file over profile");
    sources.env = pairs(&[("TANDEM_KV__GC_TTL", "4h"), ("PATH", "/usr/bin")]);
    assert_eq!(gc_ttl(&sources), 4, "environment over file");
    sources.overrides.push(("kv.gc_ttl".into(), "5h".into()));
    assert_eq!(gc_ttl(&sources), 5, "flags over environment");

    // Empty environment variables count as unset.
    sources.overrides.pop();
    sources.env = pairs(&[("TANDEM_KV__GC_TTL", "")]);
    assert_eq!(gc_ttl(&sources), 3);
    // TANDEM_CONFIG names the file when no --config is given.
    sources.config_file = None;
    sources.env = pairs(&[("TANDEM_CONFIG", &file.display().to_string())]);
    assert_eq!(gc_ttl(&sources), 3);
}

#[test]
fn precedence_of_node_keys_over_builtin_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("node.toml");
    write(
        &file,
        "listen_addr = \"n1:1111\"\nhttp_addr = \"n1\"\ncache = \"1GiB\"\njoin = [\"n1\", \"n2:2\"]\n\
         [bootstrap]\ndefault_target_cluster = \"system\"\n",
    );
    let mut sources = with_profile("replication-source");
    sources.config_file = Some(file);
    let cfg = load(&sources);
    assert_eq!(cfg.listen_addr, HostPort::new("n1", 1111));
    assert_eq!(
        cfg.http_addr,
        HostPort::new("n1", 8080),
        "default HTTP port"
    );
    assert_eq!(cfg.cache, MemorySize::Bytes(1 << 30));
    assert_eq!(
        cfg.join,
        [HostPort::new("n1", 26257), HostPort::new("n2", 2)]
    );
    // The file changed the profile's default target but kept its clusters and settings.
    assert_eq!(cfg.bootstrap.default_target_cluster, "system");
    assert_eq!(cfg.bootstrap.virtual_clusters.len(), 3);
    assert_eq!(cfg.bootstrap.cluster_settings.len(), 1);

    sources.env = pairs(&[
        ("TANDEM_LISTEN_ADDR", "n1:2222"),
        ("TANDEM_JOIN", "a:1,b:2,c"),
        ("tandem_background", "true"),
        ("TANDEM_ADVERTISE_ADDR", "pub.example:26257"),
    ]);
    let cfg = load(&sources);
    assert_eq!(cfg.listen_addr, HostPort::new("n1", 2222));
    assert_eq!(cfg.join.len(), 3);
    assert_eq!(cfg.join[2], HostPort::new("c", 26257));
    assert!(cfg.background);
    assert_eq!(cfg.advertise_addr(), &HostPort::new("pub.example", 26257));

    sources.overrides.extend(pairs(&[
        ("listen_addr", ":3333"),
        ("join", "z:9"),
        ("sql_addr", "[::1]:5"),
    ]));
    let cfg = load(&sources);
    assert_eq!(cfg.listen_addr, HostPort::new("", 3333));
    assert_eq!(cfg.join, [HostPort::new("z", 9)]);
    assert_eq!(cfg.sql_addr(), &HostPort::new("::1", 5));
    assert_eq!(cfg.advertise_addr(), &HostPort::new("pub.example", 26257));
}

/// Asserts that `e` is about `key` and names `origin` (a substring), in its fields and message.
#[track_caller]
fn assert_names(e: &ConfigError, key: &str, origin: &str) {
    let msg = e.to_string();
    assert_eq!(e.key(), Some(key), "{msg}");
    assert!(e.origin().is_some_and(|o| o.contains(origin)), "{msg}");
    assert!(msg.contains(key) && msg.contains(origin), "{msg}");
}

#[test]
fn unknown_keys_in_every_layer() {
    // default.toml and the profile, from a config directory.
    let dir = config_dir("4h", "colour = \"red\"");
    let mut sources = with_profile("p");
    sources.config_dir = Some(dir.path().into());
    assert_names(&load_err(&sources), "colour", "profiles/p.toml");

    let dir = config_dir("4h", "");
    let default = dir.path().join("default.toml");
    let text = std::fs::read_to_string(&default).expect("read");
    write(&default, &format!("{text}\ngc_window = \"1h\"\n"));
    sources.config_dir = Some(dir.path().into());
    assert_names(&load_err(&sources), "kv.gc_window", "default.toml");

    // --config file.
    let file = dir.path().join("node.toml");
    write(&file, "[bootstrap]\nvirtual_cluster = []\n");
    let mut sources = insecure();
    sources.config_file = Some(file.clone());
    assert_names(
        &load_err(&sources),
        "bootstrap.virtual_cluster",
        "node.toml",
    );

    // Environment: the variable is named.
    let mut sources = insecure();
    sources.env = pairs(&[("TANDEM_LISTEN_ADRESS", "n1:1")]);
    assert_names(&load_err(&sources), "listen_adress", "TANDEM_LISTEN_ADRESS");
    sources.env = pairs(&[("TANDEM_KV__GC_TTLS", "1h")]);
    assert_names(&load_err(&sources), "kv.gc_ttls", "TANDEM_KV__GC_TTLS");
    sources.env = pairs(&[("TANDEM_KV_GC_TTL", "1h")]);
    let e = load_err(&sources);
    assert_names(&e, "kv_gc_ttl", "TANDEM_KV_GC_TTL");
    assert!(e.to_string().contains("double underscore"), "{e}");

    // Flags.
    let mut sources = insecure();
    sources.overrides.push(("kv.tick".into(), "1s".into()));
    assert_names(&load_err(&sources), "kv.tick", "command line");
}

#[test]
fn bad_values_are_rejected_with_key_and_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("node.toml");
    let cases = [
        ("cache = \"lots\"", "cache"),
        ("max_sql_memory = \"150%\"", "max_sql_memory"),
        (
            "[kv]\nrange_max_bytes = \"64 parsecs\"",
            "kv.range_max_bytes",
        ),
        ("[kv]\ngc_ttl = \"4 fortnights\"", "kv.gc_ttl"),
        ("[kv]\nclosed_ts_target = 200", "kv.closed_ts_target"),
        ("listen_addr = \"n1:port\"", "listen_addr"),
        ("join = [\"n1:1\", \"n2:99999\"]", "join"),
        (
            "[[bootstrap.virtual_clusters]]\nid = 1\nname = \"system\"\ndata_state = \"gone\"\n\
             service_mode = \"shared\"",
            "bootstrap.virtual_clusters[0].data_state",
        ),
        (
            "[[bootstrap.virtual_clusters]]\nid = 1\nname = \"system\"\ndata_state = \"ready\"\n\
             service_mode = \"sleeping\"",
            "bootstrap.virtual_clusters[0].service_mode",
        ),
        ("listen_addr = [", "TOML"),
    ];
    for (text, key) in cases {
        write(&file, text);
        let mut sources = insecure();
        sources.config_file = Some(file.clone());
        let e = load_err(&sources);
        if key == "TOML" {
            assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
            assert!(e.to_string().contains("node.toml"), "{e}");
        } else {
            assert_names(&e, key, "node.toml");
        }
    }

    let mut sources = insecure();
    sources.env = pairs(&[("TANDEM_KV__RAFT_TICK", "soon")]);
    assert_names(&load_err(&sources), "kv.raft_tick", "TANDEM_KV__RAFT_TICK");
    sources.env = pairs(&[("TANDEM_CACHE", "0")]);
    assert_names(&load_err(&sources), "cache", "TANDEM_CACHE");

    let mut sources = insecure();
    sources
        .overrides
        .push(("max_sql_memory".into(), "12 parsecs".into()));
    let e = load_err(&sources);
    assert_names(&e, "max_sql_memory", "command line");
    assert!(e.to_string().contains("12 parsecs"), "{e}");

    let mut sources = insecure();
    sources
        .overrides
        .push(("background".into(), "perhaps".into()));
    assert_names(&load_err(&sources), "background", "command line");
}

#[test]
fn cross_field_errors_name_the_layer_that_set_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("node.toml");
    write(&file, "[bootstrap]\ndefault_target_cluster = \"nowhere\"\n");
    let mut sources = insecure();
    sources.config_file = Some(file.clone());
    assert_names(
        &load_err(&sources),
        "bootstrap.default_target_cluster",
        "node.toml",
    );

    // template exists in replication-target but does not serve SQL.
    write(
        &file,
        "[bootstrap]\ndefault_target_cluster = \"template\"\n",
    );
    sources.profile = Some("replication-target".into());
    let e = load_err(&sources);
    assert!(e.to_string().contains("does not serve SQL"), "{e}");

    // Cluster setting names contain dots; the file that set the bad one is still found.
    write(
        &file,
        "[bootstrap.cluster_settings]\n\"Bad Name\" = \"1\"\n",
    );
    let e = load_err(&sources);
    assert_names(&e, "bootstrap.cluster_settings.Bad Name", "node.toml");

    let mut sources = insecure();
    sources.env = pairs(&[("TANDEM_KV__CLOSED_TS_INTERVAL", "1s")]);
    assert_names(
        &load_err(&sources),
        "kv.closed_ts_interval",
        "TANDEM_KV__CLOSED_TS_INTERVAL",
    );

    // Without --insecure a node needs certificates; the flag supplies them.
    let e = load_err(&ConfigSources::default());
    assert_eq!(e.key(), Some("certs_dir"));
    let ok = ConfigSources {
        overrides: pairs(&[("certs_dir", "certs")]),
        ..ConfigSources::default()
    };
    assert_eq!(load(&ok).certs_dir, Some(PathBuf::from("certs")));
}

#[test]
fn missing_config_file() {
    let mut sources = insecure();
    sources.config_file = Some("/nonexistent/tandem.toml".into());
    let e = load_err(&sources);
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
    assert!(e.to_string().contains("/nonexistent/tandem.toml"), "{e}");
}

#[test]
fn config_dir_copy_of_builtin_files_loads_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir.path().join("default.toml"), config::builtin_default());
    for name in config::builtin_profile_names() {
        let text = config::builtin_profile(name).expect("builtin");
        write(&dir.path().join(format!("profiles/{name}.toml")), text);
        let builtin = load(&with_profile(name));
        let mut sources = with_profile(name);
        sources.config_dir = Some(dir.path().into());
        assert_eq!(load(&sources), builtin, "{name}");
    }
}

#[test]
fn repository_files_are_the_builtin_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let read = |p: PathBuf| std::fs::read_to_string(&p).expect("read");
    assert_eq!(read(root.join("default.toml")), config::builtin_default());
    for name in config::builtin_profile_names() {
        assert_eq!(
            read(root.join(format!("profiles/{name}.toml"))),
            config::builtin_profile(name).expect("builtin")
        );
    }
}

/// The systemd environment example is a valid environment layer, and every variable the unit's
/// ExecStart uses is defined in it.
#[test]
fn systemd_environment_example_loads() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd");
    let example = std::fs::read_to_string(deploy.join("tandem.env.example")).expect("read");
    let env: Vec<(String, String)> = example
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    assert!(env.iter().any(|(k, _)| k == "TANDEM_PROFILE"));
    let sources = ConfigSources {
        env: env.clone(),
        overrides: pairs(&[("certs_dir", "/var/lib/tandem/certs")]),
        ..ConfigSources::default()
    };
    let cfg = load(&sources);
    assert_eq!(cfg.profile, "replication-source");
    assert_eq!(cfg.join.len(), 3);
    assert_eq!(cfg.cache, MemorySize::Fraction(0.25));

    let unit = std::fs::read_to_string(deploy.join("tandem.service")).expect("read");
    for line in [
        "Type=notify",
        "Restart=on-failure",
        "LimitNOFILE=65536",
        "TimeoutStopSec=300",
        "KillSignal=SIGTERM",
        "User=tandem",
        "NoNewPrivileges=true",
        "EnvironmentFile=/etc/tandem/tandem.env",
    ] {
        assert!(unit.lines().any(|l| l.trim() == line), "missing {line}");
    }
    let mut rest = unit.as_str();
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').expect("closed ${");
        let var = &after[..end];
        assert!(
            env.iter().any(|(k, v)| k == var && !v.is_empty()),
            "{var} used by tandem.service has no value in tandem.env.example"
        );
        rest = &after[end..];
    }
}

/// Runs `program args` in `dir`; `None` when the program is not installed.
fn run_tool(dir: &Path, program: &str, args: &[&str]) -> Option<std::process::Output> {
    match std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
    {
        Ok(out) => Some(out),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("run {program}: {e}"),
    }
}

/// `deploy/prometheus`: prometheus.yml loads replication-alerts.yml; every alert there has an
/// expression, a `for`, a severity and both annotations, and names only metrics the node
/// exports. With `promtool` the config and rules are checked and the rules' unit tests
/// (replication-alerts.test.yml) run; without it PyYAML parses the files if present, else a note
/// is printed.
#[test]
fn prometheus_alert_rules_cover_replication_metrics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    };
    let config = read("prometheus.yml");
    let rules = read("replication-alerts.yml");
    let lines: Vec<&str> = config.lines().map(str::trim_end).collect();
    let at = lines
        .iter()
        .position(|l| *l == "rule_files:")
        .expect("prometheus.yml has rule_files");
    assert_eq!(
        lines.get(at + 1).copied(),
        Some("  - replication-alerts.yml")
    );

    let blocks: Vec<&str> = rules.split("- alert: ").skip(1).collect();
    let names: Vec<&str> = blocks
        .iter()
        .map(|b| b.lines().next().unwrap_or_default().trim())
        .collect();
    for alert in [
        "TandemReplicationLagHigh",
        "TandemReplicationStalled",
        "TandemReplicationStreamDown",
    ] {
        assert!(names.contains(&alert), "{alert} missing from {names:?}");
    }
    for block in &blocks {
        for key in ["expr:", "for:", "summary:", "description:"] {
            assert!(block.contains(key), "{key} missing in alert {block}");
        }
        assert!(
            block.contains("severity: warning") || block.contains("severity: critical"),
            "no severity in alert {block}"
        );
    }
    assert!(rules.contains("physical_replication_replication_lag_seconds > 5\n"));
    assert!(rules.contains("physical_replication_replication_lag_seconds > 60\n"));

    // Every metric the rules name is one the node exports at /_status/vars.
    let registry = prometheus::Registry::new();
    tandem::replication::metrics::ReplicationMetrics::new(&registry).expect("register metrics");
    let exported: Vec<String> = registry
        .gather()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    let used: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("physical_replication_"))
        .collect();
    assert!(used.len() >= 4, "{used:?}");
    for metric in used {
        assert!(
            exported.iter().any(|e| e == metric),
            "{metric} is not exported (exported: {exported:?})"
        );
    }

    let ok = |what: &str, out: std::process::Output| {
        assert!(
            out.status.success(),
            "{what} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    if let Some(out) = run_tool(
        &dir,
        "promtool",
        &["check", "rules", "replication-alerts.yml"],
    ) {
        ok("promtool check rules", out);
        let out = run_tool(
            &dir,
            "promtool",
            &["test", "rules", "replication-alerts.test.yml"],
        )
        .expect("promtool is installed");
        ok("promtool test rules", out);
        let out = run_tool(
            &dir,
            "promtool",
            &["check", "config", "--syntax-only", "prometheus.yml"],
        )
        .expect("promtool is installed");
        ok("promtool check config", out);
        return;
    }
    let parse = "import sys, yaml\nfor f in sys.argv[1:]:\n    yaml.safe_load(open(f))";
    match run_tool(
        &dir,
        "python3",
        &[
            "-c",
            parse,
            "prometheus.yml",
            "replication-alerts.yml",
            "replication-alerts.test.yml",
        ],
    ) {
        Some(out) if out.status.success() => {
            eprintln!("note: promtool is not installed; checked the YAML syntax only")
        }
        Some(out) if String::from_utf8_lossy(&out.stderr).contains("No module named") => {
            eprintln!("note: neither promtool nor PyYAML is installed; YAML not validated")
        }
        Some(out) => ok("parsing the YAML", out),
        None => eprintln!("note: neither promtool nor python3 is installed; YAML not validated"),
    }
}
