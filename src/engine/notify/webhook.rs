//! Webhook delivery: the message POSTed as JSON, signed. The signature is HMAC-SHA256, keyed with the channel's
//! secret, over `TIMESTAMP.BODY` (the Unix time in seconds, a dot, the exact body bytes), sent as
//! `X-Taskyard-Signature: sha256=HEX` beside `X-Taskyard-Timestamp` and `X-Taskyard-Delivery` (the id to
//! deduplicate on). A receiver recomputes it over the raw body and rejects old timestamps, so a captured request
//! cannot be replayed later. Any 2xx answer is a delivery; anything else, or no answer in time, is a failure.
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::settings::Secret;

pub const DELIVERY_HEADER: &str = "X-Taskyard-Delivery";
pub const TIMESTAMP_HEADER: &str = "X-Taskyard-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Taskyard-Signature";

/// `sha256=` and the hex HMAC-SHA256 of `TIMESTAMP.BODY` under `secret`.
pub fn signature(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.expose().as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs `body`; `Err` says why it did not count as delivered.
pub async fn send(
    client: &reqwest::Client,
    url: &str,
    secret: &Secret,
    delivery_id: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), String> {
    let timestamp = chrono::Utc::now().timestamp();
    let answer = client
        .post(url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(DELIVERY_HEADER, delivery_id)
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature(secret, timestamp, &body))
        .body(body)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = answer.status();
    if status.is_success() { Ok(()) } else { Err(format!("the receiver answered {status}")) }
}

/// A transport error with its cause (reqwest's own message names only the URL), without the URL's query.
fn describe(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "no answer in time"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() { what.to_string() } else { format!("{what}: {cause}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'it is a secret key'
        let sig = signature(&Secret::new("it is a secret key"), 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(sig, "sha256=5b7f10a3118e8d6992e7b4340ee968f91a8459f2b304f9bb0c8108efe1332411");
    }
}
