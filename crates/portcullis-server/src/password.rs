//! Password hashing with Argon2id on blocking threads, at most `max_concurrent` at once,
//! so a flood of logins queues instead of starving token requests (DESIGN §4).
//! Unknown users are checked against a dummy hash so that timing reveals nothing.

use std::sync::Arc;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
        let span = tracing::Span::current();
        let ok = tokio::task::spawn_blocking(move || {
            span.in_scope(|| verify_with(password.as_bytes(), &stored).unwrap_or(false))
        })
        .await
        .unwrap_or(false);
        ok && known
    }
}

/// Hashes `password` with a fresh salt into a PHC string (`$argon2id$v=19$m=…`).
fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<String, HashError> {
    let salt = crate::crypto::random::<16>();
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        compute(argon2, password.as_bytes(), &salt, out)
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|_| HashError)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| HashError)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(|_| HashError)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored`, with the algorithm, version and cost
/// written in it; the outputs are compared in constant time (`Output`'s `PartialEq`).
fn verify_with(password: &[u8], stored: &str) -> Result<bool, HashError> {
    let phc = PasswordHash::new(stored).map_err(|_| HashError)?;
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
        return Err(HashError);
    };
    let algorithm = Algorithm::try_from(phc.algorithm).map_err(|_| HashError)?;
    let version =
        Version::try_from(phc.version.unwrap_or(Version::V0x13.into())).map_err(|_| HashError)?;
    let params = Params::try_from(&phc).map_err(|_| HashError)?;
    let argon2 = Argon2::new(algorithm, version, params);
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(|_| HashError)?;
    let output = Output::init_with(expected.len(), |out| {
        compute(&argon2, password, salt, out).map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|_| HashError)?;
    Ok(output == expected)
}

/// Runs Argon2 over working memory of its own (`memory_kib`, 19 MiB at OWASP's cost) that
/// goes back to the system when the hash is done.
///
/// glibc's malloc serves an allocation from the calling thread's arena unless it is above the
/// mmap threshold, and that threshold rises to the size of every mapped block freed, up to
/// 32 MiB (mallopt(3), `M_MMAP_THRESHOLD`). So after the first hash the working memory came
/// from the arena of whichever blocking thread hashed, and stayed there: a burst of logins
/// left the process as large as the burst (docs/performance.md, "Memory"). Reserving more than
/// that ceiling gives every hash a mapping of its own, unmapped when it is freed. Only
/// `block_count` blocks are written; the rest of the reservation is address space that is
/// never touched, not memory.
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), HashError> {
    const ALWAYS_MAPPED: usize = (32 << 20) / std::mem::size_of::<Block>() + 1;
    let blocks = argon2.params().block_count();
    let mut memory = Vec::with_capacity(blocks.max(ALWAYS_MAPPED));
    memory.resize(blocks, Block::default());
    argon2
        .hash_password_into_with_memory(password, salt, out, &mut memory)
        .map_err(|_| HashError)
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    fn cheap() -> Argon2<'static> {
        let params = Params::new(64, 1, 1, None).expect("valid cost");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    #[test]
    fn our_hashes_are_argon2id_phc_strings_that_the_argon2_crate_verifies() {
        let hash = hash_with(&cheap(), "hunter2 hunter2").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        let parsed = PasswordHash::new(&hash).expect("PHC string");
        assert!(cheap().verify_password(b"hunter2 hunter2", &parsed).is_ok());
        assert!(
            cheap()
                .verify_password(b"hunter3 hunter3", &parsed)
                .is_err()
        );
    }

    #[test]
    fn hashes_made_elsewhere_verify_with_the_cost_written_in_them() {
        // Made with another cost than ours: verification must use the stored one.
        let params = Params::new(128, 2, 1, None).expect("valid cost");
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let hash = other
            .hash_password(b"correct horse", &salt)
            .expect("hash")
            .to_string();
        assert_eq!(verify_with(b"correct horse", &hash).ok(), Some(true));
        assert_eq!(verify_with(b"correct horsf", &hash).ok(), Some(false));
        assert!(verify_with(b"correct horse", "$argon2id$v=19$m=128").is_err());
        assert!(verify_with(b"correct horse", "not a hash").is_err());
    }
}
