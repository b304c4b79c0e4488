//! The console's two error types: [`ConsoleError`] for starting and stopping the HTTP server
//! (the node reports it and refuses to start), and [`ApiError`] for failed requests.
//!
//! Every request error goes through [`ApiError`], which implements actix-web's `ResponseError`:
//! the status comes from the variant and the body is JSON `{"msg": "..."}`. Errors are logged
//! where they are turned into responses: `Internal` with `{:?}` (the whole chain, for the
//! operator), the others with `{:#}` at debug level (they are the client's doing). An internal
//! error's details stay in the log; the client only sees "internal error".

use std::io;
use std::net::SocketAddr;

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError};

/// Starting or stopping the console failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The HTTP address could not be bound (in use, not local, no permission).
    #[error("bind console HTTP address {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// `ConsoleServer::start` was called outside a tokio runtime (or actix System).
    #[error("start console HTTP server: no tokio runtime or actix System is running")]
    NoRuntime,

    /// The HTTP server stopped with an error, or its task panicked.
    #[error("run console HTTP server: {0}")]
    Server(String),

    /// A metric could not be registered (e.g. the same name twice on one registry).
    #[error("register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// A failed request. Each variant maps to one HTTP status; the message is shown to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad query string or form); 400.
    #[error("{0}")]
    BadRequest(String),
    /// The request needs a console login (or the login was wrong); 401.
    #[error("{0}")]
    Unauthorized(String),
    /// Nothing is served at this path; 404.
    #[error("{0}")]
    NotFound(String),
    /// The path exists but not for this method; 405.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request conflicts with the current state; 409.
    #[error("{0}")]
    Conflict(String),
    /// The node cannot serve this yet (e.g. not ready); 503.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure on the server side; 500. The message is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The message sent to the client (internal details are withheld).
    pub fn client_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(_) => tracing::error!(error = ?self, "console request failed"),
            _ => tracing::debug!("console request refused: {self:#}"),
        }
        let body = serde_json::json!({ "msg": self.client_message() });
        HttpResponse::build(self.status_code())
            .insert_header(ContentType::json())
            .body(body.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body_of(e: &ApiError) -> (StatusCode, String) {
        let resp = e.error_response();
        let status = resp.status();
        let bytes = resp.into_body().try_into_bytes().expect("sized body");
        (status, String::from_utf8(bytes.to_vec()).expect("utf-8"))
    }

    #[test]
    fn variants_map_to_status_and_json_msg() {
        let (status, body) = body_of(&ApiError::Unauthorized("log in first".into()));
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body, r#"{"msg":"log in first"}"#);
        let (status, body) = body_of(&ApiError::Unavailable("not ready".into()));
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, r#"{"msg":"not ready"}"#);
        assert_eq!(
            body_of(&ApiError::NotFound("x".into())).0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            body_of(&ApiError::Conflict("x".into())).0,
            StatusCode::CONFLICT
        );
        assert_eq!(
            body_of(&ApiError::BadRequest("x".into())).0,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn internal_details_are_not_sent() {
        let (status, body) = body_of(&ApiError::Internal("secret path /var/x".into()));
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, r#"{"msg":"internal error"}"#);
    }
}
