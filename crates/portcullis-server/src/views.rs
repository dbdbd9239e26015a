//! Server-rendered HTML: minijinja with auto-escaping, one context struct per page.
//! Templates are compiled into the binary (`templates/*.html`).

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

/// The template environment.
pub struct Views {
    env: Environment<'static>,
}

const TEMPLATES: [(&str, &str); 9] = [
    ("logout.html", include_str!("../templates/logout.html")),
    (
        "logged_out.html",
        include_str!("../templates/logged_out.html"),
    ),
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("error.html", include_str!("../templates/error.html")),
    (
        "form_post.html",
        include_str!("../templates/form_post.html"),
    ),
    ("home.html", include_str!("../templates/home.html")),
    (
        "playground.html",
        include_str!("../templates/playground.html"),
    ),
];

/// The script of the form_post page; its hash goes into that page's CSP.
pub const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

/// Rendering failed: a template bug, reported as an internal error.
#[derive(Debug, thiserror::Error)]
#[error("template {0}: {1}")]
pub struct RenderError(String, String);

impl Views {
    /// Compiles the templates.
    pub fn new() -> Result<Self, RenderError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| RenderError(name.into(), e.to_string()))?;
        }
        Ok(Self { env })
    }

    /// Renders a page.
    pub fn render<C: Serialize>(&self, name: &str, context: &C) -> Result<String, RenderError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(|e| RenderError(name.into(), e.to_string()))
    }
}

/// Login page.
#[derive(Debug, Serialize)]
pub struct LoginPage<'a> {
    /// Application name.
    pub client_name: &'a str,
    /// Transaction handle.
    pub state: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
    /// Prefilled email (`login_hint` or the previous attempt).
    pub username: &'a str,
    /// Generic error after a failed attempt.
    pub error: Option<&'a str>,
}

/// One permission on the consent page.
#[derive(Debug, Serialize)]
pub struct ConsentScope<'a> {
    /// Scope value.
    pub value: &'a str,
    /// What it allows.
    pub description: &'a str,
}

/// Consent page.
#[derive(Debug, Serialize)]
pub struct ConsentPage<'a> {
    /// Application name.
    pub client_name: &'a str,
    /// API name, if an API was requested.
    pub api_name: Option<&'a str>,
    /// Who is logged in.
    pub user_email: &'a str,
    /// Requested permissions.
    pub scopes: Vec<ConsentScope<'a>>,
    /// Transaction handle.
    pub state: &'a str,
    /// CSRF token.
    pub csrf: &'a str,
}

/// Error page.
#[derive(Debug, Serialize)]
pub struct ErrorPage<'a> {
    /// Error code.
    pub error: &'a str,
    /// Description.
    pub description: &'a str,
}

/// The auto-submitting form of `response_mode=form_post`.
#[derive(Debug, Serialize)]
pub struct FormPostPage<'a> {
    /// Where to post.
    pub action: &'a str,
    /// Fields.
    pub fields: Vec<(&'a str, &'a str)>,
    /// The script (its hash is in the CSP).
    pub script: &'a str,
}

/// Landing page.
#[derive(Debug, Serialize)]
pub struct HomePage<'a> {
    /// Issuer.
    pub issuer: &'a str,
    /// Version.
    pub version: &'a str,
    /// Whether the playground is on.
    pub playground: bool,
}

/// Logout confirmation page.
#[derive(Debug, Serialize)]
pub struct LogoutPage<'a> {
    /// The application, when known.
    pub client_name: Option<&'a str>,
    /// CSRF token bound to the session.
    pub csrf: &'a str,
    /// The request's parameters, carried through the form.
    pub fields: Vec<(&'a str, &'a str)>,
}
