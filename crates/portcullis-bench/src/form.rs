//! Reading a provider's HTML page the way a person with a browser would: find the login
//! form (the one with a password field) or else a consent form, and say what submitting it
//! sends. Pure functions of (HTML, page URL); no I/O, so every provider's page shapes can be
//! tested here without a server.
//!
//! A submission carries the form's successful controls (HTML §4.10.21.4, simplified): named,
//! enabled inputs with their values (every hidden input among them), checked checkboxes and
//! radios, textareas and selects, plus the one submit button chosen, as `name=value`.

use anyhow::{Context, anyhow, bail};
use scraper::{ElementRef, Html, Selector};

/// Words that make a submit button the one to press on a consent page (whole words of its
/// name, value or text, case-insensitive).
const ACCEPTING: &[&str] = &[
    "accept",
    "allow",
    "continue",
    "yes",
    "approve",
    "authorize",
    "authorise",
    "agree",
    "confirm",
    "grant",
    "consent",
];

/// Words that rule a button out, whatever else it says.
const DECLINING: &[&str] = &[
    "deny", "decline", "cancel", "abort", "reject", "refuse", "no",
];

/// Field names taken for the username, in this order, before the first text input.
const USERNAME_NAMES: &[&str] = &["username", "login", "email"];

/// How a form is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Fields in the query string, replacing the action's own.
    Get,
    /// Fields as an `application/x-www-form-urlencoded` body.
    Post,
}

/// What submitting a form sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// GET or POST.
    pub method: Method,
    /// The form's action, resolved against the page URL.
    pub url: url::Url,
    /// The fields, in document order, the chosen button last.
    pub fields: Vec<(String, String)>,
}

/// A login form, before the credentials are filled in.
#[derive(Debug, Clone)]
pub struct LoginForm {
    method: Method,
    url: url::Url,
    fields: Vec<(String, String)>,
    username_field: String,
    password_field: String,
}

impl LoginForm {
    /// The submission with `username` and `password` in their fields.
    pub fn fill(mut self, username: &str, password: &str) -> Submission {
        for (name, value) in &mut self.fields {
            if *name == self.username_field {
                username.clone_into(value);
            } else if *name == self.password_field {
                password.clone_into(value);
            }
        }
        submission(self.method, self.url, self.fields)
    }
}

/// What a page asks of its visitor.
#[derive(Debug, Clone)]
pub enum Page {
    /// A form with a password field.
    Login {
        /// The form.
        form: LoginForm,
        /// The page's error message (`role="alert"`, `.error`, `.alert`), if any.
        alert: Option<String>,
    },
    /// Another form with a button that does not decline (or no button at all).
    Consent(Submission),
    /// Nothing to submit.
    NoForm {
        /// The page's error message, if any.
        alert: Option<String>,
    },
}

/// Compiled CSS selectors, built once and shared by every worker.
#[derive(Debug)]
pub struct FormReader {
    form: Selector,
    control: Selector,
    option: Selector,
    alert: Selector,
}

impl FormReader {
    /// Compiles the selectors.
    pub fn new() -> anyhow::Result<FormReader> {
        let parse = |s: &str| Selector::parse(s).map_err(|e| anyhow!("CSS selector {s:?}: {e:?}"));
        Ok(FormReader {
            form: parse("form")?,
            control: parse("input, select, textarea, button")?,
            option: parse("option")?,
            alert: parse("[role=alert], .error, .alert")?,
        })
    }

    /// Reads a page fetched from `page_url`.
    pub fn read(&self, html: &str, page_url: &url::Url) -> anyhow::Result<Page> {
        let document = Html::parse_document(html);
        let alert = document
            .select(&self.alert)
            .map(|e| collapse(e.text()))
            .find(|t| !t.is_empty());
        let forms: Vec<Form> = document
            .select(&self.form)
            .map(|f| self.form(f, page_url))
            .collect::<anyhow::Result<_>>()?;

        if let Some(form) = forms.iter().find(|f| f.password.is_some()) {
            return Ok(Page::Login {
                form: form.login()?,
                alert,
            });
        }
        // The form whose button accepts, else the first that can be sent without declining.
        let mut fallback = None;
        for form in &forms {
            match form.choose_button() {
                Choice::Accepting(button) => return Ok(Page::Consent(form.submit(Some(button)))),
                Choice::Other(button) if fallback.is_none() => {
                    fallback = Some(form.submit(button));
                }
                _ => {}
            }
        }
        Ok(match fallback {
            Some(submission) => Page::Consent(submission),
            None => Page::NoForm { alert },
        })
    }

    fn form(&self, form: ElementRef<'_>, page_url: &url::Url) -> anyhow::Result<Form> {
        let attr = |name: &str| form.value().attr(name).map(str::trim);
        let method = match attr("method") {
            Some(m) if m.eq_ignore_ascii_case("post") => Method::Post,
            _ => Method::Get,
        };
        let url = match attr("action") {
            Some(action) if !action.is_empty() => page_url
                .join(action)
                .with_context(|| format!("form action {action:?}"))?,
            _ => page_url.clone(),
        };
        let mut out = Form {
            method,
            url,
            fields: Vec::new(),
            buttons: Vec::new(),
            text_inputs: Vec::new(),
            password: None,
        };
        for control in form.select(&self.control) {
            let e = control.value();
            if e.attr("disabled").is_some() {
                continue;
            }
            let name = e.attr("name").unwrap_or_default().to_owned();
            let value = e.attr("value").map(str::to_owned);
            match e.name() {
                "button" => {
                    let kind = e.attr("type").unwrap_or("submit");
                    if kind.eq_ignore_ascii_case("submit") {
                        let text = collapse(control.text());
                        out.buttons.push(Button {
                            name,
                            value: value.unwrap_or_default(),
                            text,
                        });
                    }
                }
                "textarea" if !name.is_empty() => {
                    out.fields.push((name, control.text().collect()));
                }
                "select" if !name.is_empty() => {
                    let options: Vec<ElementRef<'_>> = control.select(&self.option).collect();
                    let option_value = |o: &ElementRef<'_>| {
                        o.value()
                            .attr("value")
                            .map_or_else(|| collapse(o.text()), str::to_owned)
                    };
                    let selected: Vec<String> = options
                        .iter()
                        .filter(|o| o.value().attr("selected").is_some())
                        .map(option_value)
                        .collect();
                    if selected.is_empty() {
                        if let Some(first) = options.first() {
                            out.fields.push((name, option_value(first)));
                        }
                    } else {
                        out.fields
                            .extend(selected.into_iter().map(|v| (name.clone(), v)));
                    }
                }
                "input" => {
                    let kind = e.attr("type").unwrap_or("text").to_ascii_lowercase();
                    match kind.as_str() {
                        "submit" => out.buttons.push(Button {
                            name,
                            value: value.unwrap_or_else(|| "Submit".to_owned()),
                            text: String::new(),
                        }),
                        "image" | "button" | "reset" | "file" => {}
                        _ if name.is_empty() => {}
                        "checkbox" | "radio" => {
                            if e.attr("checked").is_some() {
                                out.fields
                                    .push((name, value.unwrap_or_else(|| "on".into())));
                            }
                        }
                        "password" => {
                            if out.password.is_none() {
                                out.password = Some(name.clone());
                            }
                            out.fields.push((name, value.unwrap_or_default()));
                        }
                        "hidden" => out.fields.push((name, value.unwrap_or_default())),
                        other => {
                            if matches!(other, "text" | "email") {
                                out.text_inputs.push(name.clone());
                            }
                            out.fields.push((name, value.unwrap_or_default()));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

/// One `<form>`, read.
#[derive(Debug)]
struct Form {
    method: Method,
    url: url::Url,
    /// Successful controls other than buttons.
    fields: Vec<(String, String)>,
    buttons: Vec<Button>,
    /// Names of the visible text and email inputs, in order.
    text_inputs: Vec<String>,
    /// The first password input's name.
    password: Option<String>,
}

#[derive(Debug)]
struct Button {
    name: String,
    value: String,
    text: String,
}

enum Choice<'a> {
    /// A button that says yes.
    Accepting(&'a Button),
    /// No button says yes; this one (or none: implicit submission) does not say no.
    Other(Option<&'a Button>),
    /// Every button declines.
    OnlyDeclining,
}

impl Button {
    fn words(&self) -> impl Iterator<Item = String> + '_ {
        [&self.name, &self.value, &self.text]
            .into_iter()
            .flat_map(|s| {
                s.split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(str::to_lowercase)
            })
    }

    fn says(&self, vocabulary: &[&str]) -> bool {
        self.words().any(|w| vocabulary.contains(&w.as_str()))
    }
}

impl Form {
    fn choose_button(&self) -> Choice<'_> {
        let allowed: Vec<&Button> = self.buttons.iter().filter(|b| !b.says(DECLINING)).collect();
        if let Some(b) = allowed.iter().find(|b| b.says(ACCEPTING)) {
            return Choice::Accepting(b);
        }
        match allowed.first() {
            Some(b) => Choice::Other(Some(b)),
            None if self.buttons.is_empty() => Choice::Other(None),
            None => Choice::OnlyDeclining,
        }
    }

    fn submit(&self, button: Option<&Button>) -> Submission {
        submission(self.method, self.url.clone(), self.fields_with(button))
    }

    fn login(&self) -> anyhow::Result<LoginForm> {
        let password_field = self.password.clone().context("no password input")?;
        let username_field = USERNAME_NAMES
            .iter()
            .find_map(|wanted| {
                self.text_inputs
                    .iter()
                    .find(|name| name.eq_ignore_ascii_case(wanted))
            })
            .or_else(|| self.text_inputs.first())
            .cloned()
            .with_context(|| {
                format!(
                    "the login form at {} has no text or email input for the username",
                    self.url
                )
            })?;
        let button = match self.choose_button() {
            Choice::Accepting(b) => Some(b),
            Choice::Other(b) => b,
            Choice::OnlyDeclining => {
                bail!("the login form at {} has only declining buttons", self.url)
            }
        };
        Ok(LoginForm {
            method: self.method,
            url: self.url.clone(),
            fields: self.fields_with(button),
            username_field,
            password_field,
        })
    }

    /// The fields plus the pressed button's `name=value` (an unnamed button sends nothing).
    fn fields_with(&self, button: Option<&Button>) -> Vec<(String, String)> {
        let mut fields = self.fields.clone();
        if let Some(b) = button.filter(|b| !b.name.is_empty()) {
            fields.push((b.name.clone(), b.value.clone()));
        }
        fields
    }
}

/// A form's request: a GET form's fields replace the action's query, as a browser does.
fn submission(method: Method, mut url: url::Url, mut fields: Vec<(String, String)>) -> Submission {
    if method == Method::Get {
        url.set_fragment(None);
        url.set_query(None);
        if !fields.is_empty() {
            url.query_pairs_mut().extend_pairs(&fields);
        }
        fields.clear();
    }
    Submission {
        method,
        url,
        fields,
    }
}

/// Text with runs of whitespace collapsed to one space, trimmed.
fn collapse<'a>(text: impl Iterator<Item = &'a str>) -> String {
    let joined: String = text.collect();
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(html: &str) -> Page {
        let url = url::Url::parse("http://idp.test/u/login?state=abc").unwrap();
        FormReader::new().unwrap().read(html, &url).unwrap()
    }

    fn fields(s: &Submission) -> Vec<(&str, &str)> {
        s.fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The shape of Portcullis's own login page (templates/login.html).
    const PORTCULLIS_LOGIN: &str = r#"<html><body>
      <p class="error" role="alert">Wrong email or password.</p>
      <form method="post" action="/u/login">
        <input type="hidden" name="state" value="s&amp;1&#x2F;">
        <input type="hidden" name="csrf" value="c1">
        <input id="username" name="username" type="email" required value="">
        <input id="password" name="password" type="password" required>
        <button type="submit">Continue</button>
      </form></body></html>"#;

    #[test]
    fn a_login_form_keeps_hidden_inputs_decoded_and_fills_the_credentials() {
        let Page::Login { form, alert } = read(PORTCULLIS_LOGIN) else {
            panic!("not a login page")
        };
        assert_eq!(alert.as_deref(), Some("Wrong email or password."));
        let s = form.fill("alice@example.com", "pw");
        assert_eq!(s.method, Method::Post);
        assert_eq!(s.url.as_str(), "http://idp.test/u/login");
        assert_eq!(
            fields(&s),
            [
                ("state", "s&1/"),
                ("csrf", "c1"),
                ("username", "alice@example.com"),
                ("password", "pw"),
            ]
        );
    }

    #[test]
    fn a_login_field_named_login_is_the_username_and_a_relative_action_resolves() {
        // The shape of a development login page with a `login` field and no hidden inputs.
        let html = r#"<form autocomplete="off" action="/interaction/XyZ/login" method="post">
            <input required type="text" name="nickname" value="n">
            <input required type="text" name="login" placeholder="Enter any login">
            <input required type="password" name="password">
            <input type="checkbox" name="remember" checked>
            <input type="checkbox" name="unticked">
            <button type="submit" class="login-submit">Sign-in</button></form>"#;
        let Page::Login { form, alert } = read(html) else {
            panic!("not a login page")
        };
        assert_eq!(alert, None);
        let s = form.fill("bob", "pw");
        assert_eq!(s.url.as_str(), "http://idp.test/interaction/XyZ/login");
        assert_eq!(
            fields(&s),
            [
                ("nickname", "n"),
                ("login", "bob"),
                ("password", "pw"),
                ("remember", "on")
            ]
        );
    }

    #[test]
    fn without_a_known_name_the_first_visible_text_input_is_the_username() {
        let html = r#"<form method="POST"><input type="hidden" name="t" value="1">
            <input name="user_identifier"><input type="password" name="secret"></form>"#;
        let Page::Login { form, .. } = read(html) else {
            panic!("not a login page")
        };
        let s = form.fill("u", "p");
        assert_eq!(s.url.as_str(), "http://idp.test/u/login?state=abc");
        assert_eq!(
            fields(&s),
            [("t", "1"), ("user_identifier", "u"), ("secret", "p")]
        );
    }

    #[test]
    fn consent_presses_the_accepting_button_never_the_declining_one() {
        // The shape of Portcullis's consent page: decline comes first.
        let html = r#"<form method="post" action="/u/consent">
            <input type="hidden" name="state" value="s"><input type="hidden" name="csrf" value="c">
            <button type="submit" name="action" value="decline">Decline</button>
            <button type="submit" name="action" value="accept">Accept</button></form>"#;
        let Page::Consent(s) = read(html) else {
            panic!("not a consent page")
        };
        assert_eq!(
            fields(&s),
            [("state", "s"), ("csrf", "c"), ("action", "accept")]
        );
    }

    #[test]
    fn consent_with_an_unnamed_continue_button_sends_the_hidden_inputs_only() {
        let html = r#"<form autocomplete="off" action="/interaction/XyZ/confirm" method="post">
            <input type="hidden" name="prompt" value="consent">
            <button autofocus type="submit" class="login-submit">Continue</button></form>
            <a href="/interaction/XyZ/abort">[ Cancel ]</a>"#;
        let Page::Consent(s) = read(html) else {
            panic!("not a consent page")
        };
        assert_eq!(s.url.as_str(), "http://idp.test/interaction/XyZ/confirm");
        assert_eq!(fields(&s), [("prompt", "consent")]);
    }

    #[test]
    fn a_separate_deny_form_is_skipped_and_a_page_with_only_declining_buttons_has_no_form() {
        let html = r#"<form method="post" action="/deny"><button name="cancel">Cancel</button></form>
            <form method="post" action="/ok"><input type="submit" name="go" value="Yes, allow"></form>"#;
        let Page::Consent(s) = read(html) else {
            panic!("not a consent page")
        };
        assert_eq!(s.url.as_str(), "http://idp.test/ok");
        assert_eq!(fields(&s), [("go", "Yes, allow")]);

        let html = r#"<p role="alert">  Access
            denied </p><form method="post"><button value="abort">No thanks</button></form>"#;
        let Page::NoForm { alert } = read(html) else {
            panic!("a form was chosen")
        };
        assert_eq!(alert.as_deref(), Some("Access denied"));
    }

    #[test]
    fn a_get_form_puts_its_fields_in_the_query_and_unnamed_or_disabled_inputs_are_left_out() {
        let html = r#"<form action="next?old=1#frag"><input name="a" value="1 2">
            <input value="unnamed"><input name="off" value="x" disabled>
            <select name="s"><option value="v1">One</option><option selected>Two</option></select>
            <textarea name="t">hi</textarea><button type="button" name="b">Back</button></form>"#;
        let Page::Consent(s) = read(html) else {
            panic!("not a consent page")
        };
        assert_eq!(s.method, Method::Get);
        assert_eq!(s.url.as_str(), "http://idp.test/u/next?a=1+2&s=Two&t=hi");
        assert!(s.fields.is_empty());
    }
}
