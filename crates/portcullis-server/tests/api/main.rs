//! The one integration-test binary: real HTTP against an in-process server on a random
//! port, one module per surface.

// All of this crate is test code: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod authorize;
mod client_credentials;
mod consent;
mod discovery;
mod hardening;
mod login;
mod logout;
mod management;
mod oidc;
mod ops;
mod playground;
mod private_key_jwt;
mod refresh;
mod revoke;
mod signing;
mod tenant;
mod token;
mod userinfo;
