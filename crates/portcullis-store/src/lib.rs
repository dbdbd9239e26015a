//! Persistence for Portcullis: one [`Store`] trait with one method per use case, and its
//! two implementations, SQLite (embedded, the default) and PostgreSQL (several nodes). The
//! only crate that knows SQL. Both run the same SQL (`src/shared/`), compiled once per
//! backend; each backend supplies its connection setup, migrations and locking.
//!
//! Stores *domain* types from `portcullis-core`. Single-use records (codes) are consumed
//! by one atomic statement, so a code can never be redeemed twice. Every driver error is
//! mapped to [`StoreError`]: sqlx's here, rusqlite's (SQLite's hot paths) in
//! `src/sqlite/hot.rs`.

// Deliberate: `src/shared/` is compiled once per backend module, with that backend's types.
#![allow(clippy::duplicate_mod)]

mod postgres;
mod records;
mod sqlite;
#[doc(hidden)]
pub mod testing;

use async_trait::async_trait;
use portcullis_core::client::Client;
use portcullis_core::client_grant::ClientGrant;
use portcullis_core::code::AuthorizationCode;
use portcullis_core::log::LogEvent;
use portcullis_core::refresh::{RefreshFamily, Refusal};
use portcullis_core::resource_server::ResourceServer;
use portcullis_core::scope::Scope;
use portcullis_core::secret::TokenHash;
use portcullis_core::session::{LoginTransaction, Session};
use portcullis_core::user::User;
use time::OffsetDateTime;

pub use postgres::PgStore;
pub use records::{
    ClientGrantUpsert, ClientUpsert, ImportOutcome, SigningKeyRecord, SigningKeyState,
    TenantImport, UserUpsert, UserView,
};
pub use sqlite::SqliteStore;

/// Store failures: few, so flows decide what they mean.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated.
    #[error("conflict: {what}")]
    Conflict {
        /// Which rule.
        what: String,
    },
    /// The database failed or is unreachable.
    #[error("store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Result alias.
pub type StoreResult<T> = Result<T, StoreError>;

pub(crate) fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
            what: db.message().to_owned(),
        },
        _ => unavailable(e),
    }
}

/// Connections of a store's pool, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open.
    pub open: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The most the pool opens.
    pub max: u32,
}

/// The user an access token names, as its bearer may see them ([`Store::token_user`]).
#[derive(Debug, Clone, PartialEq)]
pub enum TokenUser {
    /// The token was revoked.
    Revoked,
    /// The token stands and its user exists (blocked or not).
    Found(Box<User>),
    /// The token stands but no such user exists.
    Unknown,
}

/// The outcome of consuming an authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TakenCode {
    /// The code was valid and unused; it is now used, and `access_token_jti` recorded.
    /// With its user, read by the same statement (`None` if the user is gone).
    Taken(AuthorizationCode, Option<Box<User>>),
    /// The code was redeemed before: a replay. Carries the token minted the first time.
    Replayed {
        /// jti of the access token minted at the first redemption.
        access_token_jti: Option<String>,
        /// Its expiry.
        access_token_expires_at: Option<OffsetDateTime>,
        /// The refresh family the first redemption started, if it did.
        refresh_family_id: Option<String>,
    },
    /// No such code.
    Unknown,
}

/// A refresh-token exchange to perform atomically.
#[derive(Debug, Clone)]
pub struct RefreshExchange<'a> {
    /// Hash of the presented token.
    pub token_hash: &'a TokenHash,
    /// The authenticated client.
    pub client_id: &'a str,
    /// Now.
    pub now: OffsetDateTime,
    /// Hash of the token to store if the exchange mints one.
    pub new_token_hash: &'a TokenHash,
    /// jti and expiry of the access token the exchange will mint (recorded in the family).
    pub access_token: (&'a str, OffsetDateTime),
}

/// A refresh token's family as a refresh finds it ([`Store::find_refresh_family_with_user`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFamily {
    /// The family.
    pub family: RefreshFamily,
    /// Its user; `None` if the user is gone.
    pub user: Option<User>,
    /// The family was revoked: none of its tokens will be exchanged again.
    pub revoked: bool,
}

/// The outcome of a refresh-token exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// No such token.
    Unknown,
    /// Refused without further action.
    Refused(Refusal),
    /// An invalidated token was presented: the family and its access tokens are revoked.
    ReuseDetected {
        /// The revoked family.
        family: RefreshFamily,
    },
    /// Exchanged; `rotated` says whether `new_token_hash` was stored (rotating policy).
    Exchanged {
        /// The family.
        family: RefreshFamily,
        /// Whether a new refresh token was minted.
        rotated: bool,
    },
}

/// The outcome of revoking a refresh token (RFC 7009).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// The family (and its access tokens) is revoked, or already was.
    Revoked(Box<RefreshFamily>),
    /// No such token.
    Unknown,
    /// The token belongs to another client; nothing was changed.
    OtherClient,
}

/// Everything Portcullis persists. One method per use case.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// Whether the database is reachable and every migration this build knows is applied.
    async fn ping(&self) -> StoreResult<()>;
    /// The connection pool's use.
    fn pool_status(&self) -> PoolStatus;
    /// True when the tenant has no clients, APIs or users (first start).
    async fn is_empty(&self) -> StoreResult<bool>;

    /// Applies a tenant file in one transaction: all of it or none of it.
    async fn import_tenant(
        &self,
        import: &TenantImport,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<ImportOutcome>>;
    /// Adds a callback URL to a client unless present.
    async fn add_client_callback(
        &self,
        client_id: &str,
        uri: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    /// A client by id.
    async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>>;
    /// An API by identifier.
    async fn find_resource_server(&self, identifier: &str) -> StoreResult<Option<ResourceServer>>;
    /// The grant of a client for an API (client credentials).
    async fn find_client_grant(
        &self,
        client_id: &str,
        audience: &str,
    ) -> StoreResult<Option<ClientGrant>>;
    /// A user by id.
    async fn find_user(&self, id: &str) -> StoreResult<Option<User>>;
    /// A user by email (case-insensitive).
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Counts a successful login.
    async fn record_login(&self, user_id: &str, now: OffsetDateTime) -> StoreResult<()>;

    /// Scope the user granted the client for the audience (`None` = no API).
    async fn find_grant(
        &self,
        user_id: &str,
        client_id: &str,
        audience: Option<&str>,
    ) -> StoreResult<Option<Scope>>;
    /// Remembers consent, adding to what was granted before.
    async fn save_grant(
        &self,
        user_id: &str,
        client_id: &str,
        audience: Option<&str>,
        scope: &Scope,
        now: OffsetDateTime,
    ) -> StoreResult<()>;

    /// Creates an SSO session found by the hash of its cookie.
    async fn insert_session(&self, session: &Session, token_hash: &TokenHash) -> StoreResult<()>;
    /// The session whose cookie hashes to `token_hash`.
    async fn find_session(&self, token_hash: &TokenHash) -> StoreResult<Option<Session>>;
    /// The session whose cookie hashes to `token_hash`, with the scope its user granted
    /// `client_id` for `audience` ([`Store::find_grant`]), in one read: what a returning
    /// user's `/authorize` needs.
    async fn find_session_with_grant(
        &self,
        token_hash: &TokenHash,
        client_id: &str,
        audience: Option<&str>,
    ) -> StoreResult<Option<(Session, Option<Scope>)>>;
    /// Remembers that a client got a code from a session.
    async fn record_session_client(
        &self,
        session_id: &str,
        client_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// The clients that got codes from a session, first first.
    async fn session_clients(&self, session_id: &str) -> StoreResult<Vec<String>>;
    /// Ends a session.
    async fn delete_session(&self, id: &str) -> StoreResult<()>;
    /// Records use of a session (idle lifetime).
    async fn touch_session(&self, id: &str, now: OffsetDateTime) -> StoreResult<()>;

    /// Stores a login transaction.
    async fn insert_login_transaction(
        &self,
        handle: &TokenHash,
        tx: &LoginTransaction,
    ) -> StoreResult<()>;
    /// A login transaction that has not expired.
    async fn find_login_transaction(
        &self,
        handle: &TokenHash,
        now: OffsetDateTime,
    ) -> StoreResult<Option<LoginTransaction>>;
    /// Saves a transaction's progress.
    async fn update_login_transaction(
        &self,
        handle: &TokenHash,
        tx: &LoginTransaction,
    ) -> StoreResult<()>;
    /// Ends a transaction.
    async fn delete_login_transaction(&self, handle: &TokenHash) -> StoreResult<()>;

    /// Stores an authorization code under its hash.
    async fn insert_code(
        &self,
        code_hash: &TokenHash,
        code: &AuthorizationCode,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Consumes a code in one atomic statement, recording the access token that the
    /// redemption will mint so a replay can revoke it; the same statement reads the code's
    /// user.
    async fn take_code(
        &self,
        code_hash: &TokenHash,
        now: OffsetDateTime,
        access_token_jti: &str,
        access_token_expires_at: OffsetDateTime,
        refresh_family_id: &str,
    ) -> StoreResult<TakenCode>;

    /// Starts a refresh-token family with its first token (generation 0) and records the
    /// access token minted with it; revokes the oldest active families of the user and
    /// client beyond Auth0's limit of 200.
    async fn create_refresh_family(
        &self,
        family: &RefreshFamily,
        token_hash: &TokenHash,
        access_token: (&str, OffsetDateTime),
    ) -> StoreResult<()>;
    /// The family of a refresh token and its user, in one read, without changing
    /// anything: what a refresh checks before it exchanges.
    async fn find_refresh_family_with_user(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<FoundFamily>>;
    /// Exchanges a refresh token: decides with `core::refresh::exchange` and applies the
    /// decision in one transaction, so concurrent exchanges and revocations serialise.
    async fn exchange_refresh_token(
        &self,
        exchange: &RefreshExchange<'_>,
    ) -> StoreResult<RefreshOutcome>;
    /// Revokes the family of a refresh token and every access token minted from it.
    async fn revoke_refresh_token(
        &self,
        token_hash: &TokenHash,
        client_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> StoreResult<RevokeOutcome>;
    /// Revokes a family by id (code replay) and its access tokens.
    async fn revoke_refresh_family(
        &self,
        family_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Revokes the families that came from an SSO session (logout); returns how many.
    async fn revoke_session_families(
        &self,
        session_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> StoreResult<u64>;

    /// Records a client assertion's `jti`; false when it was seen before (a replay). One
    /// insert decides, so concurrent replays on any number of nodes are refused.
    async fn use_assertion_jti(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<bool>;

    /// Revokes an access token by jti until it expires.
    async fn revoke_access_token(&self, jti: &str, expires_at: OffsetDateTime) -> StoreResult<()>;
    /// Whether the access token was revoked.
    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool>;
    /// In one read: whether the access token `jti` was revoked and, if not, its user
    /// (UserInfo's two questions, which would otherwise be two round trips).
    async fn token_user(&self, user_id: &str, jti: &str) -> StoreResult<TokenUser>;

    /// All signing keys that are not retired.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Stores a signing key.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Rotates every algorithm in one transaction: each `next` key becomes current, each
    /// current key becomes previous, the `new_next` keys (one per algorithm) are stored as
    /// next, and previous keys rotated out before `retire_before` are retired (no token they
    /// signed can still be valid).
    async fn rotate_signing_keys(
        &self,
        new_next: &[SigningKeyRecord],
        now: OffsetDateTime,
        retire_before: OffsetDateTime,
    ) -> StoreResult<()>;

    /// A node secret, created with `value` if absent; returns the stored value, so that
    /// nodes racing on first start all end up with the same secret.
    async fn node_secret(
        &self,
        name: &str,
        value_if_absent: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Vec<u8>>;

    /// A node secret, if stored.
    async fn find_node_secret(&self, name: &str) -> StoreResult<Option<Vec<u8>>>;

    /// Clients, ordered by name, one page (`offset`, `limit`), and the total count.
    async fn list_clients(&self, offset: i64, limit: i64) -> StoreResult<(Vec<Client>, i64)>;
    /// Creates a client, or replaces the one with its `client_id`. A name taken by
    /// another client is a `Conflict`.
    async fn save_client(&self, client: &Client, now: OffsetDateTime) -> StoreResult<()>;
    /// Deletes a client and what hangs off it (grants, client grants).
    async fn delete_client(&self, client_id: &str) -> StoreResult<()>;

    /// APIs, ordered by name, one page, and the total count, each with its id.
    async fn list_resource_servers(
        &self,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<(String, ResourceServer)>, i64)>;
    /// An API by id or identifier, with its id.
    async fn find_resource_server_by_id(
        &self,
        id_or_identifier: &str,
    ) -> StoreResult<Option<(String, ResourceServer)>>;
    /// Creates an API with this id, or replaces the one with this id (the identifier
    /// never changes). A taken identifier is a `Conflict`.
    async fn save_resource_server(
        &self,
        id: &str,
        api: &ResourceServer,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Deletes an API and its client grants.
    async fn delete_resource_server(&self, id: &str) -> StoreResult<()>;

    /// Client grants, one page, and the total count, optionally of one client or API.
    async fn list_client_grants(
        &self,
        client_id: Option<&str>,
        audience: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<ClientGrant>, i64)>;
    /// A client grant by id.
    async fn find_client_grant_by_id(&self, id: &str) -> StoreResult<Option<ClientGrant>>;
    /// Creates or replaces a client grant. A second grant for the same client and API is
    /// a `Conflict`; an unknown client or API is `NotFound`.
    async fn save_client_grant(&self, grant: &ClientGrant, now: OffsetDateTime) -> StoreResult<()>;
    /// Deletes a client grant.
    async fn delete_client_grant(&self, id: &str) -> StoreResult<()>;

    /// Users, ordered by email, one page, and the total; only the one with `email` when given.
    async fn list_users(
        &self,
        email: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<UserView>, i64)>;
    /// A user with its Management API fields.
    async fn find_user_view(&self, id: &str) -> StoreResult<Option<UserView>>;
    /// Creates a user, or replaces the one with its id. A taken email is a `Conflict`.
    async fn save_user(&self, user: &User, now: OffsetDateTime) -> StoreResult<()>;
    /// Deletes a user with their sessions, consents and refresh tokens.
    async fn delete_user(&self, id: &str) -> StoreResult<()>;
    /// A user's active refresh-token families, with their absolute ends.
    async fn list_user_refresh_families(
        &self,
        user_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<(RefreshFamily, Option<OffsetDateTime>)>>;
    /// A refresh-token family by id.
    async fn find_refresh_family_by_id(&self, id: &str) -> StoreResult<Option<RefreshFamily>>;
    /// A user's SSO sessions that have not expired.
    async fn list_user_sessions(
        &self,
        user_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Session>>;
    /// An SSO session by id.
    async fn find_session_by_id(&self, id: &str) -> StoreResult<Option<Session>>;
    /// Tenant logs, newest first, one page, and the total; of one type when given.
    async fn list_logs(
        &self,
        log_type: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> StoreResult<(Vec<LogEvent>, i64)>;

    /// A throttling counter, if any.
    async fn login_counter(
        &self,
        key: &str,
    ) -> StoreResult<Option<portcullis_core::throttle::Counter>>;
    /// Adds one to a throttling counter in one atomic statement (starting a new window when
    /// the old one is over) and returns it.
    async fn bump_login_counter(
        &self,
        key: &str,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> StoreResult<portcullis_core::throttle::Counter>;
    /// Forgets a throttling counter.
    async fn clear_login_counter(&self, key: &str) -> StoreResult<()>;

    /// Appends tenant log events.
    async fn insert_logs(&self, events: &[LogEvent]) -> StoreResult<()>;
    /// The newest tenant log events, newest first.
    async fn recent_logs(&self, limit: i64) -> StoreResult<Vec<LogEvent>>;

    /// Deletes expired short-lived records; returns how many.
    async fn purge_expired(&self, now: OffsetDateTime) -> StoreResult<u64>;
}
