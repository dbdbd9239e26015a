//! Portcullis, the authorization server, as a library: [`build`] assembles the state
//! (database, master key, signing keys, tenant file, demo tenant) and [`http::router`]
//! the HTTP surface; [`serve`] runs both until shutdown. The binary is a thin CLI on top;
//! the integration tests drive the same functions.

pub mod admin;
pub mod config;
pub mod crypto;
pub mod flows;
pub mod http;
pub mod keys;
pub mod logs;
pub mod management;
pub mod metrics;
pub mod password;
pub mod ratelimit;
pub mod seed;
pub mod session_clients;
pub mod state;
pub mod tenant;
pub mod tenant_cache;
pub mod views;

use std::sync::Arc;

use anyhow::Context;
use portcullis_store::{PgStore, SqliteStore, Store};
use tokio::net::TcpListener;

use crate::config::{MasterKeySource, Settings};
use crate::crypto::{MasterKey, NodeSecrets};
use crate::keys::SigningKeys;
use crate::password::PasswordHasher;
use crate::state::{AppState, Clock, State};
use crate::views::Views;

/// What start-up has to tell the operator (printed by the binary).
#[derive(Debug, Default)]
pub struct StartupReport {
    /// Notices, one per line.
    pub notices: Vec<String>,
}

/// Opens the configured store and applies migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let cannot_open = || format!("cannot open the database {}", settings.database_display());
    let store: Arc<dyn Store> = if config::is_postgres(&settings.database) {
        Arc::new(
            PgStore::connect(&settings.database, settings.database_pool_size)
                .await
                .with_context(cannot_open)?,
        )
    } else {
        Arc::new(
            SqliteStore::connect(&settings.database)
                .await
                .with_context(cannot_open)?,
        )
    };
    store
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    Ok(store)
}

/// Builds the application state for an issuer: store, master key, keys, node secrets,
/// tenant file, and (on an empty database with `demo`) the demo tenant.
pub async fn build(
    settings: Settings,
    issuer: &str,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(AppState, StartupReport)> {
    let mut report = StartupReport::default();
    let store = open_store(&settings).await?;
    let (master, notice) = MasterKey::load(&settings.master_key)?;
    let master = Arc::new(master);
    report.notices.extend(notice);
    let now = clock.now();
    // First the node secret: a wrong master key fails here with a message that says so.
    let csrf = node_secret(store.as_ref(), &master, "csrf key", now).await?;
    let keys = SigningKeys::load_or_create(store.as_ref(), master.clone(), now)
        .await
        .context("signing keys")?;
    let playground = node_secret(store.as_ref(), &master, "playground key", now).await?;
    let secure_cookies = issuer.starts_with("https://");
    let passwords = PasswordHasher::new(settings.password_hashing)
        .map_err(|_| anyhow::anyhow!("invalid Argon2 parameters"))?;
    let demo = settings.demo;
    let limits = settings.rate_limits;
    let tenant_file = settings.tenant.clone();
    let mut state = AppState::new(State {
        settings: Arc::new(settings),
        issuer: Arc::from(issuer),
        store: store.clone(),
        keys: Arc::new(keys),
        secrets: Arc::new(NodeSecrets::new(&csrf, &playground)),
        passwords: Arc::new(passwords),
        views: Arc::new(Views::new()?),
        logs: logs::TenantLog::start(store.clone()),
        refresh_limiter: Arc::new(ratelimit::KeyedLimiter::new(
            limits.refresh_burst,
            limits.refresh_per_minute,
            clock.clone(),
        )),
        clock,
        secure_cookies,
        playground: None,
        metrics: Arc::new(metrics::Metrics::new().context("metrics registry")?),
        tenant_cache: Arc::default(),
        recorded_session_clients: Arc::default(),
    });
    if let Some(path) = tenant_file {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read tenant file {}", path.display()))?;
        let file = portcullis_core::tenant::parse(&text)
            .with_context(|| format!("tenant file {}", path.display()))?;
        report
            .notices
            .extend(file.warnings.iter().map(|w| format!("tenant file: {w}")));
        let applied = tenant::apply(&state, &file).await?;
        report.notices.push(format!(
            "applied tenant file {} ({} entries)",
            path.display(),
            applied.outcomes.len()
        ));
        for (name, id, secret) in applied.generated_secrets {
            report.notices.push(format!(
                "created client {name:?}: client_id {id}, client_secret {secret} (shown once)"
            ));
        }
    }
    // The demo tenant only goes into a database that is still empty after the tenant file.
    if demo && state.store.is_empty().await? {
        let seeded = seed::seed(&state, &master)
            .await
            .context("seeding the demo tenant")?;
        report.notices.push(format!(
            "seeded the demo tenant:\n  user      {} / {}\n  client    {} / {}\n  try it    {}playground/login",
            seed::DEMO_EMAIL, seeded.user_password, seed::DEMO_CLIENT_ID, seeded.client_secret, issuer
        ));
    }
    if let Some(secret) = management::bootstrap(&state)
        .await
        .context("bootstrapping the Management API")?
    {
        report.notices.push(format!(
            "created the Management API client:\n  client_id     {}\n  client_secret {secret}\n  audience      {}  (shown once)",
            management::CLI_CLIENT_ID,
            management::audience(issuer)
        ));
    }
    if demo {
        let playground = seed::load(&state, &master).await?.map(Arc::new);
        state.setup().playground = playground;
    }
    Ok((state, report))
}

async fn node_secret(
    store: &dyn Store,
    master: &MasterKey,
    name: &str,
    now: time::OffsetDateTime,
) -> anyhow::Result<Vec<u8>> {
    let fresh = master.seal(name, &crypto::random::<32>());
    let sealed = store.node_secret(name, &fresh, now).await?;
    master
        .open(name, &sealed)
        .with_context(|| {
            format!(
                "cannot decrypt the {name} stored in the database: the master key is not the one the database was created with"
            )
        })
}

/// The issuer for a bound address when no public URL is configured.
/// Listening on every interface (`0.0.0.0`, `::`) names no host a browser can use, so the
/// derived issuer then says loopback; production sets `public_url`.
pub fn issuer_for(settings: &Settings, bound: std::net::SocketAddr) -> String {
    match &settings.public_url {
        Some(url) => url.to_string(),
        None if bound.ip().is_unspecified() => format!("http://127.0.0.1:{}/", bound.port()),
        None => format!("http://{bound}/"),
    }
}

/// Binds, builds and serves until SIGINT/SIGTERM, finishing in-flight requests.
pub async fn serve(
    settings: Settings,
    clock: Arc<dyn Clock>,
    on_ready: impl FnOnce(&str, &StartupReport),
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let bound = listener.local_addr()?;
    let issuer = issuer_for(&settings, bound);
    if matches!(settings.master_key, MasterKeySource::Ephemeral) {
        tracing::warn!("in-memory database: everything is lost when the process exits");
    }
    let (state, report) = build(settings, &issuer, clock).await?;
    // The passwords a start hashed (a tenant file's or the demo's users) keep no memory.
    state.passwords.release_memory();
    on_ready(&issuer, &report);
    let purge = tokio::spawn(purge_loop(state.clone()));
    // Peer addresses feed tenant logs and the per-IP refresh rate limit.
    let logs = state.logs.clone();
    let app = http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    purge.abort();
    // The log writer gathers events for a moment before it writes them: store the last ones.
    logs.flush().await;
    served.context("server error")
}

/// Deletes expired codes, transactions and sessions every minute.
async fn purge_loop(state: AppState) {
    // Every 30 s: the keys (a rotation made on another node), then the housekeeping.
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    loop {
        tick.tick().await;
        if let Err(e) = state.keys.reload(state.store.as_ref()).await {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
        if let Err(e) = state.store.purge_expired(state.now()).await {
            tracing::warn!(error = %e, "purging expired records failed");
        }
        state.refresh_limiter.prune();
        let released = state.passwords.release_idle_memory();
        if released > 0 {
            tracing::debug!(buffers = released, "password hashing memory given back");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
