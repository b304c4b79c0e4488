//! `tandem sql`: the SQL shell, behaving like `cockroach sql`.
//!
//! With `-e` each given string (which may hold several `;`-separated statements) is sent as one
//! simple-protocol query and its results are printed; the first error is printed to stderr as
//! `ERROR: <message>` / `SQLSTATE: <code>` and ends the shell with exit code 1. With a terminal
//! on stdin it is an interactive shell (rustyline, history in `~/.tandem_sql_history`, prompt
//! `user@host:port[/cluster]/db>`, multi-line statements until a `;` outside quotes and
//! comments, `\q` / `quit` / Ctrl-D to leave, `\?` for help). Otherwise statements are read from
//! stdin and run one by one, stopping at the first error.
//!
//! Results print as a table (headers, a separator line, rows, `(N rows)`), TSV or CSV: the table
//! when stdout is a terminal, TSV otherwise, as cockroach does. Statements without rows print
//! their command tag (`CREATE TABLE`, `INSERT 0 1`). tokio-postgres reports only the row count
//! of a completed statement, not its tag, so the tag is rebuilt from the statement's leading
//! keywords ([`command_tag`]). The formatting ([`format`]) and statement-splitting ([`statements`]) functions are pure and
//! unit-tested there; the connection comes from [`crate::client`].

use std::fmt;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use tokio_postgres::{Client, SimpleQueryMessage};
use unicode_width::UnicodeWidthStr;

use crate::client::{self, ClientError, ConnUrl, ConnectionInfo};
use crate::security::SslMode;

mod format;
mod statements;

pub use format::*;
pub use statements::*;

/// URL used when none is given.
pub const DEFAULT_URL: &str = "postgresql://root@localhost:26257/defaultdb";

/// History file name, in the home directory.
pub const HISTORY_FILE: &str = ".tandem_sql_history";

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// Aligned columns with a header separator and a row count (`cockroach sql` on a terminal).
    Table,
    /// Tab-separated values with a header line.
    Tsv,
    /// Comma-separated values with a header line.
    Csv,
}

impl OutputFormat {
    /// The flag spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Tsv => "tsv",
            OutputFormat::Csv => "csv",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" => Ok(OutputFormat::Table),
            "tsv" => Ok(OutputFormat::Tsv),
            "csv" => Ok(OutputFormat::Csv),
            other => Err(format!(
                "invalid format {other:?}: expected table, tsv or csv"
            )),
        }
    }
}

/// Options of `tandem sql`.
#[derive(Debug, Clone, Default)]
pub struct SqlShellOptions {
    /// Connection URL (`--url`); [`DEFAULT_URL`] when `None`.
    pub url: Option<String>,
    /// `--certs-dir`: relative `sslrootcert`/`sslcert`/`sslkey` are looked up here, and
    /// `ca.crt` / `client.<user>.crt` are used when the URL names none.
    pub certs_dir: Option<PathBuf>,
    /// `--insecure`: `sslmode=disable` unless the URL says otherwise.
    pub insecure: bool,
    /// `-e` statements, in order (each may hold several `;`-separated statements).
    pub execute: Vec<String>,
    /// `--format`; `None`: table when stdout is a terminal, otherwise TSV.
    pub format: Option<OutputFormat>,
    /// `--echo-sql`: print each statement to stderr (prefixed `> `) before running it.
    pub echo: bool,
}

/// Runs `tandem sql` on the process's stdin, stdout and stderr; returns the exit code (0, or 1
/// after an error, which has been printed to stderr). `Err` only for failures to write output.
/// Needs a tokio runtime.
pub async fn run(opts: SqlShellOptions) -> anyhow::Result<i32> {
    let interactive = opts.execute.is_empty() && std::io::stdin().is_terminal();
    let format = opts.format.unwrap_or(if std::io::stdout().is_terminal() {
        OutputFormat::Table
    } else {
        OutputFormat::Tsv
    });
    let io = Io {
        out: Box::new(std::io::stdout()),
        err: Box::new(std::io::stderr()),
    };
    let mode = if interactive {
        Mode::Interactive
    } else {
        Mode::Script(Box::new(std::io::BufReader::new(std::io::stdin())))
    };
    run_inner(opts, format, mode, io).await
}

/// [`run`] with explicit streams and never interactive: the `-e` statements run if there are
/// any, otherwise statements are read from `input`. `format` `None` means TSV. For tests and
/// for embedding.
pub async fn run_with_io(
    opts: SqlShellOptions,
    input: Box<dyn BufRead + Send>,
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
) -> anyhow::Result<i32> {
    let format = opts.format.unwrap_or(OutputFormat::Tsv);
    run_inner(opts, format, Mode::Script(input), Io { out, err }).await
}

struct Io {
    out: Box<dyn Write + Send>,
    err: Box<dyn Write + Send>,
}

enum Mode {
    Interactive,
    Script(Box<dyn BufRead + Send>),
}

/// The URL `opts` asks for, with certificate files resolved.
pub fn resolve_url(opts: &SqlShellOptions) -> Result<ConnUrl, ClientError> {
    let mut url = ConnUrl::parse(opts.url.as_deref().unwrap_or(DEFAULT_URL))?;
    if opts.insecure && !url.sslmode_explicit {
        url.sslmode = SslMode::Disable;
    }
    url.resolve_files(opts.certs_dir.as_deref())?;
    Ok(url)
}

async fn run_inner(
    opts: SqlShellOptions,
    format: OutputFormat,
    mode: Mode,
    mut io: Io,
) -> anyhow::Result<i32> {
    let url = match resolve_url(&opts) {
        Ok(url) => url,
        Err(e) => {
            writeln!(io.err, "ERROR: {e}")?;
            io.err.flush()?;
            return Ok(1);
        }
    };
    let (client, info) = match client::connect(&url).await {
        Ok(c) => c,
        Err(e) => {
            write_client_error(&mut io.err, &e)?;
            io.err.flush()?;
            return Ok(1);
        }
    };
    let mut shell = Shell {
        client,
        info,
        url,
        format,
        echo: opts.echo,
        interactive: matches!(mode, Mode::Interactive),
        io,
    };
    let code = if !opts.execute.is_empty() {
        shell.run_execute(&opts.execute).await?
    } else {
        match mode {
            Mode::Interactive => shell.run_interactive().await?,
            Mode::Script(input) => shell.run_script(input).await?,
        }
    };
    shell.io.out.flush()?;
    shell.io.err.flush()?;
    Ok(code)
}

/// Why running a query stopped.
enum ExecError {
    /// The server (or the connection) reported an error; it has been printed.
    Sql,
    /// Writing output failed.
    Io(std::io::Error),
}

impl From<std::io::Error> for ExecError {
    fn from(e: std::io::Error) -> Self {
        ExecError::Io(e)
    }
}

struct Shell {
    client: Client,
    info: ConnectionInfo,
    url: ConnUrl,
    format: OutputFormat,
    echo: bool,
    interactive: bool,
    io: Io,
}

impl Shell {
    async fn run_execute(&mut self, statements: &[String]) -> anyhow::Result<i32> {
        for sql in statements {
            match self.execute(sql).await {
                Ok(()) => {}
                Err(ExecError::Sql) => return Ok(1),
                Err(ExecError::Io(e)) => return Err(e).context("writing output"),
            }
        }
        Ok(0)
    }

    async fn run_script(&mut self, mut input: Box<dyn BufRead + Send>) -> anyhow::Result<i32> {
        let mut buffer = String::new();
        let mut line = String::new();
        loop {
            line.clear();
            let n = input
                .read_line(&mut line)
                .context("reading statements from stdin")?;
            if n == 0 {
                break;
            }
            buffer.push_str(&line);
            let (statements, end) = split_statements(&buffer);
            for sql in statements {
                match self.execute(&sql).await {
                    Ok(()) => {}
                    Err(ExecError::Sql) => return Ok(1),
                    Err(ExecError::Io(e)) => return Err(e).context("writing output"),
                }
            }
            buffer.drain(..end);
        }
        // A last statement without a terminating semicolon still runs.
        if !is_blank(&buffer) {
            match self.execute(buffer.trim()).await {
                Ok(()) => {}
                Err(ExecError::Sql) => return Ok(1),
                Err(ExecError::Io(e)) => return Err(e).context("writing output"),
            }
        }
        Ok(0)
    }

    /// Sends `sql` (one or more statements) as one simple query and prints every result.
    async fn execute(&mut self, sql: &str) -> Result<(), ExecError> {
        if self.echo {
            writeln!(self.io.err, "> {sql}")?;
        }
        let (mut statements, end) = split_statements(sql);
        if !is_blank(&sql[end..]) {
            statements.push(sql[end..].trim().to_string());
        }
        let started = Instant::now();
        let result = self.stream_results(sql, &statements).await;
        self.print_notices()?;
        match result {
            Ok(()) => {
                for stmt in &statements {
                    if let Some(db) = database_change(stmt) {
                        self.url.database = db;
                    }
                }
                if self.interactive {
                    writeln!(
                        self.io.out,
                        "\nTime: {}\n",
                        format_elapsed(started.elapsed())
                    )?;
                }
                self.io.out.flush()?;
                Ok(())
            }
            Err(StreamError::Io(e)) => Err(ExecError::Io(e)),
            Err(StreamError::Pg(e)) => {
                self.io.out.flush()?;
                write_pg_error(&mut self.io.err, &e)?;
                self.io.err.flush()?;
                Err(ExecError::Sql)
            }
        }
    }

    async fn stream_results(
        &mut self,
        sql: &str,
        statements: &[String],
    ) -> Result<(), StreamError> {
        let stream = self.client.simple_query_raw(sql).await?;
        futures::pin_mut!(stream);
        let mut index = 0usize;
        let mut current: Option<ResultSet> = None;
        while let Some(message) = stream.next().await {
            match message? {
                SimpleQueryMessage::RowDescription(columns) => {
                    current = Some(ResultSet {
                        columns: columns.iter().map(|c| c.name().to_string()).collect(),
                        rows: Vec::new(),
                    });
                }
                SimpleQueryMessage::Row(row) => {
                    let rs = current.get_or_insert_with(|| ResultSet {
                        columns: row.columns().iter().map(|c| c.name().to_string()).collect(),
                        rows: Vec::new(),
                    });
                    let values = (0..row.len())
                        .map(|i| row.try_get(i).ok().flatten().map(str::to_string))
                        .collect();
                    rs.rows.push(values);
                }
                SimpleQueryMessage::CommandComplete(count) => {
                    let text = match current.take() {
                        Some(rs) => format_result(self.format, &rs),
                        None => {
                            let tag = match statements.get(index) {
                                Some(stmt) => command_tag(stmt, count),
                                None => format!("OK {count}"),
                            };
                            format!("{tag}\n")
                        }
                    };
                    index += 1;
                    self.io.out.write_all(text.as_bytes())?;
                    self.print_notices()?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn print_notices(&mut self) -> std::io::Result<()> {
        while let Ok(notice) = self.info.notices.try_recv() {
            self.io.out.flush()?;
            writeln!(self.io.err, "{}: {}", notice.severity(), notice.message())?;
            if let Some(detail) = notice.detail() {
                writeln!(self.io.err, "DETAIL: {detail}")?;
            }
            if let Some(hint) = notice.hint() {
                writeln!(self.io.err, "HINT: {hint}")?;
            }
        }
        Ok(())
    }

    fn prompt(&self) -> String {
        format!("{}> ", self.url.prompt_label())
    }

    async fn reconnect(&mut self) -> std::io::Result<()> {
        match client::connect(&self.url).await {
            Ok((client, info)) => {
                self.client = client;
                self.info = info;
            }
            Err(e) => write_client_error(&mut self.io.err, &e)?,
        }
        Ok(())
    }

    fn welcome(&mut self) -> std::io::Result<()> {
        let out = &mut self.io.out;
        writeln!(out, "#")?;
        writeln!(out, "# Welcome to the tandem SQL shell.")?;
        writeln!(out, "# All statements must be terminated by a semicolon.")?;
        writeln!(out, "# To exit, type: \\q.")?;
        writeln!(out, "#")?;
        if let Some(v) = &self.info.server_version {
            writeln!(out, "# Server version: {v}")?;
        }
        writeln!(
            out,
            "# Connected to {} ({}).",
            self.url.redacted(),
            if self.info.tls {
                format!("TLS, sslmode={}", self.info.sslmode)
            } else {
                "not encrypted".to_string()
            }
        )?;
        writeln!(out, "#")?;
        writeln!(out, "# Enter \\? for a brief introduction.")?;
        writeln!(out, "#")?;
        out.flush()
    }

    /// Runs `sql` in the interactive shell: Ctrl-C cancels it, and a lost connection is
    /// re-opened afterwards.
    async fn execute_interactive(&mut self, sql: &str) -> anyhow::Result<()> {
        let token = self.client.cancel_token();
        let url = self.url.clone();
        let result = {
            let exec = self.execute(sql);
            futures::pin_mut!(exec);
            tokio::select! {
                r = &mut exec => r,
                _ = tokio::signal::ctrl_c() => {
                    if let Err(e) = client::cancel_query(&url, &token).await {
                        tracing::debug!(error = %e, "cancel request failed");
                    }
                    exec.await
                }
            }
        };
        match result {
            Ok(()) | Err(ExecError::Sql) => {}
            Err(ExecError::Io(e)) => return Err(e).context("writing output"),
        }
        if self.client.is_closed() {
            writeln!(
                self.io.err,
                "warning: connection lost!\nopening new connection: all session settings will be lost"
            )?;
            self.reconnect().await?;
        }
        Ok(())
    }

    async fn run_interactive(&mut self) -> anyhow::Result<i32> {
        let mut editor = match rustyline::DefaultEditor::new() {
            Ok(e) => e,
            Err(e) => {
                writeln!(self.io.err, "ERROR: cannot start the line editor: {e}")?;
                return Ok(1);
            }
        };
        let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(HISTORY_FILE));
        if let Some(path) = &history {
            // A missing or unreadable history file is not an error.
            let _ = editor.load_history(path);
        }
        self.welcome()?;

        let mut editor = Some(editor);
        let mut buffer = String::new();
        loop {
            let prompt = if buffer.is_empty() {
                self.prompt()
            } else {
                continuation_prompt(&self.prompt())
            };
            let Some(mut ed) = editor.take() else {
                break;
            };
            let (ed, line) = tokio::task::spawn_blocking(move || {
                let line = ed.readline(&prompt);
                (ed, line)
            })
            .await
            .context("line editor task")?;
            let mut ed = ed;
            let line = match line {
                Ok(line) => line,
                Err(rustyline::error::ReadlineError::Interrupted) => {
                    if buffer.is_empty() {
                        writeln!(self.io.err, "Use \\q or Ctrl-D to exit.")?;
                    }
                    buffer.clear();
                    editor = Some(ed);
                    continue;
                }
                Err(rustyline::error::ReadlineError::Eof) => break,
                Err(e) => {
                    writeln!(self.io.err, "ERROR: reading input: {e}")?;
                    return Ok(1);
                }
            };

            if buffer.is_empty() {
                if line.trim().is_empty() {
                    editor = Some(ed);
                    continue;
                }
                if let Some(command) = ClientCommand::parse(&line) {
                    add_history(&mut ed, history.as_deref(), line.trim());
                    editor = Some(ed);
                    match command {
                        ClientCommand::Quit => break,
                        ClientCommand::Help => {
                            self.io.out.write_all(HELP.as_bytes())?;
                            self.io.out.flush()?;
                        }
                        ClientCommand::Sql(sql) => self.execute_interactive(&sql).await?,
                        ClientCommand::Connect(db) => {
                            if let Some(db) = db {
                                self.url.database = db;
                                self.reconnect().await?;
                            }
                            writeln!(self.io.out, "Connection string: {}", self.url.redacted())?;
                        }
                        ClientCommand::Unknown(cmd) => {
                            writeln!(
                                self.io.err,
                                "ERROR: unknown command {cmd}; type \\? for help"
                            )?;
                        }
                    }
                    continue;
                }
            }

            buffer.push_str(&line);
            buffer.push('\n');
            let (statements, end) = split_statements(&buffer);
            if statements.is_empty() {
                if end > 0 && is_blank(&buffer[end..]) {
                    // Only empty statements (`;`) and comments.
                    buffer.clear();
                }
                editor = Some(ed);
                continue;
            }
            let entry = buffer[..end].trim().to_string();
            add_history(&mut ed, history.as_deref(), &entry);
            editor = Some(ed);
            self.execute_interactive(&buffer[..end]).await?;
            let rest = buffer[end..].to_string();
            buffer = if is_blank(&rest) {
                String::new()
            } else {
                rest.trim_start().to_string()
            };
        }
        Ok(0)
    }
}

fn add_history(editor: &mut rustyline::DefaultEditor, path: Option<&std::path::Path>, entry: &str) {
    // History problems (read-only home, full disk) never stop the shell.
    if matches!(editor.add_history_entry(entry), Ok(true))
        && let Some(path) = path
    {
        let _ = editor.append_history(path);
    }
}

enum StreamError {
    Pg(tokio_postgres::Error),
    Io(std::io::Error),
}

impl From<tokio_postgres::Error> for StreamError {
    fn from(e: tokio_postgres::Error) -> Self {
        StreamError::Pg(e)
    }
}

impl From<std::io::Error> for StreamError {
    fn from(e: std::io::Error) -> Self {
        StreamError::Io(e)
    }
}

const HELP: &str = "\
You are using 'tandem sql', tandem's interactive SQL shell.
End each statement with a semicolon; a statement may span several lines.

  \\q, quit, exit   leave the shell (also Ctrl-D)
  \\?               print this help
  \\l               list databases (SHOW DATABASES)
  \\dt              list tables (SHOW TABLES)
  \\du              list users (SHOW USERS)
  \\d [TABLE]       list tables, or the columns of TABLE
  \\c [DB]          connect to database DB (without DB: show the connection)
  Ctrl-C           cancel the running statement, or clear the current input

";

/// A shell command typed at the start of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ClientCommand {
    Quit,
    Help,
    Sql(String),
    Connect(Option<String>),
    Unknown(String),
}

impl ClientCommand {
    fn parse(line: &str) -> Option<ClientCommand> {
        let trimmed = line.trim().trim_end_matches(';').trim();
        match trimmed.to_ascii_lowercase().as_str() {
            "quit" | "exit" => return Some(ClientCommand::Quit),
            _ => {}
        }
        let rest = trimmed.strip_prefix('\\')?;
        let mut words = rest.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let arg = words.next().map(str::to_string);
        Some(match cmd {
            "q" | "quit" => ClientCommand::Quit,
            "?" | "h" | "help" => ClientCommand::Help,
            "l" => ClientCommand::Sql("SHOW DATABASES".into()),
            "dt" => ClientCommand::Sql("SHOW TABLES".into()),
            "du" => ClientCommand::Sql("SHOW USERS".into()),
            "d" => match arg {
                Some(table) => ClientCommand::Sql(format!("SHOW COLUMNS FROM {table}")),
                None => ClientCommand::Sql("SHOW TABLES".into()),
            },
            "c" | "connect" => ClientCommand::Connect(arg),
            _ => ClientCommand::Unknown(format!("\\{cmd}")),
        })
    }
}

/// The prompt for the continuation lines of a statement: `->` right-aligned under the `>` of
/// `prompt`.
pub fn continuation_prompt(prompt: &str) -> String {
    let width = prompt.trim_end().width();
    format!("{:>width$} ", "->")
}

fn format_elapsed(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// Prints a tokio-postgres error like cockroach: `ERROR: <message>`, `SQLSTATE: <code>`, then
/// `DETAIL:` / `HINT:` lines when the server sent them.
pub fn write_pg_error(w: &mut dyn Write, e: &tokio_postgres::Error) -> std::io::Result<()> {
    match e.as_db_error() {
        Some(db) => {
            writeln!(w, "ERROR: {}", db.message())?;
            writeln!(w, "SQLSTATE: {}", db.code().code())?;
            if let Some(detail) = db.detail() {
                writeln!(w, "DETAIL: {detail}")?;
            }
            if let Some(hint) = db.hint() {
                writeln!(w, "HINT: {hint}")?;
            }
        }
        None => writeln!(w, "ERROR: {}", client::describe_pg_error(e))?,
    }
    Ok(())
}

fn write_client_error(w: &mut dyn Write, e: &ClientError) -> std::io::Result<()> {
    if let Some(db) = e.db_error() {
        writeln!(w, "ERROR: {}", db.message())?;
        writeln!(w, "SQLSTATE: {}", db.code().code())?;
        if let Some(detail) = db.detail() {
            writeln!(w, "DETAIL: {detail}")?;
        }
        if let Some(hint) = db.hint() {
            writeln!(w, "HINT: {hint}")?;
        }
        Ok(())
    } else {
        writeln!(w, "ERROR: {e}")?;
        if matches!(
            e,
            ClientError::Tls(crate::security::SecurityError::MissingRootCa { .. })
        ) {
            writeln!(
                w,
                "HINT: pass --certs-dir with the cluster's ca.crt, add sslrootcert=<file> to the URL, \
                 or use --insecure (sslmode=disable) for a node started with --insecure"
            )?;
        }
        Ok(())
    }
}

/// The new database of a successful `USE db` or `SET database = db`, for the prompt.
fn database_change(stmt: &str) -> Option<String> {
    let words: Vec<&str> = stmt.split_whitespace().collect();
    let first = words.first()?.to_ascii_lowercase();
    let name = if first == "use" && words.len() == 2 {
        words[1]
    } else if first == "set" {
        let rest = stmt.trim()[3..].trim();
        let (var, value) = match rest.split_once('=') {
            Some((v, val)) => (v.trim(), val.trim()),
            None => {
                let mut it = rest.splitn(2, char::is_whitespace);
                let var = it.next()?.trim();
                let value = it.next()?.trim();
                (
                    var,
                    value
                        .strip_prefix("TO ")
                        .or(value.strip_prefix("to "))?
                        .trim(),
                )
            }
        };
        if !var.eq_ignore_ascii_case("database") {
            return None;
        }
        value
    } else {
        return None;
    };
    let name = name.trim().trim_end_matches(';').trim();
    let unquoted = if let Some(inner) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
        inner.replace("\"\"", "\"")
    } else if let Some(inner) = name.strip_prefix('\'').and_then(|n| n.strip_suffix('\'')) {
        inner.replace("''", "'")
    } else {
        name.to_ascii_lowercase()
    };
    (!unquoted.is_empty()).then_some(unquoted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_commands() {
        assert_eq!(ClientCommand::parse("\\q"), Some(ClientCommand::Quit));
        assert_eq!(ClientCommand::parse("  quit  "), Some(ClientCommand::Quit));
        assert_eq!(ClientCommand::parse("exit;"), Some(ClientCommand::Quit));
        assert_eq!(ClientCommand::parse("\\?"), Some(ClientCommand::Help));
        assert_eq!(
            ClientCommand::parse("\\d users"),
            Some(ClientCommand::Sql("SHOW COLUMNS FROM users".into()))
        );
        assert_eq!(
            ClientCommand::parse("\\c movr"),
            Some(ClientCommand::Connect(Some("movr".into())))
        );
        assert_eq!(
            ClientCommand::parse("\\zz"),
            Some(ClientCommand::Unknown("\\zz".into()))
        );
        assert_eq!(ClientCommand::parse("select 1;"), None);
    }

    #[test]
    fn prompts_and_database_changes() {
        let url =
            ConnUrl::parse("postgresql://root@localhost:26257/defaultdb?options=-ccluster=system")
                .expect("url");
        let prompt = format!("{}> ", url.prompt_label());
        assert_eq!(prompt, "root@localhost:26257/system/defaultdb> ");
        let cont = continuation_prompt(&prompt);
        assert_eq!(cont.len(), prompt.len());
        assert!(cont.ends_with("-> "));
        assert_eq!(cont.find('>'), prompt.find('>'));

        assert_eq!(database_change("USE movr"), Some("movr".into()));
        assert_eq!(database_change("use \"MyDb\""), Some("MyDb".into()));
        assert_eq!(database_change("SET database = movr"), Some("movr".into()));
        assert_eq!(database_change("set DATABASE to 'x'"), Some("x".into()));
        assert_eq!(database_change("set application_name = x"), None);
        assert_eq!(database_change("select 1"), None);
    }

    #[test]
    fn formats_parse() {
        assert_eq!("TABLE".parse::<OutputFormat>(), Ok(OutputFormat::Table));
        assert_eq!("tsv".parse::<OutputFormat>(), Ok(OutputFormat::Tsv));
        assert_eq!("csv".parse::<OutputFormat>(), Ok(OutputFormat::Csv));
        assert!("json".parse::<OutputFormat>().is_err());
    }
}
