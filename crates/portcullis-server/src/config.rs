//! Server configuration: one tree, loaded in layers — built-in defaults, then
//! `portcullis.toml`, then `PORTCULLIS_*` environment variables (`__` nests), then
//! command-line flags — and validated once into typed [`Settings`]. Nothing re-parses
//! configuration at request time.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use portcullis_core::session::SessionLifetimes;
use serde::{Deserialize, Serialize};

/// Raw configuration as written in `portcullis.toml` (every key optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: Option<String>,
    /// The public URL, which is the issuer (a trailing slash is added). Default
    /// `http://{listen}/`.
    pub public_url: Option<String>,
    /// Database URL. Default `sqlite://portcullis.db`; `postgres://…` for several nodes.
    pub database: Option<String>,
    /// PostgreSQL connections per node at most. Default 16.
    pub database_pool_size: Option<u32>,
    /// Proxies (addresses or networks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Option<Vec<String>>,
    /// A tenant file (Auth0 Deploy CLI `tenant.yaml`) applied at every start.
    pub tenant: Option<PathBuf>,
    /// The master key (≥ 32 characters) that encrypts keys and secrets at rest.
    pub master_key: Option<String>,
    /// A file holding the master key.
    pub master_key_file: Option<PathBuf>,
    /// Seed a demo tenant into an empty database and serve the playground. Default true.
    pub demo: Option<bool>,
    /// `text` (default) or `json` logs.
    pub log_format: Option<String>,
    /// Argon2id cost for password hashing.
    #[serde(default)]
    pub password_hashing: RawPasswordHashing,
    /// SSO session lifetimes.
    #[serde(default)]
    pub sessions: RawSessions,
    /// Rate limits.
    #[serde(default)]
    pub rate_limits: RawRateLimits,
}

/// Rate limits (token buckets, per node).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimits {
    /// Refresh-token exchanges per token and client IP at once. Default 10.
    pub refresh_burst: Option<u32>,
    /// ... refilled at this many per minute. Default 30.
    pub refresh_per_minute: Option<u32>,
}

/// Validated rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Bucket size for refresh exchanges per token and IP.
    pub refresh_burst: u32,
    /// Refill per minute.
    pub refresh_per_minute: u32,
}

/// Argon2id parameters; defaults are OWASP's (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPasswordHashing {
    /// Memory cost in KiB. Default 19456.
    pub memory_kib: Option<u32>,
    /// Passes. Default 2.
    pub iterations: Option<u32>,
    /// Lanes. Default 1.
    pub parallelism: Option<u32>,
    /// Hashes computed at once; the rest queue, so logins cannot starve other work.
    /// Default: the number of cores.
    pub max_concurrent: Option<usize>,
}

/// SSO session lifetimes in seconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSessions {
    /// A session unused this long ends. Default 259200 (3 days).
    pub idle_lifetime: Option<i64>,
    /// A session ends this long after login. Default 604800 (7 days).
    pub absolute_lifetime: Option<i64>,
}

/// Where the master key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// Given directly (config or `PORTCULLIS_MASTER_KEY`).
    Given(String),
    /// Read from a file.
    File(PathBuf),
    /// SQLite without a given key: generated once into this file (mode 0600) and reused.
    GenerateAt(PathBuf),
    /// An in-memory database: a fresh random key for this process.
    Ephemeral,
}

impl std::fmt::Debug for MasterKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Given(_) => f.write_str("Given(<redacted>)"),
            Self::File(p) => write!(f, "File({})", p.display()),
            Self::GenerateAt(p) => write!(f, "GenerateAt({})", p.display()),
            Self::Ephemeral => f.write_str("Ephemeral"),
        }
    }
}

/// Argon2id settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashing {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Concurrent hashes.
    pub max_concurrent: usize,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// One JSON object per line.
    Json,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The public URL given, if any; otherwise derived from the bound address.
    pub public_url: Option<url::Url>,
    /// Database URL.
    pub database: String,
    /// PostgreSQL connections at most.
    pub database_pool_size: u32,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<portcullis_core::forwarded::Network>,
    /// Tenant file applied at start.
    pub tenant: Option<PathBuf>,
    /// Master key source.
    pub master_key: MasterKeySource,
    /// Demo tenant and playground.
    pub demo: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// Argon2id settings.
    pub password_hashing: PasswordHashing,
    /// SSO session lifetimes.
    pub sessions: SessionLifetimes,
    /// Rate limits.
    pub rate_limits: RateLimits,
}

/// A configuration error naming the key.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Command-line overrides (the last layer).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--public-url`.
    pub public_url: Option<String>,
    /// `--database`.
    pub database: Option<String>,
    /// `--tenant`.
    pub tenant: Option<PathBuf>,
}

impl RawConfig {
    /// Loads the layers: defaults, the TOML file (if it exists; an explicitly named file
    /// must exist), `PORTCULLIS_*` environment (given as pairs, so tests control it),
    /// then overrides.
    pub fn load(
        file: Option<&Path>,
        file_required: bool,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<RawConfig, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
        if let Some(path) = file {
            if path.exists() {
                figment = figment.merge(Toml::file(path));
            } else if file_required {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
        }
        for (key, value) in env {
            // PORTCULLIS_TEST_* belongs to the test suite, not to the server.
            let Some(name) = key.strip_prefix("PORTCULLIS_") else {
                continue;
            };
            if name.starts_with("TEST_") {
                continue;
            }
            let path = name.to_ascii_lowercase().replace("__", ".");
            // Secrets, URLs and paths stay strings even when they look like numbers.
            let value: figment::value::Value = if STRING_KEYS.contains(&path.as_str()) {
                figment::value::Value::from(value)
            } else {
                value
                    .parse()
                    .unwrap_or_else(|_| figment::value::Value::from(String::new()))
            };
            figment = figment.merge((path, value));
        }
        let mut raw: RawConfig = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        if let Some(v) = &overrides.listen {
            raw.listen = Some(v.clone());
        }
        if let Some(v) = &overrides.public_url {
            raw.public_url = Some(v.clone());
        }
        if let Some(v) = &overrides.database {
            raw.database = Some(v.clone());
        }
        if let Some(v) = &overrides.tenant {
            raw.tenant = Some(v.clone());
        }
        Ok(raw)
    }
}

const STRING_KEYS: [&str; 6] = [
    "master_key",
    "master_key_file",
    "public_url",
    "listen",
    "database",
    "tenant",
];

impl RawConfig {
    /// Validates into [`Settings`]; each error names the key.
    pub fn validate(self) -> Result<Settings, ConfigError> {
        let err = |key: &str, msg: &str| ConfigError(format!("{key}: {msg}"));
        let listen: SocketAddr = self
            .listen
            .as_deref()
            .unwrap_or("127.0.0.1:8080")
            .parse()
            .map_err(|_| err("listen", "must be an address such as 127.0.0.1:8080"))?;
        let public_url = match self.public_url {
            None => None,
            Some(raw) => Some(parse_public_url(&raw).map_err(|m| err("public_url", &m))?),
        };
        let database = self
            .database
            .unwrap_or_else(|| "sqlite://portcullis.db".into());
        let postgres = is_postgres(&database);
        if !database.starts_with("sqlite:") && !postgres {
            return Err(err("database", "must be a sqlite:// or postgres:// URL"));
        }
        let in_memory = database.contains(":memory:") || database.contains("mode=memory");
        let master_key = match (self.master_key, self.master_key_file) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "master_key",
                    "give master_key or master_key_file, not both",
                ));
            }
            (Some(k), None) if k.chars().count() < 32 => {
                return Err(err("master_key", "must be at least 32 characters"));
            }
            (Some(k), None) => MasterKeySource::Given(k),
            (None, Some(path)) => MasterKeySource::File(path),
            (None, None) if postgres => {
                return Err(err(
                    "master_key",
                    "PostgreSQL needs master_key or master_key_file (PORTCULLIS_MASTER_KEY or PORTCULLIS_MASTER_KEY_FILE): every node must be given the same one",
                ));
            }
            (None, None) if in_memory => MasterKeySource::Ephemeral,
            (None, None) => MasterKeySource::GenerateAt(master_key_path_for(&database)),
        };
        let trusted_proxies = self
            .trusted_proxies
            .unwrap_or_default()
            .iter()
            .map(|p| p.parse())
            .collect::<Result<Vec<_>, String>>()
            .map_err(|m| err("trusted_proxies", &m))?;
        let database_pool_size = self.database_pool_size.unwrap_or(16);
        if database_pool_size == 0 {
            return Err(err("database_pool_size", "must be positive"));
        }
        let log_format = match self.log_format.as_deref().unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(err("log_format", "must be text or json")),
        };
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let ph = self.password_hashing;
        let password_hashing = PasswordHashing {
            memory_kib: ph.memory_kib.unwrap_or(19_456),
            iterations: ph.iterations.unwrap_or(2),
            parallelism: ph.parallelism.unwrap_or(1),
            max_concurrent: ph.max_concurrent.unwrap_or(cores).max(1),
        };
        if argon2::Params::new(
            password_hashing.memory_kib,
            password_hashing.iterations,
            password_hashing.parallelism,
            None,
        )
        .is_err()
        {
            return Err(err(
                "password_hashing",
                "memory_kib, iterations and parallelism are not valid Argon2 parameters",
            ));
        }
        let idle = self.sessions.idle_lifetime.unwrap_or(259_200);
        let absolute = self.sessions.absolute_lifetime.unwrap_or(604_800);
        if idle <= 0 || absolute <= 0 {
            return Err(err("sessions", "lifetimes must be positive"));
        }
        let rate_limits = RateLimits {
            refresh_burst: self.rate_limits.refresh_burst.unwrap_or(10),
            refresh_per_minute: self.rate_limits.refresh_per_minute.unwrap_or(30),
        };
        if rate_limits.refresh_burst == 0 || rate_limits.refresh_per_minute == 0 {
            return Err(err("rate_limits", "values must be positive"));
        }
        Ok(Settings {
            rate_limits,
            listen,
            public_url,
            database,
            database_pool_size,
            trusted_proxies,
            tenant: self.tenant,
            master_key,
            demo: self.demo.unwrap_or(true),
            log_format,
            password_hashing,
            sessions: SessionLifetimes {
                idle: time::Duration::seconds(idle),
                absolute: time::Duration::seconds(absolute),
            },
        })
    }
}

/// Parses the public URL: absolute http(s), no query or fragment; a trailing slash is
/// added so that it is the issuer exactly as it appears in `iss`.
pub fn parse_public_url(raw: &str) -> Result<url::Url, String> {
    let mut url = url::Url::parse(raw).map_err(|_| "must be an absolute URL".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http or https URL".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Whether a database URL names PostgreSQL.
pub fn is_postgres(database: &str) -> bool {
    database.starts_with("postgres://") || database.starts_with("postgresql://")
}

/// A database URL with its password replaced, for printing.
fn redacted_url(database: &str) -> String {
    match url::Url::parse(database) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("redacted"));
            url.to_string()
        }
        _ => database.to_owned(),
    }
}

/// The generated master key lives beside the database file: `portcullis.db.master-key`.
fn master_key_path_for(database: &str) -> PathBuf {
    let path = database
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or("portcullis.db");
    PathBuf::from(format!("{path}.master-key"))
}

impl Settings {
    /// The database URL without its password, for messages.
    pub fn database_display(&self) -> String {
        redacted_url(&self.database)
    }

    /// Safe settings for tests: an in-memory database, a random port, cheap Argon2.
    pub fn for_tests() -> Settings {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            database: "sqlite::memory:".into(),
            database_pool_size: 16,
            trusted_proxies: Vec::new(),
            tenant: None,
            master_key: MasterKeySource::Ephemeral,
            demo: false,
            log_format: LogFormat::Text,
            password_hashing: PasswordHashing {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
                max_concurrent: 2,
            },
            sessions: SessionLifetimes::default(),
            rate_limits: RateLimits {
                refresh_burst: 10,
                refresh_per_minute: 30,
            },
        }
    }
}

impl std::fmt::Display for Settings {
    /// The effective configuration with secrets redacted (`portcullis config check`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "listen = \"{}\"", self.listen)?;
        match &self.public_url {
            Some(u) => writeln!(f, "public_url = \"{u}\"")?,
            None => writeln!(
                f,
                "public_url = \"http://{}/\"  # derived from listen",
                self.listen
            )?,
        }
        writeln!(f, "database = \"{}\"", self.database_display())?;
        if is_postgres(&self.database) {
            writeln!(f, "database_pool_size = {}", self.database_pool_size)?;
        }
        if !self.trusted_proxies.is_empty() {
            let list: Vec<String> = self
                .trusted_proxies
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect();
            writeln!(f, "trusted_proxies = [{}]", list.join(", "))?;
        }
        if let Some(t) = &self.tenant {
            writeln!(f, "tenant = \"{}\"", t.display())?;
        }
        match &self.master_key {
            MasterKeySource::Given(_) => writeln!(f, "master_key = \"<redacted>\"")?,
            MasterKeySource::File(p) => writeln!(f, "master_key_file = \"{}\"", p.display())?,
            MasterKeySource::GenerateAt(p) => writeln!(
                f,
                "# master key: generated on first start into {}",
                p.display()
            )?,
            MasterKeySource::Ephemeral => {
                writeln!(f, "# master key: random per process (in-memory database)")?
            }
        }
        writeln!(f, "demo = {}", self.demo)?;
        writeln!(
            f,
            "log_format = \"{}\"",
            if self.log_format == LogFormat::Json {
                "json"
            } else {
                "text"
            }
        )?;
        writeln!(f, "\n[password_hashing]")?;
        writeln!(f, "memory_kib = {}", self.password_hashing.memory_kib)?;
        writeln!(f, "iterations = {}", self.password_hashing.iterations)?;
        writeln!(f, "parallelism = {}", self.password_hashing.parallelism)?;
        writeln!(
            f,
            "max_concurrent = {}",
            self.password_hashing.max_concurrent
        )?;
        writeln!(f, "\n[sessions]")?;
        writeln!(f, "idle_lifetime = {}", self.sessions.idle.whole_seconds())?;
        write!(
            f,
            "absolute_lifetime = {}",
            self.sessions.absolute.whole_seconds()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        RawConfig::load(None, false, env, &Overrides::default())?.validate()
    }

    #[test]
    fn env_overrides_nest_and_keep_secrets_as_strings() {
        let s = load(&[
            ("PORTCULLIS_PASSWORD_HASHING__MEMORY_KIB", "8192"),
            ("PORTCULLIS_MASTER_KEY", "12345678901234567890123456789012"),
            ("PORTCULLIS_TEST_POSTGRES_URL", "postgres://ignored"),
            ("OTHER", "x"),
        ]);
        let s = s.map_err(|e| e.to_string());
        assert!(
            matches!(&s, Ok(s) if s.password_hashing.memory_kib == 8192),
            "{s:?}"
        );
        assert!(
            matches!(&s, Ok(s) if s.master_key == MasterKeySource::Given("12345678901234567890123456789012".into()))
        );
        assert!(
            !s.as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default()
                .contains("1234567890")
        );
    }

    #[test]
    fn errors_name_the_key() {
        for (env, key) in [
            (("PORTCULLIS_LISTEN", "nope"), "listen"),
            (("PORTCULLIS_PUBLIC_URL", "ftp://x"), "public_url"),
            (("PORTCULLIS_MASTER_KEY", "short"), "master_key"),
            (("PORTCULLIS_UNKNOWN_THING", "1"), "unknown_thing"),
        ] {
            let e = load(&[env])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn trusted_proxies_are_networks_from_the_file_or_the_environment() {
        let s = load(&[("PORTCULLIS_TRUSTED_PROXIES", "[\"10.0.0.0/8\", \"::1\"]")])
            .map_err(|e| e.to_string());
        assert!(
            matches!(&s, Ok(s) if s.trusted_proxies.len() == 2
                && s.trusted_proxies[0].contains("10.1.2.3".parse().unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()))),
            "{s:?}"
        );
        let bad = load(&[("PORTCULLIS_TRUSTED_PROXIES", "[\"10.0.0.0/99\"]")]).map(|_| ());
        assert!(
            matches!(&bad, Err(e) if e.to_string().contains("trusted_proxies")),
            "{bad:?}"
        );
    }

    #[test]
    fn public_url_gets_a_trailing_slash() {
        assert_eq!(
            parse_public_url("https://id.example").map(String::from),
            Ok("https://id.example/".into())
        );
        assert_eq!(
            parse_public_url("https://id.example/t").map(String::from),
            Ok("https://id.example/t/".into())
        );
    }
}
