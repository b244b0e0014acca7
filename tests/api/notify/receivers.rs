//! Real receivers on 127.0.0.1 for the notification tests: an HTTP server that answers webhook POSTs (failing the
//! first few on purpose) and checks each signature as the guide tells receivers to, and an SMTP sink that speaks
//! enough SMTP over TCP for a client to hand it a message. Each received request or message goes to a channel the
//! test awaits.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// One POST as the webhook receiver saw it.
#[derive(Debug)]
pub struct Hook {
    pub headers: BTreeMap<String, String>,
    pub body: serde_json::Value,
    /// Whether `X-Taskyard-Signature` is the HMAC-SHA256 of `TIMESTAMP.BODY` under the secret.
    pub signature_ok: bool,
    /// The status it was answered with.
    pub answered: u16,
    pub at: Instant,
}

/// Verifies a signature the way a receiver does: recompute over the raw body, compare in constant time.
pub fn verify(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.strip_prefix("sha256=") else { return false };
    let Ok(expected) = hex::decode(hex_sig) else { return false };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Serves webhook POSTs on `listener`, answering 500 to the first `fail_first` and 200 after.
pub fn webhook(listener: TcpListener, secret: &str, fail_first: usize) -> mpsc::UnboundedReceiver<Hook> {
    let (tx, rx) = mpsc::unbounded_channel();
    let secret = secret.to_string();
    let seen = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tx, secret, seen) = (tx.clone(), secret.clone(), seen.clone());
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                let mut headers = BTreeMap::new();
                let mut line = String::new();
                read.read_line(&mut line).await.ok()?;
                loop {
                    line.clear();
                    read.read_line(&mut line).await.ok()?;
                    let Some((name, value)) = line.trim_end().split_once(':') else { break };
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
                }
                let length: usize = headers.get("content-length")?.parse().ok()?;
                let mut body = vec![0; length];
                read.read_exact(&mut body).await.ok()?;
                let answered = if seen.fetch_add(1, Ordering::SeqCst) < fail_first { 500 } else { 200 };
                let reply = format!("HTTP/1.1 {answered} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                write.write_all(reply.as_bytes()).await.ok()?;
                let signature_ok =
                    verify(&secret, headers.get("x-taskyard-timestamp")?, &body, headers.get("x-taskyard-signature")?);
                let body = serde_json::from_slice(&body).ok()?;
                tx.send(Hook { headers, body, signature_ok, answered, at: Instant::now() }).ok()
            });
        }
    });
    rx
}

/// Accepts SMTP sessions on `listener`; each message's DATA (headers and body) goes to the channel.
pub fn smtp_sink(listener: TcpListener) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                write.write_all(b"220 sink ESMTP\r\n").await.ok()?;
                let mut line = String::new();
                loop {
                    line.clear();
                    if read.read_line(&mut line).await.ok()? == 0 {
                        return None;
                    }
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
                        "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 ok\r\n",
                        "DATA" => {
                            write.write_all(b"354 go on\r\n").await.ok()?;
                            let mut message = String::new();
                            loop {
                                line.clear();
                                read.read_line(&mut line).await.ok()?;
                                if line == ".\r\n" || line.is_empty() {
                                    break;
                                }
                                message.push_str(&line);
                            }
                            tx.send(message).ok()?;
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.ok()?;
                            return Some(());
                        }
                        _ => b"502 not here\r\n",
                    };
                    write.write_all(answer).await.ok()?;
                }
            });
        }
    });
    rx
}
