//! Server-rendered HTML of the DB Console: the login page, the overview, and the nodes and
//! virtual clusters tables.
//!
//! Invariants: a page is one self-contained document (inline CSS, no scripts, no external
//! assets, so the binary serves the whole console); every value that came from the node or
//! the user passes through [`escape`] before it is written into the HTML. These functions only
//! format: they cannot fail and take no locks.

use std::fmt::Write as _;
use std::time::Duration;

use super::{NodeRow, VirtualClusterRow, format_time};

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
ul.cards .n{font-size:1.8em;font-weight:600;display:block}";

/// A whole page: head, header (with navigation and a logout button when `user` is logged in)
/// and `body`, which must already be escaped HTML.
fn layout(title: &str, user: Option<&str>, body: &str) -> String {
    let mut header = String::from(r#"<span class="brand">tandem</span>"#);
    if let Some(user) = user {
        header.push_str(
            r#"<a href="/">Overview</a><a href="/nodes">Nodes</a><a href="/virtual-clusters">Virtual clusters</a><a href="/_status/vars">Metrics</a>"#,
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
<p><a href="/nodes">Nodes</a> · <a href="/virtual-clusters">Virtual clusters</a> · <a href="/_status/vars">Prometheus metrics</a> · JSON: <a href="/api/v1/nodes">/api/v1/nodes</a>, <a href="/api/v1/virtual-clusters">/api/v1/virtual-clusters</a></p>"#,
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
    fn login_page_shows_escaped_error() {
        let html = login_page(Some("bad <user>"));
        assert!(html.contains("bad &lt;user&gt;"));
        assert!(html.contains(r#"action="/login""#));
        assert!(!html.contains("/logout"));
    }
}
