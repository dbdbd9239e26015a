//! The six scenarios: what a worker prepares once (`setup`, not timed) and what one timed
//! iteration does. A failed iteration leaves the worker to run `setup` again, since its
//! session or token family may be gone.

use anyhow::Context;

use crate::agent::Agent;
use crate::cookie::CookieJar;
use crate::oidc::Audience;
use crate::target::{ClientCredentials, Login, Target};

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// A fresh cookie jar every iteration: authorize, log in, consent if asked, exchange the code.
    FullLogin,
    /// Logged in once per worker; every iteration rides the session to a code and exchanges it.
    Sso,
    /// A refresh token per worker (one login); every iteration refreshes it, following rotation.
    Refresh,
    /// grant_type=client_credentials.
    ClientCredentials,
    /// An access token per worker (one login); every iteration calls UserInfo with it.
    Userinfo,
    /// GET the JWK Set.
    Jwks,
}

impl Scenario {
    /// The name on the command line and in the output.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::FullLogin => "full-login",
            Scenario::Sso => "sso",
            Scenario::Refresh => "refresh",
            Scenario::ClientCredentials => "client-credentials",
            Scenario::Userinfo => "userinfo",
            Scenario::Jwks => "jwks",
        }
    }
}

/// The target's settings a scenario needs, checked before anything runs.
#[derive(Debug, Clone)]
pub enum Plan {
    /// The login scenarios: the client, user and scope.
    Login {
        /// Client and user.
        login: Login,
        /// The scope of the authorization request.
        scope: String,
    },
    /// client-credentials.
    ClientCredentials {
        /// The client.
        client: ClientCredentials,
        /// Its `audience`.
        audience: Option<String>,
    },
    /// jwks: nothing but discovery.
    Jwks,
}

impl Plan {
    /// What `scenario` needs from `target`, or a message naming a missing field.
    pub fn new(scenario: Scenario, target: &Target) -> anyhow::Result<Plan> {
        Ok(match scenario {
            Scenario::FullLogin | Scenario::Sso | Scenario::Userinfo => Plan::Login {
                login: target.login()?,
                scope: target.scope(),
            },
            Scenario::Refresh => Plan::Login {
                login: target.login()?,
                scope: target.refresh_scope(),
            },
            Scenario::ClientCredentials => {
                let (client, audience) = target.client_credentials()?;
                Plan::ClientCredentials { client, audience }
            }
            Scenario::Jwks => Plan::Jwks,
        })
    }
}

/// What a worker keeps between iterations.
enum State {
    /// Nothing (full-login, client-credentials, jwks), or not set up yet.
    Empty,
    /// sso: the jar holding the provider's session.
    Session(CookieJar),
    /// refresh: the refresh token to present next.
    RefreshToken(String),
    /// userinfo: the access token.
    AccessToken(String),
}

/// One worker: its agent, the scenario and what it keeps.
pub struct Worker {
    agent: Agent,
    scenario: Scenario,
    plan: Plan,
    state: State,
}

impl Worker {
    /// A worker that has not run its setup yet.
    pub fn new(agent: Agent, scenario: Scenario, plan: Plan) -> Worker {
        Worker {
            agent,
            scenario,
            plan,
            state: State::Empty,
        }
    }

    /// Prepares the iterations (a login for sso, refresh and userinfo; nothing otherwise).
    pub async fn setup(&mut self) -> anyhow::Result<()> {
        self.state = State::Empty;
        let Plan::Login { login, scope } = &self.plan else {
            return Ok(());
        };
        let mut jar = CookieJar::default();
        self.state = match self.scenario {
            Scenario::Sso => {
                self.agent
                    .login(&mut jar, login, scope, Audience::Target, true)
                    .await?;
                State::Session(jar)
            }
            Scenario::Refresh => {
                let tokens = self
                    .agent
                    .login(&mut jar, login, scope, Audience::Target, true)
                    .await?;
                State::RefreshToken(tokens.refresh_token.with_context(|| {
                    format!("the code exchange issued no refresh_token (scope {scope:?})")
                })?)
            }
            // An access token for UserInfo: no audience or resource, which could make it a
            // token for another API (RFC 8707) that UserInfo refuses.
            Scenario::Userinfo => {
                let tokens = self
                    .agent
                    .login(&mut jar, login, scope, Audience::UserInfo, true)
                    .await?;
                State::AccessToken(tokens.access_token)
            }
            Scenario::FullLogin | Scenario::ClientCredentials | Scenario::Jwks => State::Empty,
        };
        Ok(())
    }

    /// One timed iteration.
    pub async fn iterate(&mut self) -> anyhow::Result<()> {
        match (&self.plan, &mut self.state) {
            (Plan::Login { login, scope }, State::Empty)
                if self.scenario == Scenario::FullLogin =>
            {
                let mut jar = CookieJar::default();
                self.agent
                    .login(&mut jar, login, scope, Audience::Target, true)
                    .await?;
            }
            (Plan::Login { login, scope }, State::Session(jar)) => {
                self.agent
                    .login(jar, login, scope, Audience::Target, false)
                    .await?;
            }
            (Plan::Login { login, .. }, State::RefreshToken(refresh_token)) => {
                let tokens = self.agent.refresh(login, refresh_token).await?;
                if let Some(next) = tokens.refresh_token {
                    *refresh_token = next;
                }
            }
            (Plan::Login { .. }, State::AccessToken(access_token)) => {
                self.agent.userinfo(access_token).await?;
            }
            (Plan::ClientCredentials { client, audience }, _) => {
                self.agent
                    .client_credentials(client, audience.as_deref())
                    .await?;
            }
            (Plan::Jwks, _) => self.agent.jwks().await?,
            (Plan::Login { .. }, State::Empty) => {
                anyhow::bail!("the worker is not set up (its setup failed)")
            }
        }
        Ok(())
    }
}
