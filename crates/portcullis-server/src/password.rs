//! Password hashing with Argon2id on blocking threads, at most `max_concurrent` at once,
//! so a flood of logins queues instead of starving token requests (DESIGN §4).
//! Unknown users are checked against a dummy hash so that timing reveals nothing.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::PasswordHashing;

/// Hashes and verifies passwords.
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    permits: Arc<Semaphore>,
    dummy_hash: String,
}

/// Hashing failed (bad parameters or a stored hash that does not parse).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

impl PasswordHasher {
    /// Builds a hasher with the configured cost.
    pub fn new(settings: PasswordHashing) -> Result<Self, HashError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|_| HashError)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = hash_with(&argon2, "portcullis dummy password")?;
        Ok(Self {
            argon2,
            permits: Arc::new(Semaphore::new(settings.max_concurrent)),
            dummy_hash,
        })
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let _permit = self.permits.acquire().await.map_err(|_| HashError)?;
        let argon2 = self.argon2.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| hash_with(&argon2, &password)))
            .await
            .map_err(|_| HashError)?
    }

    /// Verifies `password` against `stored`; with `None` (unknown user, no password) the
    /// same work is done against a dummy hash and the answer is false.
    pub async fn verify(&self, password: String, stored: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.dummy_hash.clone());
        let argon2 = self.argon2.clone();
        let span = tracing::Span::current();
        let ok = tokio::task::spawn_blocking(move || {
            span.in_scope(|| {
                PasswordHash::new(&stored)
                    .map(|parsed| argon2.verify_password(password.as_bytes(), &parsed).is_ok())
                    .unwrap_or(false)
            })
        })
        .await
        .unwrap_or(false);
        ok && known
    }
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<String, HashError> {
    let salt = SaltString::encode_b64(&crate::crypto::random::<16>()).map_err(|_| HashError)?;
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| HashError)
}
