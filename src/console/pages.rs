//! Server-rendered HTML of the DB Console: the login page, the overview, the nodes and virtual
//! clusters tables, and the replication page with its lag charts (inline SVG).
//!
//! Invariants: a page is one document with inline CSS and no inline scripts or external
//! assets, so the binary serves the whole console; the only script is the replication page's
//! `/console/replication.js`, served by the console itself, which refreshes values the page
//! already shows and redraws its charts with the same geometry as [`lag_chart`]. Every value
//! that came from the node or the user passes through [`escape`] before it is written into the
//! HTML. These functions only format: they cannot fail and take no locks.

use std::fmt::Write as _;
use std::time::Duration;

use super::lag_history::{LagSample, LagSeries, unix_millis};
use super::{NodeRow, ProducerRow, ReplicationView, StreamRow, VirtualClusterRow, format_time};

/// `s` with the five HTML-significant characters replaced by entities, safe inside element
/// content and inside double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,sans-serif;margin:0;color:#1f2933;background:#f5f7fa}\
header{background:#1f2933;color:#fff;padding:.6em 1.2em;display:flex;align-items:center;gap:1.2em}\
header a{color:#cbd2d9;text-decoration:none}header a:hover{color:#fff}\
header .brand{font-weight:600;color:#fff}header .user{margin-left:auto;color:#9aa5b1}\
header form{margin:0}header button{background:none;border:1px solid #9aa5b1;color:#fff;\
border-radius:3px;padding:.2em .7em;cursor:pointer}\
main{padding:1.2em;max-width:72em}\
table{border-collapse:collapse;background:#fff;width:100%}\
th,td{border:1px solid #d9e2ec;padding:.35em .7em;text-align:left}\
th{background:#e4e7eb;font-weight:600}td.num{text-align:right}\
.ok{color:#0e7c3a}.bad{color:#b42318}\
.login{max-width:22em;margin:4em auto;background:#fff;padding:1.5em;border:1px solid #d9e2ec}\
.login label{display:block;margin-top:.8em}.login input{width:100%;box-sizing:border-box;padding:.4em}\
.login button{margin-top:1.2em;padding:.4em 1.2em}\
.error{color:#b42318;background:#fdecea;padding:.5em;border:1px solid #f5c2c0}\
ul.cards{list-style:none;padding:0;display:flex;gap:1em;flex-wrap:wrap}\
ul.cards li{background:#fff;border:1px solid #d9e2ec;padding:1em 1.4em;min-width:12em}\
ul.cards .n{font-size:1.8em;font-weight:600;display:block}\
.note{color:#616e7c}section.stream{background:#fff;border:1px solid #d9e2ec;padding:.4em 1.2em 1em;\
margin-bottom:1.2em}table.kv{width:auto;min-width:36em}table.kv th{width:11em}\
figure{margin:1em 0 0}figcaption{color:#616e7c;margin-bottom:.3em}\
svg.lag-chart{background:#fff;border:1px solid #d9e2ec;max-width:100%;height:auto}\
svg.lag-chart text{font-size:11px;fill:#616e7c}";

/// A whole page: head, header (with navigation and a logout button when `user` is logged in)
/// and `body`, which must already be escaped HTML.
fn layout(title: &str, user: Option<&str>, body: &str) -> String {
    let mut header = String::from(r#"<span class="brand">tandem</span>"#);
    if let Some(user) = user {
        header.push_str(
            r#"<a href="/">Overview</a><a href="/nodes">Nodes</a><a href="/virtual-clusters">Virtual clusters</a><a href="/replication">Replication</a><a href="/_status/vars">Metrics</a>"#,
        );
        let _ = write!(
            header,
            r#"<span class="user">{}</span><form method="post" action="/logout"><button type="submit">Log out</button></form>"#,
            escape(user)
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{title} · tandem</title><style>{STYLE}</style></head>\
<body><header>{header}</header><main>{body}</main></body></html>\n",
        title = escape(title),
    )
}

/// The login form, with `error` (e.g. "invalid user or password") above it if given.
pub fn login_page(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let body = format!(
        r#"<div class="login"><h1>Log in</h1>{error}<form method="post" action="/login">
<label for="user">User</label><input id="user" name="user" autocomplete="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Log in</button></form></div>"#
    );
    layout("Log in", None, &body)
}

/// The overview after login: counts of nodes and virtual clusters, with links.
pub fn overview_page(user: &str, nodes: &[NodeRow], clusters: &[VirtualClusterRow]) -> String {
    let live = nodes.iter().filter(|n| n.is_live).count();
    let ranges: u64 = nodes.iter().map(|n| n.ranges).sum();
    let body = format!(
        r#"<h1>Cluster overview</h1><ul class="cards">
<li><a href="/nodes"><span class="n">{live}/{total}</span>live nodes</a></li>
<li><a href="/virtual-clusters"><span class="n">{vcs}</span>virtual clusters</a></li>
<li><span class="n">{ranges}</span>range replicas</li></ul>
<p><a href="/nodes">Nodes</a> · <a href="/virtual-clusters">Virtual clusters</a> · <a href="/replication">Replication</a> · <a href="/_status/vars">Prometheus metrics</a> · JSON: <a href="/api/v1/nodes">/api/v1/nodes</a>, <a href="/api/v1/virtual-clusters">/api/v1/virtual-clusters</a>, <a href="/_status/replication">/_status/replication</a></p>"#,
        total = nodes.len(),
        vcs = clusters.len(),
    );
    layout("Overview", Some(user), &body)
}

/// The nodes table.
pub fn nodes_page(user: &str, nodes: &[NodeRow]) -> String {
    let mut rows = String::new();
    for n in nodes {
        let (class, live) = if n.is_live {
            ("ok", "live")
        } else {
            ("bad", "not live")
        };
        let _ = write!(
            rows,
            r#"<tr><td>{id}</td><td>{addr}</td><td>{sql}</td><td>{build}</td><td>{started}</td><td class="{class}">{live}</td><td class="num">{ranges}</td><td class="num">{leases}</td></tr>"#,
            id = escape(&n.id.to_string()),
            addr = escape(&n.address),
            sql = escape(&n.sql_address),
            build = escape(&n.build),
            started = escape(&format_time(n.started_at)),
            ranges = n.ranges,
            leases = n.leases,
        );
    }
    if nodes.is_empty() {
        rows.push_str(r#"<tr><td colspan="8">no nodes</td></tr>"#);
    }
    let body = format!(
        "<h1>Nodes</h1><table><thead><tr><th>id</th><th>address</th><th>sql address</th>\
<th>build</th><th>started at</th><th>status</th><th>ranges</th><th>leases</th></tr></thead>\
<tbody>{rows}</tbody></table>"
    );
    layout("Nodes", Some(user), &body)
}

/// The virtual clusters table, with the replication columns when any cluster is a standby.
pub fn virtual_clusters_page(user: &str, clusters: &[VirtualClusterRow]) -> String {
    let replication = clusters.iter().any(|c| c.replication.is_some());
    let mut head = String::from("<th>id</th><th>name</th><th>data_state</th><th>service_mode</th>");
    if replication {
        head.push_str(
            "<th>replication job</th><th>status</th><th>source</th><th>source virtual cluster</th>\
<th>replicated time</th><th>replication lag</th>",
        );
    }
    let mut rows = String::new();
    for c in clusters {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            escape(&c.id.to_string()),
            escape(&c.name),
            escape(&c.data_state),
            escape(&c.service_mode),
        );
        if replication {
            match &c.replication {
                Some(r) => {
                    let _ = write!(
                        rows,
                        r#"<td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td>"#,
                        r.job_id,
                        escape(&r.status),
                        escape(&r.source),
                        escape(&r.source_virtual_cluster),
                        r.replicated_time
                            .map(|t| escape(&format_time(t)))
                            .unwrap_or_default(),
                        r.replication_lag.map(format_lag).unwrap_or_default(),
                    );
                }
                None => rows.push_str(&"<td></td>".repeat(6)),
            }
        }
        rows.push_str("</tr>");
    }
    if clusters.is_empty() {
        rows.push_str(r#"<tr><td colspan="4">no virtual clusters</td></tr>"#);
    }
    let body = format!(
        "<h1>Virtual clusters</h1><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    );
    layout("Virtual clusters", Some(user), &body)
}

/// A replication lag as seconds with millisecond precision (`1.250s`).
fn format_lag(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// The replication page: per standby virtual cluster its state, replicated and retained time,
/// lag and a lag chart over `window` from `history`; then the producer streams. The page's
/// script refreshes it every second from `/_status/replication`.
pub fn replication_page(
    user: &str,
    view: &ReplicationView,
    history: &[LagSeries],
    window: Duration,
) -> String {
    let newest = history
        .iter()
        .filter_map(|s| s.samples.last())
        .map(LagSample::unix_millis)
        .max()
        .unwrap_or(0);
    let now_ms = unix_millis(view.now).max(newest);
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut body = format!(
        r#"<h1>Physical cluster replication</h1><div id="replication" data-source="/_status/replication" data-now="{now_ms}" data-window="{window_ms}" data-producers="{producers}">
<p class="note">As of <span data-field="now">{now}</span>; values and charts refresh every second (<span id="replication-updates" data-updates="0">not refreshed yet</span>).</p>"#,
        now = escape(&format_time(view.now)),
        producers = view
            .producers
            .iter()
            .map(|p| p.job_id.to_string())
            .collect::<Vec<_>>()
            .join(","),
    );
    if let Some(e) = &view.error {
        let _ = write!(
            body,
            r#"<p class="error" role="alert">Could not read the replication streams: {}</p>"#,
            escape(e)
        );
    }
    body.push_str("<h2>Standby virtual clusters</h2>");
    if view.streams.is_empty() {
        body.push_str(
            r#"<p class="note" id="no-streams">No virtual cluster of this cluster is replicating from a primary.</p>"#,
        );
    }
    for stream in &view.streams {
        let samples = history
            .iter()
            .find(|s| s.virtual_cluster == stream.virtual_cluster)
            .map_or(&[][..], |s| s.samples.as_slice());
        stream_section(&mut body, stream, samples, now_ms, window_ms);
    }
    producers_table(&mut body, &view.producers);
    body.push_str(r#"</div><script src="/console/replication.js" defer></script>"#);
    layout("Replication", Some(user), &body)
}

/// One standby virtual cluster's section: a key/value table and its lag chart. Cells the
/// script refreshes carry `data-field` (the JSON field they show).
fn stream_section(
    out: &mut String,
    s: &StreamRow,
    samples: &[LagSample],
    now_ms: u64,
    window_ms: u64,
) {
    let name = escape(&s.virtual_cluster);
    let opt_time = |t: Option<std::time::SystemTime>| t.map(format_time).unwrap_or_default();
    let _ = write!(
        out,
        r#"<section class="stream" data-virtual-cluster="{name}"><h3>{name}</h3><table class="kv"><tbody>
<tr><th>state</th><td data-field="status">{status}</td></tr>
<tr><th>replicated time</th><td data-field="replicated_time">{replicated}</td></tr>
<tr><th>retained time</th><td data-field="retained_time">{retained}</td></tr>
<tr><th>replication lag</th><td data-field="replication_lag">{lag}</td></tr>
<tr><th>failover time</th><td data-field="cutover_time">{cutover}</td></tr>
<tr><th>last error</th><td data-field="last_error">{error}</td></tr>
<tr><th>job</th><td><span data-field="job_id">{job}</span> (<span data-field="job_status">{job_status}</span>)</td></tr>
<tr><th>source</th><td>virtual cluster <span data-field="source_virtual_cluster">{source_vc}</span> of <span data-field="source">{source}</span></td></tr>
</tbody></table>"#,
        status = escape(&s.status),
        replicated = escape(&opt_time(s.replicated_time)),
        retained = escape(&format_time(s.retained_time)),
        lag = s.replication_lag.map(format_lag).unwrap_or_default(),
        cutover = escape(&opt_time(s.cutover_time)),
        error = escape(s.last_error.as_deref().unwrap_or_default()),
        job = s.job_id,
        job_status = escape(&s.job_status),
        source_vc = escape(&s.source_virtual_cluster),
        source = escape(&s.source),
    );
    let _ = write!(
        out,
        "<figure><figcaption>Replication lag, sampled every second (up to the last {} \
minutes)</figcaption>{}</figure></section>",
        window_ms / 60_000,
        lag_chart(&s.virtual_cluster, samples, now_ms, window_ms),
    );
}

fn producers_table(out: &mut String, producers: &[ProducerRow]) {
    out.push_str("<h2>Producer streams</h2>");
    if producers.is_empty() {
        out.push_str(
            r#"<p class="note">No standby is replicating from this cluster's virtual clusters.</p>"#,
        );
        return;
    }
    out.push_str(
        "<table><thead><tr><th>virtual cluster</th><th>job</th><th>status</th>\
<th>history retained since</th><th>expires</th></tr></thead><tbody>",
    );
    for p in producers {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td class="num">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(&p.virtual_cluster),
            p.job_id,
            escape(&p.job_status),
            escape(&format_time(p.protected_time)),
            escape(&format_time(p.expiration)),
        );
    }
    out.push_str("</tbody></table>");
}

/// The lag chart's geometry, shared with `replication.js`: a `CHART_W` × `CHART_H` view box,
/// the plot inset by the paddings, time on x (the last `window` up to now), lag on y from 0
/// to [`chart_ymax`].
const CHART_W: f64 = 600.0;
const CHART_H: f64 = 160.0;
const PAD_LEFT: f64 = 44.0;
const PAD_RIGHT: f64 = 8.0;
const PAD_TOP: f64 = 8.0;
const PAD_BOTTOM: f64 = 20.0;

/// The time span the chart shows: the time since the oldest sample rounded up to whole
/// minutes, at least one minute and at most `window_ms`.
pub fn chart_span_ms(oldest_ms: Option<u64>, now_ms: u64, window_ms: u64) -> u64 {
    let age = oldest_ms.map_or(0, |t| now_ms.saturating_sub(t));
    age.div_ceil(60_000)
        .saturating_mul(60_000)
        .clamp(60_000, window_ms.max(60_000))
}

/// The top of the lag axis: the smallest of 1, 2, 5 × 10^k seconds (at least 1 s) at or above
/// `max_lag`.
pub fn chart_ymax(max_lag: f64) -> f64 {
    let mut step = 1.0_f64;
    loop {
        for m in [1.0, 2.0, 5.0] {
            if m * step >= max_lag || step >= 1e12 {
                return m * step;
            }
        }
        step *= 10.0;
    }
}

/// An inline SVG line chart of `samples` (lag over time) up to `now_ms`, over
/// [`chart_span_ms`] of at most `window_ms`; `data-points` holds the number of samples drawn.
pub fn lag_chart(
    virtual_cluster: &str,
    samples: &[LagSample],
    now_ms: u64,
    window_ms: u64,
) -> String {
    let max_lag = samples
        .iter()
        .map(|s| s.lag.as_secs_f64())
        .fold(0.0, f64::max);
    let ymax = chart_ymax(max_lag);
    let (plot_w, plot_h) = (
        CHART_W - PAD_LEFT - PAD_RIGHT,
        CHART_H - PAD_TOP - PAD_BOTTOM,
    );
    let span = chart_span_ms(
        samples.first().map(LagSample::unix_millis),
        now_ms,
        window_ms,
    );
    let start = now_ms.saturating_sub(span);
    let mut points = String::new();
    for s in samples {
        let dx = s.unix_millis().saturating_sub(start) as f64 / span as f64;
        let x = PAD_LEFT + dx.min(1.0) * plot_w;
        let y = PAD_TOP + (1.0 - (s.lag.as_secs_f64() / ymax).min(1.0)) * plot_h;
        if !points.is_empty() {
            points.push(' ');
        }
        let _ = write!(points, "{x:.1},{y:.1}");
    }
    let (bottom, right) = (PAD_TOP + plot_h, PAD_LEFT + plot_w);
    format!(
        r##"<svg class="lag-chart" data-virtual-cluster="{name}" data-points="{n}" viewBox="0 0 {CHART_W} {CHART_H}" width="{CHART_W}" height="{CHART_H}" role="img" aria-label="replication lag of {name}" xmlns="http://www.w3.org/2000/svg">
<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{bottom}" stroke="#9aa5b1"/><line x1="{PAD_LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#9aa5b1"/>
<line x1="{PAD_LEFT}" y1="{mid}" x2="{right}" y2="{mid}" stroke="#e4e7eb"/>
<text class="y-max" x="{label_x}" y="{top_label}" text-anchor="end">{ymax}s</text><text x="{label_x}" y="{bottom}" text-anchor="end">0s</text>
<text class="x-start" x="{PAD_LEFT}" y="{CHART_H}" dy="-4">-{minutes}m</text><text x="{right}" y="{CHART_H}" dy="-4" text-anchor="end">now</text>
<polyline class="lag-line" fill="none" stroke="#2563eb" stroke-width="1.5" points="{points}"/></svg>"##,
        name = escape(virtual_cluster),
        n = samples.len(),
        mid = PAD_TOP + plot_h / 2.0,
        label_x = PAD_LEFT - 4.0,
        top_label = PAD_TOP + 8.0,
        minutes = span / 60_000,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::ReplicationRow;
    use crate::ids::{NodeId, TenantId};
    use std::time::SystemTime;

    #[test]
    fn escape_covers_html_specials() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain é"), "plain é");
    }

    #[test]
    fn pages_escape_row_values() {
        let vc = VirtualClusterRow {
            id: TenantId(3),
            name: "<script>alert(1)</script>".into(),
            data_state: "ready".into(),
            service_mode: "shared".into(),
            replication: Some(ReplicationRow {
                job_id: 42,
                status: "replicating".into(),
                source: "postgresql://root@src:26257/?options=-ccluster%3Dmain&sslmode=verify-full"
                    .into(),
                source_virtual_cluster: "main".into(),
                replicated_time: Some(SystemTime::UNIX_EPOCH),
                replication_lag: Some(Duration::from_millis(1250)),
            }),
        };
        let html = virtual_clusters_page("r<oot", &[vc]);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("r&lt;oot"));
        assert!(html.contains("&amp;sslmode"));
        assert!(html.contains("1970-01-01T00:00:00Z"));
        assert!(html.contains("1.250s"));

        let node = NodeRow {
            id: NodeId(1),
            address: "h\"1:26257".into(),
            sql_address: "h1:26257".into(),
            build: "tandem 0.1.0".into(),
            started_at: SystemTime::UNIX_EPOCH,
            is_live: true,
            ranges: 5,
            leases: 4,
        };
        let html = nodes_page("root", &[node]);
        assert!(html.contains("<td>n1</td><td>h&quot;1:26257</td>"));
        assert!(html.contains(r#"<td class="ok">live</td>"#));
    }

    #[test]
    fn replication_page_escapes_and_draws_the_history() {
        use crate::console::{ProducerRow, ReplicationView, StreamRow};
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let stream = StreamRow {
            virtual_cluster: "<i>app</i>".into(),
            virtual_cluster_id: TenantId(3),
            job_id: 58_842_838_545_260_082,
            job_status: "running".into(),
            status: "replicating".into(),
            source_virtual_cluster: "main".into(),
            source: "postgresql://root@src:26257/?a=1&b=2".into(),
            replicated_time: Some(at(1_000)),
            retained_time: at(900),
            replication_lag: Some(Duration::from_millis(2500)),
            cutover_time: None,
            last_error: Some("<boom>".into()),
        };
        let view = ReplicationView {
            streams: vec![stream],
            producers: vec![ProducerRow {
                virtual_cluster: "main".into(),
                job_id: 7,
                job_status: "running".into(),
                protected_time: at(800),
                expiration: at(2_000),
            }],
            ..ReplicationView::empty(at(1_002))
        };
        let samples = (0..3)
            .map(|i| LagSample {
                at: at(1_000 + i),
                lag: Duration::from_millis(1500 + 500 * i),
            })
            .collect();
        let history = [LagSeries {
            virtual_cluster: "<i>app</i>".into(),
            samples,
        }];
        let html = replication_page("root", &view, &history, Duration::from_secs(600));
        assert!(!html.contains("<i>") && !html.contains("<boom>"));
        assert!(html.contains(r#"data-virtual-cluster="&lt;i&gt;app&lt;/i&gt;""#));
        assert!(html.contains(r#"<td data-field="status">replicating</td>"#));
        assert!(html.contains(r#"<td data-field="replication_lag">2.500s</td>"#));
        assert!(html.contains(r#"<span data-field="job_id">58842838545260082</span>"#));
        assert!(html.contains("?a=1&amp;b=2"));
        assert!(html.contains(r#"data-producers="7""#));
        assert!(html.contains(r#"data-points="3""#));
        // One minute span ending at the last sample; the lag axis tops out at 5 s.
        assert!(
            html.contains(r#"points="573.7,100.4 582.9,87.2 592.0,74.0""#),
            "{html}"
        );
        assert!(html.contains(r#">5s</text>"#));
        assert!(html.contains(r#"class="x-start" x="44" y="160" dy="-4">-1m</text>"#));
        assert!(html.contains(r#"<script src="/console/replication.js" defer></script>"#));

        let empty = replication_page(
            "root",
            &ReplicationView::empty(at(1)),
            &[],
            Duration::from_secs(600),
        );
        assert!(empty.contains("No virtual cluster of this cluster is replicating"));
        assert!(empty.contains("No standby is replicating"));
    }

    #[test]
    fn chart_axes() {
        assert_eq!(chart_ymax(0.0), 1.0);
        assert_eq!(chart_ymax(1.0), 1.0);
        assert_eq!(chart_ymax(1.2), 2.0);
        assert_eq!(chart_ymax(4.9), 5.0);
        assert_eq!(chart_ymax(70.0), 100.0);
        assert_eq!(chart_span_ms(None, 1_000_000, 600_000), 60_000);
        assert_eq!(
            chart_span_ms(Some(1_000_000 - 61_000), 1_000_000, 600_000),
            120_000
        );
        assert_eq!(chart_span_ms(Some(0), 1_000_000, 600_000), 600_000);
    }

    #[test]
    fn login_page_shows_escaped_error() {
        let html = login_page(Some("bad <user>"));
        assert!(html.contains("bad &lt;user&gt;"));
        assert!(html.contains(r#"action="/login""#));
        assert!(!html.contains("/logout"));
    }
}
