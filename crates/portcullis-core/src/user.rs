//! End-users of the built-in database connection.

use time::OffsetDateTime;

/// Auth0's name of the built-in database connection.
pub const DATABASE_CONNECTION: &str = "Username-Password-Authentication";

/// The strategy of the built-in database connection: `sub` is `auth0|{id}`, so subjects
/// imported from an Auth0 tenant survive migration unchanged (DESIGN §2 "Tokens").
pub const DATABASE_STRATEGY: &str = "auth0";

/// The OIDC subject of the user with this id: `auth0|{id}`.
pub fn subject(id: &str) -> String {
    format!("{DATABASE_STRATEGY}|{id}")
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The id within the connection (the part after `auth0|`).
    pub id: String,
    /// Login identifier, unique case-insensitively.
    pub email: String,
    /// Whether the email address was verified.
    pub email_verified: bool,
    /// Full name.
    pub name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Nickname (Auth0 defaults it to the email's local part).
    pub nickname: Option<String>,
    /// Picture URL.
    pub picture: Option<String>,
    /// Argon2id PHC string; `None` when the user cannot log in with a password.
    pub password_hash: Option<String>,
    /// A blocked user cannot log in or use tokens.
    pub blocked: bool,
    /// Last profile change (`updated_at` claim).
    pub updated_at: OffsetDateTime,
    /// Auth0 `app_metadata`: set by the tenant's administrators, read-only to the user.
    pub app_metadata: serde_json::Map<String, serde_json::Value>,
    /// Auth0 `user_metadata`: preferences the user may edit.
    pub user_metadata: serde_json::Map<String, serde_json::Value>,
    /// OIDC `address` (§5.1.1): `formatted`, `street_address`, `locality`, `region`,
    /// `postal_code`, `country`.
    pub address: Option<serde_json::Map<String, serde_json::Value>>,
    /// Phone number (E.164 recommended).
    pub phone_number: Option<String>,
    /// Whether the phone number was verified.
    pub phone_number_verified: bool,
}

/// The members of an OIDC address claim (OpenID Connect Core §5.1.1).
pub const ADDRESS_MEMBERS: [&str; 6] = [
    "formatted",
    "street_address",
    "locality",
    "region",
    "postal_code",
    "country",
];

/// Checks an address claim: only the §5.1.1 members, each a string.
pub fn check_address(address: &serde_json::Map<String, serde_json::Value>) -> Result<(), String> {
    for (key, value) in address {
        if !ADDRESS_MEMBERS.contains(&key.as_str()) {
            return Err(format!(
                "address.{key} is not an address member (expected one of {})",
                ADDRESS_MEMBERS.join(", ")
            ));
        }
        if !value.is_string() {
            return Err(format!("address.{key} must be a string"));
        }
    }
    Ok(())
}

impl User {
    /// The OIDC subject: `auth0|{id}`.
    pub fn sub(&self) -> String {
        subject(&self.id)
    }

    /// Parses a subject back into the user id of the built-in connection.
    pub fn id_from_sub(sub: &str) -> Option<&str> {
        sub.strip_prefix(DATABASE_STRATEGY)?.strip_prefix('|')
    }

    /// Normalises an email address for lookup and uniqueness (case-insensitive).
    pub fn normalize_email(email: &str) -> String {
        email.trim().to_lowercase()
    }

    /// A plausible email address: one `@`, something on both sides, no whitespace.
    pub fn is_valid_email(email: &str) -> bool {
        let mut parts = email.split('@');
        matches!((parts.next(), parts.next(), parts.next()),
            (Some(local), Some(domain), None)
                if !local.is_empty() && !domain.is_empty() && !email.chars().any(char::is_whitespace))
            && email.len() <= 254
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_round_trips() {
        assert_eq!(User::id_from_sub("auth0|abc"), Some("abc"));
        assert_eq!(User::id_from_sub("google|abc"), None);
    }

    #[test]
    fn email_validation() {
        assert!(User::is_valid_email("a@b.example"));
        for bad in ["", "a", "a@", "@b", "a@b@c", "a b@c"] {
            assert!(!User::is_valid_email(bad), "{bad}");
        }
    }
}
