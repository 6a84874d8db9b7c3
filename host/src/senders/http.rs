//! HTTP senders: SMS and automated-call providers, signed webhooks, and
//! print-and-mail services.
//!
//! Every sender holds one [`ureq::Agent`] built when it is created, with the
//! configured overall timeout, no redirects (a redirected POST is reported as
//! a permanent failure rather than silently replayed elsewhere), and HTTP
//! error statuses returned as responses so that their bodies can be quoted.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::SendError;

/// Sent as `User-Agent` on every request.
const USER_AGENT: &str = "dun/0.1";
/// How much of a response body is read at most.
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;
/// How much of a response body an error message quotes at most.
const MAX_QUOTED_CHARS: usize = 200;

type HmacSha256 = Hmac<Sha256>;

/// How a [`Provider`] encodes its requests.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadFormat {
    /// dun's own JSON body (see [`Provider`]).
    Json,
    /// Twilio's form-encoded Messages and Calls APIs.
    Twilio,
}

fn default_format() -> PayloadFormat {
    PayloadFormat::Json
}

fn default_timeout_secs() -> u64 {
    10
}

fn default_print_timeout_secs() -> u64 {
    30
}

/// An HTTP messaging provider for SMS or automated calls (configured in dun.toml).
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The endpoint that requests are POSTed to.
    pub url: String,
    /// The whole `Authorization` header value, e.g. `"Basic …"` or `"Bearer …"`.
    #[serde(default)]
    pub authorization: Option<String>,
    #[serde(default = "default_format")]
    pub format: PayloadFormat,
    /// The sender number or name, when the provider wants one.
    #[serde(default)]
    pub from: Option<String>,
    /// Overall time limit of one request, from connecting to reading the answer.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// Sends SMS and places automated calls through an HTTP provider.
///
/// The JSON format POSTs `application/json`:
/// `{"channel": "sms"|"call", "to", "from" (if configured), "text",
/// "language" (calls only), "idempotency_key"}`.
///
/// The Twilio format POSTs `application/x-www-form-urlencoded`: `To`, `From`,
/// `Body` for an SMS; `To`, `From`, `Twiml` (a `<Say>` of the script) for a call.
pub struct Provider {
    config: ProviderConfig,
    agent: ureq::Agent,
}

#[derive(serde::Serialize)]
struct JsonMessage<'a> {
    channel: &'a str,
    to: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<&'a str>,
    idempotency_key: &'a str,
}

impl Provider {
    pub fn new(config: ProviderConfig) -> Provider {
        let agent = agent(config.timeout_secs);
        Provider { config, agent }
    }

    /// Sends an SMS; Ok(provider's message id if the response JSON has "id" or "sid").
    pub fn sms(
        &self,
        to: &str,
        text: &str,
        idempotency_key: &str,
    ) -> Result<Option<String>, SendError> {
        let from = self.config.from.as_deref();
        let (content_type, body) = match self.config.format {
            PayloadFormat::Json => json_body(&JsonMessage {
                channel: "sms",
                to,
                from,
                text,
                language: None,
                idempotency_key,
            })?,
            PayloadFormat::Twilio => {
                form_body(&[("To", Some(to)), ("From", from), ("Body", Some(text))])
            }
        };
        self.send("SMS provider", content_type, &body, idempotency_key)
    }

    /// Places an automated call that reads `script` aloud.
    pub fn call(
        &self,
        to: &str,
        script: &str,
        language: &str,
        idempotency_key: &str,
    ) -> Result<Option<String>, SendError> {
        let from = self.config.from.as_deref();
        let (content_type, body) = match self.config.format {
            PayloadFormat::Json => json_body(&JsonMessage {
                channel: "call",
                to,
                from,
                text: script,
                language: Some(language),
                idempotency_key,
            })?,
            PayloadFormat::Twilio => {
                let twiml = twiml_say(script, language);
                form_body(&[("To", Some(to)), ("From", from), ("Twiml", Some(&twiml))])
            }
        };
        self.send("call provider", content_type, &body, idempotency_key)
    }

    fn send(
        &self,
        what: &str,
        content_type: &str,
        body: &[u8],
        idempotency_key: &str,
    ) -> Result<Option<String>, SendError> {
        let mut headers = vec![("Idempotency-Key", idempotency_key)];
        if self.config.format == PayloadFormat::Twilio {
            headers.push(("I-Twilio-Idempotency-Token", idempotency_key));
        }
        if let Some(authorization) = &self.config.authorization {
            headers.push(("Authorization", authorization));
        }
        let answer = post(
            &self.agent,
            &self.config.url,
            content_type,
            &headers,
            body,
            what,
        )?;
        Ok(message_id(&answer))
    }
}

/// Signs webhook bodies: header `Dun-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = signature_mac(secret, timestamp, body)
        .finalize()
        .into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks a `Dun-Signature` header (for receivers; dun's own tests use it): parses t and every v1, constant-time compare,
/// refuses a timestamp more than `tolerance_secs` away from `now`.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), String> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!("malformed signature header element {part:?}"));
        };
        match key.trim() {
            "t" => {
                if timestamp.is_some() {
                    return Err("signature header has more than one timestamp".into());
                }
                let t = value
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| format!("signature timestamp {value:?} is not a number"))?;
                timestamp = Some(t);
            }
            // A v1 that is not hex cannot match; the others may still.
            "v1" => candidates.extend(hex::decode(value.trim()).ok()),
            // Other schemes (e.g. a future v2) are not understood here.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or("signature header has no timestamp (t=)")?;
    if candidates.is_empty() {
        return Err("signature header has no v1 signature".into());
    }
    let age = now.abs_diff(timestamp);
    if age > tolerance_secs.max(0).unsigned_abs() {
        return Err(format!(
            "signature timestamp {timestamp} is {age} s away from now ({now}), more than the tolerance of {tolerance_secs} s"
        ));
    }
    let mac = signature_mac(secret, timestamp, body);
    // Compare against every candidate, without stopping at the first match.
    let matched = candidates.iter().fold(false, |found, candidate| {
        mac.clone().verify_slice(candidate).is_ok() | found
    });
    if matched {
        Ok(())
    } else {
        Err("no v1 signature matches the body".into())
    }
}

fn signature_mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// A webhook endpoint that receives signed JSON events.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// The HMAC key of the `Dun-Signature` header.
    pub secret: String,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// Posts signed JSON events to a webhook endpoint.
pub struct Webhook {
    config: WebhookConfig,
    agent: ureq::Agent,
}

impl Webhook {
    pub fn new(config: WebhookConfig) -> Webhook {
        let agent = agent(config.timeout_secs);
        Webhook { config, agent }
    }

    /// POSTs `body` as JSON with headers Content-Type, Dun-Signature (signed at `now`), Dun-Event: <event>, Idempotency-Key, User-Agent.
    pub fn post(
        &self,
        event: &str,
        body: &serde_json::Value,
        idempotency_key: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), SendError> {
        let (content_type, bytes) = json_body(body)?;
        let signature = sign(self.config.secret.as_bytes(), now.timestamp(), &bytes);
        let headers = [
            ("Dun-Signature", signature.as_str()),
            ("Dun-Event", event),
            ("Idempotency-Key", idempotency_key),
        ];
        post(
            &self.agent,
            &self.config.url,
            content_type,
            &headers,
            &bytes,
            "webhook",
        )?;
        Ok(())
    }
}

/// A print-and-mail service that prints a PDF and posts it as a letter.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrintConfig {
    pub url: String,
    /// The whole `Authorization` header value, e.g. `"Basic …"` or `"Bearer …"`.
    #[serde(default)]
    pub authorization: Option<String>,
    #[serde(default = "default_print_timeout_secs")]
    pub timeout_secs: u64,
}

/// Hands letters to a print-and-mail service.
pub struct PrintAndMail {
    config: PrintConfig,
    agent: ureq::Agent,
}

impl PrintAndMail {
    pub fn new(config: PrintConfig) -> PrintAndMail {
        let agent = agent(config.timeout_secs);
        PrintAndMail { config, agent }
    }

    /// POSTs `{"to": [address lines], "idempotency_key", "pdf_base64"}` as JSON with Idempotency-Key.
    pub fn post(&self, to: &[String], pdf: &[u8], idempotency_key: &str) -> Result<(), SendError> {
        let (content_type, body) = json_body(&serde_json::json!({
            "to": to,
            "idempotency_key": idempotency_key,
            "pdf_base64": base64::engine::general_purpose::STANDARD.encode(pdf),
        }))?;
        let mut headers = vec![("Idempotency-Key", idempotency_key)];
        if let Some(authorization) = &self.config.authorization {
            headers.push(("Authorization", authorization));
        }
        post(
            &self.agent,
            &self.config.url,
            content_type,
            &headers,
            &body,
            "print-and-mail",
        )?;
        Ok(())
    }
}

/// Whether `url` is an absolute `http://` or `https://` URL with a host.
pub fn check_url(url: &str) -> Result<(), String> {
    let uri: ureq::http::Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(host)) if !host.is_empty() => Ok(()),
        _ => Err(format!(
            "{url:?}: must be an http:// or https:// URL with a host"
        )),
    }
}

fn agent(timeout_secs: u64) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(timeout_secs.max(1))))
        .max_redirects(0)
        .user_agent(USER_AGENT)
        .build()
        .new_agent()
}

fn json_body(value: &impl serde::Serialize) -> Result<(&'static str, Vec<u8>), SendError> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| SendError::permanent(format!("cannot encode the request as JSON: {e}")))?;
    Ok(("application/json", bytes))
}

/// Form-encodes the fields that have a value.
fn form_body(fields: &[(&str, Option<&str>)]) -> (&'static str, Vec<u8>) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        if let Some(value) = value {
            form.append_pair(name, value);
        }
    }
    (
        "application/x-www-form-urlencoded",
        form.finish().into_bytes(),
    )
}

fn twiml_say(script: &str, language: &str) -> String {
    format!(
        "<Response><Say language=\"{}\">{}</Say></Response>",
        xml_escape(language),
        xml_escape(script)
    )
}

fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// The provider's message id: `"id"` or `"sid"` of a JSON object answer.
fn message_id(answer: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(answer).ok()?;
    let id = value.get("id").or_else(|| value.get("sid"))?;
    match id {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// POSTs `body` and returns the response body of a 2xx answer.
fn post(
    agent: &ureq::Agent,
    url: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    what: &str,
) -> Result<String, SendError> {
    let mut request = agent.post(url).header("Content-Type", content_type);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body).map_err(|e| transport_error(what, &e))?;
    let status = response.status().as_u16();
    // The answer is only informative: an unreadable one counts as empty.
    let answer = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_vec()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    check_status(what, status, &answer)?;
    Ok(answer)
}

/// 2xx → Ok; 408, 425, 429, 5xx → retry; anything else (other 4xx, 3xx) → permanent.
fn check_status(what: &str, status: u16, answer: &str) -> Result<(), SendError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let mut message = format!("{what} answered HTTP {status}");
    let quoted: String = answer.trim().chars().take(MAX_QUOTED_CHARS).collect();
    if !quoted.is_empty() {
        message.push_str(": ");
        message.push_str(&quoted);
        if quoted.len() < answer.trim().len() {
            message.push('…');
        }
    }
    match status {
        408 | 425 | 429 | 500..=599 => Err(SendError::retry(message)),
        _ => Err(SendError::permanent(message)),
    }
}

/// Errors before any answer: a request that cannot be made is permanent,
/// network trouble (refused, reset, timeout, DNS, TLS) may pass.
fn transport_error(what: &str, error: &ureq::Error) -> SendError {
    let message = format!("{what} request failed: {error}");
    match error {
        ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::RequireHttpsOnly(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::Json(_) => SendError::permanent(message),
        _ => SendError::retry(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;
    use std::thread;

    /// One HTTP/1.1 request as the test receiver got it.
    #[derive(Debug)]
    struct Received {
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Received {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).expect("JSON body")
        }

        fn form(&self) -> Vec<(String, String)> {
            form_urlencoded::parse(&self.body).into_owned().collect()
        }
    }

    /// Accepts one connection on 127.0.0.1, records its request, answers
    /// `status` with `answer` (after `delay`) and closes.
    fn receiver_with_delay(
        status: u16,
        answer: &str,
        delay: Duration,
    ) -> (String, mpsc::Receiver<Received>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/messages", listener.local_addr().unwrap());
        let answer = answer.to_string();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let request = read_request(&mut stream);
            tx.send(request).unwrap();
            thread::sleep(delay);
            let response = format!(
                "HTTP/1.1 {status} Test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
            let _ = stream.write_all(response.as_bytes());
            let _ = stream.flush();
        });
        (url, rx)
    }

    fn receiver(status: u16, answer: &str) -> (String, mpsc::Receiver<Received>) {
        receiver_with_delay(status, answer, Duration::ZERO)
    }

    fn read_request(stream: &mut TcpStream) -> Received {
        let mut data = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed before the end of the headers");
            data.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(data[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap().split(' ');
        let method = request_line.next().unwrap().to_string();
        let path = request_line.next().unwrap().to_string();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.trim().to_string(), value.trim().to_string())
            })
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = data[head_end + 4..].to_vec();
        while body.len() < length {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed before the end of the body");
            body.extend_from_slice(&chunk[..n]);
        }
        Received {
            method,
            path,
            headers,
            body,
        }
    }

    fn provider(url: &str, format: PayloadFormat, from: Option<&str>) -> Provider {
        Provider::new(ProviderConfig {
            url: url.to_string(),
            authorization: Some("Bearer sekrit".into()),
            format,
            from: from.map(String::from),
            timeout_secs: 5,
        })
    }

    #[test]
    fn json_sms_payload_and_headers() {
        let (url, rx) = receiver(200, r#"{"id":"msg-1","status":"queued"}"#);
        let p = provider(&url, PayloadFormat::Json, Some("Dun"));
        let id = p
            .sms("+491701234567", "Bitte zahlen Sie 12,50 €.", "key-1")
            .unwrap();
        assert_eq!(id.as_deref(), Some("msg-1"));
        let r = rx.recv().unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/messages");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("authorization"), Some("Bearer sekrit"));
        assert_eq!(r.header("idempotency-key"), Some("key-1"));
        assert_eq!(r.header("user-agent"), Some("dun/0.1"));
        assert_eq!(r.header("i-twilio-idempotency-token"), None);
        assert_eq!(
            r.json(),
            serde_json::json!({
                "channel": "sms",
                "to": "+491701234567",
                "from": "Dun",
                "text": "Bitte zahlen Sie 12,50 €.",
                "idempotency_key": "key-1",
            })
        );
    }

    #[test]
    fn json_call_has_language_and_no_from_when_unset() {
        let (url, rx) = receiver(202, "");
        let p = provider(&url, PayloadFormat::Json, None);
        let id = p
            .call("+4930123", "Hallo Müller.", "de-DE", "key-2")
            .unwrap();
        assert_eq!(id, None);
        let r = rx.recv().unwrap();
        assert_eq!(
            r.json(),
            serde_json::json!({
                "channel": "call",
                "to": "+4930123",
                "text": "Hallo Müller.",
                "language": "de-DE",
                "idempotency_key": "key-2",
            })
        );
    }

    #[test]
    fn twilio_sms_form_fields() {
        let (url, rx) = receiver(201, r#"{"sid":"SM123","status":"queued"}"#);
        let p = provider(&url, PayloadFormat::Twilio, Some("+15005550006"));
        let id = p
            .sms("+491701234567", "Zahlung fällig: A & B = 5 €", "key-3")
            .unwrap();
        assert_eq!(id.as_deref(), Some("SM123"));
        let r = rx.recv().unwrap();
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(r.header("idempotency-key"), Some("key-3"));
        assert_eq!(r.header("i-twilio-idempotency-token"), Some("key-3"));
        assert_eq!(r.header("authorization"), Some("Bearer sekrit"));
        assert_eq!(
            r.form(),
            vec![
                ("To".to_string(), "+491701234567".to_string()),
                ("From".to_string(), "+15005550006".to_string()),
                (
                    "Body".to_string(),
                    "Zahlung fällig: A & B = 5 €".to_string()
                ),
            ]
        );
    }

    #[test]
    fn twilio_call_escapes_twiml() {
        let (url, rx) = receiver(201, r#"{"sid":"CA9"}"#);
        let p = provider(&url, PayloadFormat::Twilio, Some("+15005550006"));
        let id = p
            .call("+4930123", "Tom & Jerry <3 \"quoted\"", "de-DE", "key-4")
            .unwrap();
        assert_eq!(id.as_deref(), Some("CA9"));
        let form = rx.recv().unwrap().form();
        let twiml = &form.iter().find(|(k, _)| k == "Twiml").unwrap().1;
        assert_eq!(
            twiml,
            "<Response><Say language=\"de-DE\">Tom &amp; Jerry &lt;3 &quot;quoted&quot;</Say></Response>"
        );
        assert_eq!(
            form.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["To", "From", "Twiml"]
        );
    }

    #[test]
    fn server_error_is_retryable() {
        let (url, _rx) = receiver(500, r#"{"error":"database down"}"#);
        let err = provider(&url, PayloadFormat::Json, None)
            .sms("+1", "x", "k")
            .unwrap_err();
        assert!(err.retryable, "{err:?}");
        assert!(err.message.contains("500"), "{err:?}");
        assert!(err.message.contains("database down"), "{err:?}");
    }

    #[test]
    fn client_error_is_permanent_and_quotes_at_most_200_chars() {
        let answer = format!(r#"{{"error":"invalid number {}"}}"#, "x".repeat(500));
        let (url, _rx) = receiver(400, &answer);
        let err = provider(&url, PayloadFormat::Json, None)
            .sms("+1", "x", "k")
            .unwrap_err();
        assert!(!err.retryable, "{err:?}");
        assert!(err.message.contains("400"), "{err:?}");
        assert!(err.message.contains("invalid number"), "{err:?}");
        assert!(err.message.chars().count() < 260, "{err:?}");
    }

    #[test]
    fn too_many_requests_is_retryable() {
        let (url, _rx) = receiver(429, "slow down");
        let err = provider(&url, PayloadFormat::Json, None)
            .sms("+1", "x", "k")
            .unwrap_err();
        assert!(err.retryable, "{err:?}");
    }

    #[test]
    fn status_classes() {
        for (status, retryable) in [
            (408, true),
            (425, true),
            (429, true),
            (500, true),
            (502, true),
            (503, true),
            (599, true),
            (301, false),
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (409, false),
            (422, false),
        ] {
            let err = check_status("x", status, "").unwrap_err();
            assert_eq!(err.retryable, retryable, "{status}");
            assert_eq!(err.message, format!("x answered HTTP {status}"));
        }
        for status in [200, 201, 202, 204, 299] {
            assert_eq!(check_status("x", status, "nope"), Ok(()));
        }
    }

    #[test]
    fn nothing_listening_is_retryable() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/messages");
        let err = provider(&url, PayloadFormat::Json, None)
            .sms("+1", "x", "k")
            .unwrap_err();
        assert!(err.retryable, "{err:?}");
    }

    #[test]
    fn timeout_is_retryable() {
        let (url, _rx) = receiver_with_delay(200, "{}", Duration::from_secs(3));
        let p = Provider::new(ProviderConfig {
            url,
            authorization: None,
            format: PayloadFormat::Json,
            from: None,
            timeout_secs: 1,
        });
        let err = p.sms("+1", "x", "k").unwrap_err();
        assert!(err.retryable, "{err:?}");
    }

    #[test]
    fn bad_url_is_permanent() {
        let err = provider("not a url", PayloadFormat::Json, None)
            .sms("+1", "x", "k")
            .unwrap_err();
        assert!(!err.retryable, "{err:?}");
    }

    #[test]
    fn message_id_variants() {
        assert_eq!(message_id(r#"{"id":"a","sid":"b"}"#).as_deref(), Some("a"));
        assert_eq!(message_id(r#"{"sid":"b"}"#).as_deref(), Some("b"));
        assert_eq!(message_id(r#"{"id":42}"#).as_deref(), Some("42"));
        assert_eq!(message_id(r#"{"ok":true}"#), None);
        assert_eq!(message_id("not json"), None);
        assert_eq!(message_id(""), None);
    }

    #[test]
    fn config_defaults_and_unknown_fields() {
        let c: ProviderConfig = serde_json::from_str(r#"{"url":"https://x"}"#).unwrap();
        assert_eq!(
            c,
            ProviderConfig {
                url: "https://x".into(),
                authorization: None,
                format: PayloadFormat::Json,
                from: None,
                timeout_secs: 10,
            }
        );
        let c: ProviderConfig =
            serde_json::from_str(r#"{"url":"https://x","format":"twilio","from":"+1"}"#).unwrap();
        assert_eq!(c.format, PayloadFormat::Twilio);
        assert!(serde_json::from_str::<ProviderConfig>(r#"{"url":"x","colour":"red"}"#).is_err());
        let w: WebhookConfig = serde_json::from_str(r#"{"url":"x","secret":"s"}"#).unwrap();
        assert_eq!(w.timeout_secs, 10);
        assert!(serde_json::from_str::<WebhookConfig>(r#"{"url":"x"}"#).is_err());
        let p: PrintConfig = serde_json::from_str(r#"{"url":"x"}"#).unwrap();
        assert_eq!(p.timeout_secs, 30);
        assert_eq!(p.authorization, None);
    }

    #[test]
    fn sign_verify_round_trip() {
        let header = sign(b"whsec", 1_700_000_000, b"{\"a\":1}");
        let (t, v1) = header.split_once(',').unwrap();
        assert_eq!(t, "t=1700000000");
        assert_eq!(v1.len(), 3 + 64);
        assert_eq!(
            verify(b"whsec", &header, b"{\"a\":1}", 1_700_000_100, 300),
            Ok(())
        );
        // Same inputs, same signature.
        assert_eq!(header, sign(b"whsec", 1_700_000_000, b"{\"a\":1}"));
    }

    #[test]
    fn verify_refuses_tampering_and_other_secrets() {
        let header = sign(b"whsec", 1_700_000_000, b"{\"a\":1}");
        assert!(verify(b"whsec", &header, b"{\"a\":2}", 1_700_000_000, 300).is_err());
        assert!(verify(b"other", &header, b"{\"a\":1}", 1_700_000_000, 300).is_err());
        // A different timestamp with the old signature.
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert!(verify(b"whsec", &moved, b"{\"a\":1}", 1_700_000_000, 300).is_err());
    }

    #[test]
    fn verify_refuses_stale_and_future_timestamps() {
        let header = sign(b"whsec", 1_700_000_000, b"x");
        assert_eq!(verify(b"whsec", &header, b"x", 1_700_000_300, 300), Ok(()));
        let stale = verify(b"whsec", &header, b"x", 1_700_000_301, 300).unwrap_err();
        assert!(stale.contains("tolerance"), "{stale}");
        assert!(verify(b"whsec", &header, b"x", 1_699_999_000, 300).is_err());
    }

    #[test]
    fn verify_accepts_any_matching_v1() {
        let good = sign(b"new", 1_700_000_000, b"body");
        let good_v1 = good.split_once(",v1=").unwrap().1;
        let old = sign(b"old", 1_700_000_000, b"body");
        let old_v1 = old.split_once(",v1=").unwrap().1;
        let header = format!("t=1700000000, v1={old_v1}, v0=zzz, v1={good_v1}");
        assert_eq!(verify(b"new", &header, b"body", 1_700_000_000, 60), Ok(()));
        assert_eq!(verify(b"old", &header, b"body", 1_700_000_000, 60), Ok(()));
        assert!(verify(b"neither", &header, b"body", 1_700_000_000, 60).is_err());
    }

    #[test]
    fn verify_refuses_malformed_headers() {
        let v1 = sign(b"s", 5, b"b")
            .split_once(",v1=")
            .unwrap()
            .1
            .to_string();
        for header in [
            String::new(),
            format!("v1={v1}"),
            "t=5".to_string(),
            format!("t=five,v1={v1}"),
            format!("t=5,t=5,v1={v1}"),
            "t=5,v1=not-hex".to_string(),
            format!("t=5,garbage,v1={v1}"),
        ] {
            assert!(verify(b"s", &header, b"b", 5, 60).is_err(), "{header:?}");
        }
        assert_eq!(verify(b"s", &format!("t=5,v1={v1}"), b"b", 5, 60), Ok(()));
    }

    #[test]
    fn webhook_signature_verifies_over_received_bytes() {
        let (url, rx) = receiver(204, "");
        let hook = Webhook::new(WebhookConfig {
            url,
            secret: "whsec_test".into(),
            timeout_secs: 5,
        });
        let now = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let body = serde_json::json!({"event": "reminder.sent", "amount": "12.50 €", "case": 7});
        hook.post("reminder.sent", &body, "key-5", now).unwrap();
        let r = rx.recv().unwrap();
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("dun-event"), Some("reminder.sent"));
        assert_eq!(r.header("idempotency-key"), Some("key-5"));
        assert_eq!(r.header("user-agent"), Some("dun/0.1"));
        let signature = r.header("dun-signature").unwrap();
        assert!(signature.starts_with("t=1700000000,v1="), "{signature}");
        assert_eq!(
            verify(b"whsec_test", signature, &r.body, 1_700_000_010, 300),
            Ok(())
        );
        assert_eq!(r.json(), body);
    }

    #[test]
    fn webhook_failure_is_reported() {
        let (url, _rx) = receiver(410, "gone");
        let hook = Webhook::new(WebhookConfig {
            url,
            secret: "s".into(),
            timeout_secs: 5,
        });
        let err = hook
            .post("x", &serde_json::json!({}), "k", chrono::Utc::now())
            .unwrap_err();
        assert!(!err.retryable);
        assert!(
            err.message.contains("webhook") && err.message.contains("410"),
            "{err:?}"
        );
    }

    #[test]
    fn print_and_mail_body_decodes_to_the_pdf() {
        let (url, rx) = receiver(200, r#"{"id":"letter_1"}"#);
        let service = PrintAndMail::new(PrintConfig {
            url,
            authorization: Some("Basic dXNlcjpwdw==".into()),
            timeout_secs: 5,
        });
        let pdf: Vec<u8> = b"%PDF-1.4\n\x00\xff\xe4 binary\n%%EOF\n".to_vec();
        let to = vec![
            "Hans Müller".to_string(),
            "Hauptstr. 1".into(),
            "10115 Berlin".into(),
        ];
        service.post(&to, &pdf, "key-6").unwrap();
        let r = rx.recv().unwrap();
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("idempotency-key"), Some("key-6"));
        assert_eq!(r.header("authorization"), Some("Basic dXNlcjpwdw=="));
        let json = r.json();
        assert_eq!(json["to"], serde_json::json!(to));
        assert_eq!(json["idempotency_key"], "key-6");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(json["pdf_base64"].as_str().unwrap())
            .unwrap();
        assert_eq!(decoded, pdf);
    }
}
