//! Senders: how a message leaves dun. Each takes a rendered [`Message`]
//! with its idempotency key and either delivers it or says why not, and
//! whether trying again may help ([`SendError`]).
//!
//! [`Senders`] routes each channel to what `dun.toml` configures: email over
//! SMTP ([`smtp`]), SMS and automated calls through an HTTP provider and
//! letters to a print-and-mail endpoint ([`http`]). A channel with nothing
//! configured goes to the embedded [`FileSender`]: an outbox folder per
//! tenant with one `.eml` per email, `.json` per SMS or call, `.pdf` per
//! letter, named by the idempotency key and written atomically, so the demo
//! works with no server and a resend after a crash rewrites the same file.
//! Letters are rendered to PDF ([`pdf`]) before they are sent either way.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::case::{Channel, Tone};

pub mod http;
pub mod pdf;
pub mod smtp;

/// A message ready to go.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub idempotency_key: String,
    pub tenant: String,
    pub tenant_name: String,
    pub channel: Channel,
    pub tone: Tone,
    pub language: String,
    /// Email address or E.164 number; for a letter, its address on one line.
    pub to: String,
    /// A letter's address, line by line.
    pub postal: Vec<String>,
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
    /// A letter, rendered.
    pub pdf: Option<Vec<u8>>,
    pub at: DateTime<Utc>,
}

/// Why a message did not go, and whether trying again later may help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendError {
    pub message: String,
    pub retryable: bool,
}

impl SendError {
    pub fn retry(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            retryable: true,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            retryable: false,
        }
    }
}

impl std::error::Error for SendError {}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub trait Sender: Send + Sync {
    /// Delivers the message; `Ok` carries the provider's reference when it
    /// gives one.
    fn send(&self, message: &Message) -> Result<Option<String>, SendError>;
}

/// The senders section of `dun.toml`. Every part is optional: a channel
/// with nothing configured is written to the outbox folder.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendersConfig {
    pub email: Option<smtp::SmtpConfig>,
    pub sms: Option<http::ProviderConfig>,
    pub call: Option<http::ProviderConfig>,
    /// Where letters go to be printed and posted.
    pub letter: Option<http::PrintConfig>,
    /// Where escalations are handed over (a collection agency, an ERP):
    /// a JSON POST signed with HMAC-SHA256 (`Dun-Signature`).
    pub escalation: Option<http::WebhookConfig>,
}

impl SendersConfig {
    /// What `own` configures, and what the host does for the rest.
    pub fn over(&self, own: &SendersConfig) -> SendersConfig {
        SendersConfig {
            email: own.email.clone().or_else(|| self.email.clone()),
            sms: own.sms.clone().or_else(|| self.sms.clone()),
            call: own.call.clone().or_else(|| self.call.clone()),
            letter: own.letter.clone().or_else(|| self.letter.clone()),
            escalation: own.escalation.clone().or_else(|| self.escalation.clone()),
        }
    }

    /// The same with its secrets (SMTP password, `authorization` headers,
    /// webhook secret) replaced by `***`, to be shown back.
    pub fn redacted(&self) -> SendersConfig {
        let hidden = |value: &Option<String>| value.as_ref().map(|_| REDACTED.to_owned());
        let mut shown = self.clone();
        if let Some(email) = &mut shown.email {
            email.url = smtp::redact_url(&email.url);
        }
        for provider in [&mut shown.sms, &mut shown.call].into_iter().flatten() {
            provider.authorization = hidden(&provider.authorization);
        }
        if let Some(letter) = &mut shown.letter {
            letter.authorization = hidden(&letter.authorization);
        }
        if let Some(webhook) = &mut shown.escalation {
            webhook.secret = REDACTED.to_owned();
        }
        shown
    }

    /// What is wrong with it, by field (`email/url`, `sms/url`, …); builds
    /// nothing and connects nowhere.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Some(email) = &self.email
            && let Err(error) = smtp::SmtpSender::new(email)
        {
            let field = error.split(' ').next().unwrap_or("email").replace('.', "/");
            problems.push((field, error));
        }
        let urls = [
            ("sms", self.sms.as_ref().map(|c| &c.url)),
            ("call", self.call.as_ref().map(|c| &c.url)),
            ("letter", self.letter.as_ref().map(|c| &c.url)),
            ("escalation", self.escalation.as_ref().map(|c| &c.url)),
        ];
        for (channel, url) in urls {
            if let Some(url) = url
                && let Err(error) = http::check_url(url)
            {
                problems.push((format!("{channel}/url"), error));
            }
        }
        if let Some(webhook) = &self.escalation
            && webhook.secret.len() < 16
        {
            problems.push((
                "escalation/secret".into(),
                "must be at least 16 characters".into(),
            ));
        }
        problems
    }
}

/// Shown instead of a secret.
pub const REDACTED: &str = "***";

/// The senders of each tenant: the host's, with the channels a tenant
/// configured (`PUT /v1/messaging`) taking their place. Built once per
/// configuration and kept, so SMTP connections and HTTP agents are reused.
pub struct Directory {
    host_config: SendersConfig,
    outbox_dir: PathBuf,
    host: Arc<Senders>,
    tenants: std::sync::Mutex<std::collections::HashMap<String, (SendersConfig, Arc<Senders>)>>,
}

impl Directory {
    pub fn new(config: &SendersConfig, outbox_dir: PathBuf) -> Result<Directory, String> {
        Ok(Directory {
            host: Arc::new(Senders::new(config, outbox_dir.clone())?),
            host_config: config.clone(),
            outbox_dir,
            tenants: Default::default(),
        })
    }

    /// The senders of `tenant`, whose own configuration is `own`.
    pub fn for_tenant(&self, tenant: &str, own: &SendersConfig) -> Result<Arc<Senders>, String> {
        if *own == SendersConfig::default() {
            return Ok(self.host.clone());
        }
        let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((config, senders)) = tenants.get(tenant)
            && config == own
        {
            return Ok(senders.clone());
        }
        let senders = Arc::new(Senders::new(
            &self.host_config.over(own),
            self.outbox_dir.clone(),
        )?);
        tenants.insert(tenant.to_owned(), (own.clone(), senders.clone()));
        Ok(senders)
    }
}

/// A sender per channel.
#[derive(Clone)]
pub struct Senders {
    email: Arc<dyn Sender>,
    sms: Arc<dyn Sender>,
    call: Arc<dyn Sender>,
    letter: Arc<dyn Sender>,
    escalation: Option<Arc<http::Webhook>>,
    files: FileSender,
}

impl Senders {
    /// Builds what `config` names, the file sender for the rest.
    pub fn new(config: &SendersConfig, outbox_dir: PathBuf) -> Result<Senders, String> {
        let file_sender = FileSender { dir: outbox_dir };
        let files: Arc<dyn Sender> = Arc::new(file_sender.clone());
        let provider = |config: &Option<http::ProviderConfig>, channel| -> Arc<dyn Sender> {
            match config {
                Some(c) => Arc::new(ProviderSender {
                    provider: http::Provider::new(c.clone()),
                    channel,
                }),
                None => files.clone(),
            }
        };
        Ok(Senders {
            email: match &config.email {
                Some(c) => Arc::new(smtp::SmtpSender::new(c)?),
                None => files.clone(),
            },
            sms: provider(&config.sms, Channel::Sms),
            call: provider(&config.call, Channel::Call),
            letter: match &config.letter {
                Some(c) => Arc::new(PrintSender(http::PrintAndMail::new(c.clone()))),
                None => files.clone(),
            },
            escalation: config
                .escalation
                .as_ref()
                .map(|c| Arc::new(http::Webhook::new(c.clone()))),
            files: file_sender,
        })
    }

    /// Hands an escalation over: to the escalation webhook (event
    /// `escalation.created`, signed), or as a `.json` file in the outbox
    /// folder when none is configured.
    pub fn hand_over(
        &self,
        tenant: &str,
        payload: &serde_json::Value,
        idempotency_key: &str,
        now: DateTime<Utc>,
    ) -> Result<(), SendError> {
        match &self.escalation {
            Some(webhook) => webhook.post("escalation.created", payload, idempotency_key, now),
            None => {
                let body = serde_json::to_vec_pretty(payload)
                    .map_err(|e| SendError::permanent(e.to_string()))?;
                self.files
                    .write(tenant, &format!("{idempotency_key}.json"), &body)
                    .map(|_| ())
            }
        }
    }

    pub fn for_channel(&self, channel: Channel) -> &dyn Sender {
        match channel {
            Channel::Email => self.email.as_ref(),
            Channel::Sms => self.sms.as_ref(),
            Channel::Call => self.call.as_ref(),
            Channel::Letter => self.letter.as_ref(),
        }
    }
}

impl Sender for Senders {
    fn send(&self, message: &Message) -> Result<Option<String>, SendError> {
        self.for_channel(message.channel).send(message)
    }
}

/// SMS or calls through an HTTP provider.
struct ProviderSender {
    provider: http::Provider,
    channel: Channel,
}

impl Sender for ProviderSender {
    fn send(&self, message: &Message) -> Result<Option<String>, SendError> {
        match self.channel {
            Channel::Call => self.provider.call(
                &message.to,
                &message.text,
                &message.language,
                &message.idempotency_key,
            ),
            _ => self
                .provider
                .sms(&message.to, &message.text, &message.idempotency_key),
        }
    }
}

/// Letters to a print-and-mail service.
struct PrintSender(http::PrintAndMail);

impl Sender for PrintSender {
    fn send(&self, message: &Message) -> Result<Option<String>, SendError> {
        let pdf = message
            .pdf
            .as_deref()
            .ok_or_else(|| SendError::permanent("a letter without its PDF"))?;
        self.0
            .post(&message.postal, pdf, &message.idempotency_key)
            .map(|()| None)
    }
}

/// Writes messages into `dir/<tenant>/`.
#[derive(Clone, Debug)]
pub struct FileSender {
    pub dir: PathBuf,
}

impl Sender for FileSender {
    fn send(&self, message: &Message) -> Result<Option<String>, SendError> {
        let key = &message.idempotency_key;
        let (name, body) = match message.channel {
            Channel::Email => {
                let from = format!("noreply@{}.dun.invalid", message.tenant);
                let email = smtp::build(message, &from, None)?;
                (format!("{key}.eml"), email.formatted())
            }
            Channel::Letter => (
                format!("{key}.pdf"),
                message
                    .pdf
                    .clone()
                    .ok_or_else(|| SendError::permanent("a letter without its PDF"))?,
            ),
            Channel::Sms | Channel::Call => (
                format!("{key}.json"),
                serde_json::to_vec_pretty(&serde_json::json!({
                    "idempotency_key": key,
                    "channel": message.channel,
                    "tone": message.tone,
                    "language": message.language,
                    "to": message.to,
                    "text": message.text,
                    "at": message.at,
                }))
                .map_err(|e| SendError::permanent(e.to_string()))?,
            ),
        };
        self.write(&message.tenant, &name, &body).map(Some)
    }
}

impl FileSender {
    /// Writes `dir/<tenant>/<name>` beside, then renames: a reader never
    /// sees half a file. Returns the path.
    fn write(&self, tenant: &str, name: &str, body: &[u8]) -> Result<String, SendError> {
        let dir = self.dir.join(tenant);
        std::fs::create_dir_all(&dir)
            .map_err(|e| SendError::retry(format!("{}: {e}", dir.display())))?;
        let path = dir.join(name);
        let partial = dir.join(format!(".{name}.partial"));
        let written = std::fs::File::create(&partial).and_then(|mut file| {
            file.write_all(body)?;
            file.sync_all()
        });
        written
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| SendError::retry(format!("{}: {e}", path.display())))?;
        Ok(path.display().to_string())
    }
}
