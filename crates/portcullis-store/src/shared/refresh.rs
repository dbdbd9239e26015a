//! Refresh-token families (both backends). Every write runs in a write transaction that
//! first locks the family (`lock`; an exchange, in each backend's `hot.rs`), so an exchange, a concurrent
//! exchange of the same token and a revocation serialise on every node: the decision
//! (`core::refresh::exchange`) is taken and applied under the same lock.

use portcullis_core::refresh::{self, Exchange, Presented, RefreshFamily};
use portcullis_core::scope::Scope;
use portcullis_core::secret::TokenHash;
use sqlx::Row;
use time::OffsetDateTime;

use super::rows::{Columns, json, ts};
use super::script::{self, Statement, Value};
use super::{Conn, lock};
use crate::{RefreshExchange, RefreshOutcome, RevokeOutcome, StoreResult};
use crate::{map_err, unavailable};

pub(super) fn family_from_row<R: Columns>(row: &R) -> StoreResult<RefreshFamily> {
    Ok(RefreshFamily {
        id: row.text("id")?,
        client_id: row.text("client_id")?,
        user_id: row.text("user_id")?,
        audience: row.opt_text("audience")?,
        scope: Scope::parse(&row.text("scope")?).map_err(unavailable)?,
        session_id: row.text("session_id")?,
        auth_time: row.time("auth_time")?,
        policy: row.json("policy")?,
        created_at: row.time("created_at")?,
    })
}

/// The lock key of a family.
pub(super) fn family_key(family_id: &str) -> String {
    format!("family:{family_id}")
}

/// Revokes a family and every access token minted from it.
pub(super) async fn revoke_family(
    c: &mut Conn,
    family_id: &str,
    reason: &str,
    now: OffsetDateTime,
) -> StoreResult<()> {
    lock(c, &family_key(family_id)).await?;
    script::run(c, &revocation(family_id, reason, now)).await
}

/// The statements that revoke a family and every access token minted from it, for a
/// transaction that holds the family's lock.
fn revocation<'a>(family_id: &str, reason: &'a str, now: OffsetDateTime) -> Vec<Statement<'a>> {
    vec![
        Statement::new(
            "update refresh_families set revoked_at = $1, revoked_reason = $2 where id = $3 and revoked_at is null",
            vec![
                Value::Int(ts(now)),
                Value::Text(reason),
                Value::Owned(family_id.to_owned()),
            ],
        ),
        Statement::new(
            "insert into revoked_access_tokens (jti, expires_at)
             select jti, expires_at from family_access_tokens where family_id = $1 and expires_at > $2
             on conflict (jti) do nothing",
            vec![Value::Owned(family_id.to_owned()), Value::Int(ts(now))],
        ),
    ]
}

fn record_access_token<'a>(
    family_id: &str,
    (jti, expires_at): (&'a str, OffsetDateTime),
) -> Statement<'a> {
    Statement::new(
        "insert into family_access_tokens (jti, family_id, expires_at) values ($1, $2, $3)",
        vec![
            Value::Text(jti),
            Value::Owned(family_id.to_owned()),
            Value::Int(ts(expires_at)),
        ],
    )
}

fn insert_token<'a>(
    hash: &'a TokenHash,
    family: &RefreshFamily,
    generation: i64,
    now: OffsetDateTime,
) -> Statement<'a> {
    Statement::new(
        "insert into refresh_tokens (token_hash, family_id, generation, created_at, idle_expires_at) values ($1, $2, $3, $4, $5)",
        vec![
            Value::Text(hash.as_str()),
            Value::Owned(family.id.clone()),
            Value::Int(generation),
            Value::Int(ts(now)),
            Value::OptInt(family.policy.idle_expiry(now).map(ts)),
        ],
    )
}

/// The families of `family`'s user and client that creating it takes past Auth0's limit of
/// active refresh tokens per user and client (at most 200; the oldest go), read in the
/// transaction that creates it, which holds the lock of the user's families of the client
/// (PostgreSQL: `families_key`; SQLite: `BEGIN IMMEDIATE`). (`rowid` orders
/// families made in the same second: SQLite's own, PostgreSQL's an identity column of that
/// name.)
pub(super) fn excess(family: &RefreshFamily) -> Statement<'_> {
    Statement::new(
        "select id from refresh_families
         where user_id = $1 and client_id = $2 and revoked_at is null and (expires_at is null or expires_at > $3)
         order by created_at desc, rowid desc limit $4 offset $5",
        vec![
            Value::Text(&family.user_id),
            Value::Text(&family.client_id),
            Value::Int(ts(family.created_at)),
            Value::Int(i64::MAX),
            Value::Int(refresh::MAX_ACTIVE_PER_USER_AND_CLIENT - 1),
        ],
    )
}

/// The statements that revoke the families `excess` found (whose locks the transaction
/// holds) and create `family` with its first token (generation 0), recording the access
/// token minted with it.
pub(super) fn creation<'a>(
    family: &'a RefreshFamily,
    token_hash: &'a TokenHash,
    access_token: (&'a str, OffsetDateTime),
    excess: &[String],
) -> StoreResult<Vec<Statement<'a>>> {
    let now = family.created_at;
    let mut statements: Vec<Statement<'a>> = excess
        .iter()
        .flat_map(|id| revocation(id, "limit", now))
        .collect();
    statements.push(Statement::new(
        "insert into refresh_families (id, client_id, user_id, audience, scope, session_id, auth_time, policy,
           current_generation, created_at, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10)",
        vec![
            Value::Text(&family.id),
            Value::Text(&family.client_id),
            Value::Text(&family.user_id),
            Value::OptText(family.audience.as_deref()),
            Value::Owned(family.scope.to_string()),
            Value::Text(&family.session_id),
            Value::Int(ts(family.auth_time)),
            Value::Owned(json(&family.policy)?),
            Value::Int(ts(now)),
            Value::OptInt(family.policy.absolute_expiry(now).map(ts)),
        ],
    ));
    statements.push(insert_token(token_hash, family, 0, now));
    statements.push(record_access_token(&family.id, access_token));
    Ok(statements)
}

pub(super) async fn find_family(
    c: &mut Conn,
    token_hash: &TokenHash,
) -> StoreResult<Option<RefreshFamily>> {
    let row = sqlx::query("select f.* from refresh_tokens t join refresh_families f on f.id = t.family_id where t.token_hash = $1")
        .bind(token_hash.as_str())
        .fetch_optional(&mut *c)
        .await
        .map_err(map_err)?;
    row.as_ref().map(family_from_row).transpose()
}

/// The presented refresh token's row with its family's: what an exchange decides on, read
/// in its transaction.
pub(super) fn presented(token_hash: &TokenHash) -> Statement<'_> {
    Statement::new(
        "select f.*, t.generation as t_generation, t.used_at as t_used_at, t.idle_expires_at as t_idle_expires_at
         from refresh_tokens t join refresh_families f on f.id = t.family_id where t.token_hash = $1",
        vec![Value::Text(token_hash.as_str())],
    )
}

/// Decides an exchange on the row [`presented`] read in a transaction that holds the
/// family's lock, and returns the outcome with the statements that apply it, for the
/// caller to run before it commits. A detected reuse revokes the family.
pub(super) fn decide<'a, R: Columns>(
    row: Option<&R>,
    ex: &RefreshExchange<'a>,
) -> StoreResult<(RefreshOutcome, Vec<Statement<'a>>)> {
    let Some(row) = row else {
        return Ok((RefreshOutcome::Unknown, Vec::new()));
    };
    let family = family_from_row(row)?;
    let current = row.int("current_generation")?;
    let generation = row.int("t_generation")?;
    // A rotation records its time on the family, not on the token it rotated (migration
    // 13): a token older than the current generation was rotated, the immediate
    // predecessor at the family's `rotated_at`. A superseded token, and one rotated before
    // migration 13, has its own `used_at`.
    let used_at = match row.opt_time("t_used_at")? {
        Some(used) => Some(used),
        None if generation < current => row.opt_time("rotated_at")?,
        None => None,
    };
    let presented = Presented {
        family_client_id: &family.client_id,
        family_revoked: row.opt_int("revoked_at")?.is_some(),
        family_expires_at: row.opt_time("expires_at")?,
        current_generation: current,
        generation,
        used_at,
        idle_expires_at: row.opt_time("t_idle_expires_at")?,
    };
    let now = ex.now;
    let (writes, rotated) = match refresh::exchange(presented, &family.policy, ex.client_id, now) {
        Exchange::Refuse(reason) => return Ok((RefreshOutcome::Refused(reason), Vec::new())),
        Exchange::ReuseDetected => {
            let writes = revocation(&family.id, "reuse", now);
            return Ok((RefreshOutcome::ReuseDetected { family }, writes));
        }
        Exchange::Keep => (
            vec![
                Statement::new(
                    "update refresh_tokens set idle_expires_at = $1 where token_hash = $2",
                    vec![
                        Value::OptInt(family.policy.idle_expiry(now).map(ts)),
                        Value::Text(ex.token_hash.as_str()),
                    ],
                ),
                record_access_token(&family.id, ex.access_token),
            ],
            false,
        ),
        Exchange::Rotate => (
            vec![
                // The presented token is left as it is: its generation, now behind the
                // family's, says it was rotated, and `rotated_at` when.
                Statement::new(
                    "update refresh_families set current_generation = $1, rotated_at = $2 where id = $3",
                    vec![
                        Value::Int(current + 1),
                        Value::Int(ts(now)),
                        Value::Owned(family.id.clone()),
                    ],
                ),
                insert_token(ex.new_token_hash, &family, current + 1, now),
                record_access_token(&family.id, ex.access_token),
            ],
            true,
        ),
        // The current token is superseded; its replacement takes its generation, so the
        // presented token stays the immediate predecessor.
        Exchange::ReplaceCurrent => (
            vec![
                Statement::new(
                    "update refresh_tokens set used_at = $1 where family_id = $2 and generation = $3 and used_at is null",
                    vec![
                        Value::Int(ts(now)),
                        Value::Owned(family.id.clone()),
                        Value::Int(current),
                    ],
                ),
                insert_token(ex.new_token_hash, &family, current, now),
                record_access_token(&family.id, ex.access_token),
            ],
            true,
        ),
    };
    Ok((RefreshOutcome::Exchanged { family, rotated }, writes))
}

pub(super) async fn revoke_token(
    c: &mut Conn,
    token_hash: &TokenHash,
    client_id: &str,
    reason: &str,
    now: OffsetDateTime,
) -> StoreResult<RevokeOutcome> {
    let Some(family) = find_family(c, token_hash).await? else {
        return Ok(RevokeOutcome::Unknown);
    };
    if family.client_id != client_id {
        return Ok(RevokeOutcome::OtherClient);
    }
    revoke_family(c, &family.id, reason, now).await?;
    Ok(RevokeOutcome::Revoked(Box::new(family)))
}

pub(super) async fn revoke_session(
    c: &mut Conn,
    session_id: &str,
    reason: &str,
    now: OffsetDateTime,
) -> StoreResult<u64> {
    let ids: Vec<String> =
        sqlx::query("select id from refresh_families where session_id = $1 and revoked_at is null")
            .bind(session_id)
            .fetch_all(&mut *c)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| r.get(0))
            .collect();
    for id in &ids {
        revoke_family(c, id, reason, now).await?;
    }
    Ok(ids.len() as u64)
}
