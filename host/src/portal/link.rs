//! Signed, expiring portal links. A link names one debtor of one tenant and
//! the instant it stops working; the token is that, plus an HMAC-SHA256 of
//! it under the host's portal secret:
//!
//! `base64url("{tenant}.{expires}.{debtor}") "." base64url(mac[..16])`
//!
//! The MAC is checked first (in constant time), so a token whose expiry was
//! edited is refused as tampered, not as expired. The MAC is cut to 128 bits
//! (as RFC 4868 does) to keep links short enough for an SMS.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of MAC a token carries.
const MAC_LEN: usize = 16;
/// Bytes of a generated secret.
pub const SECRET_LEN: usize = 32;

/// Makes and checks portal links: the secret, where the portal is served
/// and how long a link works.
#[derive(Clone)]
pub struct Links {
    secret: Vec<u8>,
    /// Where `/portal/…` is reachable from the debtor's side, no trailing `/`.
    public_url: String,
    ttl: Duration,
}

/// Whose portal a valid token opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub tenant: i64,
    pub debtor: String,
    pub expires: DateTime<Utc>,
}

/// Why a token opens nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a token this host made, or changed since.
    Tampered,
    /// Genuine, but past its expiry.
    Expired,
}

impl std::fmt::Debug for Links {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Links")
            .field("public_url", &self.public_url)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Links {
    pub fn new(secret: Vec<u8>, public_url: &str, ttl_days: u32) -> Links {
        Links {
            secret,
            public_url: public_url.trim_end_matches('/').to_owned(),
            ttl: Duration::days(i64::from(ttl_days)),
        }
    }

    /// `scheme://host[:port]` of the public URL: what a browser sends as
    /// `Origin` when posting the portal's own forms.
    pub fn origin(&self) -> &str {
        let after_scheme = self.public_url.find("://").map_or(0, |i| i + 3);
        match self.public_url[after_scheme..].find('/') {
            Some(path) => &self.public_url[..after_scheme + path],
            None => &self.public_url,
        }
    }

    /// The path the portal is under as the debtor's browser sees it: the
    /// public URL's path and `/portal` (`/dun/portal` behind a proxy that
    /// serves dun under `/dun`). The page's forms and redirects use it.
    pub fn portal_path(&self) -> String {
        let path = &self.public_url[self.origin().len()..];
        format!("{}/portal", path.trim_end_matches('/'))
    }

    /// The link a message sent at `now` carries for `debtor` of `tenant`.
    pub fn link(&self, tenant: i64, debtor: &str, now: DateTime<Utc>) -> String {
        let token = self.token(tenant, debtor, now + self.ttl);
        format!("{}/portal/{token}", self.public_url)
    }

    /// A token for `debtor` of `tenant` that works until `expires`.
    pub fn token(&self, tenant: i64, debtor: &str, expires: DateTime<Utc>) -> String {
        let payload = format!("{tenant}.{}.{debtor}", expires.timestamp());
        let mac = self.mac(payload.as_bytes()).finalize().into_bytes();
        format!("{}.{}", B64.encode(&payload), B64.encode(&mac[..MAC_LEN]))
    }

    /// Whose portal `token` opens at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Holder, Refusal> {
        let (payload, mac) = token.split_once('.').ok_or(Refusal::Tampered)?;
        let payload = B64.decode(payload).map_err(|_| Refusal::Tampered)?;
        let mac = B64.decode(mac).map_err(|_| Refusal::Tampered)?;
        if mac.len() != MAC_LEN {
            return Err(Refusal::Tampered);
        }
        // Constant time: the comparison does not stop at the first
        // differing byte.
        self.mac(&payload)
            .verify_truncated_left(&mac)
            .map_err(|_| Refusal::Tampered)?;
        let payload = String::from_utf8(payload).map_err(|_| Refusal::Tampered)?;
        let mut parts = payload.splitn(3, '.');
        let (Some(tenant), Some(expires), Some(debtor)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(Refusal::Tampered);
        };
        let tenant = tenant.parse().map_err(|_| Refusal::Tampered)?;
        let expires = expires
            .parse()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .ok_or(Refusal::Tampered)?;
        if expires <= now {
            return Err(Refusal::Expired);
        }
        Ok(Holder {
            tenant,
            debtor: debtor.to_owned(),
            expires,
        })
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        mac.update(b"dun-portal-v1:");
        mac.update(payload);
        mac
    }
}

/// A new random secret.
pub fn generate_secret() -> Vec<u8> {
    let mut secret = vec![0; SECRET_LEN];
    getrandom::fill(&mut secret).expect("the operating system's random source");
    secret
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn links() -> Links {
        Links::new(
            b"0123456789abcdef0123456789abcdef".to_vec(),
            "https://pay.example/",
            30,
        )
    }

    #[test]
    fn a_link_opens_its_debtors_portal_until_it_expires() {
        let now = at("2026-05-04T10:00:00Z");
        let link = links().link(7, "cust.42/ä", now);
        let token = link.strip_prefix("https://pay.example/portal/").unwrap();
        assert!(!token.contains('/') && !token.contains('+'), "{token}");
        assert_eq!(links().origin(), "https://pay.example");
        let behind = Links::new(Vec::new(), "https://example.com:8443/dun/", 1);
        assert_eq!(behind.origin(), "https://example.com:8443");
        // The page's forms and redirects stay under the proxy's path.
        assert_eq!(behind.portal_path(), "/dun/portal");
        assert_eq!(links().portal_path(), "/portal");
        assert!(
            behind
                .link(7, "d", now)
                .starts_with("https://example.com:8443/dun/portal/")
        );
        let holder = links().verify(token, now).unwrap();
        assert_eq!(holder.tenant, 7);
        assert_eq!(holder.debtor, "cust.42/ä");
        assert_eq!(holder.expires, at("2026-06-03T10:00:00Z"));
        assert!(links().verify(token, at("2026-06-03T09:59:59Z")).is_ok());
        assert_eq!(
            links().verify(token, at("2026-06-03T10:00:00Z")),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn a_changed_token_or_another_secret_is_refused_as_tampered() {
        let now = at("2026-05-04T10:00:00Z");
        let token = links().token(7, "c1", at("2026-05-05T00:00:00Z"));
        let (payload, mac) = token.split_once('.').unwrap();
        // Another debtor, another tenant, a later expiry: each with the old MAC.
        for forged in ["7.1777939200.c2", "8.1777939200.c1", "7.1999999999.c1"] {
            let forged = format!("{}.{mac}", B64.encode(forged));
            assert_eq!(links().verify(&forged, now), Err(Refusal::Tampered));
        }
        // An expired token with a moved expiry is tampered, not expired.
        let old = links().token(7, "c1", at("2026-05-01T00:00:00Z"));
        assert_eq!(links().verify(&old, now), Err(Refusal::Expired));
        let old_mac = old.split_once('.').unwrap().1;
        let moved = format!("{payload}.{old_mac}");
        assert_eq!(links().verify(&moved, now), Err(Refusal::Tampered));
        // One flipped MAC character, a shortened MAC, garbage.
        let mut flipped = mac.to_owned().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = format!("{payload}.{}", String::from_utf8(flipped).unwrap());
        for bad in [
            flipped.as_str(),
            &token[..token.len() - 2],
            "",
            ".",
            "x.y",
            "%%.%%",
        ] {
            assert_eq!(links().verify(bad, now), Err(Refusal::Tampered), "{bad:?}");
        }
        let other = Links::new(
            b"another secret entirely, 32 byte".to_vec(),
            "https://x",
            30,
        );
        assert_eq!(other.verify(&token, now), Err(Refusal::Tampered));
    }

    #[test]
    fn generated_secrets_differ() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_eq!(a.len(), SECRET_LEN);
        assert_ne!(a, b);
    }
}
