//! What can go wrong talking to a taskyard server.
use std::error::Error as _;

use taskyard_types::wire::Problem;

/// A failed call: the server could not be reached, it answered with a problem (`code` says which), or it answered
/// something this client cannot read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No answer: connection refused, unknown host, timeout, or the connection broke.
    #[error("cannot reach {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The server answered with an RFC 9457 problem.
    #[error("{} ({}, HTTP {})", .0.detail, .0.code, .0.status)]
    Api(Problem),
    /// The server answered with a status and a body this client does not understand.
    #[error("unexpected answer from {url}: HTTP {status}: {body}")]
    Unexpected { url: String, status: u16, body: String },
    /// The base URL given to the client is not one it can use.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
}

impl Error {
    /// The problem's stable snake_case code, when the server answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api(problem) => Some(&problem.code),
            _ => None,
        }
    }

    /// The problem the server answered with.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Error::Api(problem) => Some(problem),
            _ => None,
        }
    }

    /// The server was not reached, or the connection broke: trying again later may work.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. })
    }

    /// A transport error, with the innermost cause in words ("connection refused").
    pub(crate) fn transport(url: &str, err: &reqwest::Error) -> Error {
        let mut reason = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            reason = cause.to_string();
            source = cause.source();
        }
        if err.is_timeout() {
            reason = format!("timed out ({reason})");
        }
        // "Connection refused (os error 111)" reads as "connection refused".
        if let Some(at) = reason.find(" (os error ") {
            reason.truncate(at);
            reason = reason.to_lowercase();
        }
        Error::Unreachable { url: url.to_string(), reason }
    }

    /// An error answer: its problem+json body, or the status and the text.
    pub(crate) async fn from_response(url: &str, response: reqwest::Response) -> Error {
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        match serde_json::from_str::<Problem>(&body) {
            Ok(problem) => Error::Api(problem),
            Err(_) => Error::Unexpected { url: url.to_string(), status, body: body.chars().take(200).collect() },
        }
    }
}
