//! Configuration errors: [`ConfigError`] and how a `config` crate error is turned into one that
//! names the key and the layer (file or variable) that set it. Pure functions; no I/O.

use super::*;

// ---------------------------------------------------------------------------------------------
// Errors

/// A configuration that cannot be used. The message names the key and, when known, the file or
/// variable that set it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config-profile` names no profile.
    #[error("unknown config profile {name:?}; known profiles: {known}")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The profiles that exist, comma-separated.
        known: String,
    },
    /// A configuration file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file that is not valid TOML.
    #[error("invalid TOML in {origin}: {message}")]
    Syntax {
        /// The file.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// An unknown key, a malformed value or a failed cross-field check.
    #[error("{}", describe_invalid(.key.as_deref(), .origin.as_deref(), .message))]
    Invalid {
        /// The dotted key (`kv.gc_ttl`, `bootstrap.virtual_clusters[1].name`), when known.
        key: Option<String>,
        /// The file, environment variable or flag that set it, when known.
        origin: Option<String>,
        /// What is wrong.
        message: String,
    },
}

pub(super) fn describe_invalid(key: Option<&str>, origin: Option<&str>, message: &str) -> String {
    match (key, origin) {
        (Some(k), Some(o)) => format!("invalid configuration key `{k}` in {o}: {message}"),
        (Some(k), None) => format!("invalid configuration key `{k}`: {message}"),
        (None, Some(o)) => format!("invalid configuration in {o}: {message}"),
        (None, None) => format!("invalid configuration: {message}"),
    }
}

impl ConfigError {
    pub(super) fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: Some(key.into()),
            origin: None,
            message: message.into(),
        }
    }

    /// The dotted key the error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => key.as_deref(),
            _ => None,
        }
    }

    /// The file, environment variable or flag the error comes from, if known.
    pub fn origin(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { origin, .. } => origin.as_deref(),
            ConfigError::Syntax { origin, .. } => Some(origin),
            _ => None,
        }
    }

    /// Converts an error of the `config` crate raised while reading `origin`.
    pub(super) fn from_config(err: config::ConfigError, origin: &str) -> ConfigError {
        if let config::ConfigError::FileParse { cause, .. } = err {
            return ConfigError::Syntax {
                origin: origin.to_string(),
                message: cause.to_string(),
            };
        }
        let (key, message) = split_config_error(err);
        ConfigError::Invalid {
            key,
            origin: Some(origin.to_string()),
            message,
        }
    }
}

/// Splits a `config` crate error into the full dotted key and a message without the key.
pub(super) fn split_config_error(err: config::ConfigError) -> (Option<String>, String) {
    let (key, message) = split_config_error_inner(err);
    let key = key.map(|k| normalize_key(&k));
    // serde reports unknown fields by name, with the parent's key as the path.
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some(end) = rest.find('`')
    {
        let field = rest[..end].to_string();
        let message = format!("unknown key `{field}{}", &rest[end..]);
        return (join_keys(key, Some(field)), message);
    }
    (key, message)
}

pub(super) fn split_config_error_inner(err: config::ConfigError) -> (Option<String>, String) {
    match err {
        config::ConfigError::At { error, key, .. } => {
            let (inner_key, message) = split_config_error_inner(*error);
            (join_keys(key, inner_key), message)
        }
        config::ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => {
            let bare = config::ConfigError::Type {
                origin: None,
                unexpected,
                expected,
                key: None,
            };
            (key, bare.to_string())
        }
        config::ConfigError::NotFound(key) => (Some(key), "missing required key".to_string()),
        other => (None, other.to_string()),
    }
}

/// The `config` crate writes list elements' fields as `list[0]field`; make it `list[0].field`.
pub(super) fn normalize_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    let mut after_bracket = false;
    for c in key.chars() {
        if after_bracket && c != '[' && c != '.' {
            out.push('.');
        }
        after_bracket = c == ']';
        out.push(c);
    }
    out
}

pub(super) fn join_keys(parent: Option<String>, child: Option<String>) -> Option<String> {
    match (parent, child) {
        (Some(p), Some(c)) if c.starts_with('[') => Some(format!("{p}{c}")),
        (Some(p), Some(c)) => Some(format!("{p}.{c}")),
        (p, None) => p,
        (None, c) => c,
    }
}
