//! Senders: how a message leaves dun. Each takes a rendered [`Message`]
//! with its idempotency key and either delivers it or says why not.
//!
//! [`FileSender`] is the embedded default for `dun serve` with no
//! configuration: an outbox folder per tenant with one `.eml` per email and
//! one `.json` per SMS, call or letter, named by the idempotency key and
//! written atomically, so the demo works with no mail server and a resend
//! after a crash rewrites the same file rather than adding one. SMTP, HTTP
//! providers, PDF letters and webhooks come with issue #5.

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::case::{Channel, Tone};

/// A message ready to go.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub idempotency_key: String,
    pub tenant: String,
    pub tenant_name: String,
    pub channel: Channel,
    pub tone: Tone,
    /// Email address, E.164 number, or a postal address's lines.
    pub to: String,
    pub subject: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

pub trait Sender: Send + Sync {
    /// Delivers the message; the error says why it did not go.
    fn send(&self, message: &Message) -> Result<(), String>;
}

/// Writes messages into `dir/<tenant>/`.
#[derive(Clone, Debug)]
pub struct FileSender {
    pub dir: PathBuf,
}

impl Sender for FileSender {
    fn send(&self, message: &Message) -> Result<(), String> {
        let dir = self.dir.join(&message.tenant);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (name, body) = match message.channel {
            Channel::Email => (format!("{}.eml", message.idempotency_key), email(message)),
            _ => (
                format!("{}.json", message.idempotency_key),
                serde_json::to_string_pretty(&serde_json::json!({
                    "idempotency_key": message.idempotency_key,
                    "channel": message.channel,
                    "tone": message.tone,
                    "to": message.to,
                    "text": message.text,
                    "at": message.at,
                }))
                .map_err(|e| e.to_string())?,
            ),
        };
        // Write beside, then rename: a reader never sees half a message.
        let path = dir.join(&name);
        let partial = dir.join(format!(".{name}.partial"));
        let mut file =
            std::fs::File::create(&partial).map_err(|e| format!("{}: {e}", partial.display()))?;
        file.write_all(body.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("{}: {e}", partial.display()))?;
        std::fs::rename(&partial, &path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// An RFC 5322 message whose Message-ID is the idempotency key.
fn email(message: &Message) -> String {
    let from_name = message.tenant_name.replace(['"', '\r', '\n'], "");
    format!(
        "From: \"{from_name}\" <noreply@{tenant}.dun.invalid>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{key}@dun.invalid>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n",
        tenant = message.tenant,
        to = message.to.replace(['\r', '\n'], ""),
        subject = message.subject.replace(['\r', '\n'], " "),
        date = message.at.to_rfc2822(),
        key = message.idempotency_key,
        text = message.text.replace('\n', "\r\n"),
    )
}

/// The built-in wording, in English, by tone: a stand-in for the tenant
/// templates of issue #5. `lines` are the invoices, one per line.
pub fn wording(tone: Tone, debtor: &str, lines: &[String], total: &str) -> (String, String) {
    let subject = match tone {
        Tone::Courtesy => "Upcoming payment reminder",
        Tone::Gentle => "Friendly reminder: invoice past due",
        Tone::Firm => "Second reminder: payment overdue",
        Tone::Final => "Final notice before collection",
    };
    let opening = match tone {
        Tone::Courtesy => "a courtesy reminder that the following will soon be due:",
        Tone::Gentle => "our records show the following is past due; perhaps it slipped through:",
        Tone::Firm => {
            "the following is still unpaid despite our reminder. Please pay now to avoid fees:"
        }
        Tone::Final => {
            "this is our final notice. Unless the following is paid, we will hand the matter to collection:"
        }
    };
    let text = format!(
        "Dear {debtor},\n\n{opening}\n\n{}\n\nTotal: {total}\n\nIf you have already paid, please ignore this message.\n",
        lines.join("\n")
    );
    (subject.to_owned(), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_written_once_under_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let sender = FileSender {
            dir: dir.path().to_owned(),
        };
        let (subject, text) = wording(
            Tone::Firm,
            "Acme",
            &["INV-1  120.00 EUR  due 2026-05-01".into()],
            "120.00 EUR",
        );
        let message = Message {
            idempotency_key: "evl_x-0".into(),
            tenant: "demo".into(),
            tenant_name: "Demo \"Tenant\"".into(),
            channel: Channel::Email,
            tone: Tone::Firm,
            to: "ap@acme.example".into(),
            subject,
            text,
            at: "2026-05-08T09:00:00Z".parse().unwrap(),
        };
        sender.send(&message).unwrap();
        sender.send(&message).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("demo"))
            .unwrap()
            .collect();
        assert_eq!(files.len(), 1);
        let eml = std::fs::read_to_string(dir.path().join("demo/evl_x-0.eml")).unwrap();
        assert!(eml.contains("Message-ID: <evl_x-0@dun.invalid>\r\n"));
        assert!(eml.contains("Subject: Second reminder: payment overdue\r\n"));
        assert!(eml.contains("From: \"Demo Tenant\""));
        assert!(eml.contains("INV-1"));
    }
}
