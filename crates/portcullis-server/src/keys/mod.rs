//! Signing keys: generated at first start, stored with the private key sealed by the
//! master key, published as a JWK set. The only module that touches private keys.
//!
//! Tokens are signed with aws-lc-rs directly on a key parsed once at start (jsonwebtoken
//! re-parses the private key on every signature); verification uses jsonwebtoken.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use portcullis_core::proto::discovery::{Jwk, JwkSet};
use portcullis_store::{SigningKeyRecord, SigningKeyState, Store, StoreError};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::crypto::MasterKey;

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

struct ActiveKey {
    kid: String,
    pair: KeyPair,
}

/// One consistent set of keys: the current signing key and every published key.
struct KeySet {
    current: ActiveKey,
    jwks: JwkSet,
    verifiers: HashMap<String, DecodingKey>,
}

/// The signing keys in use. The set is swapped whole on reload or rotation, so a request
/// always sees one consistent set.
pub struct SigningKeys {
    master: Arc<MasterKey>,
    set: RwLock<Arc<KeySet>>,
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
        for state in [SigningKeyState::Current, SigningKeyState::Next] {
            if !store.signing_keys().await?.iter().any(|r| r.state == state) {
                let record = new_key(&master, state, now).await?;
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
        })
    }

    /// Reloads from the store: how a node learns of a rotation made elsewhere.
    pub async fn reload(&self, store: &dyn Store) -> Result<(), KeyError> {
        let set = load(store, &self.master).await?;
        *self.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        Ok(())
    }

    /// Rotates (Auth0's model): the published next key becomes current, so it was in the
    /// JWKS before it signed anything; the current key becomes previous and stays published
    /// until every token it signed has expired; a new next key is made. Returns the new
    /// current kid.
    pub async fn rotate(&self, store: &dyn Store, now: OffsetDateTime) -> Result<String, KeyError> {
        let next = new_key(&self.master, SigningKeyState::Next, now).await?;
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

    /// The kid of the key that signs now.
    pub fn current_kid(&self) -> String {
        self.set().current.kid.clone()
    }

    /// The public JWK set: current, next and previous keys.
    pub fn jwks(&self) -> JwkSet {
        self.set().jwks.clone()
    }

    /// Signs a claim set as an RS256 JWS with `typ: JWT` and the current `kid`.
    /// CPU-bound: call it from a blocking thread.
    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, KeyError> {
        let set = self.set();
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": set.current.kid});
        let mut jws = URL_SAFE_NO_PAD.encode(header.to_string());
        jws.push('.');
        jws.push_str(
            &URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?),
        );
        let mut signature = vec![0u8; set.current.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        set.current
            .pair
            .sign(&RSA_PKCS1_SHA256, &rng, jws.as_bytes(), &mut signature)
            .map_err(|_| KeyError::Sign)?;
        jws.push('.');
        jws.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(jws)
    }

    /// Verifies a JWT this server issued: RS256 only, a published `kid`, the issuer, an
    /// audience among `audiences`, and `exp` against `now` (the clock, not the system).
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
        now: OffsetDateTime,
    ) -> Result<Map<String, Value>, VerifyError> {
        let claims = self.decode(token, issuer, Some(audience))?;
        let exp = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| VerifyError::Invalid("exp".into()))?;
        if now.unix_timestamp() >= exp {
            return Err(VerifyError::Expired);
        }
        Ok(claims)
    }

    /// Verifies signature and issuer of a token this server issued, whatever its audience
    /// and even if expired: what an `id_token_hint` needs (OIDC RP-Initiated Logout §2).
    pub fn verify_signature(
        &self,
        token: &str,
        issuer: &str,
    ) -> Result<Map<String, Value>, VerifyError> {
        self.decode(token, issuer, None)
    }

    /// Signature (RS256, known `kid`), issuer and, when given, audience. Expiry is left to
    /// the caller, who has the clock.
    fn decode(
        &self,
        token: &str,
        issuer: &str,
        audience: Option<&str>,
    ) -> Result<Map<String, Value>, VerifyError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| VerifyError::Invalid(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(VerifyError::Invalid("unexpected alg".into()));
        }
        let kid = header
            .kid
            .ok_or_else(|| VerifyError::Invalid("no kid".into()))?;
        let set = self.set();
        let key = set
            .verifiers
            .get(&kid)
            .ok_or_else(|| VerifyError::Invalid("unknown kid".into()))?;
        let mut validation = Validation::new(Algorithm::RS256);
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

/// Reads every non-retired key: the current one with its private key, all as verifiers.
async fn load(store: &dyn Store, master: &MasterKey) -> Result<KeySet, KeyError> {
    let records = store.signing_keys().await?;
    let mut current = None;
    let mut jwks = JwkSet::default();
    let mut verifiers = HashMap::new();
    for r in &records {
        let jwk: Jwk = serde_json::from_str(&r.public_jwk)
            .map_err(|e| KeyError::Load(r.kid.clone(), e.to_string()))?;
        let decoding = DecodingKey::from_rsa_components(&jwk.n, &jwk.e)
            .map_err(|e| KeyError::Load(r.kid.clone(), e.to_string()))?;
        verifiers.insert(r.kid.clone(), decoding);
        jwks.keys.push(jwk);
        if r.state == SigningKeyState::Current && current.is_none() {
            let der = master
                .open(SEAL_PURPOSE, &r.private_key_enc)
                .map_err(|e| KeyError::Load(r.kid.clone(), e.to_string()))?;
            let pair = KeyPair::from_pkcs8(&der)
                .map_err(|e| KeyError::Load(r.kid.clone(), e.to_string()))?;
            current = Some(ActiveKey {
                kid: r.kid.clone(),
                pair,
            });
        }
    }
    let current =
        current.ok_or_else(|| KeyError::Load("current".into(), "no current signing key".into()))?;
    Ok(KeySet {
        current,
        jwks,
        verifiers,
    })
}

/// A new sealed key record in `state`, generated on a blocking thread.
async fn new_key(
    master: &MasterKey,
    state: SigningKeyState,
    now: OffsetDateTime,
) -> Result<SigningKeyRecord, KeyError> {
    let record = tokio::task::spawn_blocking(generate_rs256)
        .await
        .map_err(|_| KeyError::Sign)??;
    Ok(SigningKeyRecord {
        private_key_enc: master.seal(SEAL_PURPOSE, &record.private_key_enc),
        state,
        created_at: now,
        ..record
    })
}

/// Generates an RSA-2048 key; returns a record whose `private_key_enc` is still the
/// clear PKCS#8 DER (the caller seals it).
fn generate_rs256() -> Result<SigningKeyRecord, KeyError> {
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Sign)?;
    let der = pair.as_der().map_err(|_| KeyError::Sign)?;
    let public = pair.public_key();
    let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
    let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
    let kid = thumbprint(&n, &e);
    let jwk = Jwk {
        kty: "RSA".into(),
        use_: "sig".into(),
        alg: "RS256".into(),
        kid: kid.clone(),
        n,
        e,
    };
    Ok(SigningKeyRecord {
        kid,
        alg: "RS256".into(),
        private_key_enc: der.as_ref().to_vec(),
        public_jwk: serde_json::to_string(&jwk).map_err(|_| KeyError::Sign)?,
        state: SigningKeyState::Current,
        created_at: OffsetDateTime::UNIX_EPOCH,
    })
}

/// RFC 7638 JWK thumbprint of an RSA key: the `kid`.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    ))
}
