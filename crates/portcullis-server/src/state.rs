//! Shared application state handed to every handler, and the clock.

use std::sync::{Arc, Mutex};

use portcullis_core::client::Client;
use portcullis_core::client_grant::ClientGrant;
use portcullis_core::resource_server::ResourceServer;
use portcullis_store::{Store, StoreResult};
use time::OffsetDateTime;

use crate::config::Settings;
use crate::crypto::NodeSecrets;
use crate::keys::SigningKeys;
use crate::password::PasswordHasher;
use crate::views::Views;

/// The source of the current time. Time is an input (STYLE §1.3): tests move a
/// [`ManualClock`] instead of sleeping.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> OffsetDateTime;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the wall clock
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock tests set and advance.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: OffsetDateTime) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: time::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Everything a request may need: one reference-counted [`State`], so a clone (axum
/// makes several per request) is one counter, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<State>);

impl AppState {
    /// Shares `state`.
    pub fn new(state: State) -> Self {
        Self(Arc::new(state))
    }

    /// The state to change, while it is being set up: this one if nothing shares it yet,
    /// else a copy of it that this handle then holds.
    pub fn setup(&mut self) -> &mut State {
        Arc::make_mut(&mut self.0)
    }
}

impl std::ops::Deref for AppState {
    type Target = State;
    fn deref(&self) -> &State {
        &self.0
    }
}

/// What [`AppState`] shares.
#[derive(Clone)]
pub struct State {
    /// Validated settings.
    pub settings: Arc<Settings>,
    /// The issuer: the public URL with a trailing slash.
    pub issuer: Arc<str>,
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Signing keys.
    pub keys: Arc<SigningKeys>,
    /// Cookie and CSRF keys.
    pub secrets: Arc<NodeSecrets>,
    /// Argon2id on bounded blocking threads.
    pub passwords: Arc<PasswordHasher>,
    /// Templates.
    pub views: Arc<Views>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Whether cookies get `Secure` and the `__Host-` prefix (https public URL).
    pub secure_cookies: bool,
    /// Tenant log events.
    pub logs: crate::logs::TenantLog,
    /// Refresh-token exchanges per token and client IP.
    pub refresh_limiter: Arc<crate::ratelimit::KeyedLimiter>,
    /// The demo app's client id and secret, when the playground is on.
    pub playground: Option<Arc<crate::seed::DemoApp>>,
    /// This server's Prometheus registry and collectors (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Clients and APIs read on the hot paths, for a second.
    pub tenant_cache: Arc<crate::tenant_cache::TenantCache>,
    /// The sessions' clients this node has written already.
    pub recorded_session_clients: Arc<crate::session_clients::RecordedSessionClients>,
}

impl AppState {
    /// Now, from the clock.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// A client by id, through the tenant cache (for a second; `tenant_cache`).
    pub async fn client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        self.tenant_cache
            .client(self.store.as_ref(), client_id, self.now())
            .await
    }

    /// The grant of a client for an API (client credentials), through the tenant cache.
    pub async fn client_grant(
        &self,
        client_id: &str,
        audience: &str,
    ) -> StoreResult<Option<ClientGrant>> {
        self.tenant_cache
            .client_grant(self.store.as_ref(), client_id, audience, self.now())
            .await
    }

    /// An API by identifier (audience), through the tenant cache.
    pub async fn api(&self, identifier: &str) -> StoreResult<Option<ResourceServer>> {
        self.tenant_cache
            .api(self.store.as_ref(), identifier, self.now())
            .await
    }

    /// An absolute URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path.trim_start_matches('/'))
    }
}
