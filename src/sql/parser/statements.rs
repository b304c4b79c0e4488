//! tandem's own statements (virtual clusters, cluster settings, users and roles, system
//! privileges, fingerprints), parsed from the token cursor. [`P::ours`] claims a statement only
//! by its first tokens; everything it does not claim goes to `sqlparser` untouched.

use super::*;

impl<'a> P<'a> {
    /// `VACUUM [FULL] [FREEZE] [VERBOSE] [ANALYZE] [(options)] [table [(columns)], ...]` and
    /// `ANALYZE [VERBOSE] [table [(columns)], ...]`.
    fn maintenance(&mut self) -> R<Statement> {
        let vacuum = self.peek_is(0, "VACUUM");
        self.advance(1);
        if matches!(self.peek(0), Token::LParen) {
            while !matches!(self.peek(0), Token::RParen | Token::EOF) {
                self.advance(1);
            }
            self.advance(1);
        }
        while ["FULL", "FREEZE", "VERBOSE", "ANALYZE", "ANALYSE"]
            .iter()
            .any(|w| self.peek_is(0, w))
        {
            self.advance(1);
        }
        let mut tables = Vec::new();
        while !self.at_end() {
            let t = self
                .p
                .parse_object_name(false)
                .map_err(|e| ParseError::from_sqlparser(self.sql, e))?;
            tables.push(t);
            if matches!(self.peek(0), Token::LParen) {
                while !matches!(self.peek(0), Token::RParen | Token::EOF) {
                    self.advance(1);
                }
                self.advance(1);
            }
            if matches!(self.peek(0), Token::Comma) {
                self.advance(1);
            } else {
                break;
            }
        }
        Ok(Statement::Maintenance { vacuum, tables })
    }

    /// Parses one of tandem's own statements if the next tokens start one; `None` (nothing
    /// consumed) for everything `sqlparser` should handle. Dispatches on the first word.
    pub(super) fn ours(&mut self) -> R<Option<Statement>> {
        if self.peek_is(0, "VACUUM") || self.peek_is(0, "ANALYZE") || self.peek_is(0, "ANALYSE") {
            return self.maintenance().map(Some);
        }
        if self.peek_is(0, "SHOW") {
            self.show_ours()
        } else if self.peek_is(0, "CREATE") {
            self.create_ours()
        } else if self.peek_is(0, "ALTER") {
            self.alter_ours()
        } else if self.peek_is(0, "DROP") {
            self.drop_ours()
        } else if self.peek_seq(&["SET", "CLUSTER", "SETTING"]) {
            self.advance(3);
            let name = self.dotted_name("cluster setting name")?;
            if !self.p.consume_token(&Token::Eq) && !self.eat("TO") {
                return Err(self.err_next("expected = or TO"));
            }
            let value = self.setting_value()?;
            Ok(Some(Statement::SetClusterSetting { name, value }))
        } else if self.peek_seq(&["RESET", "CLUSTER", "SETTING"]) {
            self.advance(3);
            let name = self.dotted_name("cluster setting name")?;
            Ok(Some(Statement::SetClusterSetting { name, value: None }))
        } else if self.peek_is(0, "GRANT") {
            self.grant_ours()
        } else if self.peek_is(0, "REVOKE") {
            self.revoke_ours()
        } else {
            Ok(None)
        }
    }

    /// `VIRTUAL ...` / `TENANT` at token `n`: claimed, then `vc_words` requires `CLUSTER`.
    fn vc_at(&self, n: usize) -> bool {
        self.peek_is(n, "VIRTUAL") || self.peek_is(n, "TENANT")
    }

    /// `USER` or `ROLE` at token `n`.
    fn user_at(&self, n: usize) -> bool {
        self.peek_is(n, "USER") || self.peek_is(n, "ROLE")
    }

    /// `SHOW INDEXES FROM t`, `SHOW [VIRTUAL] CLUSTER(S)`, cluster settings, users, grants,
    /// databases, tables, jobs and fingerprints.
    fn show_ours(&mut self) -> R<Option<Statement>> {
        if (self.peek_is(1, "INDEXES") || self.peek_is(1, "INDEX") || self.peek_is(1, "KEYS"))
            && self.peek_is(2, "FROM")
        {
            self.advance(3);
            let table = self
                .p
                .parse_object_name(false)
                .map_err(|e| ParseError::from_sqlparser(self.sql, e))?;
            return Ok(Some(Statement::ShowIndexes { table }));
        }
        Ok(Some(if self.peek_seq(&["SHOW", "VIRTUAL", "CLUSTERS"]) {
            self.advance(3);
            self.show_virtual_clusters(true)?
        } else if self.peek_seq(&["SHOW", "TENANTS"]) {
            self.advance(2);
            self.show_virtual_clusters(true)?
        } else if self.vc_at(1) {
            self.advance(1);
            self.vc_words()?;
            self.show_virtual_clusters(false)?
        } else if self.peek_is(1, "CLUSTER") {
            self.advance(2);
            if self.eat("SETTING") {
                let name = self.dotted_name("cluster setting name")?;
                Statement::ShowClusterSetting { name }
            } else if self.eat("SETTINGS") {
                Statement::ShowClusterSettings { all: false }
            } else {
                return Err(self.err_next("expected SETTING or SETTINGS"));
            }
        } else if self.peek_seq(&["SHOW", "ALL", "CLUSTER", "SETTINGS"]) {
            self.advance(4);
            Statement::ShowClusterSettings { all: true }
        } else if self.peek_seq(&["SHOW", "PUBLIC", "CLUSTER", "SETTINGS"]) {
            self.advance(4);
            Statement::ShowClusterSettings { all: false }
        } else if self.peek_is(1, "USERS") || self.peek_is(1, "ROLES") {
            self.advance(2);
            Statement::ShowUsers
        } else if self.peek_is(1, "SYSTEM") {
            self.advance(2);
            self.expect("GRANTS")?;
            let users = if self.eat("FOR") {
                Some(self.name_list("user name")?)
            } else {
                None
            };
            Statement::ShowSystemGrants { users }
        } else if self.peek_is(1, "DATABASES") {
            self.advance(2);
            Statement::ShowDatabases
        } else if self.peek_is(1, "TABLES") {
            self.advance(2);
            let database = if self.eat("FROM") {
                let mut parts = vec![self.name("database name")?];
                if self.p.consume_token(&Token::Period) {
                    parts.push(self.name("schema name")?);
                }
                Some(parts.join("."))
            } else {
                None
            };
            Statement::ShowTables { database }
        } else if self.peek_is(1, "JOBS") {
            self.advance(2);
            Statement::ShowJobs
        } else if self.peek_is(1, "EXPERIMENTAL_FINGERPRINTS") {
            self.advance(2);
            self.show_fingerprints()?
        } else {
            return Ok(None);
        }))
    }

    /// `CREATE VIRTUAL CLUSTER` and `CREATE USER|ROLE`.
    fn create_ours(&mut self) -> R<Option<Statement>> {
        Ok(Some(if self.vc_at(1) {
            self.advance(1);
            self.vc_words()?;
            self.create_virtual_cluster()?
        } else if self.user_at(1) {
            let is_role = self.peek_is(1, "ROLE");
            self.advance(2);
            let if_not_exists = self.eat_seq(&["IF", "NOT", "EXISTS"]);
            let name = self.name(if is_role { "role name" } else { "user name" })?;
            let options = self.role_options(false)?;
            Statement::CreateUser {
                name,
                if_not_exists,
                options,
                is_role,
            }
        } else {
            return Ok(None);
        }))
    }

    /// `ALTER TABLE t SPLIT AT` / `SCATTER`, `ALTER VIRTUAL CLUSTER` and `ALTER USER|ROLE` with
    /// role options (its other forms are PostgreSQL's).
    fn alter_ours(&mut self) -> R<Option<Statement>> {
        if self.peek_is(1, "TABLE") {
            return self.alter_table_ranges();
        }
        Ok(Some(if self.vc_at(1) {
            self.advance(1);
            self.vc_words()?;
            let name = self.name("virtual cluster name")?;
            let action = self.alter_virtual_cluster_action()?;
            Statement::AlterVirtualCluster { name, action }
        } else if self.user_at(1) {
            // ALTER USER x RENAME TO / SET / RESET and ALTER ROLE ALL ... are PostgreSQL's.
            let name_at = if self.peek_is(2, "IF") && self.peek_is(3, "EXISTS") {
                4
            } else {
                2
            };
            if self.peek_is(name_at, "ALL")
                || ["RENAME", "SET", "RESET"]
                    .iter()
                    .any(|w| self.peek_is(name_at + 1, w))
            {
                return Ok(None);
            }
            let what = if self.peek_is(1, "ROLE") {
                "role name"
            } else {
                "user name"
            };
            self.advance(2);
            let if_exists = self.eat_seq(&["IF", "EXISTS"]);
            let name = self.name(what)?;
            let options = self.role_options(true)?;
            Statement::AlterUser {
                name,
                if_exists,
                options,
            }
        } else {
            return Ok(None);
        }))
    }

    /// `ALTER TABLE <name> SPLIT AT VALUES ...` / `SCATTER ...`; `None` for other `ALTER TABLE`s.
    fn alter_table_ranges(&mut self) -> R<Option<Statement>> {
        // ALTER TABLE <name> SPLIT AT VALUES ... / SCATTER ...: find the word after the name.
        let mut n = 2;
        while matches!(self.peek(n), Token::Word(_) | Token::Period) {
            n += 1;
            if self.peek_is(n, "SPLIT") || self.peek_is(n, "SCATTER") {
                break;
            }
            if self.peek_is(n, "ALTER") && self.peek_is(n + 1, "PRIMARY") {
                return self.alter_primary_key().map(Some);
            }
        }
        if self.peek_is(n, "SPLIT") && self.peek_is(n + 1, "AT") {
            self.advance(2);
            let table = self
                .p
                .parse_object_name(false)
                .map_err(|e| ParseError::from_sqlparser(self.sql, e))?;
            self.advance(2);
            let q = self
                .p
                .parse_query()
                .map_err(|e| ParseError::from_sqlparser(self.sql, e))?;
            let sqlparser::ast::SetExpr::Values(v) = *q.body else {
                return Err(self.err_next("expected VALUES after SPLIT AT"));
            };
            return Ok(Some(Statement::AlterTableSplitAt {
                table,
                rows: v.rows.into_iter().map(|r| r.to_vec()).collect(),
            }));
        }
        if self.peek_is(n, "SCATTER") {
            self.advance(2);
            let table = self
                .p
                .parse_object_name(false)
                .map_err(|e| ParseError::from_sqlparser(self.sql, e))?;
            self.advance(1);
            // Skip an optional FROM (...) TO (...).
            while !matches!(self.peek(0), Token::SemiColon | Token::EOF) {
                self.p.advance_token();
            }
            return Ok(Some(Statement::AlterTableScatter { table }));
        }
        Ok(None)
    }

    /// `ALTER TABLE [IF EXISTS] <name> ALTER PRIMARY KEY USING COLUMNS (col [ASC|DESC], ...)`.
    fn alter_primary_key(&mut self) -> R<Statement> {
        self.advance(2);
        let if_exists = self.eat_seq(&["IF", "EXISTS"]);
        let table = self
            .p
            .parse_object_name(false)
            .map_err(|e| ParseError::from_sqlparser(self.sql, e))?;
        self.expect_seq(&["ALTER", "PRIMARY", "KEY", "USING", "COLUMNS"])?;
        if !self.p.consume_token(&Token::LParen) {
            return Err(self.err_next("expected ("));
        }
        let mut columns = Vec::new();
        loop {
            let name = self.name("column name")?;
            let desc = if self.eat("DESC") {
                true
            } else {
                self.eat("ASC");
                false
            };
            columns.push((name, desc));
            if !self.p.consume_token(&Token::Comma) {
                break;
            }
        }
        if !self.p.consume_token(&Token::RParen) {
            return Err(self.err_next("expected , or )"));
        }
        let hash = self.peek_is(0, "USING") && self.peek_is(1, "HASH");
        if hash {
            // Refused at execution (0A000) whatever its options say.
            while !self.at_end() {
                self.p.advance_token();
            }
        }
        self.expect_end()?;
        Ok(Statement::AlterPrimaryKey {
            table,
            if_exists,
            columns,
            hash,
        })
    }

    /// `DROP VIRTUAL CLUSTER` and `DROP USER|ROLE`.
    fn drop_ours(&mut self) -> R<Option<Statement>> {
        Ok(Some(if self.vc_at(1) {
            self.advance(1);
            self.vc_words()?;
            let if_exists = self.eat_seq(&["IF", "EXISTS"]);
            let name = self.name("virtual cluster name")?;
            let immediate = self.eat("IMMEDIATE");
            Statement::DropVirtualCluster {
                name,
                if_exists,
                immediate,
            }
        } else if self.user_at(1) {
            let what = if self.peek_is(1, "ROLE") {
                "role name"
            } else {
                "user name"
            };
            self.advance(2);
            let if_exists = self.eat_seq(&["IF", "EXISTS"]);
            let names = self.name_list(what)?;
            Statement::DropUser { names, if_exists }
        } else {
            return Ok(None);
        }))
    }

    /// `GRANT SYSTEM ...` and role membership grants.
    fn grant_ours(&mut self) -> R<Option<Statement>> {
        Ok(Some(if self.peek_is(1, "SYSTEM") {
            self.advance(2);
            let privileges = self.system_privileges()?;
            self.expect("TO")?;
            let grantees = self.name_list("user name")?;
            Statement::GrantSystem {
                privileges,
                grantees,
            }
        } else if self.role_form("TO") {
            self.advance(1);
            let roles = self.name_list("role name")?;
            self.expect("TO")?;
            let members = self.name_list("user name")?;
            let with_admin = self.eat_seq(&["WITH", "ADMIN", "OPTION"]);
            Statement::GrantRole {
                roles,
                members,
                with_admin,
            }
        } else {
            return Ok(None);
        }))
    }

    /// `REVOKE SYSTEM ...` and role membership revokes (not `REVOKE ADMIN OPTION`).
    fn revoke_ours(&mut self) -> R<Option<Statement>> {
        Ok(Some(if self.peek_is(1, "SYSTEM") {
            self.advance(2);
            let privileges = self.system_privileges()?;
            self.expect("FROM")?;
            let grantees = self.name_list("user name")?;
            Statement::RevokeSystem {
                privileges,
                grantees,
            }
        } else if !self.peek_seq(&["REVOKE", "ADMIN", "OPTION"]) && self.role_form("FROM") {
            self.advance(1);
            let roles = self.name_list("role name")?;
            self.expect("FROM")?;
            let members = self.name_list("user name")?;
            Statement::RevokeRole { roles, members }
        } else {
            return Ok(None);
        }))
    }

    /// For `GRANT`/`REVOKE`: whether this is the role-membership form, i.e. no `ON` before the
    /// `TO`/`FROM` (`GRANT SELECT ON t TO u` is an object privilege grant for sqlparser).
    pub(super) fn role_form(&self, to: &str) -> bool {
        let mut i = 1;
        loop {
            match self.peek(i) {
                Token::SemiColon | Token::EOF => return false,
                t if is_word(t, "ON") => return false,
                t if is_word(t, to) => return i > 1,
                _ => i += 1,
            }
        }
    }

    // ---- virtual clusters ------------------------------------------------------------------

    /// `VIRTUAL CLUSTER` or `TENANT`.
    pub(super) fn vc_words(&mut self) -> R<()> {
        if self.eat("VIRTUAL") {
            self.expect("CLUSTER")
        } else if self.eat("TENANT") {
            Ok(())
        } else {
            Err(self.err_next("expected VIRTUAL CLUSTER"))
        }
    }

    /// After `SHOW VIRTUAL CLUSTERS` (`plural`) or `SHOW VIRTUAL CLUSTER`.
    pub(super) fn show_virtual_clusters(&mut self, plural: bool) -> R<Statement> {
        let name = if plural || self.eat("ALL") {
            None
        } else {
            Some(self.name("virtual cluster name")?)
        };
        let mut with_replication_status = false;
        let mut with_prior_replication_details = false;
        if self.eat("WITH") {
            loop {
                if self.eat("REPLICATION") {
                    self.expect("STATUS")?;
                    with_replication_status = true;
                } else if self.eat("PRIOR") {
                    self.expect_seq(&["REPLICATION", "DETAILS"])?;
                    with_prior_replication_details = true;
                } else {
                    return Err(
                        self.err_next("expected REPLICATION STATUS or PRIOR REPLICATION DETAILS")
                    );
                }
                if !self.p.consume_token(&Token::Comma) {
                    break;
                }
            }
        }
        Ok(Statement::ShowVirtualClusters {
            name,
            with_replication_status,
            with_prior_replication_details,
        })
    }

    /// After `CREATE VIRTUAL CLUSTER`.
    pub(super) fn create_virtual_cluster(&mut self) -> R<Statement> {
        let if_not_exists = self.eat_seq(&["IF", "NOT", "EXISTS"]);
        let name = self.name("virtual cluster name")?;
        let like = if self.eat("LIKE") {
            Some(self.name("template virtual cluster name")?)
        } else {
            None
        };
        let replication = if self.eat("FROM") {
            self.expect_seq(&["REPLICATION", "OF"])?;
            let source = self.name("source virtual cluster name")?;
            self.expect("ON")?;
            let uri = self.string("source cluster URI")?;
            let mut retention = None;
            if self.eat("WITH") {
                loop {
                    if self.peek_is(0, "RETENTION") {
                        if retention.is_some() {
                            return Err(self.err_next("RETENTION given twice"));
                        }
                        self.advance(1);
                        let _ = self.p.consume_token(&Token::Eq);
                        retention = Some(self.string("retention interval")?);
                    } else {
                        return Err(self.err_next("expected replication option RETENTION"));
                    }
                    if !self.p.consume_token(&Token::Comma) {
                        break;
                    }
                }
            }
            Some(ReplicationSource {
                source,
                uri,
                retention,
            })
        } else {
            None
        };
        Ok(Statement::CreateVirtualCluster {
            name,
            if_not_exists,
            like,
            replication,
        })
    }

    /// After `ALTER VIRTUAL CLUSTER x`.
    pub(super) fn alter_virtual_cluster_action(&mut self) -> R<AlterVirtualClusterAction> {
        use AlterVirtualClusterAction as A;
        Ok(if self.eat("START") {
            self.expect_seq(&["SERVICE", "SHARED"])?;
            A::StartServiceShared
        } else if self.eat("STOP") {
            self.expect("SERVICE")?;
            A::StopService
        } else if self.eat("RENAME") {
            self.expect("TO")?;
            A::RenameTo(self.name("new virtual cluster name")?)
        } else if self.eat("PAUSE") {
            self.expect("REPLICATION")?;
            A::PauseReplication
        } else if self.eat("RESUME") {
            self.expect("REPLICATION")?;
            A::ResumeReplication
        } else if self.eat("SET") {
            self.expect_seq(&["REPLICATION", "RETENTION"])?;
            let _ = self.p.consume_token(&Token::Eq);
            A::SetReplicationRetention(self.string("retention interval")?)
        } else if self.eat("COMPLETE") {
            self.expect_seq(&["REPLICATION", "TO"])?;
            if self.eat("LATEST") {
                A::CompleteReplicationToLatest
            } else if self.eat("SYSTEM") {
                self.expect("TIME")?;
                let ts = match self.peek(0) {
                    Token::Number(n, _) => {
                        let n = n.clone();
                        self.advance(1);
                        n
                    }
                    _ => self.string("timestamp")?,
                };
                A::CompleteReplicationToSystemTime(ts)
            } else {
                return Err(self.err_next("expected LATEST or SYSTEM TIME"));
            }
        } else {
            return Err(self.err_next(
                "expected START SERVICE SHARED, STOP SERVICE, RENAME TO, PAUSE REPLICATION, \
                 RESUME REPLICATION, SET REPLICATION RETENTION or COMPLETE REPLICATION",
            ));
        })
    }

    /// After `SHOW EXPERIMENTAL_FINGERPRINTS`.
    pub(super) fn show_fingerprints(&mut self) -> R<Statement> {
        self.expect("FROM")?;
        self.vc_words()?;
        let name = self.name("virtual cluster name")?;
        let as_of = if self.eat("AS") {
            self.expect_seq(&["OF", "SYSTEM", "TIME"])?;
            if Self::is_string(self.peek(0))
                && matches!(self.peek(1), Token::SemiColon | Token::EOF)
            {
                Some(self.string("timestamp")?)
            } else {
                let start_tok = self.p.peek_token_ref();
                if matches!(start_tok.token, Token::SemiColon | Token::EOF) {
                    return Err(self.err_next("expected a timestamp expression"));
                }
                let start = self.offset(start_tok.span.start);
                self.p
                    .parse_expr()
                    .map_err(|e| ParseError::from_sqlparser(self.sql, e))?;
                let next = self.p.peek_token_ref();
                let end = if next.token == Token::EOF {
                    self.sql.len()
                } else {
                    self.offset(next.span.start)
                };
                Some(self.sql[start..end.max(start)].trim().to_string())
            }
        } else {
            None
        };
        Ok(Statement::ShowFingerprints { name, as_of })
    }

    // ---- cluster settings ------------------------------------------------------------------

    /// After `=`/`TO`: `DEFAULT` (`None`), a string, a (signed) number, `true`/`false` or an
    /// identifier.
    pub(super) fn setting_value(&mut self) -> R<Option<SettingValue>> {
        let tok = self.p.peek_token_ref();
        let value = match &tok.token {
            t if is_word(t, "DEFAULT") => None,
            t if is_word(t, "TRUE") => Some(SettingValue::Bool(true)),
            t if is_word(t, "FALSE") => Some(SettingValue::Bool(false)),
            Token::Number(n, _) => Some(SettingValue::Number(n.clone())),
            Token::Minus | Token::Plus => {
                let neg = tok.token == Token::Minus;
                match self.peek(1) {
                    Token::Number(n, _) => {
                        let n = if neg { format!("-{n}") } else { n.clone() };
                        self.advance(1);
                        Some(SettingValue::Number(n))
                    }
                    _ => {
                        self.advance(1);
                        return Err(self.err_next("expected a number"));
                    }
                }
            }
            t if Self::is_string(t) => {
                return Ok(Some(SettingValue::String(self.string("setting value")?)));
            }
            Token::Word(w) if w.quote_style.is_some() => Some(SettingValue::Ident(w.value.clone())),
            Token::Word(w) => Some(SettingValue::Ident(w.value.to_lowercase())),
            _ => {
                return Err(ParseError::at(
                    self.sql,
                    tok,
                    "expected a setting value (string, number, true/false, identifier or DEFAULT)",
                ));
            }
        };
        self.p.advance_token();
        Ok(value)
    }

    // ---- users, roles, privileges ----------------------------------------------------------

    /// `[WITH] option...`; `ALTER` needs at least one option.
    pub(super) fn role_options(&mut self, alter: bool) -> R<RoleOptions> {
        const EXPECTED: &str = "expected a role option (LOGIN, NOLOGIN, CREATEROLE, NOCREATEROLE, \
                                CREATEDB, NOCREATEDB, PASSWORD, VALID UNTIL)";
        let mut o = RoleOptions::default();
        let with = self.eat("WITH");
        if (alter || with) && self.at_end() {
            return Err(self.err_next(EXPECTED));
        }
        fn set<T>(p: &P<'_>, slot: &mut Option<T>, v: T, tok: &TokenWithSpan) -> R<()> {
            if slot.is_some() {
                return Err(ParseError::at(
                    p.sql,
                    tok,
                    "conflicting or redundant role options",
                ));
            }
            *slot = Some(v);
            Ok(())
        }
        while !self.at_end() {
            let tok = self.p.peek_token();
            let t = &tok.token;
            if is_word(t, "LOGIN") || is_word(t, "NOLOGIN") {
                set(self, &mut o.login, is_word(t, "LOGIN"), &tok)?;
                self.advance(1);
            } else if is_word(t, "CREATEROLE") || is_word(t, "NOCREATEROLE") {
                set(self, &mut o.create_role, is_word(t, "CREATEROLE"), &tok)?;
                self.advance(1);
            } else if is_word(t, "CREATEDB") || is_word(t, "NOCREATEDB") {
                set(self, &mut o.create_db, is_word(t, "CREATEDB"), &tok)?;
                self.advance(1);
            } else if is_word(t, "PASSWORD") {
                self.advance(1);
                let pw = if self.eat("NULL") {
                    None
                } else {
                    Some(self.string("password")?)
                };
                set(self, &mut o.password, pw, &tok)?;
            } else if is_word(t, "VALID") {
                self.advance(1);
                self.expect("UNTIL")?;
                let ts = self.string("timestamp")?;
                set(self, &mut o.valid_until, ts, &tok)?;
            } else {
                return Err(self.err_next(EXPECTED));
            }
        }
        Ok(o)
    }

    /// `priv [, priv]...` of `GRANT/REVOKE SYSTEM`.
    pub(super) fn system_privileges(&mut self) -> R<Vec<SystemPrivilege>> {
        let mut privileges = Vec::new();
        loop {
            let tok = self.p.peek_token_ref();
            let word = match &tok.token {
                Token::Word(w) if w.quote_style.is_none() => w.value.clone(),
                _ => return Err(ParseError::at(self.sql, tok, "expected a system privilege")),
            };
            let Some(privilege) = SystemPrivilege::parse(&word) else {
                let known: Vec<&str> = SystemPrivilege::ALL_NAMED.iter().map(|(_, n)| *n).collect();
                return Err(ParseError::at(
                    self.sql,
                    tok,
                    &format!(
                        "unknown system privilege \"{}\" (expected one of {})",
                        word.to_uppercase(),
                        known.join(", ")
                    ),
                ));
            };
            self.p.advance_token();
            if privilege == SystemPrivilege::All {
                let _ = self.eat("PRIVILEGES");
            }
            if !privileges.contains(&privilege) {
                privileges.push(privilege);
            }
            if !self.p.consume_token(&Token::Comma) {
                return Ok(privileges);
            }
        }
    }
}
