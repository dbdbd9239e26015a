//! Refresh tokens (RFC 6749 §6, RFC 9700 §4.14, OIDC Core §11/§12): when one is issued,
//! how a client's Auth0 `refresh_token` policy sets its lifetimes, and what presenting
//! one does — rotate, reuse within the leeway, or trip reuse detection.
//!
//! A *family* is the chain of tokens rotated from one authorization. At most one token of
//! a family is active; generations count rotations, so "the immediate predecessor" is a
//! question of numbers, never of timestamps.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::client::{AppType, Client, grant_type};
use crate::resource_server::ResourceServer;
use crate::scope::{OFFLINE_ACCESS, Scope};

/// Auth0 `refresh_token.rotation_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotationType {
    /// Every exchange returns a new refresh token and invalidates the one presented.
    Rotating,
    /// The same refresh token is used until it expires or is revoked.
    NonRotating,
}

/// Auth0 `refresh_token.expiration_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpirationType {
    /// Lifetimes apply (unless their `infinite_*` flag is set).
    Expiring,
    /// No lifetime applies.
    NonExpiring,
}

/// A client's refresh-token policy, as Auth0's `refresh_token` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshTokenPolicy {
    /// Rotation.
    pub rotation_type: RotationType,
    /// Expiration.
    pub expiration_type: ExpirationType,
    /// Seconds during which the immediate predecessor of the current token may still be
    /// exchanged (Auth0 "Rotation Overlap Period"); 0 disables.
    pub leeway: i64,
    /// Absolute lifetime of a family, in seconds; rotation does not extend it.
    pub token_lifetime: i64,
    /// Ignore `token_lifetime`.
    pub infinite_token_lifetime: bool,
    /// A token unused this long expires.
    pub idle_token_lifetime: i64,
    /// Ignore `idle_token_lifetime`.
    pub infinite_idle_token_lifetime: bool,
}

impl RefreshTokenPolicy {
    /// Auth0's defaults for a client without a `refresh_token` object: non-rotating,
    /// non-expiring, 365.25 d absolute and 30 d idle once expiring. Public clients (SPA,
    /// native) get rotation and expiry, as RFC 9700 §4.14.2 requires for them.
    pub fn default_for(app_type: AppType) -> Self {
        let public = matches!(app_type, AppType::Spa | AppType::Native);
        Self {
            rotation_type: if public {
                RotationType::Rotating
            } else {
                RotationType::NonRotating
            },
            expiration_type: if public {
                ExpirationType::Expiring
            } else {
                ExpirationType::NonExpiring
            },
            leeway: 0,
            token_lifetime: 31_557_600,
            infinite_token_lifetime: !public,
            idle_token_lifetime: 2_592_000,
            infinite_idle_token_lifetime: !public,
        }
    }

    /// Whether tokens rotate.
    pub fn rotating(&self) -> bool {
        self.rotation_type == RotationType::Rotating
    }

    /// When a family created at `created` ends, if ever.
    pub fn absolute_expiry(&self, created: OffsetDateTime) -> Option<OffsetDateTime> {
        (self.expiration_type == ExpirationType::Expiring && !self.infinite_token_lifetime)
            .then(|| created + Duration::seconds(self.token_lifetime))
    }

    /// When a token last used at `used` expires from idleness, if ever.
    pub fn idle_expiry(&self, used: OffsetDateTime) -> Option<OffsetDateTime> {
        (self.expiration_type == ExpirationType::Expiring && !self.infinite_idle_token_lifetime)
            .then(|| used + Duration::seconds(self.idle_token_lifetime))
    }

    /// Checks the values as Auth0 bounds them.
    pub fn validate(&self) -> Result<(), String> {
        const MAX: i64 = 31_557_600;
        if !(0..=60).contains(&self.leeway) {
            return Err("leeway must be between 0 and 60 seconds".into());
        }
        if !(1..=MAX).contains(&self.token_lifetime) {
            return Err(format!("token_lifetime must be between 1 and {MAX}"));
        }
        if !(1..=MAX).contains(&self.idle_token_lifetime) {
            return Err(format!("idle_token_lifetime must be between 1 and {MAX}"));
        }
        if self.expiration_type == ExpirationType::Expiring
            && !self.infinite_token_lifetime
            && !self.infinite_idle_token_lifetime
            && self.idle_token_lifetime > self.token_lifetime
        {
            return Err("idle_token_lifetime must not exceed token_lifetime".into());
        }
        Ok(())
    }
}

/// DESIGN §2: a refresh token is issued only if `offline_access` was granted (which
/// needs an API that allows offline access), the client has the `refresh_token` grant,
/// and the token request carried no `Origin` header (a browser POST, as Auth0 does).
pub fn may_issue(
    granted: &Scope,
    api: Option<&ResourceServer>,
    client: &Client,
    has_origin_header: bool,
) -> bool {
    granted.contains(OFFLINE_ACCESS)
        && api.is_some_and(|a| a.allow_offline_access)
        && client.allows_grant(grant_type::REFRESH_TOKEN)
        && !has_origin_header
}

/// One authorization's refresh-token family: what every token of the chain stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFamily {
    /// Family id.
    pub id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user.
    pub user_id: String,
    /// The API, if any.
    pub audience: Option<String>,
    /// The granted scope: every refresh token of the family carries exactly this scope
    /// (RFC 6749 §6); an exchange may narrow the access token only.
    pub scope: Scope,
    /// The SSO session it came from (`sid`); logging out of it revokes the family.
    pub session_id: String,
    /// The original authentication (`auth_time` of refreshed ID tokens, OIDC Core §12.2).
    pub auth_time: OffsetDateTime,
    /// The client's policy when the family began.
    pub policy: RefreshTokenPolicy,
    /// Creation.
    pub created_at: OffsetDateTime,
}

/// Auth0's limit of active refresh tokens per user and client; the oldest goes first.
pub const MAX_ACTIVE_PER_USER_AND_CLIENT: i64 = 200;

/// The stored facts about a presented token and its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    /// The client the family belongs to.
    pub family_client_id: &'a str,
    /// The family was revoked (logout, revocation, reuse detection, blocked user).
    pub family_revoked: bool,
    /// End of the family's absolute lifetime.
    pub family_expires_at: Option<OffsetDateTime>,
    /// The family's current generation (that of its active token).
    pub current_generation: i64,
    /// This token's generation.
    pub generation: i64,
    /// When this token was rotated or superseded; `None` while active.
    pub used_at: Option<OffsetDateTime>,
    /// This token's idle expiry.
    pub idle_expires_at: Option<OffsetDateTime>,
}

/// Why a presented refresh token is refused without further action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Revoked family.
    Revoked,
    /// Past its absolute or idle lifetime.
    Expired,
    /// Issued to another client.
    OtherClient,
}

/// What presenting a refresh token does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// Rotating: mint the next generation, invalidate this one.
    Rotate,
    /// Rotating, within the leeway: this is the immediate predecessor of the current
    /// token; mint a replacement for the current token (same generation), which is
    /// invalidated, so the family never has two active tokens.
    ReplaceCurrent,
    /// Non-rotating: the token stays; its idle lifetime restarts.
    Keep,
    /// An invalidated token was presented: revoke the family (RFC 9700 §4.14.2).
    ReuseDetected,
    /// Refused.
    Refuse(Refusal),
}

/// Decides what presenting a refresh token does, for `client_id` at `now`.
pub fn exchange(
    p: Presented<'_>,
    policy: &RefreshTokenPolicy,
    client_id: &str,
    now: OffsetDateTime,
) -> Exchange {
    if p.family_revoked {
        return Exchange::Refuse(Refusal::Revoked);
    }
    if p.family_client_id != client_id {
        return Exchange::Refuse(Refusal::OtherClient);
    }
    if p.family_expires_at.is_some_and(|end| now >= end) {
        return Exchange::Refuse(Refusal::Expired);
    }
    let idle_expired = p.idle_expires_at.is_some_and(|end| now >= end);
    if !policy.rotating() {
        return if idle_expired {
            Exchange::Refuse(Refusal::Expired)
        } else {
            Exchange::Keep
        };
    }
    match p.used_at {
        None if p.generation == p.current_generation => {
            if idle_expired {
                Exchange::Refuse(Refusal::Expired)
            } else {
                Exchange::Rotate
            }
        }
        Some(used)
            if policy.leeway > 0
                && p.generation == p.current_generation - 1
                && (now - used).whole_seconds() <= policy.leeway =>
        {
            Exchange::ReplaceCurrent
        }
        _ => Exchange::ReuseDetected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(leeway: i64) -> RefreshTokenPolicy {
        RefreshTokenPolicy {
            rotation_type: RotationType::Rotating,
            expiration_type: ExpirationType::Expiring,
            leeway,
            token_lifetime: 1000,
            infinite_token_lifetime: false,
            idle_token_lifetime: 100,
            infinite_idle_token_lifetime: false,
        }
    }

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::seconds(s)
    }

    fn token(generation: i64, used_at: Option<i64>) -> Presented<'static> {
        Presented {
            family_client_id: "c",
            family_revoked: false,
            family_expires_at: Some(at(1000)),
            current_generation: 3,
            generation,
            used_at: used_at.map(at),
            idle_expires_at: Some(at(500)),
        }
    }

    #[test]
    fn exchange_table() {
        let now = at(200);
        let cases = [
            ("current", token(3, None), policy(0), Exchange::Rotate),
            (
                "predecessor, no leeway",
                token(2, Some(195)),
                policy(0),
                Exchange::ReuseDetected,
            ),
            (
                "predecessor within leeway",
                token(2, Some(195)),
                policy(10),
                Exchange::ReplaceCurrent,
            ),
            (
                "predecessor after leeway",
                token(2, Some(150)),
                policy(10),
                Exchange::ReuseDetected,
            ),
            (
                "older within leeway",
                token(1, Some(199)),
                policy(10),
                Exchange::ReuseDetected,
            ),
            (
                "superseded current",
                token(3, Some(199)),
                policy(10),
                Exchange::ReuseDetected,
            ),
            (
                "revoked",
                Presented {
                    family_revoked: true,
                    ..token(3, None)
                },
                policy(0),
                Exchange::Refuse(Refusal::Revoked),
            ),
            (
                "other client",
                Presented {
                    family_client_id: "x",
                    ..token(3, None)
                },
                policy(0),
                Exchange::Refuse(Refusal::OtherClient),
            ),
            (
                "absolute end",
                Presented {
                    family_expires_at: Some(at(200)),
                    ..token(3, None)
                },
                policy(0),
                Exchange::Refuse(Refusal::Expired),
            ),
            (
                "idle end",
                Presented {
                    idle_expires_at: Some(at(200)),
                    ..token(3, None)
                },
                policy(0),
                Exchange::Refuse(Refusal::Expired),
            ),
        ];
        for (name, presented, policy, expected) in cases {
            assert_eq!(exchange(presented, &policy, "c", now), expected, "{name}");
        }
        let keep = RefreshTokenPolicy {
            rotation_type: RotationType::NonRotating,
            ..policy(0)
        };
        assert_eq!(exchange(token(3, None), &keep, "c", now), Exchange::Keep);
    }

    #[test]
    fn lifetimes_follow_expiration_type_and_infinite_flags() {
        let p = policy(0);
        assert_eq!(p.absolute_expiry(at(0)), Some(at(1000)));
        assert_eq!(p.idle_expiry(at(10)), Some(at(110)));
        let infinite = RefreshTokenPolicy {
            infinite_token_lifetime: true,
            ..p
        };
        assert_eq!(infinite.absolute_expiry(at(0)), None);
        let never = RefreshTokenPolicy {
            expiration_type: ExpirationType::NonExpiring,
            ..p
        };
        assert_eq!(
            (never.absolute_expiry(at(0)), never.idle_expiry(at(0))),
            (None, None)
        );
        assert!(RefreshTokenPolicy { leeway: 61, ..p }.validate().is_err());
        assert!(
            RefreshTokenPolicy {
                idle_token_lifetime: 2000,
                ..p
            }
            .validate()
            .is_err()
        );
        assert!(p.validate().is_ok());
    }
}
