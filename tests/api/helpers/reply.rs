//! `Reply`: a whole HTTP response, and the check that it is the expected problem+json error.

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

/// A whole HTTP response, read.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    what: String,
}

impl Reply {
    pub async fn send(builder: RequestBuilder) -> Reply {
        let what = builder
            .try_clone()
            .and_then(|b| b.build().ok())
            .map(|r| match r.url().query() {
                Some(query) => format!("{} {}?{query}", r.method(), r.url().path()),
                None => format!("{} {}", r.method(), r.url().path()),
            })
            .unwrap_or_default();
        let response = builder.send().await.expect("send the request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("read the response body");
        Reply { status, headers, text, what }
    }

    pub fn content_type(&self) -> String {
        header(&self.headers, "content-type")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {:?}", self.what, self.text))
    }

    /// Asserts the status and returns the JSON body (`Null` for an empty body).
    pub fn expect(&self, status: u16, context: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{context} ({}): unexpected status; body: {}", self.what, self.text);
        if self.text.is_empty() { Value::Null } else { self.json() }
    }

    /// Asserts a problem+json error with this status and code and returns its body.
    pub fn expect_problem(&self, status: u16, code: &str, context: &str) -> Value {
        if let Some(mismatch) = self.problem_mismatch(status, code) {
            panic!("{context} ({}): {mismatch}", self.what);
        }
        self.json()
    }

    /// What is wrong with this reply as the expected problem, if anything.
    pub fn problem_mismatch(&self, status: u16, code: &str) -> Option<String> {
        let mut wrong = Vec::new();
        if self.status.as_u16() != status {
            wrong.push(format!("status {} (expected {status})", self.status.as_u16()));
        }
        if self.status.is_server_error() && status < 500 {
            wrong.push("a 5xx for a client error".to_string());
        }
        let content_type = self.content_type();
        if !content_type.starts_with("application/problem+json") {
            wrong.push(format!("content-type {content_type:?} (expected application/problem+json)"));
        }
        match serde_json::from_str::<Value>(&self.text) {
            Ok(body) => {
                if body["code"] != code {
                    wrong.push(format!("code {} (expected {code:?})", body["code"]));
                }
                if body["status"] != status {
                    wrong.push(format!("body status {} (expected {status})", body["status"]));
                }
                for key in ["type", "title", "detail"] {
                    if !body[key].is_string() {
                        wrong.push(format!("no string {key:?}"));
                    }
                }
            }
            Err(_) => wrong.push("body is not JSON".to_string()),
        }
        (!wrong.is_empty()).then(|| format!("{}; body: {:?}", wrong.join(", "), self.text))
    }
}

pub fn header(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}
