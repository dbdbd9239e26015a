//! Records the store takes or returns that are not core domain types: tenant-import
//! upserts and signing-key rows.

use portcullis_core::client::Client;
use portcullis_core::resource_server::ResourceServer;
use portcullis_core::user::User;
use time::OffsetDateTime;

/// A client to create or update.
#[derive(Debug, Clone)]
pub struct ClientUpsert {
    /// The client; `client_id` and `secret_hash` are used as given when inserting.
    pub client: Client,
    /// Match an existing client by `client_id` (given in the file) rather than by name.
    pub match_on_client_id: bool,
    /// Replace an existing client's secret (a secret was given in the file).
    pub secret_given: bool,
}

/// A user to create or update, matched by email.
#[derive(Debug, Clone)]
pub struct UserUpsert {
    /// The user; `id` is used when inserting.
    pub user: User,
    /// Replace an existing user's password (one was given in the file).
    pub password_given: bool,
}

/// Everything one tenant file applies.
#[derive(Debug, Clone, Default)]
pub struct TenantImport {
    /// Clients.
    pub clients: Vec<ClientUpsert>,
    /// APIs, matched by identifier.
    pub resource_servers: Vec<ResourceServer>,
    /// Users.
    pub users: Vec<UserUpsert>,
    /// Client grants, matched by client and audience.
    pub client_grants: Vec<ClientGrantUpsert>,
}

/// A client grant to create or update.
#[derive(Debug, Clone)]
pub struct ClientGrantUpsert {
    /// Id used when inserting.
    pub id: String,
    /// The client by `client_id`, or else by name.
    pub client: String,
    /// The API identifier (must exist).
    pub audience: String,
    /// Granted scopes.
    pub scope: portcullis_core::scope::Scope,
}

/// What the import did with one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    /// `client`, `resource_server` or `user`.
    pub kind: &'static str,
    /// Name, identifier or email.
    pub key: String,
    /// The client id or user id in the store.
    pub id: String,
    /// True when created, false when updated.
    pub created: bool,
}

/// Life-cycle state of a signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKeyState {
    /// Published, not yet signing.
    Next,
    /// Signing.
    Current,
    /// Published until its tokens expire.
    Previous,
    /// Kept for the record.
    Retired,
}

impl SigningKeyState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Previous => "previous",
            Self::Retired => "retired",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "next" => Self::Next,
            "current" => Self::Current,
            "previous" => Self::Previous,
            "retired" => Self::Retired,
            _ => return None,
        })
    }
}

/// A signing key as stored: the private key only encrypted.
#[derive(Debug, Clone)]
pub struct SigningKeyRecord {
    /// Key id.
    pub kid: String,
    /// JWS algorithm.
    pub alg: String,
    /// Private key, encrypted with the master key.
    pub private_key_enc: Vec<u8>,
    /// Public JWK (JSON).
    pub public_jwk: String,
    /// Life-cycle state.
    pub state: SigningKeyState,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// A user with the fields only the Management API shows.
#[derive(Debug, Clone)]
pub struct UserView {
    /// The user.
    pub user: User,
    /// Creation.
    pub created_at: OffsetDateTime,
    /// Last successful login.
    pub last_login: Option<OffsetDateTime>,
    /// Successful logins.
    pub logins_count: i64,
}
