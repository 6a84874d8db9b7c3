//! Email over SMTP (lettre): `smtps://` for TLS, `smtp://…?tls=required`
//! for STARTTLS, plain `smtp://` for a local relay. The message's
//! `Message-ID` is its idempotency key, so a resend after a crash is
//! recognisably the same message to the server and the recipient's client.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart, header::ContentType};
use lettre::{SmtpTransport, Transport};
use serde::Deserialize;

use super::{Message, SendError, Sender};

/// `[senders.email]` in dun.toml.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// `smtps://user:pass@host:465`, `smtp://host:587?tls=required`, or
    /// `smtp://127.0.0.1:2525` (no TLS: local relays and tests only).
    pub url: String,
    /// The envelope and `From:` address; the tenant's name is shown with it.
    pub from: String,
    /// Where replies go, when not to `from`.
    #[serde(default)]
    pub reply_to: Option<String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    30
}

/// `url` with the password of its user part, if any, replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            let tail = &rest[authority_end..];
            format!("{scheme}://{user}:{}@{host}{tail}", super::REDACTED)
        }
        None => url.to_owned(),
    }
}

pub struct SmtpSender {
    transport: SmtpTransport,
    from: String,
    reply_to: Option<Mailbox>,
}

impl SmtpSender {
    /// Checks the URL and addresses; connects only when sending.
    pub fn new(config: &SmtpConfig) -> Result<SmtpSender, String> {
        let transport = SmtpTransport::from_url(&config.url)
            .map_err(|e| format!("email.url {:?}: {e}", config.url))?
            .timeout(Some(Duration::from_secs(config.timeout_secs)))
            .build();
        config
            .from
            .parse::<lettre::Address>()
            .map_err(|e| format!("email.from {:?}: {e}", config.from))?;
        let reply_to = config
            .reply_to
            .as_deref()
            .map(|r| {
                r.parse::<Mailbox>()
                    .map_err(|e| format!("email.reply_to {r:?}: {e}"))
            })
            .transpose()?;
        Ok(SmtpSender {
            transport,
            from: config.from.clone(),
            reply_to,
        })
    }
}

impl Sender for SmtpSender {
    fn send(&self, message: &Message) -> Result<Option<String>, SendError> {
        let email = build(message, &self.from, self.reply_to.clone())?;
        match self.transport.send(&email) {
            Ok(response) => Ok(Some(response.message().collect::<Vec<_>>().join(" "))),
            // 5xx: the server will not take it however often we try.
            Err(e) if e.is_permanent() => Err(SendError::permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::retry(format!("SMTP: {e}"))),
        }
    }
}

/// The email for a message: `From: "<tenant name>" <from>`, `Message-ID:
/// <key@from's domain>`, plain text, plus HTML as an alternative when the
/// template has it.
pub fn build(
    message: &Message,
    from: &str,
    reply_to: Option<Mailbox>,
) -> Result<lettre::Message, SendError> {
    let address: lettre::Address = from
        .parse()
        .map_err(|e| SendError::permanent(format!("from address {from:?}: {e}")))?;
    let to: Mailbox = message
        .to
        .parse()
        .map_err(|e| SendError::permanent(format!("recipient {:?}: {e}", message.to)))?;
    let mut builder = lettre::Message::builder()
        .from(Mailbox::new(
            Some(message.tenant_name.clone()),
            address.clone(),
        ))
        .to(to)
        .subject(message.subject.clone().unwrap_or_default())
        .date(message.at.into())
        .message_id(Some(format!(
            "<{}@{}>",
            message.idempotency_key,
            address.domain()
        )));
    if let Some(reply_to) = reply_to {
        builder = builder.reply_to(reply_to);
    }
    let built = match &message.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(
            message.text.clone(),
            html.clone(),
        )),
        None => builder.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(message.text.clone()),
        ),
    };
    built.map_err(|e| SendError::permanent(format!("building the email: {e}")))
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn a_password_in_the_url_is_never_shown_back() {
        assert_eq!(
            redact_url("smtps://mailer:s3cr%40t@mail.example.com:465"),
            "smtps://mailer:***@mail.example.com:465"
        );
        assert_eq!(
            redact_url("smtp://relay:587?tls=required"),
            "smtp://relay:587?tls=required"
        );
        assert_eq!(
            redact_url("smtp://only-user@relay:25/?x=a@b"),
            "smtp://only-user:***@relay:25/?x=a@b"
        );
    }
}
