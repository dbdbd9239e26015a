//! Wire types: OAuth/OIDC error codes and bodies, route paths, discovery and JWKS
//! documents, token responses. Serde only; no behaviour beyond (de)serialization.

pub mod discovery;
pub mod error;
pub mod paths;
pub mod token;

pub use error::{OAuthError, OAuthErrorCode};
