//! Read-through caches of the tenant objects that every authorization and token request
//! reads: clients, APIs and client grants (DESIGN §4, "caches (tenant objects, JWKS) are
//! read-through with short TTLs"). Each lookup that reaches the database is a round trip to
//! a connection's thread; an sso login read a client and an API twice each, and every
//! client-credentials request its client grant (docs/performance.md).
//!
//! - An entry lives for [`TTL`]. A write through this node's Management API empties the
//!   caches when it answers, so this node applies its own changes at once; another node, or
//!   the CLI on the same database, is seen within [`TTL`] (docs/deploy.md).
//! - Only objects that were found are kept: an unknown id always reaches the database, so
//!   made-up ids cannot fill the memory, and a client created on another node is found at
//!   once.
//! - A lookup that started before the caches were emptied does not put what it read back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use portcullis_core::client::Client;
use portcullis_core::client_grant::ClientGrant;
use portcullis_core::resource_server::ResourceServer;
use portcullis_store::{Store, StoreResult};
use time::{Duration, OffsetDateTime};

/// How long a cached client, API or client grant is used before it is read again.
pub const TTL: Duration = Duration::SECOND;

/// Past this many entries, expired ones are dropped when one is added.
const PRUNE_ABOVE: usize = 1024;

/// The caches of one node.
#[derive(Default)]
pub struct TenantCache {
    clients: Entries<Client>,
    apis: Entries<ResourceServer>,
    /// By [`grant_key`].
    grants: Entries<ClientGrant>,
    /// Bumped by every [`TenantCache::clear`].
    generation: AtomicU64,
}

/// Entries by key, with the time they were read (the server's clock, which tests move).
struct Entries<T>(Mutex<HashMap<String, (OffsetDateTime, T)>>);

/// Whether something read at `read_at` may still be used at `now` (not when the clock went
/// back past it).
fn fresh(read_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    let age = now - read_at;
    !age.is_negative() && age < TTL
}

impl<T> Default for Entries<T> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<T: Clone> Entries<T> {
    fn get(&self, key: &str, now: OffsetDateTime) -> Option<T> {
        let entries = self.0.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(read_at, _)| fresh(*read_at, now))
            .map(|(_, value)| value.clone())
    }

    /// Keeps `value` unless the caches were emptied since `read_at` (checked under the lock
    /// that `clear` takes after bumping the generation, so no clear slips in between).
    fn put(&self, key: &str, read_at: OffsetDateTime, value: T, generation: (&AtomicU64, u64)) {
        let mut entries = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if generation.0.load(Ordering::SeqCst) != generation.1 {
            return;
        }
        if entries.len() >= PRUNE_ABOVE {
            entries.retain(|_, (at, _)| fresh(*at, read_at));
        }
        entries.insert(key.to_owned(), (read_at, value));
    }

    fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl TenantCache {
    /// The client `client_id` at `now`, from the cache or the store.
    pub async fn client(
        &self,
        store: &dyn Store,
        client_id: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Client>> {
        self.read_through(&self.clients, client_id, now, store.find_client(client_id))
            .await
    }

    /// The API whose identifier (audience) is `identifier` at `now`, from the cache or the
    /// store.
    pub async fn api(
        &self,
        store: &dyn Store,
        identifier: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<ResourceServer>> {
        self.read_through(
            &self.apis,
            identifier,
            now,
            store.find_resource_server(identifier),
        )
        .await
    }

    /// The grant of the client `client_id` for the API `audience` (client credentials) at
    /// `now`, from the cache or the store.
    pub async fn client_grant(
        &self,
        store: &dyn Store,
        client_id: &str,
        audience: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<ClientGrant>> {
        self.read_through(
            &self.grants,
            &grant_key(client_id, audience),
            now,
            store.find_client_grant(client_id, audience),
        )
        .await
    }

    /// Forgets everything: the next lookups read the store.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.clients.clear();
        self.apis.clear();
        self.grants.clear();
    }

    async fn read_through<T: Clone>(
        &self,
        entries: &Entries<T>,
        key: &str,
        now: OffsetDateTime,
        read: impl Future<Output = StoreResult<Option<T>>>,
    ) -> StoreResult<Option<T>> {
        if let Some(hit) = entries.get(key, now) {
            return Ok(Some(hit));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let found = read.await?;
        if let Some(value) = &found {
            entries.put(key, now, value.clone(), (&self.generation, generation));
        }
        Ok(found)
    }
}

/// The cache key of a client grant: the client id's length first, so that no other pair
/// of client id and audience makes the same key.
fn grant_key(client_id: &str, audience: &str) -> String {
    format!("{}:{client_id}{audience}", client_id.len())
}
