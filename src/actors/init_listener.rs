//! The init handshake of a node started with `tandem start` (not `start-single-node`).
//!
//! Until the cluster is initialised, the node's listen port speaks only this protocol: the
//! client (`tandem init`) connects (over mutual TLS with a certificate signed by the cluster CA
//! whose CN is `root` or `node`, unless the node is `--insecure`), sends `TANDEM-INIT\n`, and
//! the node bootstraps and answers `OK <node id>\n`, or `ERR <message>\n`. Any other first line
//! (for example a SQL client's startup packet) gets `ERR cluster not initialized; run tandem
//! init\n` and the connection closes. After a successful init the listener is handed to the SQL
//! server. Errors on one connection never stop the loop.

use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// The request line.
pub const INIT_REQUEST: &str = "TANDEM-INIT";

/// Bootstraps the cluster; answers the node id or an error message.
pub type Bootstrap = Arc<dyn Fn() -> BoxFuture<'static, Result<String, String>> + Send + Sync>;

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(stream: S, bootstrap: &Bootstrap) -> bool {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await;
    let ok_line = matches!(read, Ok(Ok(n)) if n > 0) && line.trim_end() == INIT_REQUEST;
    let (reply, done) = if ok_line {
        match bootstrap().await {
            Ok(id) => (format!("OK {id}\n"), true),
            Err(e) => (format!("ERR {e}\n"), false),
        }
    } else {
        (
            "ERR cluster not initialized; run tandem init\n".to_string(),
            false,
        )
    };
    let mut s = reader.into_inner();
    let _ = s.write_all(reply.as_bytes()).await;
    let _ = s.shutdown().await;
    done
}

/// Serves the init protocol on `listener` until one init succeeds; returns the listener.
pub async fn wait_for_init(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    bootstrap: Bootstrap,
) -> TcpListener {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("failed to accept a connection while waiting for init: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let done = match &acceptor {
            None => handle(sock, &bootstrap).await,
            Some(acc) => {
                match tokio::time::timeout(Duration::from_secs(10), acc.accept(sock)).await {
                    Ok(Ok(tls_stream)) => {
                        let cn = tls_stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .and_then(|c| crate::security::tls::peer_common_name(c).ok());
                        if matches!(cn.as_deref(), Some("root") | Some("node")) {
                            handle(tls_stream, &bootstrap).await
                        } else {
                            let mut s = tls_stream;
                            let _ = s
                                .write_all(
                                    b"ERR init requires a client certificate for root or node\n",
                                )
                                .await;
                            false
                        }
                    }
                    _ => {
                        tracing::debug!(%peer, "TLS handshake failed on an uninitialised node");
                        false
                    }
                }
            }
        };
        if done {
            return listener;
        }
    }
}
