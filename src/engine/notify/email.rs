//! Mail delivery over SMTP with lettre: STARTTLS (required, not opportunistic), TLS from the first byte, or plain
//! for a local relay; TLS through rustls. The delivery id is the message's `Message-ID`, so a mailbox or a filter
//! can deduplicate on it; the job, the task and the link are in the text.
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::settings::{EmailSettings, Secret, SmtpTls};

/// Whether the settings can make a message: addresses that parse, at least one recipient.
pub fn check(e: &EmailSettings) -> Result<(), String> {
    if e.host.trim().is_empty() {
        return Err("host must not be empty".into());
    }
    e.from.parse::<Mailbox>().map_err(|err| format!("from: {err}"))?;
    if e.to.is_empty() {
        return Err("to must name at least one address".into());
    }
    for to in &e.to {
        to.parse::<Mailbox>().map_err(|err| format!("to: {to}: {err}"))?;
    }
    Ok(())
}

fn transport(
    e: &EmailSettings,
    password: Option<&Secret>,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let builder = match e.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&e.host),
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&e.host),
        SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&e.host).port(25)),
    }
    .map_err(|err| format!("SMTP set-up: {err}"))?;
    let mut builder = builder.timeout(Some(timeout));
    if let Some(port) = e.port {
        builder = builder.port(port);
    }
    if let (Some(user), Some(password)) = (&e.username, password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_string()));
    }
    Ok(builder.build())
}

/// Sends one message; `Err` says why it did not count as delivered.
pub async fn send(
    e: &EmailSettings,
    password: Option<&Secret>,
    delivery_id: &str,
    subject: &str,
    text: String,
    timeout: Duration,
) -> Result<(), String> {
    let mut message = Message::builder()
        .from(e.from.parse().map_err(|err| format!("from: {err}"))?)
        .subject(subject)
        .message_id(Some(format!("<{delivery_id}@taskyard>")))
        .header(ContentType::TEXT_PLAIN);
    for to in &e.to {
        message = message.to(to.parse().map_err(|err| format!("to: {err}"))?);
    }
    let message = message.body(text).map_err(|err| format!("cannot build the message: {err}"))?;
    let transport = transport(e, password, timeout)?;
    // lettre's timeout covers each SMTP command; this bounds the whole exchange.
    match tokio::time::timeout(timeout * 4, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(format!("SMTP: {err}")),
        Err(_) => Err("SMTP: no answer in time".into()),
    }
}
