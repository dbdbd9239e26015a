//! Tenant log events with Auth0's type codes (Auth0 "Log Event Type Codes").

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// An event type, by its Auth0 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogType {
    /// `s`: successful login.
    #[serde(rename = "s")]
    SuccessLogin,
    /// `f`: failed login.
    #[serde(rename = "f")]
    FailedLogin,
    /// `seacft`: authorization code exchanged for tokens.
    #[serde(rename = "seacft")]
    SuccessExchangeCode,
    /// `feacft`: failed exchange of an authorization code.
    #[serde(rename = "feacft")]
    FailedExchangeCode,
    /// `sertft`: refresh token exchanged.
    #[serde(rename = "sertft")]
    SuccessExchangeRefresh,
    /// `fertft`: failed exchange of a refresh token (revoked, expired, unknown).
    #[serde(rename = "fertft")]
    FailedExchangeRefresh,
    /// `ferrt`: failed exchange of a rotating refresh token: reuse detected.
    #[serde(rename = "ferrt")]
    FailedRotatingRefresh,
    /// `seccft`: client credentials exchanged for an access token.
    #[serde(rename = "seccft")]
    SuccessClientCredentials,
    /// `feccft`: failed client-credentials exchange.
    #[serde(rename = "feccft")]
    FailedClientCredentials,
    /// `srrt`: refresh token revoked.
    #[serde(rename = "srrt")]
    RefreshRevoked,
    /// `slo`: successful logout.
    #[serde(rename = "slo")]
    SuccessLogout,
    /// `flo`: failed logout.
    #[serde(rename = "flo")]
    FailedLogout,
}

impl LogType {
    /// The Auth0 code.
    pub fn code(self) -> &'static str {
        match self {
            Self::SuccessLogin => "s",
            Self::FailedLogin => "f",
            Self::SuccessExchangeCode => "seacft",
            Self::FailedExchangeCode => "feacft",
            Self::SuccessExchangeRefresh => "sertft",
            Self::FailedExchangeRefresh => "fertft",
            Self::FailedRotatingRefresh => "ferrt",
            Self::SuccessClientCredentials => "seccft",
            Self::FailedClientCredentials => "feccft",
            Self::RefreshRevoked => "srrt",
            Self::SuccessLogout => "slo",
            Self::FailedLogout => "flo",
        }
    }
}

/// One tenant log event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEvent {
    /// Unique id.
    pub id: String,
    /// When.
    pub date: OffsetDateTime,
    /// What.
    pub log_type: LogType,
    /// Human-readable detail.
    pub description: String,
    /// The client involved.
    pub client_id: Option<String>,
    /// The user involved.
    pub user_id: Option<String>,
    /// The client's IP address.
    pub ip: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_auth0() {
        for (t, code) in [
            (LogType::SuccessLogin, "s"),
            (LogType::FailedLogin, "f"),
            (LogType::SuccessExchangeCode, "seacft"),
            (LogType::FailedExchangeCode, "feacft"),
            (LogType::SuccessExchangeRefresh, "sertft"),
            (LogType::FailedExchangeRefresh, "fertft"),
            (LogType::FailedRotatingRefresh, "ferrt"),
            (LogType::SuccessClientCredentials, "seccft"),
            (LogType::FailedClientCredentials, "feccft"),
            (LogType::RefreshRevoked, "srrt"),
            (LogType::SuccessLogout, "slo"),
            (LogType::FailedLogout, "flo"),
        ] {
            assert_eq!(t.code(), code);
            assert_eq!(serde_json::to_value(t).ok(), Some(serde_json::json!(code)));
        }
    }
}
