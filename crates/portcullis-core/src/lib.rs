//! Portcullis core: the wire vocabulary (`proto`) and the pure protocol rules of an
//! OAuth 2.0 / OpenID Connect authorization server.
//!
//! Everything here is a plain function of its inputs: no I/O, no clock (`now` is a
//! parameter), no randomness (random bytes are parameters), no HTTP, no SQL. The store
//! persists the domain types defined here; the server adapts HTTP to these rules.
//!
//! `proto` is a module rather than its own crate while it is small (STYLE §14, "start
//! small"); it depends on nothing but serde so it can move out when the SDK needs it.

pub mod authorize;
pub mod claims;
pub mod client;
pub mod client_assertion;
pub mod client_auth;
pub mod client_grant;
pub mod code;
pub mod consent;
pub mod forwarded;
pub mod log;
pub mod params;
pub mod pkce;
pub mod proto;
pub mod redirect_uri;
pub mod refresh;
pub mod resource_server;
pub mod scope;
pub mod secret;
pub mod session;
pub mod tenant;
pub mod throttle;
pub mod token;
pub mod user;
