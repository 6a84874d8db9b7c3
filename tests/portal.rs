//! The debtor portal end to end: `dun serve` on a test clock sends a real
//! reminder through a real SMTP server (aiosmtpd); the portal link is taken
//! from the email as received and opened over HTTP. Each action is posted
//! as a browser would post its form, and checked where a user would notice
//! it: the page, the redirect, the debtor's timeline and what the scheduler
//! did next. Then bad input, expired and tampered links, and other debtors'
//! and tenants' data.
//!
//! The `scripted` strategy (`tests/guests/scripted`) plans an email reminder
//! now and a payment-plan offer, so every debtor gets an email with a link
//! and has an offer to accept.

mod support;

use std::time::{Duration, Instant};

use dun::builtin::PLUGIN_DIR;
use serde_json::{Value, json};
use support::smtp::SmtpSink;
use support::{Client, Server};

const START: &str = "2026-05-04T10:00:00Z";
const PAYMENT_LINK: &str = "https://pay.example.com/{tenant}/{debtor}?invoices={invoices}&amount={amount}&currency={currency}";

/// A server on the test clock, the scheduler and dispatcher every second,
/// email to `sink`, the scripted strategy available.
fn server(sink: &SmtpSink) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dun.toml");
    std::fs::write(
        &config,
        format!(
            "[senders.email]\nurl = \"{}\"\nfrom = \"billing@acme.example\"\n",
            sink.url()
        ),
    )
    .unwrap();
    let server = Server::start_with_env(&[
        ("DUN_CONFIG", config.to_str().unwrap()),
        ("DUN_STRATEGIES_DIR", PLUGIN_DIR),
        ("DUN_TEST_CLOCK", START),
        ("DUN_SCHEDULER_INTERVAL_SECS", "1"),
        ("DUN_DISPATCH_INTERVAL_SECS", "1"),
    ]);
    (server, dir)
}

/// A tenant whose debtors get an email reminder now and a plan offer of
/// 3 installments, and whose reminders carry a payment link.
fn tenant(server: &Server, id: &str) -> Client {
    let (admin, _) = server.tenant(id);
    let reply = admin.put(
        "/v1/segments/default",
        &json!({ "strategy": "scripted", "config": { "actions": [
            { "kind": "remind", "channel": "email", "tone": "gentle", "in_secs": 0 },
            { "kind": "offer-plan", "installments": 3, "every_days": 30, "first_in_days": 7 },
        ], "review_in_secs": 86_400 } }),
    );
    assert!(matches!(reply.status, 200 | 201), "{reply:#?}");
    let reply = admin.put("/v1/messaging", &json!({ "payment_link": PAYMENT_LINK }));
    assert_eq!(reply.status, 200, "{reply:#?}");
    admin
}

fn debtor(client: &Client, id: &str, name: &str, language: &str) {
    let reply = client.post(
        "/v1/debtors",
        &json!({ "external_id": id, "name": name, "email": format!("ap@{id}.example"),
                 "phone": "+4915112345678", "time_zone": "Europe/Berlin", "language": language }),
    );
    assert_eq!(reply.status, 201, "{reply:#?}");
}

/// An EUR invoice, 10 days overdue at the start.
fn invoice(client: &Client, id: &str, debtor: &str, amount: i64) {
    let reply = client.post(
        "/v1/invoices",
        &json!({ "external_id": id, "number": format!("No. {id}"), "debtor_id": debtor,
                 "currency": "EUR", "amount": amount,
                 "issued_on": "2026-03-01", "due_on": "2026-04-24" }),
    );
    assert_eq!(reply.status, 201, "{reply:#?}");
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "waited for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The portal link in the first email `to` received: (link, path).
fn link_from_email(sink: &SmtpSink, to: &str, base: &str) -> (String, String) {
    let mut found = None;
    wait_until(&format!("an email to {to}"), || {
        found = sink.received().into_iter().find(|m| m["rcpt_tos"][0] == to);
        found.is_some()
    });
    let email = found.unwrap();
    let text = email["text"].as_str().unwrap();
    let prefix = format!("{base}/portal/");
    let start = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no portal link in {text}"));
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    // The HTML part links to the same page.
    let token = link.rsplit('/').next().unwrap();
    assert!(email["html"].as_str().unwrap().contains(token), "{email:#}");
    let path = link[base.len()..].to_owned();
    (link, path)
}

/// A browser's side of the portal: form posts, no redirects followed.
struct Browser {
    agent: ureq::Agent,
    base: String,
}

struct Page {
    status: u16,
    location: Option<String>,
    content_type: String,
    csp: String,
    body: String,
}

impl Browser {
    fn new(base: &str) -> Browser {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build();
        Browser {
            agent: ureq::Agent::new_with_config(config),
            base: base.to_owned(),
        }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        let body = if method == "POST" {
            builder = builder.header("content-type", "application/x-www-form-urlencoded");
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish()
        } else {
            String::new()
        };
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut response = self
            .agent
            .run(builder.body(body.into_bytes()).unwrap())
            .expect("HTTP exchange");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Page {
            status: response.status().as_u16(),
            location: header("location"),
            content_type: header("content-type").unwrap_or_default(),
            csp: header("content-security-policy").unwrap_or_default(),
            body: response.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    fn get(&self, path: &str) -> Page {
        self.request("GET", path, &[], &[])
    }

    fn get_in(&self, path: &str, language: &str) -> Page {
        self.request("GET", path, &[], &[("accept-language", language)])
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.request("POST", path, form, &[])
    }
}

/// The debtor's timeline, oldest first.
fn timeline(client: &Client, debtor: &str) -> Vec<Value> {
    let reply = client.get(&format!("/v1/debtors/{debtor}/timeline?limit=500"));
    assert_eq!(reply.status, 200, "{reply:#?}");
    let mut items = reply.body["items"].as_array().unwrap().clone();
    items.reverse();
    items
}

fn events<'a>(timeline: &'a [Value], kind: &str) -> Vec<&'a Value> {
    timeline.iter().filter(|e| e["kind"] == kind).collect()
}

fn evaluations(client: &Client, debtor: &str) -> usize {
    let reply = client.get(&format!("/v1/debtors/{debtor}/evaluations"));
    assert_eq!(reply.status, 200, "{reply:#?}");
    reply.body.as_array().unwrap().len()
}

/// Moves the test clock on a minute: an event is news to the scheduler
/// when it happened after the debtor's last evaluation, and the test clock
/// does not move by itself.
fn a_minute_later(operator: &Client) {
    let reply = operator.post("/v1/test-clock", &json!({ "advance_secs": 60 }));
    assert_eq!(reply.status, 200, "{reply:#?}");
}

/// After an action, the scheduler evaluates the debtor again (the action's
/// event pulled its review forward).
fn scheduler_wakes(client: &Client, debtor: &str, before: usize) {
    wait_until(&format!("a new evaluation of {debtor}"), || {
        evaluations(client, debtor) > before
    });
}

#[test]
fn a_link_from_a_sent_email_opens_the_page_and_each_action_lands_on_the_timeline() {
    let sink = SmtpSink::start();
    let (server, _dir) = server(&sink);
    let operator = server.operator();
    let admin = tenant(&server, "acme");
    debtor(&admin, "d1", "Northwind <Traders>", "en-GB");
    invoice(&admin, "I-1", "d1", 100_00);
    invoice(&admin, "I-2", "d1", 250_50);
    invoice(&admin, "I-3", "d1", 40_00);
    let (link, path) = link_from_email(&sink, "ap@d1.example", &server.base);
    assert!(link.starts_with(&server.base), "{link}");
    let browser = Browser::new(&server.base);

    // The page: the debtor's invoices, escaped, in their language, and
    // every action's form.
    let page = browser.get(&path);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert!(page.csp.contains("frame-ancestors 'none'"), "{}", page.csp);
    let body = &page.body;
    assert!(body.contains("<html lang=\"en\">"), "{body}");
    assert!(body.contains("name=\"viewport\""));
    assert!(body.contains("Northwind &lt;Traders&gt;"), "{body}");
    assert!(!body.contains("<Traders>"));
    for (number, amount) in [
        ("No. I-1", "EUR 100.00"),
        ("No. I-2", "EUR 250.50"),
        ("No. I-3", "EUR 40.00"),
    ] {
        assert!(
            body.contains(number) && body.contains(amount),
            "{number} {amount}: {body}"
        );
    }
    assert!(body.contains("EUR 390.50"), "the total: {body}");
    assert!(body.contains("10 days overdue"), "{body}");
    for action in ["pay", "promise", "plan", "dispute", "opt-out"] {
        assert!(
            body.contains(&format!("action=\"{path}/{action}\"")),
            "{action}: {body}"
        );
    }
    // The offered plan: 3 installments of the 390.50 owed, remainder first.
    assert!(
        body.contains("EUR 130.18") && body.contains("EUR 130.16"),
        "{body}"
    );
    // Every input has its label.
    for id in ["promised_on", "invoice", "reason", "channel"] {
        assert!(
            body.contains(&format!("for=\"{id}\"")) && body.contains(&format!("id=\"{id}\"")),
            "{id}"
        );
    }

    // Pay: to the tenant's payment link for the chosen invoices.
    let paid = browser.post(
        &format!("{path}/pay"),
        &[("invoice", "I-1"), ("invoice", "I-3")],
    );
    assert_eq!(paid.status, 303, "{}", paid.body);
    assert_eq!(
        paid.location.as_deref(),
        Some("https://pay.example.com/acme/d1?invoices=I-1,I-3&amount=140.00&currency=EUR")
    );
    let none = browser.post(&format!("{path}/pay"), &[]);
    assert_eq!(none.status, 422);
    assert!(
        none.body.contains("Choose at least one invoice."),
        "{}",
        none.body
    );

    // Promise: a date in the past is refused next to the field, with what
    // was typed kept; then a good one lands on the timeline.
    a_minute_later(&operator);
    let before = evaluations(&admin, "d1");
    let bad = browser.post(
        &format!("{path}/promise"),
        &[("currency", "EUR"), ("promised_on", "2026-05-01")],
    );
    assert_eq!(bad.status, 422);
    assert!(
        bad.body.contains("id=\"promised_on-error\""),
        "{}",
        bad.body
    );
    assert!(
        bad.body
            .contains("Choose a date from today up to one year ahead.")
    );
    assert!(
        bad.body.contains("value=\"2026-05-01\""),
        "kept: {}",
        bad.body
    );
    assert!(bad.body.contains("aria-invalid=\"true\""));
    let garbled = browser.post(
        &format!("{path}/promise"),
        &[("currency", "EUR"), ("promised_on", "soon")],
    );
    assert_eq!(garbled.status, 422);
    assert!(garbled.body.contains("value=\"soon\""));
    let far = browser.post(
        &format!("{path}/promise"),
        &[("currency", "EUR"), ("promised_on", "2027-06-01")],
    );
    assert_eq!(far.status, 422);
    assert!(events(&timeline(&admin, "d1"), "promise.made").is_empty());

    let promised = browser.post(
        &format!("{path}/promise"),
        &[("currency", "EUR"), ("promised_on", "2026-05-20")],
    );
    assert_eq!(promised.status, 303, "{}", promised.body);
    let confirmed = promised.location.unwrap();
    assert_eq!(confirmed, format!("{path}?done=promise"));
    let page = browser.get(&confirmed);
    assert!(
        page.body.contains("We have noted your promise to pay."),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("Payment promised by 20 May 2026"),
        "{}",
        page.body
    );
    let history = timeline(&admin, "d1");
    let made = events(&history, "promise.made");
    assert_eq!(made.len(), 1, "{history:#?}");
    assert_eq!(made[0]["data"]["source"], "portal");
    assert_eq!(made[0]["data"]["promised_on"], "2026-05-20");
    assert_eq!(made[0]["data"]["amount"], 390_50);
    scheduler_wakes(&admin, "d1", before);

    // Dispute: no reason is refused, the chosen invoice kept; then one.
    a_minute_later(&operator);
    let before = evaluations(&admin, "d1");
    let bad = browser.post(
        &format!("{path}/dispute"),
        &[("invoice", "I-2"), ("reason", "  ")],
    );
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"reason-error\""), "{}", bad.body);
    assert!(
        bad.body.contains("<option value=\"I-2\" selected>"),
        "kept: {}",
        bad.body
    );
    let long = "x".repeat(2001);
    let bad = browser.post(
        &format!("{path}/dispute"),
        &[("invoice", "I-2"), ("reason", &long)],
    );
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains(&long), "what was typed is kept");
    let bad = browser.post(
        &format!("{path}/dispute"),
        &[("invoice", "nope"), ("reason", "wrong")],
    );
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("Choose one of your open invoices."));
    assert!(bad.body.contains(">wrong</textarea>"), "{}", bad.body);
    let disputed = browser.post(
        &format!("{path}/dispute"),
        &[
            ("invoice", "I-2"),
            ("reason", "We never got the goods <sic>"),
        ],
    );
    assert_eq!(disputed.status, 303, "{}", disputed.body);
    let history = timeline(&admin, "d1");
    let opened = events(&history, "dispute.opened");
    assert_eq!(opened.len(), 1, "{history:#?}");
    assert_eq!(opened[0]["subject"], "I-2");
    assert_eq!(opened[0]["data"]["source"], "portal");
    assert_eq!(opened[0]["data"]["reason"], "We never got the goods <sic>");
    let again = browser.post(
        &format!("{path}/dispute"),
        &[("invoice", "I-2"), ("reason", "still")],
    );
    assert_eq!(again.status, 422);
    assert!(
        again.body.contains("already being looked into"),
        "{}",
        again.body
    );
    assert_eq!(admin.get("/v1/invoices/I-2").body["status"], "disputed");
    scheduler_wakes(&admin, "d1", before);

    // Plan: the offer the strategy made is accepted.
    let offers = admin.get("/v1/debtors/d1/offers").body;
    let offer = offers
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["status"] == "open" && o["kind"] == "payment-plan")
        .unwrap_or_else(|| panic!("{offers:#}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = browser.get(&path);
    assert!(
        page.body.contains(&format!("value=\"{offer}\"")),
        "{}",
        page.body
    );
    let bad = browser.post(&format!("{path}/plan"), &[("offer", "ofr_nope")]);
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("This offer is no longer open."));
    let accepted = browser.post(&format!("{path}/plan"), &[("offer", &offer)]);
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    let history = timeline(&admin, "d1");
    let taken = events(&history, "offer.accepted");
    assert_eq!(taken.len(), 1, "{history:#?}");
    assert_eq!(taken[0]["subject"], offer.as_str());
    assert_eq!(taken[0]["data"]["source"], "portal");
    assert_eq!(events(&history, "plan.created").len(), 1);
    let twice = browser.post(&format!("{path}/plan"), &[("offer", &offer)]);
    assert_eq!(twice.status, 422, "an accepted offer is not open");

    // Opt-out: an unknown channel is refused; SMS is opted out.
    let bad = browser.post(&format!("{path}/opt-out"), &[("channel", "fax")]);
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("Choose one of the ways listed."));
    let out = browser.post(&format!("{path}/opt-out"), &[("channel", "sms")]);
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(
        out.location.as_deref(),
        Some(format!("{path}?done=opt_out").as_str())
    );
    assert_eq!(admin.get("/v1/debtors/d1").body["opt_outs"], json!(["sms"]));
    let history = timeline(&admin, "d1");
    let added = events(&history, "opt-out.added");
    assert_eq!(added.len(), 1);
    assert_eq!(
        added[0]["data"],
        json!({ "channel": "sms", "source": "portal" })
    );
    let page = browser.get(&path);
    assert!(page.body.contains("(no more reminders)"), "{}", page.body);

    // A post from another site is refused and changes nothing.
    let forged = browser.request(
        "POST",
        &format!("{path}/opt-out"),
        &[("channel", "email")],
        &[
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
    );
    assert_eq!(forged.status, 403);
    let forged = browser.request(
        "POST",
        &format!("{path}/opt-out"),
        &[("channel", "email")],
        &[("origin", "null")],
    );
    assert_eq!(forged.status, 403);
    assert_eq!(admin.get("/v1/debtors/d1").body["opt_outs"], json!(["sms"]));
}

#[test]
fn expired_and_tampered_links_are_refused_without_saying_whose() {
    let sink = SmtpSink::start();
    let (server, _dir) = server(&sink);
    let operator = server.operator();
    let admin = tenant(&server, "acme");
    debtor(&admin, "d1", "Schneider Bau GmbH", "de-AT");
    invoice(&admin, "I-1", "d1", 1_234_50);
    let (_, path) = link_from_email(&sink, "ap@d1.example", &server.base);
    let browser = Browser::new(&server.base);

    // The German debtor's page is German, dates Austrian.
    let page = browser.get(&path);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html lang=\"de\">"), "{}", page.body);
    assert!(page.body.contains("1.234,50 EUR"), "{}", page.body);
    assert!(page.body.contains("Zahlung zu einem Termin zusagen"));
    let bad = browser.post(
        &format!("{path}/promise"),
        &[("currency", "EUR"), ("promised_on", "2020-01-01")],
    );
    assert_eq!(bad.status, 422);
    assert!(
        bad.body
            .contains("Wählen Sie ein Datum von heute bis in einem Jahr."),
        "{}",
        bad.body
    );

    let token = path.strip_prefix("/portal/").unwrap();
    let (payload, mac) = token.split_once('.').unwrap();
    let mut flipped = mac.as_bytes().to_vec();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let decoded = String::from_utf8(b64.decode(payload).unwrap()).unwrap();
    let later = {
        let mut parts: Vec<&str> = decoded.splitn(3, '.').collect();
        let moved = (parts[1].parse::<i64>().unwrap() + 365 * 86_400).to_string();
        parts[1] = &moved;
        b64.encode(parts.join("."))
    };
    let other_debtor = b64.encode(decoded.replace(".d1", ".d2"));
    for forged in [
        format!("/portal/{payload}.{flipped}"),
        format!("/portal/{later}.{mac}"),
        format!("/portal/{other_debtor}.{mac}"),
        format!("/portal/{payload}"),
        "/portal/garbage".to_owned(),
    ] {
        let page = browser.get(&forged);
        assert_eq!(page.status, 403, "{forged}: {}", page.body);
        assert!(
            page.body.contains("This link is not valid"),
            "{}",
            page.body
        );
        assert!(!page.body.contains("Schneider") && !page.body.contains("I-1"));
        let post = browser.post(&format!("{forged}/opt-out"), &[("channel", "email")]);
        assert_eq!(post.status, 403);
    }
    let german = browser.get_in(&format!("/portal/{payload}.{flipped}"), "de-DE,de;q=0.9");
    assert!(
        german.body.contains("Dieser Link ist ungültig"),
        "{}",
        german.body
    );
    assert!(german.body.contains("<html lang=\"de\">"));

    // 30 days on, the link has expired: 410, in the browser's language,
    // nothing about the debtor, and its forms do nothing.
    let reply = operator.post("/v1/test-clock", &json!({ "advance_secs": 30 * 86_400 }));
    assert_eq!(reply.status, 200, "{reply:#?}");
    let page = browser.get(&path);
    assert_eq!(page.status, 410, "{}", page.body);
    assert!(page.body.contains("This link has expired"), "{}", page.body);
    assert!(!page.body.contains("Schneider") && !page.body.contains("1.234,50"));
    let german = browser.get_in(&path, "de");
    assert!(german.body.contains("Dieser Link ist abgelaufen"));
    let late = browser.post(
        &format!("{path}/dispute"),
        &[("invoice", "I-1"), ("reason", "late")],
    );
    assert_eq!(late.status, 410);
    assert!(events(&timeline(&admin, "d1"), "dispute.opened").is_empty());
    assert!(events(&timeline(&admin, "d1"), "opt-out.added").is_empty());
}

#[test]
fn another_debtors_or_tenants_data_is_never_shown_or_touched() {
    let sink = SmtpSink::start();
    let (server, _dir) = server(&sink);
    let acme = tenant(&server, "acme");
    let globex = tenant(&server, "globex");
    // The same debtor id in two tenants, and a second debtor in acme.
    debtor(&acme, "d1", "Acme Debtor", "en");
    debtor(&acme, "d2", "Acme Other Debtor", "en");
    debtor(&globex, "d1", "Globex Debtor", "en");
    invoice(&acme, "A-1", "d1", 100_00);
    invoice(&acme, "A-2", "d2", 200_00);
    invoice(&globex, "G-1", "d1", 300_00);
    // Each debtor has its own email address per tenant: d1 gets two.
    let mut emails = Vec::new();
    wait_until("three emails", || {
        emails = sink.received();
        emails.len() >= 3
    });
    let (_, path) = link_from_email(&sink, "ap@d1.example", &server.base);
    let browser = Browser::new(&server.base);
    let page = browser.get(&path);
    assert_eq!(page.status, 200);
    // Whichever tenant's email came first, its page shows only its own.
    let (mine, theirs) = if page.body.contains("Acme Debtor") {
        (
            ("A-1", "EUR 100.00"),
            [("A-2", "Acme Other Debtor"), ("G-1", "Globex Debtor")],
        )
    } else {
        (
            ("G-1", "EUR 300.00"),
            [("A-2", "Acme Other Debtor"), ("A-1", "Acme Debtor")],
        )
    };
    assert!(
        page.body.contains(mine.0) && page.body.contains(mine.1),
        "{}",
        page.body
    );
    for (invoice, name) in theirs {
        assert!(
            !page.body.contains(invoice) && !page.body.contains(name),
            "{invoice}: {}",
            page.body
        );
    }
    // Another debtor's invoices and offers cannot be acted on.
    let offer = acme.get("/v1/debtors/d2/offers").body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (invoice, _) in theirs {
        let bad = browser.post(
            &format!("{path}/dispute"),
            &[("invoice", invoice), ("reason", "not mine")],
        );
        assert_eq!(bad.status, 422, "{invoice}");
        assert!(bad.body.contains("Choose one of your open invoices."));
        let bad = browser.post(&format!("{path}/pay"), &[("invoice", invoice)]);
        assert_eq!(bad.status, 422, "{invoice}");
    }
    let bad = browser.post(&format!("{path}/plan"), &[("offer", &offer)]);
    assert_eq!(bad.status, 422);
    assert!(!bad.body.contains("Acme Other Debtor"));
    assert_eq!(acme.get("/v1/invoices/A-2").body["status"], "open");
    assert_eq!(globex.get("/v1/invoices/G-1").body["status"], "open");
    assert_eq!(acme.get("/v1/invoices/A-1").body["status"], "open");
    let offers = acme.get("/v1/debtors/d2/offers").body;
    assert_eq!(offers[0]["status"], "open", "{offers:#}");
    for (client, debtor) in [(&acme, "d1"), (&acme, "d2"), (&globex, "d1")] {
        let history = timeline(client, debtor);
        assert!(events(&history, "dispute.opened").is_empty());
        assert!(events(&history, "offer.accepted").is_empty());
    }
}
