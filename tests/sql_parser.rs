//! Tests of `tandem::sql::parser`: tandem's own (CockroachDB) statements, the fall-through to
//! sqlparser's PostgreSQL dialect, multi-statement strings and error messages.

use tandem::sql::ast::{
    AlterVirtualClusterAction as A, ReplicationSource, RoleOptions, SettingValue, Statement as S,
    SystemPrivilege as P,
};
use tandem::sql::parser::{ParseError, parse, parse_one};

fn one(sql: &str) -> S {
    let mut v = parse(sql).unwrap_or_else(|e| panic!("{sql:?}: {e}"));
    assert_eq!(v.len(), 1, "{sql:?}: {v:?}");
    v.remove(0)
}

fn err(sql: &str) -> ParseError {
    match parse(sql) {
        Ok(v) => panic!("{sql:?}: expected an error, got {v:?}"),
        Err(e) => e,
    }
}

/// Asserts that `sql` fails with a message containing all of `parts`.
fn err_has(sql: &str, parts: &[&str]) -> ParseError {
    let e = err(sql);
    for part in parts {
        assert!(
            e.message.contains(part),
            "{sql:?}: {:?} lacks {part:?}",
            e.message
        );
    }
    assert!(e.message.contains("syntax error"), "{sql:?}: {}", e.message);
    e
}

fn is_pg(sql: &str) -> sqlparser::ast::Statement {
    match one(sql) {
        S::Pg(s) => *s,
        s => panic!("{sql:?}: expected a PostgreSQL statement, got {s:?}"),
    }
}

fn show_vc(name: Option<&str>, status: bool, prior: bool) -> S {
    S::ShowVirtualClusters {
        name: name.map(str::to_string),
        with_replication_status: status,
        with_prior_replication_details: prior,
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// ---- SHOW VIRTUAL CLUSTER(S) ------------------------------------------------------------------

#[test]
fn show_virtual_clusters_forms() {
    for sql in [
        "SHOW VIRTUAL CLUSTERS",
        "show virtual clusters",
        "Show Virtual Clusters;",
        "  SHOW\n\tVIRTUAL   CLUSTERS  ;;",
        "SHOW TENANTS",
        "show tenants",
        "SHOW VIRTUAL CLUSTER ALL",
        "SHOW VIRTUAL CLUSTERS /* comment */",
    ] {
        assert_eq!(one(sql), show_vc(None, false, false), "{sql}");
    }
    assert_eq!(
        one("SHOW VIRTUAL CLUSTER main"),
        show_vc(Some("main"), false, false)
    );
    assert_eq!(
        one("show virtual cluster MAIN"),
        show_vc(Some("main"), false, false)
    );
    assert_eq!(
        one("SHOW VIRTUAL CLUSTER \"MixedCase\""),
        show_vc(Some("MixedCase"), false, false)
    );
    assert_eq!(
        one("SHOW VIRTUAL CLUSTER system"),
        show_vc(Some("system"), false, false)
    );
    assert_eq!(one("SHOW TENANT app"), show_vc(Some("app"), false, false));
    assert_eq!(
        one("SHOW VIRTUAL CLUSTER \"main-readonly\""),
        show_vc(Some("main-readonly"), false, false)
    );
}

#[test]
fn show_virtual_clusters_with_options() {
    assert_eq!(
        one("SHOW VIRTUAL CLUSTERS WITH REPLICATION STATUS"),
        show_vc(None, true, false)
    );
    assert_eq!(
        one("show virtual cluster standbymain with replication status;"),
        show_vc(Some("standbymain"), true, false)
    );
    assert_eq!(
        one("SHOW VIRTUAL CLUSTER main WITH PRIOR REPLICATION DETAILS"),
        show_vc(Some("main"), false, true)
    );
    assert_eq!(
        one("SHOW TENANT main WITH PRIOR REPLICATION DETAILS"),
        show_vc(Some("main"), false, true)
    );
    assert_eq!(
        one("SHOW TENANTS WITH REPLICATION STATUS"),
        show_vc(None, true, false)
    );
    assert_eq!(
        one("SHOW VIRTUAL CLUSTER x WITH REPLICATION STATUS, PRIOR REPLICATION DETAILS"),
        show_vc(Some("x"), true, true)
    );
}

#[test]
fn show_virtual_clusters_errors() {
    err_has(
        "SHOW VIRTUAL CLUSTER",
        &["\"EOF\"", "expected virtual cluster name"],
    );
    err_has(
        "SHOW VIRTUAL CLUSTER WITH REPLICATION STATUS",
        &["\"WITH\"", "expected virtual cluster name"],
    );
    err_has(
        "SHOW VIRTUAL CLUSTERS main",
        &["\"main\"", "expected ; or end of input"],
    );
    err_has(
        "SHOW VIRTUAL CLUSTER main WITH CAPABILITIES",
        &["\"CAPABILITIES\"", "REPLICATION STATUS"],
    );
    err_has("SHOW VIRTUAL CLUSTER main WITH REPLICATION", &["\"EOF\""]);
}

#[test]
fn virtual_and_cluster_words_are_claimed() {
    // Without this, sqlparser would read these as `SHOW <variable>` and accept them.
    err_has(
        "SHOW VIRTUAL CLUSTERZ",
        &["\"CLUSTERZ\"", "expected CLUSTER"],
    );
    err_has("SHOW VIRTUAL", &["\"EOF\"", "expected CLUSTER"]);
    err_has(
        "SHOW CLUSTER SETTINGZ",
        &["\"SETTINGZ\"", "expected SETTING or SETTINGS"],
    );
    err_has("SHOW SYSTEM GRANT", &["\"GRANT\"", "expected GRANTS"]);
    err_has(
        "CREATE VIRTUAL TABLE t USING x",
        &["\"TABLE\"", "expected CLUSTER"],
    );
    err_has(
        "ALTER VIRTUAL CLUSTERS a STOP SERVICE",
        &["\"CLUSTERS\"", "expected CLUSTER"],
    );
    err_has("DROP VIRTUAL x", &["\"x\"", "expected CLUSTER"]);
    err_has(
        "SHOW VIRTUAL CLUSTER main WITH PRIOR DETAILS",
        &["\"DETAILS\"", "expected REPLICATION"],
    );
    err_has(
        "ALTER VIRTUAL CLUSTER main START SERVICE",
        &["\"EOF\"", "expected SHARED"],
    );
    err_has(
        "ALTER VIRTUAL CLUSTER main PAUSE",
        &["\"EOF\"", "expected REPLICATION"],
    );
    err_has(
        "ALTER VIRTUAL CLUSTER main COMPLETE REPLICATION LATEST",
        &["\"LATEST\"", "expected TO"],
    );
}

// ---- CREATE VIRTUAL CLUSTER ---------------------------------------------------------------------

#[test]
fn create_virtual_cluster_forms() {
    assert_eq!(
        one("CREATE VIRTUAL CLUSTER app"),
        S::CreateVirtualCluster {
            name: "app".into(),
            if_not_exists: false,
            like: None,
            replication: None
        }
    );
    assert_eq!(
        one("create virtual cluster if not exists App like Template"),
        S::CreateVirtualCluster {
            name: "app".into(),
            if_not_exists: true,
            like: Some("template".into()),
            replication: None
        }
    );
    assert_eq!(
        one("CREATE TENANT \"Foo\""),
        S::CreateVirtualCluster {
            name: "Foo".into(),
            if_not_exists: false,
            like: None,
            replication: None
        }
    );
    let uri =
        "postgresql://u:p@host:26257/defaultdb?options=-ccluster%3Dsystem&sslmode=verify-full";
    assert_eq!(
        one(&format!(
            "CREATE VIRTUAL CLUSTER main FROM REPLICATION OF main ON '{uri}'"
        )),
        S::CreateVirtualCluster {
            name: "main".into(),
            if_not_exists: false,
            like: None,
            replication: Some(ReplicationSource {
                source: "main".into(),
                uri: uri.into(),
                retention: None
            })
        }
    );
    assert_eq!(
        one(
            "CREATE VIRTUAL CLUSTER IF NOT EXISTS standby LIKE template \
             FROM REPLICATION OF Main ON 'postgresql://a' WITH RETENTION = '36h';"
        ),
        S::CreateVirtualCluster {
            name: "standby".into(),
            if_not_exists: true,
            like: Some("template".into()),
            replication: Some(ReplicationSource {
                source: "main".into(),
                uri: "postgresql://a".into(),
                retention: Some("36h".into())
            })
        }
    );
    // `WITH RETENTION '36h'` (no `=`) as in CockroachDB's docs.
    match one("create tenant b from replication of a on 'u' with retention '1h'") {
        S::CreateVirtualCluster {
            replication: Some(r),
            ..
        } => {
            assert_eq!(r.retention.as_deref(), Some("1h"))
        }
        s => panic!("{s:?}"),
    }
    // Replicating the system tenant: `system` is not a reserved word.
    match one("CREATE VIRTUAL CLUSTER main FROM REPLICATION OF system ON 'u'") {
        S::CreateVirtualCluster {
            replication: Some(r),
            ..
        } => assert_eq!(r.source, "system"),
        s => panic!("{s:?}"),
    }
    // The URI keeps its case and quotes are unescaped.
    match one("CREATE VIRTUAL CLUSTER b FROM REPLICATION OF a ON 'postgres://U:it''s@H/db'") {
        S::CreateVirtualCluster {
            replication: Some(r),
            ..
        } => {
            assert_eq!(r.uri, "postgres://U:it's@H/db")
        }
        s => panic!("{s:?}"),
    }
}

#[test]
fn create_virtual_cluster_errors() {
    err_has(
        "CREATE VIRTUAL CLUSTER",
        &["\"EOF\"", "expected virtual cluster name"],
    );
    err_has(
        "CREATE VIRTUAL CLUSTER ;",
        &["\";\"", "expected virtual cluster name"],
    );
    err_has(
        "CREATE VIRTUAL CLUSTER a LIKE",
        &["expected template virtual cluster name"],
    );
    err_has(
        "CREATE VIRTUAL CLUSTER a FROM REPLICATION b",
        &["\"b\"", "expected OF"],
    );
    err_has(
        "CREATE VIRTUAL CLUSTER a FROM REPLICATION OF b ON uri",
        &["\"uri\"", "source cluster URI", "string literal"],
    );
    err_has(
        "CREATE VIRTUAL CLUSTER a FROM REPLICATION OF b ON 'u' WITH READ VIRTUAL CLUSTER",
        &["\"READ\"", "RETENTION"],
    );
    err_has(
        "CREATE VIRTUAL CLUSTER a FROM REPLICATION OF b ON 'u' WITH RETENTION = '1h', RETENTION = '2h'",
        &["RETENTION given twice"],
    );
    err_has(
        "CREATE VIRTUAL CLUSTER a b",
        &["\"b\"", "expected ; or end of input"],
    );
    err_has(
        "CREATE VIRTUAL CLUSTER \"\"",
        &["zero-length delimited identifier"],
    );
}

// ---- ALTER VIRTUAL CLUSTER ----------------------------------------------------------------------

#[test]
fn alter_virtual_cluster_actions() {
    let alter = |sql: &str| match one(sql) {
        S::AlterVirtualCluster { name, action } => (name, action),
        s => panic!("{sql}: {s:?}"),
    };
    assert_eq!(
        alter("ALTER VIRTUAL CLUSTER main START SERVICE SHARED"),
        ("main".into(), A::StartServiceShared)
    );
    assert_eq!(
        alter("alter virtual cluster Main start service shared;"),
        ("main".into(), A::StartServiceShared)
    );
    assert_eq!(
        alter("ALTER TENANT app STOP SERVICE"),
        ("app".into(), A::StopService)
    );
    assert_eq!(
        alter("ALTER VIRTUAL CLUSTER a RENAME TO \"B\""),
        ("a".into(), A::RenameTo("B".into()))
    );
    assert_eq!(
        alter("ALTER VIRTUAL CLUSTER a rename to bee"),
        ("a".into(), A::RenameTo("bee".into()))
    );
    assert_eq!(
        alter("ALTER VIRTUAL CLUSTER main PAUSE REPLICATION"),
        ("main".into(), A::PauseReplication)
    );
    assert_eq!(
        alter("ALTER VIRTUAL CLUSTER main RESUME REPLICATION"),
        ("main".into(), A::ResumeReplication)
    );
    assert_eq!(
        alter("ALTER VIRTUAL CLUSTER main SET REPLICATION RETENTION = '24h'"),
        ("main".into(), A::SetReplicationRetention("24h".into()))
    );
    assert_eq!(
        alter("ALTER VIRTUAL CLUSTER main COMPLETE REPLICATION TO LATEST"),
        ("main".into(), A::CompleteReplicationToLatest)
    );
    assert_eq!(
        alter("alter virtual cluster main complete replication to latest"),
        ("main".into(), A::CompleteReplicationToLatest)
    );
    assert_eq!(
        alter("ALTER VIRTUAL CLUSTER main COMPLETE REPLICATION TO SYSTEM TIME '-1h'"),
        (
            "main".into(),
            A::CompleteReplicationToSystemTime("-1h".into())
        )
    );
    assert_eq!(
        alter(
            "ALTER VIRTUAL CLUSTER main COMPLETE REPLICATION TO SYSTEM TIME '2024-01-01 00:00:00+00'"
        ),
        (
            "main".into(),
            A::CompleteReplicationToSystemTime("2024-01-01 00:00:00+00".into())
        )
    );
    assert_eq!(
        alter(
            "ALTER VIRTUAL CLUSTER main COMPLETE REPLICATION TO SYSTEM TIME 1700000000000000000.0000000001"
        ),
        (
            "main".into(),
            A::CompleteReplicationToSystemTime("1700000000000000000.0000000001".into())
        )
    );
}

#[test]
fn alter_virtual_cluster_errors() {
    err_has("ALTER VIRTUAL CLUSTER", &["expected virtual cluster name"]);
    err_has(
        "ALTER VIRTUAL CLUSTER main",
        &["\"EOF\"", "START SERVICE SHARED"],
    );
    err_has(
        "ALTER VIRTUAL CLUSTER main FROB",
        &["\"FROB\"", "STOP SERVICE"],
    );
    err_has(
        "ALTER VIRTUAL CLUSTER main START SERVICE EXTERNAL",
        &["\"EXTERNAL\"", "expected SHARED"],
    );
    err_has(
        "ALTER VIRTUAL CLUSTER main RENAME TO",
        &["expected new virtual cluster name"],
    );
    err_has(
        "ALTER VIRTUAL CLUSTER main COMPLETE REPLICATION TO NOW",
        &["\"NOW\"", "LATEST or SYSTEM TIME"],
    );
    err_has(
        "ALTER VIRTUAL CLUSTER main SET REPLICATION RETENTION = 36",
        &["\"36\"", "retention interval"],
    );
    err_has(
        "ALTER VIRTUAL CLUSTER main STOP SERVICE NOW",
        &["\"NOW\"", "expected ; or end of input"],
    );
}

// ---- DROP VIRTUAL CLUSTER -----------------------------------------------------------------------

#[test]
fn drop_virtual_cluster() {
    let drop = |name: &str, if_exists: bool, immediate: bool| S::DropVirtualCluster {
        name: name.into(),
        if_exists,
        immediate,
    };
    assert_eq!(one("DROP VIRTUAL CLUSTER app"), drop("app", false, false));
    assert_eq!(
        one("drop virtual cluster if exists App immediate"),
        drop("app", true, true)
    );
    assert_eq!(
        one("DROP TENANT \"x-readonly\" IMMEDIATE;"),
        drop("x-readonly", false, true)
    );
    assert_eq!(
        one("DROP VIRTUAL CLUSTER IF EXISTS a"),
        drop("a", true, false)
    );
    err_has("DROP VIRTUAL CLUSTER", &["expected virtual cluster name"]);
    err_has(
        "DROP VIRTUAL CLUSTER IF EXISTS",
        &["\"EOF\"", "expected virtual cluster name"],
    );
    err_has(
        "DROP VIRTUAL CLUSTER a CASCADE",
        &["\"CASCADE\"", "expected ; or end of input"],
    );
}

// ---- cluster settings ---------------------------------------------------------------------------

#[test]
fn set_cluster_setting() {
    let set = |sql: &str| match one(sql) {
        S::SetClusterSetting { name, value } => (name, value),
        s => panic!("{sql}: {s:?}"),
    };
    assert_eq!(
        set("SET CLUSTER SETTING kv.rangefeed.enabled = true"),
        (
            "kv.rangefeed.enabled".into(),
            Some(SettingValue::Bool(true))
        )
    );
    assert_eq!(
        set("set cluster setting KV.Rangefeed.Enabled to FALSE;"),
        (
            "kv.rangefeed.enabled".into(),
            Some(SettingValue::Bool(false))
        )
    );
    assert_eq!(
        set("SET CLUSTER SETTING kv.rangefeed.enabled='true'"),
        (
            "kv.rangefeed.enabled".into(),
            Some(SettingValue::String("true".into()))
        )
    );
    assert_eq!(
        set("SET CLUSTER SETTING server.controller.default_target_cluster='main'"),
        (
            "server.controller.default_target_cluster".into(),
            Some(SettingValue::String("main".into()))
        )
    );
    assert_eq!(
        set("SET CLUSTER SETTING a.b = 42"),
        ("a.b".into(), Some(SettingValue::Number("42".into())))
    );
    assert_eq!(
        set("SET CLUSTER SETTING a.b = -1.5"),
        ("a.b".into(), Some(SettingValue::Number("-1.5".into())))
    );
    assert_eq!(
        set("SET CLUSTER SETTING a.b = +7"),
        ("a.b".into(), Some(SettingValue::Number("7".into())))
    );
    assert_eq!(
        set("SET CLUSTER SETTING a.b = on"),
        ("a.b".into(), Some(SettingValue::Ident("on".into())))
    );
    assert_eq!(
        set("SET CLUSTER SETTING a.b = \"Mixed\""),
        ("a.b".into(), Some(SettingValue::Ident("Mixed".into())))
    );
    assert_eq!(
        set("SET CLUSTER SETTING a.b = DEFAULT"),
        ("a.b".into(), None)
    );
    assert_eq!(
        set("SET CLUSTER SETTING a.b TO default"),
        ("a.b".into(), None)
    );
    assert_eq!(set("RESET CLUSTER SETTING a.b"), ("a.b".into(), None));
    assert_eq!(
        set("SET CLUSTER SETTING sql.defaults.default_int_size = 8"),
        (
            "sql.defaults.default_int_size".into(),
            Some(SettingValue::Number("8".into()))
        )
    );
    assert_eq!(
        set("SET CLUSTER SETTING a.b = '1h'"),
        ("a.b".into(), Some(SettingValue::String("1h".into())))
    );
    assert_eq!(SettingValue::Number("-5".into()).to_string(), "-5");
}

#[test]
fn set_cluster_setting_errors() {
    err_has(
        "SET CLUSTER SETTING",
        &["\"EOF\"", "expected cluster setting name"],
    );
    err_has("SET CLUSTER SETTING a.b", &["\"EOF\"", "expected = or TO"]);
    err_has("SET CLUSTER SETTING a.b 5", &["\"5\"", "expected = or TO"]);
    err_has(
        "SET CLUSTER SETTING a.b =",
        &["\"EOF\"", "expected a setting value"],
    );
    err_has(
        "SET CLUSTER SETTING a. = 1",
        &["\"=\"", "expected cluster setting name"],
    );
    err_has(
        "SET CLUSTER SETTING a.b = - x",
        &["\"x\"", "expected a number"],
    );
    err_has(
        "SET CLUSTER SETTING a.b = 1 2",
        &["\"2\"", "expected ; or end of input"],
    );
    err_has(
        "SET CLUSTER SETTING a.b = 'unterminated",
        &["\"'unterminated\"", "unterminated string"],
    );
}

#[test]
fn show_cluster_settings() {
    assert_eq!(
        one("SHOW CLUSTER SETTING kv.rangefeed.enabled"),
        S::ShowClusterSetting {
            name: "kv.rangefeed.enabled".into()
        }
    );
    assert_eq!(
        one("show cluster setting Server.Controller.Default_Target_Cluster;"),
        S::ShowClusterSetting {
            name: "server.controller.default_target_cluster".into()
        }
    );
    assert_eq!(
        one("SHOW CLUSTER SETTINGS"),
        S::ShowClusterSettings { all: false }
    );
    assert_eq!(
        one("SHOW PUBLIC CLUSTER SETTINGS"),
        S::ShowClusterSettings { all: false }
    );
    assert_eq!(
        one("show all cluster settings"),
        S::ShowClusterSettings { all: true }
    );
    err_has("SHOW CLUSTER SETTING", &["expected cluster setting name"]);
    err_has(
        "SHOW CLUSTER SETTINGS extra",
        &["\"extra\"", "expected ; or end of input"],
    );
    // `SHOW ALL` and `SHOW x` stay PostgreSQL's.
    is_pg("SHOW ALL");
    is_pg("SHOW search_path");
}

// ---- users and roles ----------------------------------------------------------------------------

#[test]
fn create_user_and_role() {
    assert_eq!(
        one("CREATE USER u"),
        S::CreateUser {
            name: "u".into(),
            if_not_exists: false,
            options: RoleOptions::default(),
            is_role: false
        }
    );
    assert_eq!(
        one("CREATE USER repl WITH PASSWORD 'secret'"),
        S::CreateUser {
            name: "repl".into(),
            if_not_exists: false,
            options: RoleOptions {
                password: Some(Some("secret".into())),
                ..Default::default()
            },
            is_role: false
        }
    );
    assert_eq!(
        one("create role if not exists \"Admins\" nologin createrole nocreatedb"),
        S::CreateUser {
            name: "Admins".into(),
            if_not_exists: true,
            options: RoleOptions {
                login: Some(false),
                create_role: Some(true),
                create_db: Some(false),
                ..Default::default()
            },
            is_role: true
        }
    );
    assert_eq!(
        one("CREATE USER Bob LOGIN CREATEDB NOCREATEROLE PASSWORD NULL VALID UNTIL '2030-01-01'"),
        S::CreateUser {
            name: "bob".into(),
            if_not_exists: false,
            options: RoleOptions {
                password: Some(None),
                login: Some(true),
                create_role: Some(false),
                create_db: Some(true),
                valid_until: Some("2030-01-01".into()),
            },
            is_role: false
        }
    );
    assert_eq!(
        one("CREATE ROLE r WITH LOGIN PASSWORD 'it''s'"),
        S::CreateUser {
            name: "r".into(),
            if_not_exists: false,
            options: RoleOptions {
                password: Some(Some("it's".into())),
                login: Some(true),
                ..Default::default()
            },
            is_role: true
        }
    );
}

#[test]
fn alter_and_drop_user() {
    assert_eq!(
        one("ALTER USER u WITH PASSWORD 'new'"),
        S::AlterUser {
            name: "u".into(),
            if_exists: false,
            options: RoleOptions {
                password: Some(Some("new".into())),
                ..Default::default()
            }
        }
    );
    assert_eq!(
        one("alter role if exists R nologin"),
        S::AlterUser {
            name: "r".into(),
            if_exists: true,
            options: RoleOptions {
                login: Some(false),
                ..Default::default()
            }
        }
    );
    assert_eq!(
        one("ALTER USER \"Quoted\" CREATEROLE CREATEDB"),
        S::AlterUser {
            name: "Quoted".into(),
            if_exists: false,
            options: RoleOptions {
                create_role: Some(true),
                create_db: Some(true),
                ..Default::default()
            }
        }
    );
    assert_eq!(
        one("DROP USER a, B, \"C\""),
        S::DropUser {
            names: strings(&["a", "b", "C"]),
            if_exists: false
        }
    );
    assert_eq!(
        one("drop role if exists r;"),
        S::DropUser {
            names: strings(&["r"]),
            if_exists: true
        }
    );
    // ALTER ROLE ... RENAME TO / SET stay PostgreSQL's.
    is_pg("ALTER ROLE a RENAME TO b");
    is_pg("ALTER USER a SET search_path = 'x'");
}

#[test]
fn user_errors() {
    err_has("CREATE USER", &["\"EOF\"", "expected user name"]);
    err_has("CREATE ROLE", &["\"EOF\"", "expected role name"]);
    err_has("CREATE USER with", &["\"with\"", "expected user name"]);
    err_has("CREATE USER u WITH", &["\"EOF\"", "expected a role option"]);
    err_has(
        "CREATE USER u SUPERUSER",
        &["\"SUPERUSER\"", "expected a role option"],
    );
    err_has("CREATE USER u PASSWORD", &["\"EOF\"", "expected password"]);
    err_has(
        "CREATE USER u PASSWORD secret",
        &["\"secret\"", "expected password (a string literal)"],
    );
    err_has(
        "CREATE USER u LOGIN NOLOGIN",
        &["\"NOLOGIN\"", "conflicting or redundant"],
    );
    err_has(
        "CREATE USER u VALID '2030'",
        &["\"'2030'\"", "expected UNTIL"],
    );
    err_has("ALTER USER u", &["\"EOF\"", "expected a role option"]);
    err_has("DROP USER", &["expected user name"]);
    err_has("DROP USER a,", &["\"EOF\"", "expected user name"]);
    err_has("DROP ROLE a b", &["\"b\"", "expected ; or end of input"]);
}

// ---- privileges and role membership -------------------------------------------------------------

#[test]
fn grant_and_revoke_system() {
    assert_eq!(
        one("GRANT SYSTEM REPLICATION TO u"),
        S::GrantSystem {
            privileges: vec![P::Replication],
            grantees: strings(&["u"])
        }
    );
    assert_eq!(
        one("grant system managevirtualcluster, ModifyClusterSetting to a, \"B\";"),
        S::GrantSystem {
            privileges: vec![P::ManageVirtualCluster, P::ModifyClusterSetting],
            grantees: strings(&["a", "B"])
        }
    );
    assert_eq!(
        one("GRANT SYSTEM ALL TO root2"),
        S::GrantSystem {
            privileges: vec![P::All],
            grantees: strings(&["root2"])
        }
    );
    assert_eq!(
        one("GRANT SYSTEM ALL PRIVILEGES TO x"),
        S::GrantSystem {
            privileges: vec![P::All],
            grantees: strings(&["x"])
        }
    );
    assert_eq!(
        one("REVOKE SYSTEM VIEWACTIVITY, CANCELQUERY FROM u"),
        S::RevokeSystem {
            privileges: vec![P::ViewActivity, P::CancelQuery],
            grantees: strings(&["u"])
        }
    );
    assert_eq!(
        one("revoke system createrole, createdb, viewsystemtable, viewclustersetting from a, b"),
        S::RevokeSystem {
            privileges: vec![
                P::CreateRole,
                P::CreateDb,
                P::ViewSystemTable,
                P::ViewClusterSetting
            ],
            grantees: strings(&["a", "b"])
        }
    );
}

#[test]
fn grant_system_errors() {
    let e = err_has(
        "GRANT SYSTEM REPLICATIONSOURCE TO u",
        &[
            "\"REPLICATIONSOURCE\"",
            "unknown system privilege \"REPLICATIONSOURCE\"",
            "REPLICATION",
        ],
    );
    assert_eq!(e.position, Some(14));
    err_has(
        "GRANT SYSTEM frobnicate TO u",
        &["unknown system privilege \"FROBNICATE\""],
    );
    err_has("GRANT SYSTEM TO u", &["unknown system privilege \"TO\""]);
    err_has("GRANT SYSTEM", &["\"EOF\"", "expected a system privilege"]);
    err_has("GRANT SYSTEM REPLICATION u", &["\"u\"", "expected TO"]);
    err_has(
        "GRANT SYSTEM REPLICATION TO",
        &["\"EOF\"", "expected user name"],
    );
    err_has(
        "REVOKE SYSTEM REPLICATION TO u",
        &["\"TO\"", "expected FROM"],
    );
}

#[test]
fn grant_and_revoke_roles() {
    assert_eq!(
        one("GRANT admin TO u"),
        S::GrantRole {
            roles: strings(&["admin"]),
            members: strings(&["u"]),
            with_admin: false
        }
    );
    assert_eq!(
        one("grant Readers, \"Writers\" to a, b with admin option"),
        S::GrantRole {
            roles: strings(&["readers", "Writers"]),
            members: strings(&["a", "b"]),
            with_admin: true
        }
    );
    assert_eq!(
        one("REVOKE admin FROM u"),
        S::RevokeRole {
            roles: strings(&["admin"]),
            members: strings(&["u"])
        }
    );
    assert_eq!(
        one("revoke r1, r2 from m1, m2;"),
        S::RevokeRole {
            roles: strings(&["r1", "r2"]),
            members: strings(&["m1", "m2"])
        }
    );
    err_has(
        "GRANT admin TO u WITH GRANT OPTION",
        &["\"WITH\"", "expected ; or end of input"],
    );
}

#[test]
fn object_grants_go_to_sqlparser() {
    for sql in [
        "GRANT SELECT ON t TO u",
        "GRANT SELECT, INSERT ON TABLE t TO u",
        "GRANT ALL PRIVILEGES ON DATABASE d TO u",
        "grant usage on schema s to u",
        "REVOKE SELECT ON t FROM u",
        "REVOKE ALL ON TABLE t FROM u",
    ] {
        assert!(
            matches!(
                is_pg(sql),
                sqlparser::ast::Statement::Grant { .. } | sqlparser::ast::Statement::Revoke { .. }
            ),
            "{sql}"
        );
    }
}

// ---- SHOW users / grants / databases / tables ---------------------------------------------------

#[test]
fn show_misc() {
    assert_eq!(one("SHOW USERS"), S::ShowUsers);
    assert_eq!(one("show roles;"), S::ShowUsers);
    assert_eq!(
        one("SHOW SYSTEM GRANTS"),
        S::ShowSystemGrants { users: None }
    );
    assert_eq!(
        one("show system grants for a, \"B\""),
        S::ShowSystemGrants {
            users: Some(strings(&["a", "B"]))
        }
    );
    assert_eq!(one("SHOW DATABASES"), S::ShowDatabases);
    assert_eq!(one("show databases;"), S::ShowDatabases);
    assert_eq!(one("SHOW TABLES"), S::ShowTables { database: None });
    assert_eq!(
        one("SHOW TABLES FROM Bank"),
        S::ShowTables {
            database: Some("bank".into())
        }
    );
    assert_eq!(
        one("show tables from \"Db\".public"),
        S::ShowTables {
            database: Some("Db.public".into())
        }
    );
    err_has("SHOW SYSTEM GRANTS FOR", &["\"EOF\"", "expected user name"]);
    err_has("SHOW TABLES FROM", &["\"EOF\"", "expected database name"]);
    err_has(
        "SHOW TABLES IN db",
        &["\"IN\"", "expected ; or end of input"],
    );
    err_has("SHOW USERS now", &["\"now\""]);
}

// ---- fingerprints -------------------------------------------------------------------------------

#[test]
fn show_fingerprints() {
    assert_eq!(
        one("SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER main"),
        S::ShowFingerprints {
            name: "main".into(),
            as_of: None
        }
    );
    assert_eq!(
        one("show experimental_fingerprints from virtual cluster Main as of system time '-10s'"),
        S::ShowFingerprints {
            name: "main".into(),
            as_of: Some("-10s".into())
        }
    );
    assert_eq!(
        one(
            "SHOW EXPERIMENTAL_FINGERPRINTS FROM TENANT standbymain AS OF SYSTEM TIME 1700000000000000000.0000000001;"
        ),
        S::ShowFingerprints {
            name: "standbymain".into(),
            as_of: Some("1700000000000000000.0000000001".into())
        }
    );
    assert_eq!(
        one(
            "SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER a AS OF SYSTEM TIME follower_read_timestamp( )"
        ),
        S::ShowFingerprints {
            name: "a".into(),
            as_of: Some("follower_read_timestamp( )".into())
        }
    );
    err_has(
        "SHOW EXPERIMENTAL_FINGERPRINTS FROM TABLE t",
        &["\"TABLE\"", "expected VIRTUAL CLUSTER"],
    );
    err_has(
        "SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER",
        &["expected virtual cluster name"],
    );
    err_has(
        "SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER a AS OF SYSTEM TIME",
        &["\"EOF\"", "expected a timestamp expression"],
    );
    err_has(
        "SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER a AS OF TIME '1'",
        &["\"TIME\"", "expected SYSTEM"],
    );
}

#[test]
fn fingerprints_expression_then_more_statements() {
    let v = parse(
        "SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER a AS OF SYSTEM TIME '2024-01-01'::TIMESTAMP ; SELECT 1",
    )
    .unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(
        v[0],
        S::ShowFingerprints {
            name: "a".into(),
            as_of: Some("'2024-01-01'::TIMESTAMP".into())
        }
    );
    assert!(matches!(v[1], S::Pg(_)));
}

// ---- PostgreSQL statements ----------------------------------------------------------------------

#[test]
fn postgres_statements_fall_through() {
    for sql in [
        "CREATE DATABASE bank",
        "CREATE TABLE t (id INT PRIMARY KEY, v STRING)",
        "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BYTEA)",
        "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
        "SELECT * FROM t WHERE id = $1",
        "SELECT count(*) FROM t GROUP BY v ORDER BY 1 LIMIT 10",
        "UPDATE t SET v = 'x' WHERE id = 1",
        "DELETE FROM t WHERE id = 1 RETURNING id",
        "BEGIN",
        "START TRANSACTION",
        "COMMIT",
        "ROLLBACK",
        "SET application_name = 'psql'",
        "SET search_path TO public",
        "SHOW search_path",
        "SHOW ALL",
        "DROP TABLE t",
        "DROP DATABASE IF EXISTS bank",
        "CREATE INDEX ON t (v)",
        "ALTER TABLE t ADD COLUMN w INT",
        "EXPLAIN SELECT 1",
        "select 1",
    ] {
        is_pg(sql);
    }
}

#[test]
fn postgres_errors_are_translated() {
    let e = err("SELEC 1");
    assert!(
        e.message
            .starts_with("at or near \"SELEC\": syntax error: expected"),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(1));
    let e = err("SELECT * FROM");
    assert!(
        e.message.starts_with("at or near \"EOF\": syntax error"),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(14));
    let e = err("SELECT 1 2");
    assert!(e.message.contains("\"2\""), "{}", e.message);
    assert_eq!(e.position, Some(10));
}

// ---- multiple statements, errors ----------------------------------------------------------------

#[test]
fn multiple_statements_mixed() {
    let v = parse(
        "CREATE USER u WITH PASSWORD 'p'; GRANT SYSTEM REPLICATION TO u;\n\
         SET CLUSTER SETTING kv.rangefeed.enabled = true; SELECT 1; \
         SHOW VIRTUAL CLUSTERS; insert into t values (1); show virtual cluster main with replication status",
    )
    .unwrap();
    assert_eq!(v.len(), 7);
    assert!(matches!(v[0], S::CreateUser { .. }));
    assert!(matches!(v[1], S::GrantSystem { .. }));
    assert!(matches!(v[2], S::SetClusterSetting { .. }));
    assert!(matches!(v[3], S::Pg(_)));
    assert_eq!(v[4], show_vc(None, false, false));
    assert!(matches!(v[5], S::Pg(_)));
    assert_eq!(v[6], show_vc(Some("main"), true, false));

    let v = parse(";;SELECT 1;;;SHOW USERS;;").unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[1], S::ShowUsers);

    let v = parse(
        "CREATE VIRTUAL CLUSTER template; ALTER VIRTUAL CLUSTER application START SERVICE SHARED; \
         SET CLUSTER SETTING server.controller.default_target_cluster='application'",
    )
    .unwrap();
    assert_eq!(v.len(), 3);
}

#[test]
fn error_in_a_later_statement() {
    let e = err("SELECT 1; SHOW VIRTUAL CLUSTER; SELECT 2");
    assert_eq!(
        e.message,
        "at or near \";\": syntax error: expected virtual cluster name"
    );
    assert_eq!(e.position, Some(31));
    // Two statements without a separator.
    let e = err("SHOW USERS SELECT 1");
    assert_eq!(
        e.message,
        "at or near \"SELECT\": syntax error: expected ; or end of input"
    );
    assert_eq!(e.position, Some(12));
    // (PostgreSQL reads `SHOW` as a column alias here, as sqlparser does.)
    let e = err("SELECT 1 SHOW USERS");
    assert!(
        e.message.starts_with("at or near \"USERS\""),
        "{}",
        e.message
    );
}

#[test]
fn unterminated_strings_and_identifiers() {
    let e = err("CREATE VIRTUAL CLUSTER a FROM REPLICATION OF b ON 'postgres://x");
    assert!(
        e.message.contains("unterminated string literal"),
        "{}",
        e.message
    );
    assert!(
        e.message.starts_with("at or near \"'postgres://x\""),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(51));
    let e = err("SELECT 'abc");
    assert!(
        e.message.contains("unterminated string literal"),
        "{}",
        e.message
    );
    assert_eq!(e.position, Some(8));
    let e = err("SHOW VIRTUAL CLUSTER \"abc");
    assert!(e.message.contains("syntax error"), "{}", e.message);
}

#[test]
fn positions_count_characters_across_lines() {
    let e = err("SELECT 'é';\nSHOW VIRTUAL CLUSTERS garbage");
    assert_eq!(e.position, Some(35));
    let sql: Vec<char> = "SELECT 'é';\nSHOW VIRTUAL CLUSTERS garbage"
        .chars()
        .collect();
    assert_eq!(sql[34], 'g');
}

#[test]
fn parse_one_requires_exactly_one() {
    assert_eq!(parse_one("SHOW USERS;").unwrap(), S::ShowUsers);
    assert!(parse_one("").is_err());
    assert!(parse_one(";").is_err());
    let e = parse_one("SHOW USERS; SHOW ROLES").unwrap_err();
    assert!(e.message.contains("exactly one"), "{}", e.message);
}

#[test]
fn reserved_words_need_quotes() {
    err_has(
        "CREATE VIRTUAL CLUSTER select",
        &["\"select\"", "expected virtual cluster name"],
    );
    assert_eq!(
        one("CREATE VIRTUAL CLUSTER \"select\""),
        S::CreateVirtualCluster {
            name: "select".into(),
            if_not_exists: false,
            like: None,
            replication: None
        }
    );
    err_has("DROP USER user", &["\"user\"", "expected user name"]);
}
