//! The statements of the hot paths (both backends): the reads and writes of a returning
//! user's authorization, its code exchange, a refresh and a userinfo request. Each backend
//! runs them its own way (`hot.rs`): PostgreSQL through sqlx, SQLite on the calling thread.
//! Parameters are `$N`: the N-th value, wherever it appears.

use std::sync::LazyLock;

use portcullis_core::code::AuthorizationCode;
use portcullis_core::scope::Scope;
use portcullis_core::secret::TokenHash;
use portcullis_core::session::Session;
use time::OffsetDateTime;

use super::refresh::family_from_row;
use super::rows::{
    Columns, USER_COLUMNS, code_from_row, joined_user, session_from_row, ts, user_from_row,
};
use super::script::{Statement, Value};
use crate::{FoundFamily, StoreResult, TakenCode, TokenUser, unavailable};

/// The session of a cookie (read with `session_from_row`).
pub(super) fn find_session(token_hash: &TokenHash) -> Statement<'_> {
    Statement::new(
        "select * from sessions where token_hash = $1",
        vec![Value::Text(token_hash.as_str())],
    )
}

/// The session of a cookie and the scope its user granted a client for an audience (`""`
/// for none): read by [`session_and_grant`].
pub(super) fn session_with_grant<'a>(
    token_hash: &'a TokenHash,
    client_id: &'a str,
    audience: Option<&'a str>,
) -> Statement<'a> {
    Statement::new(
        "select s.*, g.scope as granted_scope from sessions s
         left join grants g on g.user_id = s.user_id and g.client_id = $2 and g.audience = $3
         where s.token_hash = $1",
        vec![
            Value::Text(token_hash.as_str()),
            Value::Text(client_id),
            Value::Text(audience.unwrap_or_default()),
        ],
    )
}

/// What [`session_with_grant`] read.
pub(super) fn session_and_grant<R: Columns>(row: &R) -> StoreResult<(Session, Option<Scope>)> {
    let granted = row
        .opt_text("granted_scope")?
        .map(|s| Scope::parse(&s).map_err(unavailable))
        .transpose()?;
    Ok((session_from_row(row)?, granted))
}

/// Stores a code.
pub(super) fn insert_code<'a>(
    code_hash: &'a TokenHash,
    code: &'a AuthorizationCode,
    now: OffsetDateTime,
) -> Statement<'a> {
    Statement::new(
        "insert into authorization_codes (code_hash, client_id, user_id, redirect_uri, redirect_uri_sent, scope, audience,
           nonce, code_challenge, session_id, auth_time, expires_at, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        vec![
            Value::Text(code_hash.as_str()),
            Value::Text(&code.client_id),
            Value::Text(&code.user_id),
            Value::Text(code.redirect_uri.as_str()),
            Value::Bool(code.redirect_uri_sent),
            Value::Owned(code.scope.to_string()),
            Value::OptText(code.audience.as_deref()),
            Value::OptText(code.nonce.as_deref()),
            Value::OptText(code.code_challenge.as_ref().map(|c| c.as_str())),
            Value::Text(&code.session_id),
            Value::Int(ts(code.auth_time)),
            Value::Int(ts(code.expires_at)),
            Value::Int(ts(now)),
        ],
    )
}

/// Marks an unused code used and returns it with its user's [`USER_COLUMNS`] and
/// `has_user`, each read by a subquery (`RETURNING` names the updated table's own columns
/// only): read by [`taken`]. One statement checks and marks: two redemptions can never both
/// see it unused.
pub(super) fn take_code<'a>(
    code_hash: &'a TokenHash,
    now: OffsetDateTime,
    access_token: (&'a str, OffsetDateTime),
    refresh_family_id: &'a str,
) -> Statement<'a> {
    Statement::new(
        TAKE_CODE.as_str(),
        vec![
            Value::Int(ts(now)),
            Value::Text(access_token.0),
            Value::Int(ts(access_token.1)),
            Value::Text(refresh_family_id),
            Value::Text(code_hash.as_str()),
        ],
    )
}

static TAKE_CODE: LazyLock<String> = LazyLock::new(|| {
    let user: Vec<String> = USER_COLUMNS
        .iter()
        .map(|c| {
            format!("(select u.{c} from users u where u.id = authorization_codes.user_id) as {c}")
        })
        .collect();
    format!(
        "update authorization_codes
         set used_at = $1, access_token_jti = $2, access_token_expires_at = $3, refresh_family_id = $4
         where code_hash = $5 and used_at is null
         returning *, exists(select 1 from users u where u.id = authorization_codes.user_id) as has_user, {}",
        user.join(", ")
    )
});

/// The code [`take_code`] marked used, with its user.
pub(super) fn taken<R: Columns>(row: &R) -> StoreResult<TakenCode> {
    let code = code_from_row(row)?;
    let user = joined_user(row, &code.user_id)?.map(Box::new);
    Ok(TakenCode::Taken(code, user))
}

/// What the first redemption of a code issued, run when [`take_code`] took nothing: read
/// by [`redeemed`].
pub(super) fn code_redemption(code_hash: &TokenHash) -> Statement<'_> {
    Statement::new(
        "select access_token_jti, access_token_expires_at, refresh_family_id from authorization_codes where code_hash = $1",
        vec![Value::Text(code_hash.as_str())],
    )
}

/// A replay if [`code_redemption`] found the code, else an unknown code.
pub(super) fn redeemed<R: Columns>(row: Option<&R>) -> StoreResult<TakenCode> {
    Ok(match row {
        Some(row) => TakenCode::Replayed {
            access_token_jti: row.opt_text("access_token_jti")?,
            access_token_expires_at: row.opt_time("access_token_expires_at")?,
            refresh_family_id: row.opt_text("refresh_family_id")?,
        },
        None => TakenCode::Unknown,
    })
}

/// A refresh token's family with its user's [`USER_COLUMNS`] (not `id`: the family's
/// `user_id`; not `created_at`: the family has its own), and `has_user`: read by
/// [`family_and_user`].
pub(super) fn family_with_user(token_hash: &TokenHash) -> Statement<'_> {
    Statement::new(
        FAMILY_WITH_USER.as_str(),
        vec![Value::Text(token_hash.as_str())],
    )
}

/// The family and user [`family_with_user`] read.
pub(super) fn family_and_user<R: Columns>(row: &R) -> StoreResult<FoundFamily> {
    let family = family_from_row(row)?;
    let user = joined_user(row, &family.user_id)?;
    let revoked = row.opt_int("revoked_at")?.is_some();
    Ok(FoundFamily {
        family,
        user,
        revoked,
    })
}

static FAMILY_WITH_USER: LazyLock<String> = LazyLock::new(|| {
    let user: Vec<String> = USER_COLUMNS.iter().map(|c| format!("u.{c}")).collect();
    format!(
        "select f.*, u.id is not null as has_user, {}
         from refresh_tokens t
         join refresh_families f on f.id = t.family_id
         left join users u on u.id = f.user_id
         where t.token_hash = $1",
        user.join(", ")
    )
});

/// Whether an access token was revoked, and its user's columns (null when unknown): one
/// row always, read by [`token_user_from_row`].
pub(super) fn token_user<'a>(user_id: &'a str, jti: &'a str) -> Statement<'a> {
    Statement::new(
        "select exists(select 1 from revoked_access_tokens where jti = $1) as token_revoked, users.*
         from (select 1) as probe left join users on users.id = $2",
        vec![Value::Text(jti), Value::Text(user_id)],
    )
}

/// What [`token_user`] read.
pub(super) fn token_user_from_row<R: Columns>(row: &R) -> StoreResult<TokenUser> {
    if row.flag("token_revoked")? {
        Ok(TokenUser::Revoked)
    } else if row.opt_text("id")?.is_none() {
        Ok(TokenUser::Unknown)
    } else {
        user_from_row(row).map(|u| TokenUser::Found(Box::new(u)))
    }
}
