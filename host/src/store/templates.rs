//! A tenant's own templates, per channel, tone and language. What a message
//! is rendered with is the tenant's template for the debtor's exact
//! language, else for its base language (`de` for `de-AT`), else the
//! built-in one ([`crate::templates::builtin`]).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::Result;
use crate::case::{Channel, Tone};
use crate::templates::{self, Template};

/// A template and where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Effective {
    /// `tenant:<channel>/<tone>/<language>` or `builtin:<channel>/<tone>/<language>`.
    pub name: String,
    pub template: Template,
}

/// A stored template.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Stored {
    pub channel: Channel,
    pub tone: Tone,
    pub language: String,
    #[serde(flatten)]
    pub template: Template,
    pub updated_at: DateTime<Utc>,
}

/// The tenant's template for exactly this language, if any.
pub fn get(
    conn: &Connection,
    tenant_id: i64,
    channel: Channel,
    tone: Tone,
    language: &str,
) -> Result<Option<Template>> {
    Ok(conn
        .prepare_cached(
            "SELECT subject, text, html FROM templates
             WHERE tenant_id = ?1 AND channel = ?2 AND tone = ?3 AND language = ?4",
        )?
        .query_row(
            params![tenant_id, channel.as_str(), tone.as_str(), language],
            |r| {
                Ok(Template {
                    subject: r.get(0)?,
                    text: r.get(1)?,
                    html: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// What a message to a debtor speaking `language` is rendered with.
pub fn effective(
    conn: &Connection,
    tenant_id: i64,
    channel: Channel,
    tone: Tone,
    language: &str,
) -> Result<Effective> {
    let base = language.split('-').next().unwrap_or(language);
    for candidate in [language, base] {
        if let Some(template) = get(conn, tenant_id, channel, tone, candidate)? {
            return Ok(Effective {
                name: format!("tenant:{}/{}/{candidate}", channel.as_str(), tone.as_str()),
                template,
            });
        }
    }
    Ok(Effective {
        name: format!(
            "builtin:{}/{}/{}",
            channel.as_str(),
            tone.as_str(),
            templates::builtin_language(language)
        ),
        template: templates::builtin(channel, tone, language),
    })
}

/// What a reminder that names template `name` is rendered with: the
/// tenant's template of that name for the channel in the debtor's language
/// (or its base language); without a name, or when the tenant has no such
/// template for the channel, what [`effective`] gives for the tone.
pub fn effective_named(
    conn: &Connection,
    tenant_id: i64,
    name: Option<&str>,
    channel: Channel,
    tone: Tone,
    language: &str,
) -> Result<Effective> {
    if let Some(name) = name {
        let base = language.split('-').next().unwrap_or(language);
        for candidate in [language, base] {
            if let Some(template) = get_named(conn, tenant_id, name, channel, candidate)? {
                return Ok(Effective {
                    name: format!("tenant:{name}/{}/{candidate}", channel.as_str()),
                    template,
                });
            }
        }
    }
    effective(conn, tenant_id, channel, tone, language)
}

/// The tenant's template named `name` for exactly this channel and language.
pub fn get_named(
    conn: &Connection,
    tenant_id: i64,
    name: &str,
    channel: Channel,
    language: &str,
) -> Result<Option<Template>> {
    Ok(conn
        .prepare_cached(
            "SELECT subject, text, html FROM named_templates
             WHERE tenant_id = ?1 AND name = ?2 AND channel = ?3 AND language = ?4",
        )?
        .query_row(params![tenant_id, name, channel.as_str(), language], |r| {
            Ok(Template {
                subject: r.get(0)?,
                text: r.get(1)?,
                html: r.get(2)?,
            })
        })
        .optional()?)
}

/// A stored named template.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoredNamed {
    pub name: String,
    pub channel: Channel,
    pub language: String,
    #[serde(flatten)]
    pub template: Template,
    pub updated_at: DateTime<Utc>,
}

/// Saves a named template (already validated by the caller).
pub fn put_named(
    conn: &Connection,
    tenant_id: i64,
    name: &str,
    channel: Channel,
    language: &str,
    template: &Template,
    now: DateTime<Utc>,
) -> Result<StoredNamed> {
    conn.prepare_cached(
        "INSERT INTO named_templates (tenant_id, name, channel, language, subject, text, html, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (tenant_id, name, channel, language)
         DO UPDATE SET subject = excluded.subject, text = excluded.text, html = excluded.html, updated_at = excluded.updated_at",
    )?
    .execute(params![
        tenant_id,
        name,
        channel.as_str(),
        language,
        template.subject,
        template.text,
        template.html,
        now
    ])?;
    Ok(StoredNamed {
        name: name.to_owned(),
        channel,
        language: language.to_owned(),
        template: template.clone(),
        updated_at: now,
    })
}

/// Removes a named template; reminders naming it get the tone's template.
pub fn delete_named(
    conn: &Connection,
    tenant_id: i64,
    name: &str,
    channel: Channel,
    language: &str,
) -> Result<()> {
    let removed = conn
        .prepare_cached(
            "DELETE FROM named_templates WHERE tenant_id = ?1 AND name = ?2 AND channel = ?3 AND language = ?4",
        )?
        .execute(params![tenant_id, name, channel.as_str(), language])?;
    if removed == 0 {
        return Err(super::StoreError::not_found(
            "template",
            format!("{name}/{}/{language}", channel.as_str()),
        ));
    }
    Ok(())
}

/// The tenant's named templates.
pub fn list_named(conn: &Connection, tenant_id: i64) -> Result<Vec<StoredNamed>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, channel, language, subject, text, html, updated_at FROM named_templates
         WHERE tenant_id = ?1 ORDER BY name, channel, language",
    )?;
    let rows = stmt.query_map([tenant_id], |r| {
        let channel: String = r.get(1)?;
        Ok(StoredNamed {
            name: r.get(0)?,
            channel: Channel::parse(&channel).unwrap_or(Channel::Email),
            language: r.get(2)?,
            template: Template {
                subject: r.get(3)?,
                text: r.get(4)?,
                html: r.get(5)?,
            },
            updated_at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Saves a template (already validated by the caller).
pub fn put(
    conn: &Connection,
    tenant_id: i64,
    channel: Channel,
    tone: Tone,
    language: &str,
    template: &Template,
    now: DateTime<Utc>,
) -> Result<Stored> {
    conn.prepare_cached(
        "INSERT INTO templates (tenant_id, channel, tone, language, subject, text, html, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (tenant_id, channel, tone, language)
         DO UPDATE SET subject = excluded.subject, text = excluded.text, html = excluded.html, updated_at = excluded.updated_at",
    )?
    .execute(params![
        tenant_id,
        channel.as_str(),
        tone.as_str(),
        language,
        template.subject,
        template.text,
        template.html,
        now
    ])?;
    Ok(Stored {
        channel,
        tone,
        language: language.to_owned(),
        template: template.clone(),
        updated_at: now,
    })
}

/// Removes the tenant's template; the built-in one applies again.
pub fn delete(
    conn: &Connection,
    tenant_id: i64,
    channel: Channel,
    tone: Tone,
    language: &str,
) -> Result<()> {
    let removed = conn
        .prepare_cached(
            "DELETE FROM templates WHERE tenant_id = ?1 AND channel = ?2 AND tone = ?3 AND language = ?4",
        )?
        .execute(params![tenant_id, channel.as_str(), tone.as_str(), language])?;
    if removed == 0 {
        return Err(super::StoreError::not_found(
            "template",
            format!("{}/{}/{language}", channel.as_str(), tone.as_str()),
        ));
    }
    Ok(())
}

/// The tenant's templates.
pub fn list(conn: &Connection, tenant_id: i64) -> Result<Vec<Stored>> {
    let mut stmt = conn.prepare_cached(
        "SELECT channel, tone, language, subject, text, html, updated_at FROM templates
         WHERE tenant_id = ?1 ORDER BY channel, tone, language",
    )?;
    let rows = stmt.query_map([tenant_id], |r| {
        let channel: String = r.get(0)?;
        let tone: String = r.get(1)?;
        Ok(Stored {
            channel: Channel::parse(&channel).unwrap_or(Channel::Email),
            tone: serde_json::from_value(serde_json::Value::String(tone)).unwrap_or(Tone::Gentle),
            language: r.get(2)?,
            template: Template {
                subject: r.get(3)?,
                text: r.get(4)?,
                html: r.get(5)?,
            },
            updated_at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
