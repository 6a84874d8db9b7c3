//! Each tenant's messaging settings: its own senders, channel by channel
//! over the host's `[senders]`, and the payment link its reminders carry.
//! Validated before it gets here; its secrets are stored as given (the
//! senders need them) and shown back only as `***`.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{FieldError, Result, from_json, to_json};
use crate::senders::SendersConfig;

/// `GET`/`PUT /v1/messaging`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messaging {
    /// The link a reminder offers for paying online: a URL with
    /// placeholders `{tenant}`, `{debtor}`, `{invoices}` (comma-separated
    /// ids), `{amount}` (the total owed in major units, `1234.50`) and
    /// `{currency}`, each URL-encoded when filled in.
    #[serde(default)]
    pub payment_link: Option<String>,
    /// The tenant's own senders; a channel left out uses the host's.
    #[serde(default)]
    pub senders: SendersConfig,
}

/// The placeholders a payment link may use.
const PLACEHOLDERS: [&str; 5] = ["tenant", "debtor", "invoices", "amount", "currency"];

impl Messaging {
    /// What is wrong with it, by field.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut problems: Vec<FieldError> = self
            .senders
            .problems()
            .into_iter()
            .map(|(field, detail)| FieldError::new(format!("senders/{field}"), detail))
            .collect();
        if let Some(link) = &self.payment_link
            && let Err(detail) = check_link(link)
        {
            problems.push(FieldError::new("payment_link", detail));
        }
        problems
    }

    /// The same with every secret shown as `***`.
    pub fn redacted(&self) -> Messaging {
        Messaging {
            payment_link: self.payment_link.clone(),
            senders: self.senders.redacted(),
        }
    }

    /// The payment link for these invoices, when the tenant has one.
    /// `amount` is (minor units, currency) when every invoice is in one
    /// currency; otherwise `{amount}` and `{currency}` are left empty.
    pub fn payment_link_for(
        &self,
        tenant: &str,
        debtor: &str,
        invoices: &[&str],
        amount: Option<(i64, &str)>,
    ) -> Option<String> {
        let template = self.payment_link.as_deref()?;
        let (major, currency) = match amount {
            Some((minor, currency)) => (
                crate::money::Currency::from_code(currency)
                    .map(|c| c.format_minor(minor))
                    .unwrap_or_default(),
                currency,
            ),
            None => (String::new(), ""),
        };
        let mut link = template.to_owned();
        for (name, value) in [
            ("tenant", tenant.to_owned()),
            ("debtor", debtor.to_owned()),
            ("invoices", invoices.join(",")),
            ("amount", major),
            ("currency", currency.to_owned()),
        ] {
            link = link.replace(&format!("{{{name}}}"), &encode(&value));
        }
        Some(link)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (and
/// the commas between invoice ids).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b',' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn check_link(link: &str) -> std::result::Result<(), String> {
    let mut rest = link;
    let mut filled = link.to_owned();
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else {
            return Err(format!("an unclosed {{ in {link:?}"));
        };
        let name = &rest[start + 1..start + end];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}}; known: {}",
                PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
            ));
        }
        filled = filled.replace(&format!("{{{name}}}"), "x");
        rest = &rest[start + end + 1..];
    }
    crate::senders::http::check_url(&filled)
}

/// The tenant's settings, or none of its own.
pub fn get(conn: &Connection, tenant_id: i64) -> Result<Messaging> {
    let stored: Option<String> = conn
        .prepare_cached("SELECT settings FROM messaging WHERE tenant_id = ?1")?
        .query_row([tenant_id], |r| r.get(0))
        .optional()?;
    Ok(match stored {
        Some(text) => from_json(&text)?,
        None => Messaging::default(),
    })
}

pub fn put(
    conn: &Connection,
    tenant_id: i64,
    settings: &Messaging,
    now: DateTime<Utc>,
) -> Result<Messaging> {
    conn.prepare_cached(
        "INSERT INTO messaging (tenant_id, settings, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at",
    )?
    .execute(params![tenant_id, to_json(settings)?, now])?;
    Ok(settings.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_link_is_filled_in_and_encoded() {
        let settings = Messaging {
            payment_link: Some(
                "https://pay.example.com/{tenant}/{debtor}?amount={amount}&cur={currency}&inv={invoices}"
                    .into(),
            ),
            ..Default::default()
        };
        assert_eq!(
            settings
                .payment_link_for("acme", "C 1/2", &["INV-1", "INV-2"], Some((123450, "EUR")))
                .as_deref(),
            Some("https://pay.example.com/acme/C%201%2F2?amount=1234.50&cur=EUR&inv=INV-1,INV-2")
        );
        assert_eq!(
            settings
                .payment_link_for("acme", "C1", &["A"], None)
                .as_deref(),
            Some("https://pay.example.com/acme/C1?amount=&cur=&inv=A")
        );
        assert_eq!(
            Messaging::default().payment_link_for("a", "b", &[], None),
            None
        );
    }

    #[test]
    fn a_bad_link_or_sender_names_its_field() {
        let fields = |settings: Messaging| -> Vec<String> {
            settings.problems().into_iter().map(|p| p.field).collect()
        };
        let link = |l: &str| Messaging {
            payment_link: Some(l.into()),
            ..Default::default()
        };
        assert!(fields(link("https://pay.example.com/{debtor}")).is_empty());
        assert_eq!(
            fields(link("https://pay.example.com/{customer}")),
            ["payment_link"]
        );
        assert_eq!(
            fields(link("https://pay.example.com/{debtor")),
            ["payment_link"]
        );
        assert_eq!(fields(link("ftp://pay.example.com/")), ["payment_link"]);
        let senders: SendersConfig = serde_json::from_value(serde_json::json!({
            "email": {"url": "smtp://relay:25", "from": "not an address"},
            "sms": {"url": "relay:25"},
            "escalation": {"url": "https://erp.example.com/hook", "secret": "short"}
        }))
        .unwrap();
        assert_eq!(
            fields(Messaging {
                payment_link: None,
                senders
            }),
            [
                "senders/email/from",
                "senders/sms/url",
                "senders/escalation/secret"
            ]
        );
    }

    #[test]
    fn secrets_are_never_shown_back() {
        let senders: SendersConfig = serde_json::from_value(serde_json::json!({
            "email": {"url": "smtps://u:pw@mail.example.com", "from": "ar@example.com"},
            "sms": {"url": "https://sms.example.com", "authorization": "Bearer tok"},
            "escalation": {"url": "https://erp.example.com/hook", "secret": "0123456789abcdef"}
        }))
        .unwrap();
        let shown = serde_json::to_string(
            &Messaging {
                payment_link: None,
                senders,
            }
            .redacted(),
        )
        .unwrap();
        for secret in ["pw", "Bearer tok", "0123456789abcdef"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("smtps://u:***@mail.example.com"), "{shown}");
    }
}
