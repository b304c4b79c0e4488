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
//! keywords ([`command_tag`]). The formatting and statement-splitting functions are pure and
//! unit-tested here; the connection comes from [`crate::client`].

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

// ------------------------------------------------------------------------------------------
// Pure functions: statement splitting, command tags, result formatting.
// ------------------------------------------------------------------------------------------

/// Splits `input` into its complete statements (each ended by a `;` outside quotes, quoted
/// identifiers, dollar quotes and comments; returned trimmed and without the `;`, empty and
/// comment-only statements skipped) and the byte offset just past the last terminating `;`
/// (0 if there is none): `input[offset..]` is the unfinished rest.
pub fn split_statements(input: &str) -> (Vec<String>, usize) {
    let bytes = input.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut end = 0;
    let mut i = 0;
    let mut significant = false;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b';' => {
                if significant {
                    statements.push(input[start..i].trim().to_string());
                }
                significant = false;
                i += 1;
                start = i;
                end = i;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = match input[i..].find('\n') {
                    Some(n) => i + n + 1,
                    None => bytes.len(),
                };
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(bytes, i);
                continue;
            }
            b'\'' => {
                let escapes = i > 0
                    && matches!(bytes[i - 1], b'e' | b'E')
                    && (i < 2 || !is_ident_byte(bytes[i - 2]));
                i = skip_quoted(bytes, i, b'\'', escapes);
            }
            b'"' => i = skip_quoted(bytes, i, b'"', false),
            b'$' if i == 0 || !is_ident_byte(bytes[i - 1]) => match dollar_tag(bytes, i) {
                Some(tag_len) => {
                    let tag = &input[i..i + tag_len];
                    i = match input[i + tag_len..].find(tag) {
                        Some(n) => i + tag_len + n + tag_len,
                        None => bytes.len(),
                    };
                }
                None => i += 1,
            },
            _ => i += 1,
        }
        if !b.is_ascii_whitespace() {
            significant = true;
        }
    }
    (statements, end)
}

/// Whether `text` holds nothing but whitespace, comments and empty statements.
pub fn is_blank(text: &str) -> bool {
    let (statements, end) = split_statements(text);
    statements.is_empty() && {
        let (rest, _) = split_statements(&format!("{};", &text[end..]));
        rest.is_empty()
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Index just past the closing quote of the quoted text starting at `open` (or the end).
fn skip_quoted(bytes: &[u8], open: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if backslash_escapes && b == b'\\' {
            i += 2;
            continue;
        }
        if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// Index just past the (nested) block comment starting at `open` (or the end).
fn skip_block_comment(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i + 1 < bytes.len() {
        if bytes[i] == b'/' && bytes[i + 1] == b'*' {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes[i + 1] == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// Length of the dollar-quote tag (`$$` or `$name$`) starting at `i`, if there is one.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if bytes.get(j).is_some_and(|b| b.is_ascii_digit()) {
        return None; // $1: a parameter, not a quote
    }
    while j < bytes.len() && is_ident_byte(bytes[j]) {
        j += 1;
    }
    (bytes.get(j) == Some(&b'$')).then_some(j + 1 - i)
}

/// The leading keywords of a statement, upper-cased, after comments and `(`.
fn leading_words(stmt: &str, max: usize) -> Vec<String> {
    let mut text = stmt.trim_start();
    loop {
        if let Some(rest) = text.strip_prefix("--") {
            text = rest.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if text.starts_with("/*") {
            let end = skip_block_comment(text.as_bytes(), 0);
            text = text[end..].trim_start();
        } else if let Some(rest) = text.strip_prefix('(') {
            text = rest.trim_start();
        } else {
            break;
        }
    }
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .take_while(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
        .take(max)
        .map(str::to_ascii_uppercase)
        .collect()
}

/// The PostgreSQL-style command tag of a statement that returned no rows, from its leading
/// keywords and the row count: `INSERT 0 1`, `UPDATE 3`, `CREATE TABLE`, `SET CLUSTER
/// SETTING`, `BEGIN`, ...
pub fn command_tag(stmt: &str, rows: u64) -> String {
    let words = leading_words(stmt, 8);
    let Some(first) = words.first().map(String::as_str) else {
        return "OK".to_string();
    };
    let word = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match first {
        "INSERT" | "UPSERT" => format!("INSERT 0 {rows}"),
        "UPDATE" | "DELETE" | "SELECT" | "MOVE" | "FETCH" | "COPY" | "MERGE" | "VALUES"
        | "TABLE" => {
            let tag = if matches!(first, "VALUES" | "TABLE") {
                "SELECT"
            } else {
                first
            };
            format!("{tag} {rows}")
        }
        "CREATE" | "DROP" | "ALTER" => {
            const MODIFIERS: &[&str] = &[
                "OR",
                "REPLACE",
                "UNIQUE",
                "TEMP",
                "TEMPORARY",
                "UNLOGGED",
                "GLOBAL",
                "LOCAL",
            ];
            let mut i = 1;
            while MODIFIERS.contains(&word(i)) {
                i += 1;
            }
            let object = word(i);
            match object {
                "" => first.to_string(),
                "VIRTUAL" | "MATERIALIZED" | "FOREIGN" | "EVENT" if !word(i + 1).is_empty() => {
                    format!("{first} {object} {}", word(i + 1))
                }
                _ => format!("{first} {object}"),
            }
        }
        "SET" if word(1) == "CLUSTER" && word(2) == "SETTING" => "SET CLUSTER SETTING".into(),
        "SET" if word(1) == "TRANSACTION" => "SET TRANSACTION".into(),
        "USE" => "SET".into(),
        "START" if word(1) == "TRANSACTION" => "START TRANSACTION".into(),
        "END" => "COMMIT".into(),
        "ABORT" => "ROLLBACK".into(),
        "TRUNCATE" => "TRUNCATE".into(),
        "DISCARD" if !word(1).is_empty() => format!("DISCARD {}", word(1)),
        _ => first.to_string(),
    }
}

/// One statement's result rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSet {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of text values (`None` = NULL).
    pub rows: Vec<Vec<Option<String>>>,
}

/// Formats a result in `format`.
pub fn format_result(format: OutputFormat, rs: &ResultSet) -> String {
    match format {
        OutputFormat::Table => format_table(&rs.columns, &rs.rows),
        OutputFormat::Tsv => format_delimited(&rs.columns, &rs.rows, '\t'),
        OutputFormat::Csv => format_delimited(&rs.columns, &rs.rows, ','),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
    Center,
}

fn looks_numeric(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.parse::<f64>().is_ok()
}

/// Column alignment from the values (the simple protocol carries no types): right for numbers,
/// centred for booleans, otherwise left, as cockroach aligns by type.
fn column_alignment(rows: &[Vec<Option<String>>], col: usize) -> Align {
    let mut values = rows
        .iter()
        .filter_map(|r| r.get(col).and_then(|v| v.as_deref()))
        .peekable();
    if values.peek().is_none() {
        return Align::Left;
    }
    let values: Vec<&str> = values.collect();
    if values.iter().all(|v| looks_numeric(v)) {
        Align::Right
    } else if values.iter().all(|v| *v == "true" || *v == "false") {
        Align::Center
    } else {
        Align::Left
    }
}

/// Expands tabs like cockroach's tabwriter (cells of at least 4 columns, 1 space of padding),
/// aligning tab-separated cells across the lines of one value.
fn expand_tabs(lines: Vec<String>) -> Vec<String> {
    if !lines.iter().any(|l| l.contains('\t')) {
        return lines;
    }
    let split: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let max_cells = split.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; max_cells];
    for cells in &split {
        for (i, cell) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            widths[i] = widths[i].max((cell.width() + 1).max(4));
        }
    }
    split
        .iter()
        .map(|cells| {
            let mut out = String::new();
            let last = cells.len().saturating_sub(1);
            for (i, cell) in cells.iter().enumerate() {
                out.push_str(cell);
                if i < last {
                    out.push_str(&" ".repeat(widths[i].saturating_sub(cell.width())));
                }
            }
            out
        })
        .collect()
}

fn cell_lines(value: &str) -> Vec<String> {
    expand_tabs(
        value
            .split('\n')
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect(),
    )
}

fn pad(text: &str, width: usize, align: Align) -> String {
    let gap = width.saturating_sub(text.width());
    let (left, right) = match align {
        Align::Left => (0, gap),
        Align::Right => (gap, 0),
        Align::Center => (gap / 2, gap - gap / 2),
    };
    format!("{}{}{}", " ".repeat(left), text, " ".repeat(right))
}

/// Appends one logical table row (several lines when a value has several lines).
fn render_table_row(out: &mut String, cells: &[Vec<String>], widths: &[usize], aligns: &[Align]) {
    let height = cells.iter().map(Vec::len).max().unwrap_or(1);
    for line in 0..height {
        let mut text = String::from(" ");
        for (i, lines) in cells.iter().enumerate() {
            if i > 0 {
                text.push('|');
            }
            text.push(' ');
            let cell = lines.get(line).map(String::as_str).unwrap_or("");
            let width = widths.get(i).copied().unwrap_or(0);
            let align = aligns.get(i).copied().unwrap_or(Align::Left);
            text.push_str(&pad(cell, width, align));
            text.push(' ');
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
}

/// Formats rows as cockroach's table: centred headers, a `---+---` separator, rows (numbers
/// right-aligned, multi-line values on several lines, NULL as `NULL`), then `(N rows)`.
pub fn format_table(columns: &[String], rows: &[Vec<Option<String>>]) -> String {
    let mut out = String::new();
    if columns.is_empty() {
        out.push_str("--\n");
    } else {
        let header: Vec<Vec<String>> = columns.iter().map(|c| cell_lines(c)).collect();
        let body: Vec<Vec<Vec<String>>> = rows
            .iter()
            .map(|row| {
                (0..columns.len())
                    .map(|i| cell_lines(row.get(i).and_then(|v| v.as_deref()).unwrap_or("NULL")))
                    .collect()
            })
            .collect();
        let aligns: Vec<Align> = (0..columns.len())
            .map(|i| column_alignment(rows, i))
            .collect();
        let mut widths = vec![0usize; columns.len()];
        for cells in std::iter::once(&header).chain(body.iter()) {
            for (i, lines) in cells.iter().enumerate() {
                for line in lines {
                    widths[i] = widths[i].max(line.width());
                }
            }
        }
        let header_aligns = vec![Align::Center; columns.len()];
        render_table_row(&mut out, &header, &widths, &header_aligns);
        let separator: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        out.push('-');
        out.push_str(&separator.join("+"));
        out.push_str("-\n");
        for cells in &body {
            render_table_row(&mut out, cells, &widths, &aligns);
        }
    }
    let n = rows.len();
    out.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
    out
}

/// Quotes a CSV/TSV field when needed (Go `encoding/csv` rules, as cockroach): it contains the
/// delimiter, a quote, CR or LF, starts with whitespace, or is `\.`.
fn delimited_field(value: &str, delimiter: char) -> String {
    let needs_quotes = value == "\\."
        || value.contains(delimiter)
        || value.contains(['"', '\r', '\n'])
        || value.chars().next().is_some_and(char::is_whitespace);
    if needs_quotes {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// Formats rows as delimiter-separated values with a header line (no row count), NULL as
/// `NULL`; a result without columns prints `# no columns` and `# empty` per row.
pub fn format_delimited(
    columns: &[String],
    rows: &[Vec<Option<String>>],
    delimiter: char,
) -> String {
    let mut out = String::new();
    if columns.is_empty() {
        out.push_str("# no columns\n");
        for _ in rows {
            out.push_str("# empty\n");
        }
        return out;
    }
    let sep = delimiter.to_string();
    let header: Vec<String> = columns
        .iter()
        .map(|c| delimited_field(c, delimiter))
        .collect();
    out.push_str(&header.join(&sep));
    out.push('\n');
    for row in rows {
        let fields: Vec<String> = (0..columns.len())
            .map(|i| {
                delimited_field(
                    row.get(i).and_then(|v| v.as_deref()).unwrap_or("NULL"),
                    delimiter,
                )
            })
            .collect();
        out.push_str(&fields.join(&sep));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn table_like_cockroach() {
        // cockroach: `values (123, '123'), (456, e'456\nfoobar')`
        let out = format_table(
            &cols(&["column1", "column2"]),
            &[
                row(&[Some("123"), Some("123")]),
                row(&[Some("456"), Some("456\nfoobar")]),
            ],
        );
        assert_eq!(
            out,
            "  column1 | column2\n\
             ----------+----------\n\
             \x20     123 | 123\n\
             \x20     456 | 456\n\
             \x20         | foobar\n\
             (2 rows)\n"
        );
        let out = format_table(&cols(&["a", "b"]), &[row(&[Some("1"), Some("x")])]);
        assert_eq!(out, "  a | b\n----+----\n  1 | x\n(1 row)\n");
        // No rows.
        assert_eq!(format_table(&cols(&["x"]), &[]), "  x\n-----\n(0 rows)\n");
        // No columns.
        assert_eq!(format_table(&[], &[vec![], vec![]]), "--\n(2 rows)\n");
    }

    #[test]
    fn table_headers_centre_and_nulls() {
        let out = format_table(
            &cols(&["id", "name", "ok"]),
            &[
                row(&[Some("1"), Some("Alice"), Some("true")]),
                row(&[Some("10"), None, Some("false")]),
            ],
        );
        assert_eq!(
            out,
            "  id | name  |  ok\n\
             -----+-------+--------\n\
             \x20  1 | Alice | true\n\
             \x20 10 | NULL  | false\n\
             (2 rows)\n"
        );
    }

    #[test]
    fn table_wide_chars_and_tabs() {
        let out = format_table(
            &cols(&["s"]),
            &[row(&[Some("κόσμε")]), row(&[Some("日本")])],
        );
        assert_eq!(out, "    s\n---------\n  κόσμε\n  日本\n(2 rows)\n");
        let out = format_table(
            &cols(&["s"]),
            &[row(&[Some("a\tb\tc\n12\t123123213\t12313")])],
        );
        assert_eq!(
            out,
            "           s\n\
             -----------------------\n\
             \x20 a   b         c\n\
             \x20 12  123123213 12313\n\
             (1 row)\n"
        );
    }

    #[test]
    fn tsv_and_csv_quoting() {
        let columns = cols(&["s", "t"]);
        let rows = vec![
            row(&[Some("a b"), Some("a, b")]),
            row(&[Some("\"a\""), Some("x\ny")]),
            row(&[Some("a\tb"), None]),
            row(&[Some(" lead"), Some("")]),
        ];
        assert_eq!(
            format_delimited(&columns, &rows, '\t'),
            "s\tt\na b\ta, b\n\"\"\"a\"\"\"\t\"x\ny\"\n\"a\tb\"\tNULL\n\" lead\"\t\n"
        );
        assert_eq!(
            format_delimited(&columns, &rows, ','),
            "s,t\na b,\"a, b\"\n\"\"\"a\"\"\",\"x\ny\"\na\tb,NULL\n\" lead\",\n"
        );
        assert_eq!(
            format_delimited(&[], &[vec![]], ','),
            "# no columns\n# empty\n"
        );
        assert_eq!(
            format_result(
                OutputFormat::Tsv,
                &ResultSet {
                    columns: cols(&["x"]),
                    rows: vec![]
                }
            ),
            "x\n"
        );
    }

    #[test]
    fn splitting_statements() {
        let (s, end) = split_statements("select 1 as a, 'x' as b; create table t(a int)");
        assert_eq!(s, vec!["select 1 as a, 'x' as b"]);
        assert_eq!(end, "select 1 as a, 'x' as b;".len());

        let input = "select ';' , \"a;b\", $$x;y$$, $tag$ $$ ; $tag$, e'\\';' -- c;\n; /* ; /* ; */ ; */ select 2;";
        let (s, end) = split_statements(input);
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(
            s[0].starts_with("select ';'") && s[0].ends_with("-- c;"),
            "{s:?}"
        );
        assert_eq!(s[1], "/* ; /* ; */ ; */ select 2");
        assert_eq!(end, input.len());

        // Unterminated quote: nothing complete yet.
        let (s, end) = split_statements("select 'abc;\n");
        assert!(s.is_empty());
        assert_eq!(end, 0);
        // Empty statements are skipped.
        let (s, _) = split_statements(";; select 1;;");
        assert_eq!(s, vec!["select 1"]);
        // $1 is a parameter, not a dollar quote.
        let (s, _) = split_statements("select $1; select 2;");
        assert_eq!(s, vec!["select $1", "select 2"]);
        // 'e' as the end of an identifier does not start an escape string.
        let (s, _) = split_statements("select name'\\'; select 3;");
        assert_eq!(s.len(), 2, "{s:?}");
    }

    #[test]
    fn blank_text() {
        assert!(is_blank(""));
        assert!(is_blank("  \n -- comment\n /* c */ ;"));
        assert!(!is_blank("select 1"));
        assert!(!is_blank("-- c\nselect"));
    }

    #[test]
    fn command_tags() {
        for (stmt, rows, tag) in [
            ("create table t(a int)", 0, "CREATE TABLE"),
            ("CREATE UNIQUE INDEX i ON t(a)", 0, "CREATE INDEX"),
            ("create or replace view v as select 1", 0, "CREATE VIEW"),
            ("create database d", 0, "CREATE DATABASE"),
            (
                "CREATE VIRTUAL CLUSTER app LIKE template",
                0,
                "CREATE VIRTUAL CLUSTER",
            ),
            (
                "alter virtual cluster app stop service",
                0,
                "ALTER VIRTUAL CLUSTER",
            ),
            ("drop table if exists t", 0, "DROP TABLE"),
            ("insert into t values (1)", 1, "INSERT 0 1"),
            ("upsert into t values (1), (2)", 2, "INSERT 0 2"),
            ("update t set a = 2", 3, "UPDATE 3"),
            ("delete from t", 0, "DELETE 0"),
            ("-- hi\n  begin", 0, "BEGIN"),
            ("commit", 0, "COMMIT"),
            ("set cluster setting x = 1", 0, "SET CLUSTER SETTING"),
            ("SET application_name = 'x'", 0, "SET"),
            ("grant admin to bob", 0, "GRANT"),
            ("use movr", 0, "SET"),
            ("", 0, "OK"),
        ] {
            assert_eq!(command_tag(stmt, rows), tag, "{stmt}");
        }
    }

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
