//! Flows: one use case each. They call `core` for decisions, read and write through the
//! `Store`, mint through `keys`. They know nothing of HTTP.

pub mod authorize;
pub mod consent;
pub mod login;
pub mod logout;
pub mod revoke;
pub mod token;
pub mod userinfo;

/// A failure that is not the client's or the user's fault: logged once, answered
/// generically.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Internal(#[from] pub anyhow::Error);

impl From<portcullis_store::StoreError> for Internal {
    fn from(e: portcullis_store::StoreError) -> Self {
        Internal(anyhow::Error::new(e))
    }
}

impl From<crate::keys::KeyError> for Internal {
    fn from(e: crate::keys::KeyError) -> Self {
        Internal(anyhow::Error::new(e))
    }
}
