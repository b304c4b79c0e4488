//! The SQL the demo sends to drive and observe physical cluster replication: connecting with
//! tandem's client, reading `SHOW VIRTUAL CLUSTER ... WITH REPLICATION STATUS`, the lag
//! statistics, the cutover (`COMPLETE REPLICATION TO LATEST`), waiting for the replicated
//! virtual cluster to become ready, fingerprints and row counts.
//!
//! Every statement goes over the simple query protocol, so every value arrives as the server's
//! text and nothing depends on binary decoding of DECIMAL, INTERVAL or TIMESTAMPTZ. Values the
//! demo puts back into SQL (the cutover time) are checked to be plain decimals first. Every
//! error names the statement and carries the server's message and SQLSTATE; nothing here
//! retries except the explicit polling loops, which give up after their timeout.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::client::{ConnUrl, describe_pg_error};

/// The virtual cluster the demo replicates (same name on both sides).
pub(super) const VC: &str = "application";

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Connects to `url` with tandem's client.
pub(super) async fn connect(url: &str) -> anyhow::Result<Client> {
    let u = ConnUrl::parse(url)?;
    let target = u.redacted();
    match tokio::time::timeout(CONNECT_TIMEOUT, crate::client::connect(&u)).await {
        Ok(Ok((client, _))) => Ok(client),
        Ok(Err(e)) => Err(anyhow!(e)),
        Err(_) => bail!(
            "connecting to {target} timed out after {}s",
            CONNECT_TIMEOUT.as_secs()
        ),
    }
}

/// Runs `sql` and returns its rows as text (`None` for NULL).
pub(super) async fn query(client: &Client, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| anyhow!("{}: {}", redact(sql), describe_pg_error(&e)))?;
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

/// Runs `sql`, which must return exactly one non-NULL value.
pub(super) async fn query_one(client: &Client, sql: &str) -> anyhow::Result<String> {
    let rows = query(client, sql).await?;
    match rows.as_slice() {
        [row] => match row.as_slice() {
            [Some(v)] => Ok(v.clone()),
            _ => bail!("{}: expected one non-NULL value, got {row:?}", redact(sql)),
        },
        _ => bail!("{}: expected one row, got {}", redact(sql), rows.len()),
    }
}

/// `sql` with the password of a `repl:<password>@` URL inside it replaced by `***`.
pub(super) fn redact(sql: &str) -> String {
    let Some(start) = sql.find("://repl:") else {
        return sql.to_string();
    };
    match sql[start..].find('@') {
        Some(at) => format!("{}://repl:***{}", &sql[..start], &sql[start + at..]),
        None => sql.to_string(),
    }
}

/// One reading of `SHOW VIRTUAL CLUSTER application WITH REPLICATION STATUS`.
#[derive(Debug, Clone)]
pub(super) struct Status {
    /// `initializing replication`, `replicating`, `replication error: ...`, ...
    pub status: String,
    /// Everything up to this time has been replicated (server text), once known.
    pub replicated_time: Option<String>,
    /// The server's `replication_lag`, once known.
    pub lag: Option<Duration>,
}

/// Reads the replication status of [`VC`] on the standby's system virtual cluster.
pub(super) async fn status(client: &Client) -> anyhow::Result<Status> {
    let sql = format!(
        "SELECT status::STRING, replicated_time::STRING, replication_lag::STRING \
         FROM [SHOW VIRTUAL CLUSTER {VC} WITH REPLICATION STATUS]"
    );
    let rows = query(client, &sql).await?;
    let [row] = rows.as_slice() else {
        bail!("{sql}: expected one row, got {}", rows.len());
    };
    let [status, replicated_time, lag] = row.as_slice() else {
        bail!("{sql}: expected three columns, got {}", row.len());
    };
    Ok(Status {
        status: status.clone().unwrap_or_else(|| "(no status)".into()),
        replicated_time: replicated_time.clone(),
        lag: lag.as_deref().and_then(parse_interval),
    })
}

/// Parses an INTERVAL's text (`00:00:00.296415`, `1 day 02:03:04.5`, `-00:00:01`) as a
/// duration; negative intervals become zero, anything with months or years is `None`.
pub(super) fn parse_interval(text: &str) -> Option<Duration> {
    let mut secs = 0f64;
    let mut tokens = text.split_whitespace().peekable();
    while let Some(tok) = tokens.next() {
        if tok.contains(':') {
            let (neg, hms) = match tok.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, tok),
            };
            let parts: Vec<&str> = hms.split(':').collect();
            let [h, m, s] = parts.as_slice() else {
                return None;
            };
            let v = h.parse::<f64>().ok()? * 3600.0
                + m.parse::<f64>().ok()? * 60.0
                + s.parse::<f64>().ok()?;
            secs += if neg { -v } else { v };
        } else {
            let n: f64 = tok.parse().ok()?;
            match tokens.next()? {
                "day" | "days" => secs += n * 86400.0,
                _ => return None,
            }
        }
    }
    secs.is_finite()
        .then(|| Duration::from_secs_f64(secs.max(0.0)))
}

/// The replication lag samples taken while the workload ran.
#[derive(Debug, Default)]
pub(super) struct LagStats {
    samples: Vec<Duration>,
}

/// Order statistics of [`LagStats`].
#[derive(Debug, Clone, Copy)]
pub(super) struct LagSummary {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub median: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Largest sample.
    pub max: Duration,
}

impl LagStats {
    /// Records one sample.
    pub(super) fn add(&mut self, lag: Duration) {
        self.samples.push(lag);
    }

    /// The statistics, or `None` without samples.
    pub(super) fn summary(&self) -> Option<LagSummary> {
        let mut s = self.samples.clone();
        s.sort();
        let max = *s.last()?;
        let rank = |q: f64| s[((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        Some(LagSummary {
            count: s.len(),
            median: rank(0.5),
            p99: rank(0.99),
            max,
        })
    }
}

/// `ALTER VIRTUAL CLUSTER application COMPLETE REPLICATION TO LATEST`; returns the cutover
/// time (a decimal HLC timestamp, checked to be one).
pub(super) async fn complete_replication(client: &Client) -> anyhow::Result<String> {
    let sql = format!("ALTER VIRTUAL CLUSTER {VC} COMPLETE REPLICATION TO LATEST");
    let ts = query_one(client, &sql).await?;
    if ts.is_empty() || !ts.chars().all(|c| c.is_ascii_digit() || c == '.') {
        bail!("{sql}: the cutover time {ts:?} is not a decimal timestamp");
    }
    Ok(ts)
}

/// The `data_state` of [`VC`] in `SHOW VIRTUAL CLUSTERS`.
pub(super) async fn data_state(client: &Client) -> anyhow::Result<String> {
    let rows = query(client, "SHOW VIRTUAL CLUSTERS").await?;
    rows.iter()
        .find(|r| r.get(1).and_then(Option::as_deref) == Some(VC))
        .and_then(|r| r.get(2).cloned().flatten())
        .ok_or_else(|| anyhow!("SHOW VIRTUAL CLUSTERS: no virtual cluster named {VC}"))
}

/// Polls [`data_state`] until it is `ready`, calling `seen` with every new state; gives up
/// after `timeout`.
pub(super) async fn wait_ready(
    client: &Client,
    timeout: Duration,
    mut seen: impl FnMut(&str, Duration),
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let state = data_state(client).await?;
        if state != last {
            seen(&state, start.elapsed());
            last = state;
        }
        if last == "ready" {
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!(
                "virtual cluster {VC} is still {last:?} {}s after COMPLETE REPLICATION",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The fingerprint of [`VC`] at `as_of` (a decimal timestamp).
pub(super) async fn fingerprint(client: &Client, as_of: &str) -> anyhow::Result<String> {
    query_one(
        client,
        &format!(
            "SELECT fingerprint::STRING FROM [SHOW EXPERIMENTAL_FINGERPRINTS FROM VIRTUAL CLUSTER {VC}] \
             AS OF SYSTEM TIME '{as_of}'"
        ),
    )
    .await
}

/// `SELECT count(*)` of `movr.<table>`, at `as_of` if given.
pub(super) async fn row_count(
    client: &Client,
    table: &str,
    as_of: Option<&str>,
) -> anyhow::Result<u64> {
    let aost = as_of
        .map(|t| format!(" AS OF SYSTEM TIME '{t}'"))
        .unwrap_or_default();
    let sql = format!("SELECT count(*) FROM movr.{table}{aost}");
    let text = query_one(client, &sql).await?;
    text.parse()
        .with_context(|| format!("{sql}: count {text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        let d = |s| parse_interval(s).map(|d| d.as_micros());
        assert_eq!(d("00:00:00.296415"), Some(296_415));
        assert_eq!(d("00:01:02"), Some(62_000_000));
        assert_eq!(d("1 day 00:00:01"), Some(86_401_000_000));
        assert_eq!(d("-00:00:01"), Some(0));
        assert_eq!(d("3 mons"), None);
        assert_eq!(d("garbage"), None);
    }

    #[test]
    fn lag_stats() {
        let mut s = LagStats::default();
        assert!(s.summary().is_none());
        for ms in [300, 100, 200, 250, 900] {
            s.add(Duration::from_millis(ms));
        }
        let sum = s.summary().map(|s| (s.count, s.median, s.p99, s.max));
        assert_eq!(
            sum,
            Some((
                5,
                Duration::from_millis(250),
                Duration::from_millis(900),
                Duration::from_millis(900)
            ))
        );
    }

    #[test]
    fn redacts_password() {
        assert_eq!(
            redact("ON 'postgresql://repl:s3cret@localhost:1/x'"),
            "ON 'postgresql://repl:***@localhost:1/x'"
        );
        assert_eq!(redact("SELECT 1"), "SELECT 1");
    }
}
