//! Route paths of the public surface (DESIGN §2). The router and the discovery document
//! both use these constants, and a test checks that every discovery URL resolves.

/// RFC 6749 §3.1 authorization endpoint.
pub const AUTHORIZE: &str = "/authorize";
/// RFC 6749 §3.2 token endpoint (Auth0 path).
pub const TOKEN: &str = "/oauth/token";
/// RFC 7009 token revocation (Auth0 path).
pub const REVOKE: &str = "/oauth/revoke";
/// OpenID Connect RP-Initiated Logout (Auth0 path).
pub const OIDC_LOGOUT: &str = "/oidc/logout";
/// Auth0 logout.
pub const V2_LOGOUT: &str = "/v2/logout";
/// OIDC Core §5.3 UserInfo endpoint.
pub const USERINFO: &str = "/userinfo";
/// OIDC Discovery §4.
pub const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
/// RFC 8414 §3 alias of the discovery document.
pub const OAUTH_AUTHORIZATION_SERVER: &str = "/.well-known/oauth-authorization-server";
/// RFC 7517 JWK set of the signing keys.
pub const JWKS: &str = "/.well-known/jwks.json";
/// Hosted login page.
pub const LOGIN: &str = "/u/login";
/// Hosted consent page.
pub const CONSENT: &str = "/u/consent";
/// Stylesheet of the hosted pages.
pub const STYLESHEET: &str = "/static/portcullis.css";
/// Landing page.
pub const HOME: &str = "/";
/// Playground: starts the demo application's login.
pub const PLAYGROUND_START: &str = "/playground/login";
/// Playground: the demo application's callback (its back end).
pub const PLAYGROUND_CALLBACK: &str = "/playground/callback";
/// Playground: the demo API endpoint that verifies an access token.
pub const PLAYGROUND_API: &str = "/playground/api/hello";
/// Process liveness.
pub const HEALTHZ: &str = "/healthz";
/// Readiness: the database answers and carries every migration of this build.
pub const READYZ: &str = "/readyz";
/// Prometheus metrics (text exposition format).
pub const METRICS: &str = "/metrics";
