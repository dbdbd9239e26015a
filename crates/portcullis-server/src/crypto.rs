//! Randomness, the master key and what it protects: private keys and node secrets are
//! sealed with AES-256-GCM under a key derived from the master key with HKDF-SHA256.
//! Also the HMAC used for CSRF tokens.

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hkdf, hmac, rand as lc_rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::config::MasterKeySource;

/// `n` random bytes from the operating system.
pub fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The system RNG only fails when the OS has no entropy source; nothing can run then.
    #[allow(clippy::expect_used)]
    lc_rand::fill(&mut out).expect("the operating system's random number generator failed");
    out
}

/// A random id: `bytes` random bytes, base64url.
pub fn random_id<const N: usize>() -> String {
    URL_SAFE_NO_PAD.encode(random::<N>())
}

/// A random identifier of `len` letters and digits (Auth0's client-id alphabet): safe in
/// URLs, file names and command lines (it never starts with `-`).
pub fn random_alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random::<64>() {
            // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[usize::from(b % 62)] as char);
            }
        }
    }
    out
}

/// The key that seals secrets at rest.
pub struct MasterKey {
    key: LessSafeKey,
}

/// Master-key and sealing errors.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The master key is missing, too short or unreadable.
    #[error("master key: {0}")]
    MasterKey(String),
    /// A sealed value did not open: wrong master key or corrupted data.
    #[error("a secret stored in the database cannot be decrypted with this master key")]
    Open,
}

impl MasterKey {
    /// Derives the sealing key from the master key text (≥ 32 characters).
    pub fn derive(master: &str) -> Result<Self, CryptoError> {
        if master.chars().count() < 32 {
            return Err(CryptoError::MasterKey(
                "must be at least 32 characters".into(),
            ));
        }
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"portcullis master key v1");
        let prk = salt.extract(master.as_bytes());
        let mut bytes = [0u8; 32];
        prk.expand(&[b"aes-256-gcm secrets at rest"], &AES_256_GCM)
            .and_then(|okm| okm.fill(&mut bytes))
            .map_err(|_| CryptoError::MasterKey("key derivation failed".into()))?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| CryptoError::MasterKey("bad key".into()))?;
        Ok(Self {
            key: LessSafeKey::new(key),
        })
    }

    /// Loads or creates the master key from its configured source.
    pub fn load(source: &MasterKeySource) -> Result<(Self, Option<String>), CryptoError> {
        match source {
            MasterKeySource::Given(k) => Ok((Self::derive(k)?, None)),
            MasterKeySource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CryptoError::MasterKey(format!("cannot read {}: {e}", path.display()))
                })?;
                Ok((Self::derive(text.trim())?, None))
            }
            MasterKeySource::Ephemeral => Ok((Self::derive(&random_id::<32>())?, None)),
            MasterKeySource::GenerateAt(path) => {
                if path.exists() {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        CryptoError::MasterKey(format!("cannot read {}: {e}", path.display()))
                    })?;
                    return Ok((Self::derive(text.trim())?, None));
                }
                let key = random_id::<32>();
                write_private(path, &key)?;
                Ok((
                    Self::derive(&key)?,
                    Some(format!("generated a master key into {}", path.display())),
                ))
            }
        }
    }

    /// Encrypts: `nonce || ciphertext || tag`. `purpose` is bound as associated data so a
    /// sealed value cannot be moved to another column.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce_bytes = random::<NONCE_LEN>();
        let mut in_out = plaintext.to_vec();
        let nonce = Nonce::assume_unique_for_key(nonce_bytes);
        // Sealing only fails for inputs beyond AES-GCM's size limit (64 GiB).
        #[allow(clippy::expect_used)]
        self.key
            .seal_in_place_append_tag(nonce, Aad::from(purpose.as_bytes()), &mut in_out)
            .expect("AES-GCM sealing of a small secret cannot fail");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&in_out);
        out
    }

    /// Decrypts what [`MasterKey::seal`] produced for the same purpose.
    pub fn open(&self, purpose: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut buf)
            .map_err(|_| CryptoError::Open)?;
        Ok(plain.to_vec())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> Result<(), CryptoError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| CryptoError::MasterKey(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(contents.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| CryptoError::MasterKey(format!("cannot write {}: {e}", path.display())))
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> Result<(), CryptoError> {
    std::fs::write(path, contents)
        .map_err(|e| CryptoError::MasterKey(format!("cannot write {}: {e}", path.display())))
}

/// Keys every node shares, kept in the database sealed with the master key.
pub struct NodeSecrets {
    csrf: hmac::Key,
    playground: hmac::Key,
}

impl NodeSecrets {
    /// Builds from raw key material.
    pub fn new(csrf: &[u8], playground: &[u8]) -> Self {
        Self {
            csrf: hmac::Key::new(hmac::HMAC_SHA256, csrf),
            playground: hmac::Key::new(hmac::HMAC_SHA256, playground),
        }
    }

    /// The CSRF token of a form: bound to the login transaction and to the browser.
    pub fn csrf_token(&self, form: &str, transaction: &str, browser: &str) -> String {
        let msg = format!("{form}\n{transaction}\n{browser}");
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.csrf, msg.as_bytes()).as_ref())
    }

    /// Checks a CSRF token in constant time.
    pub fn verify_csrf(&self, form: &str, transaction: &str, browser: &str, token: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(token) else {
            return false;
        };
        let msg = format!("{form}\n{transaction}\n{browser}");
        hmac::verify(&self.csrf, msg.as_bytes(), &tag).is_ok()
    }

    /// Signs the playground's cookie.
    pub fn sign_playground(&self, value: &str) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.playground, value.as_bytes()).as_ref())
    }

    /// Verifies the playground's cookie signature in constant time.
    pub fn verify_playground(&self, value: &str, tag: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(tag)
            .is_ok_and(|t| hmac::verify(&self.playground, value.as_bytes(), &t).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_purpose() {
        let a = MasterKey::derive(&"a".repeat(32));
        let b = MasterKey::derive(&"b".repeat(32));
        let (Ok(a), Ok(b)) = (a, b) else {
            panic!("derive")
        };
        let sealed = a.seal("key", b"secret");
        assert_eq!(a.open("key", &sealed).ok(), Some(b"secret".to_vec()));
        assert!(a.open("other", &sealed).is_err());
        assert!(b.open("key", &sealed).is_err());
        assert!(MasterKey::derive("short").is_err());
    }

    #[test]
    fn alphanumeric_ids_have_the_length_and_alphabet() {
        for _ in 0..200 {
            let id = random_alphanumeric(32);
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        }
    }

    #[test]
    fn csrf_token_is_bound_to_form_transaction_and_browser() {
        let s = NodeSecrets::new(b"k1", b"k2");
        let t = s.csrf_token("login", "tx", "browser");
        assert!(s.verify_csrf("login", "tx", "browser", &t));
        assert!(!s.verify_csrf("consent", "tx", "browser", &t));
        assert!(!s.verify_csrf("login", "tx2", "browser", &t));
        assert!(!s.verify_csrf("login", "tx", "other", &t));
        assert!(!s.verify_csrf("login", "tx", "browser", "garbage!"));
    }
}
