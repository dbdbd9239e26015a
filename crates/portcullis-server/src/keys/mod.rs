//! Signing keys: generated at first start, stored with the private key sealed by the
//! master key, published as a JWK set. The only module that touches private keys.
//!
//! One key pair per algorithm (RS256, the default; PS256, ES256, EdDSA), each with a
//! current and a published next key. Tokens are signed with aws-lc-rs directly on keys
//! parsed once at load (jsonwebtoken re-parses the private key on every signature);
//! verification uses jsonwebtoken, with the algorithm the `kid`'s key was made for.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RSA_PSS_SHA256,
};
use axum::body::Bytes;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_core::client::SigningAlg;
use portcullis_core::proto::discovery::{Jwk, JwkSet};
use portcullis_store::{SigningKeyRecord, SigningKeyState, Store, StoreError};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::crypto::MasterKey;

mod verified;
use verified::{Outcome, Verified};

const SEAL_PURPOSE: &str = "signing key";

/// Key loading and signing failures.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] portcullis_store::StoreError),
    /// A stored key does not decrypt or parse.
    #[error("signing key {0} cannot be loaded: {1}")]
    Load(String, String),
    /// Key generation or signing failed.
    #[error("signing failed")]
    Sign,
}

/// Why a presented JWT was refused. Deliberately coarse: details stay in logs.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Malformed, wrong algorithm, unknown key, bad signature, wrong issuer or audience.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Past `exp`.
    #[error("token expired")]
    Expired,
}

/// A private key, parsed, ready to sign.
enum Signer {
    Rsa(
        RsaKeyPair,
        &'static aws_lc_rs::signature::RsaSignatureEncoding,
    ),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl Signer {
    fn parse(alg: SigningAlg, der: &[u8]) -> Result<Signer, String> {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        Ok(match alg {
            SigningAlg::RS256 => Signer::Rsa(
                RsaKeyPair::from_pkcs8(der).map_err(|x| e(&x))?,
                &RSA_PKCS1_SHA256,
            ),
            SigningAlg::PS256 => Signer::Rsa(
                RsaKeyPair::from_pkcs8(der).map_err(|x| e(&x))?,
                &RSA_PSS_SHA256,
            ),
            SigningAlg::ES256 => Signer::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|x| e(&x))?,
            ),
            SigningAlg::EdDSA => {
                Signer::Ed25519(Ed25519KeyPair::from_pkcs8(der).map_err(|x| e(&x))?)
            }
        })
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match self {
            Signer::Rsa(pair, encoding) => {
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(*encoding, &rng, message, &mut signature)
                    .map_err(|_| KeyError::Sign)?;
                Ok(signature)
            }
            Signer::Ecdsa(pair) => Ok(pair
                .sign(&rng, message)
                .map_err(|_| KeyError::Sign)?
                .as_ref()
                .to_vec()),
            Signer::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

struct ActiveKey {
    kid: String,
    signer: Signer,
}

/// One consistent set of keys: the current signing key of each algorithm and every
/// published key.
struct KeySet {
    current: HashMap<SigningAlg, ActiveKey>,
    /// The public JWK set, serialised once per load: every JWKS request sends these bytes.
    jwks_json: Bytes,
    verifiers: HashMap<String, (Algorithm, DecodingKey)>,
    /// Tokens these keys verified (`verified.rs`); kept by a reload that publishes the
    /// same keys.
    verified: Arc<Verified>,
}

/// The signing keys in use. The set is swapped whole on reload or rotation, so a request
/// always sees one consistent set.
pub struct SigningKeys {
    master: Arc<MasterKey>,
    set: RwLock<Arc<KeySet>>,
    stats: SigningStats,
    /// The RSA signings that may run at once on blocking threads (`signing`,
    /// [`rsa_turns`]).
    rsa_turns: Arc<tokio::sync::Semaphore>,
}

/// Why [`SigningKeys::signing`] did not run its closure to the end.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The blocking thread panicked or the runtime is shutting down.
    #[error("signing task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The signing turns were closed (never done: the semaphore lives with the keys).
    #[error("signing turns closed")]
    Closed,
}

/// Signatures made by one algorithm since the start, and the CPU time they took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningStat {
    /// The algorithm.
    pub alg: SigningAlg,
    /// Signatures made.
    pub signatures: u64,
    /// The signing threads' own CPU time in them (their CPU clock: time a thread spent
    /// waiting for the core while it signed does not count).
    pub cpu: Duration,
}

/// Per algorithm (in the order of [`SigningAlg::ALL`]): signatures, and CPU nanoseconds.
#[derive(Default)]
struct SigningStats([(AtomicU64, AtomicU64); 4]);

impl SigningStats {
    fn record(&self, alg: SigningAlg, cpu: Duration) {
        if let Some((count, nanos)) = SigningAlg::ALL
            .iter()
            .position(|a| *a == alg)
            .and_then(|i| self.0.get(i))
        {
            count.fetch_add(1, Ordering::Relaxed);
            let cpu = u64::try_from(cpu.as_nanos()).unwrap_or(u64::MAX);
            nanos.fetch_add(cpu, Ordering::Relaxed);
        }
    }

    fn read(&self) -> Vec<SigningStat> {
        SigningAlg::ALL
            .iter()
            .zip(&self.0)
            .map(|(alg, (count, nanos))| SigningStat {
                alg: *alg,
                signatures: count.load(Ordering::Relaxed),
                cpu: Duration::from_nanos(nanos.load(Ordering::Relaxed)),
            })
            .collect()
    }
}

impl SigningKeys {
    /// Loads the keys, generating the current and the next key when missing (first start).
    /// Nodes starting at once may both generate one: the store keeps one of each state, and
    /// the node whose insert conflicts loads the other's.
    pub async fn load_or_create(
        store: &dyn Store,
        master: Arc<MasterKey>,
        now: OffsetDateTime,
    ) -> Result<Self, KeyError> {
        let have = store.signing_keys().await?;
        for (alg, state) in SigningAlg::ALL
            .into_iter()
            .flat_map(|a| [(a, SigningKeyState::Current), (a, SigningKeyState::Next)])
        {
            if !have
                .iter()
                .any(|r| r.state == state && r.alg == alg.as_str())
            {
                let record = new_key(&master, alg, state, now).await?;
                match store.insert_signing_key(&record).await {
                    Ok(()) | Err(StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let set = load(store, &master).await?;
        Ok(Self {
            master,
            set: RwLock::new(Arc::new(set)),
            stats: SigningStats::default(),
            rsa_turns: rsa_turn_limit(std::thread::available_parallelism().map_or(1, usize::from)),
        })
    }

    /// Reloads from the store: how a node learns of a rotation made elsewhere.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), KeyError> {
        let mut set = load(store, &self.master).await?;
        let mut slot = self.set.write().unwrap_or_else(|p| p.into_inner());
        let same_keys = slot.verifiers.len() == set.verifiers.len()
            && set
                .verifiers
                .keys()
                .all(|kid| slot.verifiers.contains_key(kid));
        if same_keys {
            set.verified = slot.verified.clone();
        }
        *slot = Arc::new(set);
        Ok(())
    }

    /// Rotates (Auth0's model): the published next key becomes current, so it was in the
    /// JWKS before it signed anything; the current key becomes previous and stays published
    /// until every token it signed has expired; a new next key is made. Returns the new
    /// current kid.
    pub async fn rotate(&self, store: &dyn Store, now: OffsetDateTime) -> Result<String, KeyError> {
        let mut next = Vec::new();
        for alg in SigningAlg::ALL {
            next.push(new_key(&self.master, alg, SigningKeyState::Next, now).await?);
        }
        let retire_before = now
            - time::Duration::seconds(
                portcullis_core::resource_server::ResourceServer::MAX_TOKEN_LIFETIME,
            );
        store.rotate_signing_keys(&next, now, retire_before).await?;
        self.reload(store).await?;
        Ok(self.current_kid())
    }

    fn set(&self) -> Arc<KeySet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The kid of the RS256 key that signs now (the default algorithm).
    pub fn current_kid(&self) -> String {
        self.set()
            .current
            .get(&SigningAlg::RS256)
            .map(|k| k.kid.clone())
            .unwrap_or_default()
    }

    /// The public JWK set as JSON: current, next and previous keys.
    pub fn jwks_json(&self) -> Bytes {
        self.set().jwks_json.clone()
    }

    /// Signs a claim set as a JWS with `alg`, `typ: JWT` and the current `kid` of that
    /// algorithm. CPU-bound: call it through [`Self::signing`].
    pub fn sign(&self, alg: SigningAlg, claims: &Map<String, Value>) -> Result<String, KeyError> {
        // The thread's CPU clock (a system call, about a microsecond): what `signing_stats`
        // reports, so that a benchmark can set a run against the signing cost in that run.
        let started = cpu_time::ThreadTime::try_now().ok();
        let signed = self.sign_now(alg, claims);
        if let Some(cpu) = started.and_then(|t| t.try_elapsed().ok()) {
            self.stats.record(alg, cpu);
        }
        signed
    }

    /// Runs `sign`, which signs tokens with `algs`: on a blocking thread when one of them is
    /// RSA, in place otherwise. An RSA signature takes hundreds of µs (0.23–1.5 ms on the
    /// machines measured), too long to hold up the other requests of a runtime thread,
    /// on any number of cores: signed in place, every request queued behind a code exchange
    /// waits for its two signatures, and a JWKS or UserInfo request beside an RS256 login
    /// load took 14–19 ms at the median instead of 0.3–0.5 ([`rsa_turns`]). An elliptic-curve
    /// signature (20–45 µs) costs less than the two thread switches of the hand-off.
    ///
    /// At most [`rsa_turns`] RSA signings run at once; the others wait their turn here, as
    /// tasks. Without the limit every token request waiting to sign held a blocking thread
    /// of its own (49 threads with 32 client-credentials requests at once on one core,
    /// against 13 with it), all of them runnable, sharing the core's time slices with the
    /// runtime's thread that serves every other request.
    pub async fn signing<T: Send + 'static>(
        &self,
        algs: &[SigningAlg],
        sign: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, SigningError> {
        if !algs.iter().any(|alg| alg.is_rsa()) {
            return Ok(sign());
        }
        let turn = self
            .rsa_turns
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SigningError::Closed)?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let signed = span.in_scope(sign);
            drop(turn);
            signed
        })
        .await
        .map_err(SigningError::Join)
    }

    /// Signatures made so far and the CPU time they took, per algorithm.
    pub fn signing_stats(&self) -> Vec<SigningStat> {
        self.stats.read()
    }

    fn sign_now(&self, alg: SigningAlg, claims: &Map<String, Value>) -> Result<String, KeyError> {
        let set = self.set();
        let key = set.current.get(&alg).ok_or(KeyError::Sign)?;
        let header = json!({"alg": alg.as_str(), "typ": "JWT", "kid": key.kid});
        let mut jws = URL_SAFE_NO_PAD.encode(header.to_string());
        jws.push('.');
        jws.push_str(
            &URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?),
        );
        let signature = key.signer.sign(jws.as_bytes())?;
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(jws)
    }

    /// Verifies a JWT this server issued: a published `kid` and its algorithm, the issuer, the
    /// audience, and `exp` against `now` (the clock, not the system). A token these keys
    /// verified before for the same issuer and audience is not verified again, but its `exp`
    /// is checked each time (`verified.rs`).
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
        now: OffsetDateTime,
    ) -> Result<Arc<Map<String, Value>>, VerifyError> {
        let set = self.set();
        let key = verified::Key::new(issuer, audience, token);
        let (outcome, new) = match set.verified.get(&key) {
            Some(remembered) => (remembered, false),
            None => {
                let claims = set.decode(token, issuer, Some(audience))?;
                let exp = claims
                    .get("exp")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| VerifyError::Invalid("exp".into()))?;
                let claims = Arc::new(claims);
                (Outcome { claims, exp }, true)
            }
        };
        if now.unix_timestamp() >= outcome.exp {
            return Err(VerifyError::Expired);
        }
        if new {
            set.verified.insert(key, outcome.clone());
        }
        Ok(outcome.claims)
    }

    /// Verifies signature and issuer of a token this server issued, whatever its audience
    /// and even if expired: what an `id_token_hint` needs (OIDC RP-Initiated Logout §2).
    pub fn verify_signature(
        &self,
        token: &str,
        issuer: &str,
    ) -> Result<Map<String, Value>, VerifyError> {
        self.set().decode(token, issuer, None)
    }
}

impl KeySet {
    /// Signature (a known `kid`, with its algorithm), issuer and, when given, audience. Expiry is left to
    /// the caller, who has the clock.
    fn decode(
        &self,
        token: &str,
        issuer: &str,
        audience: Option<&str>,
    ) -> Result<Map<String, Value>, VerifyError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| VerifyError::Invalid(e.to_string()))?;
        let kid = header
            .kid
            .ok_or_else(|| VerifyError::Invalid("no kid".into()))?;
        let (alg, key) = self
            .verifiers
            .get(&kid)
            .ok_or_else(|| VerifyError::Invalid("unknown kid".into()))?;
        // The key decides the algorithm, never the token's header.
        if header.alg != *alg {
            return Err(VerifyError::Invalid("unexpected alg".into()));
        }
        let mut validation = Validation::new(*alg);
        validation.validate_exp = false;
        validation.set_issuer(&[issuer]);
        match audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims = ["iss", "aud", "exp", "sub"]
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect();
            }
            None => {
                validation.validate_aud = false;
                validation.required_spec_claims =
                    ["iss", "sub"].iter().map(|s| (*s).to_owned()).collect();
            }
        }
        jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
            .map(|d| d.claims)
            .map_err(|e| VerifyError::Invalid(e.to_string()))
    }
}

/// Reads every non-retired key: the current one of each algorithm with its private key,
/// all as verifiers.
async fn load(store: &dyn Store, master: &MasterKey) -> Result<KeySet, KeyError> {
    let records = store.signing_keys().await?;
    let mut current = HashMap::new();
    let mut jwks = JwkSet::default();
    let mut verifiers = HashMap::new();
    for r in &records {
        let fail = |e: String| KeyError::Load(r.kid.clone(), e);
        let alg =
            SigningAlg::parse(&r.alg).ok_or_else(|| fail(format!("unknown alg {}", r.alg)))?;
        let jwk: Jwk = serde_json::from_str(&r.public_jwk).map_err(|e| fail(e.to_string()))?;
        // jsonwebtoken reads the same stored JWK into its verifying key.
        let public: jsonwebtoken::jwk::Jwk =
            serde_json::from_str(&r.public_jwk).map_err(|e| fail(e.to_string()))?;
        let key = DecodingKey::from_jwk(&public).map_err(|e| fail(e.to_string()))?;
        verifiers.insert(r.kid.clone(), (algorithm(alg), key));
        jwks.keys.push(jwk);
        if r.state == SigningKeyState::Current && !current.contains_key(&alg) {
            let der = master
                .open(SEAL_PURPOSE, &r.private_key_enc)
                .map_err(|e| fail(e.to_string()))?;
            let signer = Signer::parse(alg, &der).map_err(fail)?;
            current.insert(
                alg,
                ActiveKey {
                    kid: r.kid.clone(),
                    signer,
                },
            );
        }
    }
    if let Some(missing) = SigningAlg::ALL
        .into_iter()
        .find(|a| !current.contains_key(a))
    {
        return Err(KeyError::Load(
            missing.as_str().into(),
            "no current signing key".into(),
        ));
    }
    let jwks_json = serde_json::to_vec(&jwks)
        .map_err(|e| KeyError::Load("jwks".into(), e.to_string()))?
        .into();
    Ok(KeySet {
        current,
        jwks_json,
        verifiers,
        verified: Arc::default(),
    })
}

/// How many RSA signings may run at once on blocking threads on `cores` cores: one on one
/// core, two per core on more. Never none: signed in place on the runtime's thread, every
/// other request waits behind the signatures.
///
/// On one core, signing in place made 2–16 % more RS256 iterations in benchmarks of code
/// exchanges alone (fewer thread switches), but beside RS256 sso at C=32, JWKS and UserInfo
/// at C=2 made 110–156 requests a second (p50 14–19 ms, p99 29–41 ms) against 1800–3000
/// (p50 0.3–0.5 ms, p99 2.1–6.2 ms) with the signatures on blocking threads
/// (docs/performance.md, "Cheap requests beside RSA signatures (machine L)"). One turn
/// there leaves the runtime's thread half the core when it has work, two a third: with one,
/// the cheap requests' p99 was lower (JWKS 2.2–2.5 against 3.3–4.5 ms), with about as many
/// code exchanges (machine H found the same). On two cores, one turn per core left a core
/// idle for 13–15 % of a run while signings waited for their turn (a signing thread handed
/// its work waits to be scheduled, and may be on the busy core); with two per core the
/// server used 1.52–1.68 cores instead of 1.42–1.51, and made 4–14 % more sso and 8–25 %
/// more refresh iterations (docs/performance.md, "Signing turns on two cores (machine H)").
fn rsa_turns(cores: usize) -> usize {
    if cores <= 1 { 1 } else { 2 * cores }
}

/// [`rsa_turns`] on `cores` cores, as the semaphore [`SigningKeys::signing`] waits on.
fn rsa_turn_limit(cores: usize) -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(rsa_turns(cores)))
}

fn algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::PS256 => Algorithm::PS256,
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    }
}

/// A new sealed key record for `alg` in `state`, generated on a blocking thread.
async fn new_key(
    master: &MasterKey,
    alg: SigningAlg,
    state: SigningKeyState,
    now: OffsetDateTime,
) -> Result<SigningKeyRecord, KeyError> {
    let (der, jwk) = tokio::task::spawn_blocking(move || generate(alg))
        .await
        .map_err(|_| KeyError::Sign)??;
    Ok(SigningKeyRecord {
        kid: jwk.kid.clone(),
        alg: alg.as_str().into(),
        private_key_enc: master.seal(SEAL_PURPOSE, &der),
        public_jwk: serde_json::to_string(&jwk).map_err(|_| KeyError::Sign)?,
        state,
        created_at: now,
    })
}

/// Generates a key for `alg` (RSA-2048, P-256 or Ed25519): the clear PKCS#8 DER (the
/// caller seals it) and the public JWK, whose `kid` is its RFC 7638 thumbprint.
fn generate(alg: SigningAlg) -> Result<(Vec<u8>, Jwk), KeyError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let jwk = |kty: &str| Jwk {
        kty: kty.into(),
        use_: "sig".into(),
        alg: alg.as_str().into(),
        kid: String::new(),
        n: None,
        e: None,
        crv: None,
        x: None,
        y: None,
    };
    let (der, mut jwk) = match alg {
        SigningAlg::RS256 | SigningAlg::PS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Sign)?;
            let der = pair.as_der().map_err(|_| KeyError::Sign)?.as_ref().to_vec();
            let public = pair.public_key();
            let n = b64(public.modulus().big_endian_without_leading_zero());
            let e = b64(public.exponent().big_endian_without_leading_zero());
            (
                der,
                Jwk {
                    n: Some(n),
                    e: Some(e),
                    ..jwk("RSA")
                },
            )
        }
        SigningAlg::ES256 => {
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| KeyError::Sign)?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                .map_err(|_| KeyError::Sign)?;
            // The uncompressed point: 0x04, x, y (32 bytes each).
            let point = pair.public_key().as_ref();
            let (x, y) = point
                .get(1..33)
                .zip(point.get(33..65))
                .ok_or(KeyError::Sign)?;
            let jwk = Jwk {
                crv: Some("P-256".into()),
                x: Some(b64(x)),
                y: Some(b64(y)),
                ..jwk("EC")
            };
            (doc.as_ref().to_vec(), jwk)
        }
        SigningAlg::EdDSA => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Sign)?;
            let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|_| KeyError::Sign)?;
            let x = b64(pair.public_key().as_ref());
            (
                doc.as_ref().to_vec(),
                Jwk {
                    crv: Some("Ed25519".into()),
                    x: Some(x),
                    ..jwk("OKP")
                },
            )
        }
    };
    jwk.kid = thumbprint(&jwk);
    Ok((der, jwk))
}

/// RFC 7638 JWK thumbprint (SHA-256 of the required members in lexicographic order):
/// the `kid`.
fn thumbprint(jwk: &Jwk) -> String {
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let canonical = match jwk.kty.as_str() {
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, v(&jwk.e), v(&jwk.n)),
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            v(&jwk.crv),
            v(&jwk.x),
            v(&jwk.y)
        ),
        _ => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            v(&jwk.crv),
            v(&jwk.x)
        ),
    };
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    const START: OffsetDateTime = time::macros::datetime!(2026-11-21 0:00 UTC);

    async fn keys() -> (portcullis_store::SqliteStore, SigningKeys) {
        let store = portcullis_store::SqliteStore::connect("sqlite::memory:")
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let master = Arc::new(MasterKey::derive("keys-test-master-key-0123456789abcdef").unwrap());
        let keys = SigningKeys::load_or_create(&store, master, START)
            .await
            .unwrap();
        (store, keys)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rsa_signings_take_turns() {
        // As on two cores, whatever this machine has.
        let (cores, mut keys) = (2, keys().await.1);
        keys.rsa_turns = rsa_turn_limit(cores);
        let keys = Arc::new(keys);
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let signings = (0..cores * 4).map(|_| {
            let (keys, running, most) = (keys.clone(), running.clone(), most.clone());
            tokio::spawn(async move {
                keys.signing(&[SigningAlg::RS256], move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // Holding the blocking thread is the point: the others must wait.
                    #[allow(clippy::disallowed_methods)]
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
                .unwrap();
            })
        });
        for signing in signings.collect::<Vec<_>>() {
            signing.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), rsa_turns(cores));
        // Elliptic-curve signing runs in place, without a turn.
        let in_place = keys
            .signing(&[SigningAlg::ES256], std::thread::current)
            .await
            .unwrap();
        assert_eq!(in_place.id(), std::thread::current().id());
    }

    /// An RSA signing leaves the runtime's thread to the other requests, on one core as on
    /// more: here the signing, once started, waits for a task that only the runtime's one
    /// thread can run. Signed in place, that thread is the one waiting: the task cannot run
    /// until the wait gives up (10 s), and the test fails.
    #[tokio::test(flavor = "current_thread")]
    async fn an_rsa_signing_leaves_the_runtimes_thread_to_other_requests() {
        let mut keys = keys().await.1;
        let runtime_thread = std::thread::current().id();
        for cores in [1, 2] {
            keys.rsa_turns = rsa_turn_limit(cores);
            let (started_tx, started) = tokio::sync::oneshot::channel();
            let (tx, rx) = std::sync::mpsc::channel();
            // The other request runs only once the signing has started.
            let other_request =
                tokio::spawn(async move { started.await.map(|()| tx.send(()).is_ok()) });
            let (signer, served_meanwhile) = keys
                .signing(&[SigningAlg::ES256, SigningAlg::RS256], move || {
                    let _ = started_tx.send(());
                    let served = rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok();
                    (std::thread::current().id(), served)
                })
                .await
                .unwrap();
            assert!(served_meanwhile, "{cores} core(s)");
            assert_ne!(signer, runtime_thread, "{cores} core(s)");
            assert_eq!(other_request.await.unwrap(), Ok(true));
        }
    }

    #[tokio::test]
    async fn a_remembered_token_is_still_checked_for_expiry_audience_and_key() {
        let (store, keys) = keys().await;
        let iss = "https://issuer.test/";
        let exp = START.unix_timestamp() + 60;
        let claims = json!({"iss": iss, "aud": "api", "sub": "auth0|u1", "exp": exp});
        let Value::Object(claims) = claims else {
            unreachable!()
        };
        let token = keys.sign(SigningAlg::ES256, &claims).unwrap();

        let first = keys.verify(&token, iss, "api", START).unwrap();
        let again = keys.verify(&token, iss, "api", START).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second presentation is remembered"
        );
        assert!(matches!(
            keys.verify(&token, iss, "api", START + time::Duration::seconds(60)),
            Err(VerifyError::Expired)
        ));
        assert!(matches!(
            keys.verify(&token, iss, "other-api", START),
            Err(VerifyError::Invalid(_))
        ));
        assert!(matches!(
            keys.verify(&token, "https://other.test/", "api", START),
            Err(VerifyError::Invalid(_))
        ));
        // A reload that publishes the same keys keeps what they verified.
        keys.reload(&store).await.unwrap();
        let reloaded = keys.verify(&token, iss, "api", START).unwrap();
        assert!(Arc::ptr_eq(&first, &reloaded));

        // Two rotations, the second after the longest token lifetime, retire the key that
        // signed it: the token is refused, remembered or not (its clock here is the start).
        keys.rotate(&store, START).await.unwrap();
        assert!(keys.verify(&token, iss, "api", START).is_ok());
        let later = START
            + time::Duration::seconds(
                portcullis_core::resource_server::ResourceServer::MAX_TOKEN_LIFETIME + 1,
            );
        keys.rotate(&store, later).await.unwrap();
        assert!(matches!(
            keys.verify(&token, iss, "api", START),
            Err(VerifyError::Invalid(_))
        ));
    }
}
