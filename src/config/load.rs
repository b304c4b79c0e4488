//! Loading: the layers of a node configuration (built-in defaults, profile, `--config` file,
//! `TANDEM_*` variables, flags), each checked on its own, then merged and validated by [`load`].
//! Reads only the files it is pointed at; every failure is a [`ConfigError`].

use super::*;

// ---------------------------------------------------------------------------------------------
// Loading

/// Where [`load`] reads the configuration from.
#[derive(Clone, Debug, Default)]
pub struct ConfigSources {
    /// `--config-profile`; default `TANDEM_PROFILE`, else `default`.
    pub profile: Option<String>,
    /// `--config FILE`; default `TANDEM_CONFIG`, else none.
    pub config_file: Option<PathBuf>,
    /// The process environment (`std::env::vars().collect()` in main); only `TANDEM_*` is read.
    pub env: Vec<(String, String)>,
    /// Command-line flags that were given, as dotted keys and string values
    /// (`("listen_addr", ":26257")`, `("kv.gc_ttl", "1h")`). Flags not given must be left out.
    pub overrides: Vec<(String, String)>,
    /// Read `default.toml` and `profiles/<profile>.toml` from this directory instead of the
    /// copies built into the binary.
    pub config_dir: Option<PathBuf>,
}

/// One source of configuration, in precedence order.
pub(super) enum Layer {
    Toml {
        origin: String,
        text: Cow<'static, str>,
    },
    Env {
        var: String,
        key: String,
        value: String,
    },
    Flag {
        key: String,
        value: String,
    },
}

impl Layer {
    pub(super) fn origin(&self) -> String {
        match self {
            Layer::Toml { origin, .. } => origin.clone(),
            Layer::Env { var, .. } => format!("environment variable {var}"),
            Layer::Flag { .. } => "the command line".to_string(),
        }
    }

    pub(super) fn add_to(
        &self,
        builder: config::ConfigBuilder<config::builder::DefaultState>,
    ) -> Result<config::ConfigBuilder<config::builder::DefaultState>, ConfigError> {
        Ok(match self {
            Layer::Toml { text, .. } => builder.add_source(config::File::from_str(
                text.as_ref(),
                config::FileFormat::Toml,
            )),
            Layer::Env { var, value, .. } => {
                let one = [(var.clone(), value.clone())].into_iter().collect();
                builder.add_source(env_source(one))
            }
            Layer::Flag { key, value } => builder
                .set_override(key.as_str(), value.as_str())
                .map_err(|e| ConfigError::from_config(e, &self.origin()))?,
        })
    }

    /// Deserializes this layer alone, so that its errors name it.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let origin = self.origin();
        let result = self
            .add_to(config::Config::builder())?
            .build()
            .and_then(|c| c.try_deserialize::<NodeConfig>())
            .map_err(|e| ConfigError::from_config(e, &origin));
        match (result, self) {
            (Ok(_), _) => Ok(()),
            (
                Err(ConfigError::Invalid {
                    key,
                    origin,
                    message,
                }),
                Layer::Env { .. },
            ) if message.starts_with("unknown key") => Err(ConfigError::Invalid {
                key,
                origin,
                message: format!(
                    "{message} (after {ENV_PREFIX}_, a double underscore separates a section \
                     from its key, e.g. {ENV_PREFIX}_KV__GC_TTL)"
                ),
            }),
            (Err(e), _) => Err(e),
        }
    }

    /// Whether this layer sets `key` (or a table or list containing it).
    pub(super) fn sets(&self, key: &str) -> bool {
        let covers = |k: &str| {
            key == k || key.starts_with(&format!("{k}.")) || key.starts_with(&format!("{k}["))
        };
        match self {
            Layer::Toml { .. } => self
                .add_to(config::Config::builder())
                .ok()
                .and_then(|b| b.build().ok())
                .is_some_and(|c| {
                    // Cluster setting names contain dots: look them up in their table.
                    if let Some(name) = key.strip_prefix("bootstrap.cluster_settings.") {
                        return c
                            .get::<BTreeMap<String, config::Value>>("bootstrap.cluster_settings")
                            .is_ok_and(|t| t.contains_key(name));
                    }
                    // A list element: whoever set the list set it.
                    let k = key.find('[').map_or(key, |i| &key[..i]);
                    c.get::<config::Value>(k).is_ok()
                }),
            Layer::Env { key: k, .. } | Layer::Flag { key: k, .. } => covers(k),
        }
    }
}

pub(super) fn env_source(vars: config::Map<String, String>) -> config::Environment {
    config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("_")
        .separator("__")
        .source(Some(vars))
}

/// The `TANDEM_*` configuration variables of `env`, sorted, with their dotted keys.
pub(super) fn env_layers(env: &[(String, String)]) -> Vec<Layer> {
    let prefix = format!("{ENV_PREFIX}_");
    let mut out: Vec<Layer> = env
        .iter()
        .filter(|(var, value)| {
            var.len() > prefix.len()
                && var.is_char_boundary(prefix.len())
                && var[..prefix.len()].eq_ignore_ascii_case(&prefix)
                && !value.is_empty()
                && !RESERVED_ENV_VARS
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(var))
        })
        .map(|(var, value)| Layer::Env {
            var: var.clone(),
            key: var[prefix.len()..].to_lowercase().replace("__", "."),
            value: value.clone(),
        })
        .collect();
    out.sort_by(|a, b| match (a, b) {
        (Layer::Env { var: x, .. }, Layer::Env { var: y, .. }) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    });
    out
}

pub(super) fn env_lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

pub(super) fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub(super) fn profile_layer(name: &str, config_dir: Option<&Path>) -> Result<Layer, ConfigError> {
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    let unknown = |known: Vec<String>| ConfigError::UnknownProfile {
        name: name.to_string(),
        known: known.join(", "),
    };
    match config_dir {
        None => match builtin_profile(name) {
            Some(text) if valid_name => Ok(Layer::Toml {
                origin: format!("config/profiles/{name}.toml (built in)"),
                text: Cow::Borrowed(text),
            }),
            _ => Err(unknown(builtin_profile_names().map(String::from).collect())),
        },
        Some(dir) => {
            let profiles = dir.join("profiles");
            let path = profiles.join(format!("{name}.toml"));
            if !valid_name || !path.is_file() {
                let mut known: Vec<String> = std::fs::read_dir(&profiles)
                    .map(|entries| {
                        entries
                            .filter_map(|e| e.ok())
                            .filter_map(|e| {
                                let n = e.file_name().into_string().ok()?;
                                n.strip_suffix(".toml").map(String::from)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                known.sort();
                return Err(unknown(known));
            }
            Ok(Layer::Toml {
                origin: path.display().to_string(),
                text: Cow::Owned(read_file(&path)?),
            })
        }
    }
}

/// Loads, merges and validates the node configuration (see the module documentation for the
/// layers). The returned configuration has passed [`NodeConfig::validate`].
pub fn load(sources: &ConfigSources) -> Result<NodeConfig, ConfigError> {
    let profile = sources
        .profile
        .clone()
        .or_else(|| env_lookup(&sources.env, ENV_PROFILE).map(String::from))
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    let config_file = sources
        .config_file
        .clone()
        .or_else(|| env_lookup(&sources.env, ENV_CONFIG).map(PathBuf::from));

    let mut layers = Vec::new();
    layers.push(match &sources.config_dir {
        None => Layer::Toml {
            origin: "config/default.toml (built in)".into(),
            text: Cow::Borrowed(BUILTIN_DEFAULT),
        },
        Some(dir) => {
            let path = dir.join("default.toml");
            Layer::Toml {
                origin: path.display().to_string(),
                text: Cow::Owned(read_file(&path)?),
            }
        }
    });
    layers.push(profile_layer(&profile, sources.config_dir.as_deref())?);
    if let Some(path) = &config_file {
        layers.push(Layer::Toml {
            origin: path.display().to_string(),
            text: Cow::Owned(read_file(path)?),
        });
    }
    layers.extend(env_layers(&sources.env));
    layers.extend(sources.overrides.iter().map(|(key, value)| Layer::Flag {
        key: key.clone(),
        value: value.clone(),
    }));

    for layer in &layers {
        layer.check()?;
    }

    // Files in order, then the environment as one source (as the config crate intends), then
    // the flags as overrides.
    let mut builder = config::Config::builder();
    for layer in layers.iter().filter(|l| matches!(l, Layer::Toml { .. })) {
        builder = layer.add_to(builder)?;
    }
    let env_vars: config::Map<String, String> = layers
        .iter()
        .filter_map(|l| match l {
            Layer::Env { var, value, .. } => Some((var.clone(), value.clone())),
            _ => None,
        })
        .collect();
    if !env_vars.is_empty() {
        builder = builder.add_source(env_source(env_vars));
    }
    for layer in layers.iter().filter(|l| matches!(l, Layer::Flag { .. })) {
        builder = layer.add_to(builder)?;
    }
    let merged = "the merged configuration";
    let mut cfg: NodeConfig = builder
        .build()
        .map_err(|e| ConfigError::from_config(e, merged))?
        .try_deserialize()
        .map_err(|e| ConfigError::from_config(e, merged))?;
    cfg.profile = profile;

    cfg.validate().map_err(|e| match e {
        ConfigError::Invalid {
            key: Some(key),
            origin: None,
            message,
        } => {
            let origin = layers
                .iter()
                .rev()
                .find(|l| l.sets(&key))
                .map(Layer::origin);
            ConfigError::Invalid {
                key: Some(key),
                origin,
                message,
            }
        }
        other => other,
    })?;
    Ok(cfg)
}
