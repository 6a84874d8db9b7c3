//! The operator dashboard over real HTTP against `dun serve`: login with
//! good, bad, client and revoked keys; the session cookie and its
//! attributes; logout with its CSRF token; tenant isolation for admins and
//! the operator's picker; KPI tiles equal to `GET /v1/kpis`; the outbox
//! with a suppressed message and its reason; a debtor's timeline; HTML
//! escaping of what debtors are called.

mod support;

use serde_json::Value;
use support::dashboard::{self, HOSTILE_NAME, OTHER_NAME};

/// One HTTP exchange that does not follow redirects.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build(),
    )
}

fn exchange(
    base: &str,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
    extra: &[(&str, &str)],
) -> Answer {
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"));
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("dun_session={cookie}"));
    }
    if form.is_some() {
        request = request.header("content-type", "application/x-www-form-urlencoded");
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let request = request
        .body(form.unwrap_or_default().as_bytes().to_vec())
        .unwrap();
    let mut response = agent().run(request).expect("HTTP exchange");
    Answer {
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: response.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Logs in with `key`; the answer.
fn login_answer(base: &str, key: &str) -> Answer {
    exchange(
        base,
        "POST",
        "/dashboard/login",
        None,
        Some(&format!("key={}", form_encode(key))),
        &[],
    )
}

/// Logs in with `key`; the session token from the cookie.
fn login(base: &str, key: &str) -> String {
    let answer = login_answer(base, key);
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.header("location"), Some("/dashboard/overview"));
    let cookie = answer.header("set-cookie").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/dashboard", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    cookie
        .strip_prefix("dun_session=")
        .and_then(|rest| rest.split(';').next())
        .filter(|token| token.len() >= 40)
        .unwrap_or_else(|| panic!("a session token in {cookie}"))
        .to_owned()
}

fn page(base: &str, path: &str, session: &str) -> Answer {
    exchange(base, "GET", path, Some(session), None, &[])
}

fn assert_to_login(answer: &Answer) {
    assert_eq!(answer.status, 303, "{}", answer.body);
    assert_eq!(answer.header("location"), Some("/dashboard/login"));
}

/// The `data-value` of the tile for `key` (empty for a figure that is null).
fn tile(html: &str, key: &str) -> String {
    let marker = format!("data-kpi=\"{key}\" data-value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no tile {key}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// A figure of `GET /v1/kpis` at a dotted path, as a tile shows it.
fn served(block: &Value, key: &str) -> String {
    let value = key.split('.').fold(block, |v, part| &v[part]);
    match value {
        Value::Null => String::new(),
        Value::Number(n) => format!("{:.2}", n.as_f64().unwrap()),
        other => panic!("{key}: {other}"),
    }
}

/// Text as minijinja's HTML autoescaping writes it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

#[test]
fn login_sessions_and_logout() {
    let server = dashboard::server();
    let base = server.base.clone();
    let (admin, client) = server.tenant("acme");
    let admin_key = admin.key().unwrap().to_owned();

    // No session, or a made-up one: to the login form, which says what to do.
    assert_to_login(&exchange(
        &base,
        "GET",
        "/dashboard/overview",
        None,
        None,
        &[],
    ));
    assert_to_login(&page(&base, "/dashboard/outbox", "not-a-session-token"));
    let form = exchange(&base, "GET", "/dashboard/login", None, None, &[]);
    assert_eq!(form.status, 200);
    assert!(form.body.contains("<label for=\"key\">API key</label>"));
    assert!(
        form.header("content-security-policy")
            .is_some_and(|csp| csp.contains("script-src 'self'"))
    );

    // A bad key: the form again, 401, with the error.
    let bad = login_answer(&base, "dun_notakey");
    assert_eq!(bad.status, 401);
    assert!(bad.header("set-cookie").is_none());
    assert!(bad.body.contains("role=\"alert\""), "{}", bad.body);
    assert!(bad.body.contains("unknown or revoked API key"));
    assert!(bad.body.contains("name=\"key\""));
    // An empty one names the field.
    let empty = login_answer(&base, "  ");
    assert_eq!(empty.status, 400);
    assert!(empty.body.contains("key: enter an API key"));
    // A client key (a billing system's) cannot log in.
    let refused = login_answer(&base, client.key().unwrap());
    assert_eq!(refused.status, 403);
    assert!(refused.header("set-cookie").is_none());
    assert!(
        refused
            .body
            .contains("client key cannot open the dashboard")
    );
    // A form posted from another site is refused.
    let cross = exchange(
        &base,
        "POST",
        "/dashboard/login",
        None,
        Some(&format!("key={admin_key}")),
        &[("origin", "https://evil.example")],
    );
    assert_eq!(cross.status, 403);
    assert!(cross.header("set-cookie").is_none());

    // A good key: a session that works.
    let session = login(&base, &admin_key);
    let overview = page(&base, "/dashboard/overview", &session);
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(overview.body.contains("Overview of acme"));
    assert_eq!(overview.header("cache-control"), Some("no-store"));

    // Logout needs the session's CSRF token.
    let csrf = {
        let marker = "name=\"csrf\" value=\"";
        let start = overview.body.find(marker).expect("a CSRF field") + marker.len();
        overview.body[start..start + 64].to_owned()
    };
    let forged = exchange(
        &base,
        "POST",
        "/dashboard/logout",
        Some(&session),
        Some("csrf=0000"),
        &[],
    );
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("csrf"));
    assert_eq!(page(&base, "/dashboard/overview", &session).status, 200);
    let out = exchange(
        &base,
        "POST",
        "/dashboard/logout",
        Some(&session),
        Some(&format!("csrf={csrf}")),
        &[],
    );
    assert_to_login(&out);
    assert!(
        out.header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    assert_to_login(&page(&base, "/dashboard/overview", &session));

    // Revoking the key ends its sessions at their next request.
    let second = admin.post("/v1/keys", &serde_json::json!({ "role": "admin" }));
    assert_eq!(second.status, 201, "{second:#?}");
    let second_key = second.body["key"].as_str().unwrap();
    let session = login(&base, second_key);
    assert_eq!(page(&base, "/dashboard/plugins", &session).status, 200);
    let revoked = admin.delete(&format!("/v1/keys/{}", second.body["id"].as_str().unwrap()));
    assert!(matches!(revoked.status, 200 | 204), "{revoked:#?}");
    let after = page(&base, "/dashboard/plugins", &session);
    assert_to_login(&after);
    assert!(
        after
            .header("set-cookie")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
    let again = login_answer(&base, second_key);
    assert_eq!(again.status, 401);
}

#[test]
fn pages_show_the_seeded_data_to_whom_it_belongs() {
    let server = dashboard::server();
    let base = server.base.clone();
    let seeded = dashboard::seed(&server);
    let admin = login(&base, seeded.admin.key().unwrap());
    let operator = login(&base, seeded.operator.key().unwrap());

    // KPI tiles: the same figures as GET /v1/kpis, for the same period.
    let report = seeded.client.get("/v1/kpis").body;
    let eur = report["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["currency"] == "EUR")
        .expect("EUR figures");
    let overview = page(&base, "/dashboard/overview", &admin);
    assert_eq!(overview.status, 200, "{}", overview.body);
    for key in [
        "dso",
        "countback_dso",
        "best_possible_dso",
        "add",
        "cei",
        "collection_rate",
        "on_time_rate",
        "messages.response_rate",
        "messages.average_days_to_pay_after_first_reminder",
        "messages.messages_per_1000_collected",
    ] {
        assert_eq!(tile(&overview.body, key), served(eur, key), "{key}");
    }
    // The seeded data gives real numbers, not blanks.
    for key in [
        "dso",
        "collection_rate",
        "on_time_rate",
        "messages.response_rate",
    ] {
        assert!(!tile(&overview.body, key).is_empty(), "{key} is null");
    }
    let ending = eur["receivables"]["ending"].as_i64().unwrap();
    assert_eq!(
        tile(&overview.body, "receivables.ending"),
        format!("{}.{:02}", ending / 100, ending % 100)
    );
    // A narrower period and a strategy filter: still the API's figures.
    let narrow = "from=2026-02-01&to=2026-05-04&segment=default";
    let report = seeded.client.get(&format!("/v1/kpis?{narrow}")).body;
    let page_narrow = page(&base, &format!("/dashboard/overview?{narrow}"), &admin);
    assert_eq!(page_narrow.status, 200, "{}", page_narrow.body);
    let eur = &report["currencies"][0];
    assert_eq!(eur["currency"], "EUR", "{report:#}");
    for key in ["dso", "cei", "collection_rate"] {
        assert_eq!(tile(&page_narrow.body, key), served(eur, key), "{key}");
    }
    // The chart data and the monthly table are there.
    assert!(overview.body.contains("id=\"chart-data\""));
    assert!(overview.body.contains("<th scope=\"row\">2026-02</th>"));
    // Bad parameters are named.
    let bad = page(&base, "/dashboard/overview?from=2026-13-01", &admin);
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("from"), "{}", bad.body);
    let bad = page(&base, "/dashboard/overview?currency=eur", &admin);
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("currency:"), "{}", bad.body);

    // The outbox: the suppressed message with its reason; filters.
    let suppressed = page(&base, "/dashboard/outbox?status=suppressed", &admin);
    assert_eq!(suppressed.status, 200, "{}", suppressed.body);
    let d3 = seeded.client.get("/v1/debtors/d3/outbox").body;
    let reason = d3[0]["reason"].as_str().expect("a reason").to_owned();
    assert!(!reason.is_empty());
    let row = format!(
        "data-message=\"{}\" data-status=\"suppressed\"",
        d3[0]["id"].as_str().unwrap()
    );
    assert!(suppressed.body.contains(&row), "{}", suppressed.body);
    assert!(
        suppressed
            .body
            .contains(&format!("<td class=\"reason\">{}</td>", escaped(&reason))),
        "{reason:?} in {}",
        suppressed.body
    );
    assert!(!suppressed.body.contains("data-status=\"sent\""));
    let sent = page(&base, "/dashboard/outbox?status=sent", &admin);
    assert_eq!(sent.body.matches("data-status=\"sent\"").count(), 2);
    let bad = page(&base, "/dashboard/outbox?status=lost", &admin);
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("status: one of"));

    // A debtor's timeline, with the hostile name escaped everywhere.
    let timeline = page(&base, "/dashboard/debtors?id=d1", &admin);
    assert_eq!(timeline.status, 200, "{}", timeline.body);
    let events = seeded.client.get("/v1/debtors/d1/timeline").body;
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"message.sent") && kinds.contains(&"payment.received"));
    for kind in &kinds {
        assert!(
            timeline.body.contains(&format!("data-event=\"{kind}\"")),
            "{kind}"
        );
    }
    assert_eq!(
        timeline.body.matches("<li data-event=").count(),
        kinds.len()
    );
    assert!(!timeline.body.contains("<script>alert"));
    assert!(timeline.body.contains(&escaped(HOSTILE_NAME)));
    assert_eq!(
        escaped(HOSTILE_NAME),
        "&lt;script&gt;alert(&quot;dun&quot;)&lt;&#x2f;script&gt; &amp; Co"
    );
    for path in ["/dashboard/outbox", "/dashboard/overview"] {
        assert!(!page(&base, path, &admin).body.contains("<script>alert"));
    }
    let missing = page(&base, "/dashboard/debtors?id=nobody", &admin);
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("no debtor"));

    // Plugins and segments.
    let plugins = page(&base, "/dashboard/plugins", &admin);
    assert_eq!(plugins.status, 200, "{}", plugins.body);
    assert!(plugins.body.contains("data-plugin=\"scripted@1.0.0\""));
    assert!(
        plugins.body.contains("<td>later</td>"),
        "active in the later segment"
    );
    assert!(plugins.body.contains("data-strategy=\"scripted\""));
    // The fault, with the plugin's log tail.
    let faults = seeded.client.get("/v1/debtors/d5/evaluations").body;
    let fault = &faults[0];
    assert_eq!(fault["outcome"], "invalid-plan");
    assert!(plugins.body.contains(
        "<h3>faulty: invalid-plan for <a href=\"/dashboard/debtors?tenant=acme&amp;id=d5\">d5</a></h3>"
    ));
    let line = &fault["log"]["lines"][0];
    assert_eq!(line["message"], "faulty: 2 invoice(s)", "{fault:#}");
    assert!(plugins.body.contains(&format!(
        "[{}] {}",
        escaped(line["source"].as_str().unwrap()),
        escaped(line["message"].as_str().unwrap())
    )));
    assert!(plugins.body.contains(
        "<tr data-strategy=\"faulty\"><th scope=\"row\">faulty</th><td class=\"evaluations\">1</td><td class=\"faults\">1</td>"
    ), "{}", plugins.body);
    assert!(
        plugins
            .body
            .contains("<h3>Segment default: scripted@1.0.0 beside scripted</h3>")
    );
    let segments = page(&base, "/dashboard/segments", &admin);
    assert!(segments.body.contains("data-segment=\"later\""));
    assert!(segments.body.contains("data-segment=\"default\""));

    // An admin sees its own tenant only: naming another is refused, and
    // the other's debtor is not in this tenant.
    for path in [
        "/dashboard/overview?tenant=globex",
        "/dashboard/outbox?tenant=globex",
        "/dashboard/debtors?tenant=globex&id=g1",
        "/dashboard/plugins?tenant=globex",
    ] {
        let refused = page(&base, path, &admin);
        assert_eq!(refused.status, 403, "{path}");
        assert!(!refused.body.contains(OTHER_NAME));
    }
    let not_here = page(&base, "/dashboard/debtors?id=g1", &admin);
    assert_eq!(not_here.status, 404);
    assert!(!not_here.body.contains(OTHER_NAME));
    assert!(
        !page(&base, "/dashboard/overview", &admin)
            .body
            .contains("globex")
    );
    let other = login(&base, seeded.other_admin.key().unwrap());
    let theirs = page(&base, "/dashboard/debtors?id=d1", &other);
    assert_eq!(theirs.status, 404);
    assert!(!theirs.body.contains(&escaped(HOSTILE_NAME)));

    // The operator picks any tenant.
    let picked = page(&base, "/dashboard/overview", &operator);
    assert!(
        picked
            .body
            .contains("<option value=\"acme\" selected>acme</option>")
    );
    assert!(
        picked
            .body
            .contains("<option value=\"globex\">globex</option>")
    );
    let globex = page(&base, "/dashboard/debtors?tenant=globex&id=g1", &operator);
    assert_eq!(globex.status, 200);
    assert!(globex.body.contains(OTHER_NAME));
    let usd = page(&base, "/dashboard/overview?tenant=globex", &operator);
    assert!(usd.body.contains("Key figures in USD"), "{}", usd.body);
    let report = seeded.other_admin.get("/v1/kpis").body;
    assert_eq!(
        tile(&usd.body, "dso"),
        served(&report["currencies"][0], "dso")
    );
    let nowhere = page(&base, "/dashboard/overview?tenant=initech", &operator);
    assert_eq!(nowhere.status, 404);

    // Assets are served with long cache headers.
    let script = exchange(
        &base,
        "GET",
        "/dashboard/assets/uPlot.iife.min.js",
        None,
        None,
        &[],
    );
    assert_eq!(script.status, 200);
    assert!(
        script
            .header("cache-control")
            .is_some_and(|c| c.contains("max-age=31536000"))
    );
    assert!(script.body.contains("uPlot"));
    assert_eq!(
        exchange(
            &base,
            "GET",
            "/dashboard/assets/../../etc/passwd",
            None,
            None,
            &[]
        )
        .status,
        404
    );
}
