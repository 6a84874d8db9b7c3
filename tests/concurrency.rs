//! Many clients at once over real HTTP against one server: some ingest
//! invoices (bulk and one by one, each invoice sent many times) for shared
//! debtors while others record partial payments against those same
//! invoices; some payments are retried with the same `Idempotency-Key` (a
//! timeout-retry, sequential or overlapping) and some re-sent with the same
//! payment `external_id`. Then: no lost update, no duplicate, no
//! over-payment, statuses that follow the open amounts, and every invoice
//! created exactly once, all reckoned from the replies the clients got.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Client, Reply, Server};

const DEBTORS: usize = 6;
const PER_DEBTOR: usize = 30;
/// Invoices `0..TARGETED` of each debtor get allocated payments; the rest
/// only money paid "oldest due first".
const TARGETED: usize = 24;
const BULK_THREADS: usize = 4;
const SINGLE_THREADS: usize = 2;
const PAYER_THREADS: usize = 10;
/// Readers list invoices and payments throughout, checking what they see.
const READER_THREADS: usize = 2;
const ATTEMPTS: usize = 100;
const RECEIVED_ON: &str = "2024-06-01";

fn debtor_id(d: usize) -> String {
    format!("cust-{d}")
}

fn invoice_id(d: usize, i: usize) -> String {
    format!("inv-{d}-{i:02}")
}

fn invoice_amount(d: usize, i: usize) -> i64 {
    5_000 + 250 * ((d * PER_DEBTOR + i) % 7) as i64
}

/// The one body every sender uses for this invoice.
fn invoice_body(d: usize, i: usize) -> Value {
    json!({
        "external_id": invoice_id(d, i),
        "debtor_id": debtor_id(d),
        "currency": "EUR",
        "amount": invoice_amount(d, i),
        "issued_on": format!("2024-01-{:02}", i + 1),
        "due_on": format!("2024-03-{:02}", i + 1),
    })
}

fn all_invoices() -> Vec<(usize, usize)> {
    (0..DEBTORS)
        .flat_map(|d| (0..PER_DEBTOR).map(move |i| (d, i)))
        .collect()
}

/// xorshift64*: the same run every time.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % n
    }
}

fn replayed(reply: &Reply) -> bool {
    reply.header("idempotent-replayed") == Some("true")
}

/// What one thread saw.
#[derive(Default)]
struct Log {
    /// Invoices this thread's (non-replayed) replies say were created.
    created: usize,
    unchanged: usize,
    /// Invoice items sent in requests that were not replays.
    sent: usize,
    /// Every successful payment reply body (replays and re-sends included).
    accepted: Vec<Value>,
    /// Refused payments: the request and the reply.
    refused: Vec<(Value, Reply)>,
    /// Retries checked: (idempotency-key pairs, external-id pairs).
    key_retries: usize,
    external_retries: usize,
    /// Retries whose first attempt was sent and its connection dropped.
    hung_up: usize,
    /// … of which the retry was answered with the first attempt's reply.
    hung_up_replayed: usize,
    /// Anything that must not happen, described.
    wrong: Vec<String>,
}

impl Log {
    fn payment(&mut self, request: &Value, reply: Reply) -> Option<String> {
        match reply.status {
            200 | 201 => {
                let id = reply.body["id"].as_str().map(str::to_owned);
                if id.is_none() {
                    self.wrong
                        .push(format!("a payment without an id: {reply:?}"));
                }
                if let Some(allocations) = request.get("allocations")
                    && reply.body["allocations"] != *allocations
                {
                    self.wrong.push(format!(
                        "allocated {allocations}, recorded {}",
                        reply.body["allocations"]
                    ));
                }
                if reply.body["amount"] != request["amount"] {
                    self.wrong
                        .push(format!("paid {request}, recorded {}", reply.body));
                }
                self.accepted.push(reply.body);
                id
            }
            _ => {
                self.refused.push((request.clone(), reply));
                None
            }
        }
    }

    /// Two attempts at the same payment: at most one payment between them.
    fn same_payment(&mut self, what: &str, a: Option<String>, b: Option<String>) {
        if let (Some(a), Some(b)) = (&a, &b)
            && a != b
        {
            self.wrong.push(format!("{what}: two payments {a} and {b}"));
        }
    }
}

/// Sends `POST /v1/payments` on a connection of its own and closes it
/// without waiting for the reply (a client timing out).
fn send_and_hang_up(base: &str, api_key: &str, body: &Value, key: &str) {
    let host = base.strip_prefix("http://").expect("an http:// base");
    let body = body.to_string(); // the bytes `Client::post_with` sends
    let request = format!(
        "POST /v1/payments HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {api_key}\r\n\
         Content-Type: application/json\r\nIdempotency-Key: {key}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(host).expect("connect");
    stream.write_all(request.as_bytes()).expect("send");
    let _ = stream.shutdown(Shutdown::Both);
}

/// Sends bulk requests: all invoices, in chunks of a size and order of its own.
fn bulk_ingester(client: &Client, t: usize, start: &Barrier) -> Log {
    let mut log = Log::default();
    let mut items = all_invoices();
    items.rotate_left(t * 11);
    if t % 2 == 1 {
        items.reverse();
    }
    start.wait();
    for (n, chunk) in items.chunks(5 + t * 2).enumerate() {
        let body = Value::Array(chunk.iter().map(|&(d, i)| invoice_body(d, i)).collect());
        // Thread 0 sends each chunk with a key, and sends it again.
        let key = format!("bulk-{t}-{n}");
        let headers: &[(&str, &str)] = if t == 0 {
            &[("Idempotency-Key", &key)]
        } else {
            &[]
        };
        let reply = client.post_with("/v1/invoices/bulk", &body, headers);
        if reply.status != 200 {
            log.wrong.push(format!("bulk ingest: {reply:?}"));
            continue;
        }
        let count = |f: &str| reply.body[f].as_u64().unwrap_or(u64::MAX) as usize;
        if count("received") != chunk.len()
            || count("rejected") != 0
            || count("created") + count("unchanged") != chunk.len()
        {
            log.wrong.push(format!(
                "bulk ingest of {} items: {}",
                chunk.len(),
                reply.body
            ));
        }
        log.sent += chunk.len();
        log.created += count("created");
        log.unchanged += count("unchanged");
        if t == 0 {
            let again = client.post_with("/v1/invoices/bulk", &body, headers);
            if again.status != 200 || again.body != reply.body || !replayed(&again) {
                log.wrong.push(format!(
                    "a retried bulk ingest is not the first reply replayed: {again:?} vs {:?}",
                    reply.body
                ));
            }
        }
    }
    log
}

/// Creates every invoice one by one (thread 1: with a key, and retried).
fn single_creator(client: &Client, t: usize, start: &Barrier) -> Log {
    let mut log = Log::default();
    let mut items = all_invoices();
    items.rotate_left(7 + t * 17);
    if t == 0 {
        items.reverse();
    }
    start.wait();
    for &(d, i) in &items {
        let body = invoice_body(d, i);
        let key = format!("single-{t}-{d}-{i}");
        let headers: &[(&str, &str)] = if t == 1 {
            &[("Idempotency-Key", &key)]
        } else {
            &[]
        };
        let reply = client.post_with("/v1/invoices", &body, headers);
        match reply.status {
            201 => log.created += 1,
            200 => log.unchanged += 1,
            _ => log
                .wrong
                .push(format!("create {}: {reply:?}", invoice_id(d, i))),
        }
        log.sent += 1;
        if reply.status == 201 || reply.status == 200 {
            for field in ["id", "amount", "debtor_id", "due_on"] {
                let expected = match field {
                    "id" => &body["external_id"],
                    f => &body[f],
                };
                if reply.body[field] != *expected {
                    log.wrong
                        .push(format!("created {body}, got {}", reply.body));
                }
            }
        }
        if t == 1 {
            let again = client.post_with("/v1/invoices", &body, headers);
            if again.status != reply.status || again.body != reply.body || !replayed(&again) {
                log.wrong.push(format!(
                    "a retried create is not the first reply replayed: {again:?} vs {reply:?}"
                ));
            }
        }
    }
    log
}

/// Records payments: partial ones against chosen invoices, some retried
/// with the same key, some re-sent with the same external id, some left to
/// be allocated oldest due first.
fn payer(client: &Client, base: &str, t: usize, start: &Barrier) -> Log {
    let mut log = Log::default();
    let mut rng = Rng::new(t as u64 + 1);
    start.wait();
    for k in 0..ATTEMPTS {
        let d = rng.below(DEBTORS as u64) as usize;
        let i = rng.below(TARGETED as u64) as usize;
        let amount = 500 + 100 * rng.below(36) as i64; // 5.00 to 40.00
        let mut request = json!({
            "debtor_id": debtor_id(d),
            "currency": "EUR",
            "amount": amount,
            "received_on": RECEIVED_ON,
            "allocations": [{ "invoice_id": invoice_id(d, i), "amount": amount }],
        });
        let key = format!("pay-{t}-{k}");
        let keyed: &[(&str, &str)] = &[("Idempotency-Key", &key)];
        // Some timeout-retries lose the first attempt's connection: whether
        // it happened is unknown, so the client retries with the same key.
        // (Only for an invoice that exists: a refusal stays a refusal then,
        // so a late first attempt cannot succeed after a refused retry.)
        let hang_up = k % 10 == 6
            && client
                .get(&format!("/v1/invoices/{}", invoice_id(d, i)))
                .status
                == 200;
        match k % 5 {
            1 if hang_up => {
                send_and_hang_up(base, client.key().unwrap_or(""), &request, &key);
                let retry = client.post_with("/v1/payments", &request, keyed);
                log.hung_up_replayed += usize::from(replayed(&retry));
                log.payment(&request, retry);
                log.key_retries += 1;
                log.hung_up += 1;
            }
            // Plain.
            0 => {
                let reply = client.post("/v1/payments", &request);
                log.payment(&request, reply);
            }
            // A timeout-retry: the same key again once the first returned.
            1 => {
                let first = client.post_with("/v1/payments", &request, keyed);
                let first_ok = first.status == 201;
                let first_body = first.body.clone();
                let a = log.payment(&request, first);
                let second = client.post_with("/v1/payments", &request, keyed);
                if first_ok
                    && (second.status != 201 || second.body != first_body || !replayed(&second))
                {
                    log.wrong.push(format!(
                        "key {key}: the retry is not the first reply replayed: {second:?} vs {first_body}"
                    ));
                }
                let b = log.payment(&request, second);
                log.same_payment(&key, a, b);
                log.key_retries += 1;
                // The key again for another payment: a conflict, not a payment
                // (a key is bound only by a successful first reply).
                if first_ok && k % 10 == 1 {
                    let mut other = request.clone();
                    other["amount"] = json!(1);
                    other["allocations"][0]["amount"] = json!(1);
                    let reply = client.post_with("/v1/payments", &other, keyed);
                    if reply.status != 409 {
                        log.wrong
                            .push(format!("key {key} reused for another payment: {reply:?}"));
                        log.payment(&other, reply);
                    }
                }
            }
            // A retry sent while the first is still in flight.
            2 => {
                let (first, second) = std::thread::scope(|s| {
                    let other = s.spawn(|| client.post_with("/v1/payments", &request, keyed));
                    let mine = client.post_with("/v1/payments", &request, keyed);
                    (mine, other.join().expect("retry thread"))
                });
                let a = log.payment(&request, first);
                let b = log.payment(&request, second);
                log.same_payment(&key, a, b);
                log.key_retries += 1;
            }
            // The same payment reported twice by its external id.
            3 => {
                let external = format!("ext-{t}-{k}");
                request["external_id"] = json!(external);
                let first = client.post("/v1/payments", &request);
                let first_created = first.status == 201;
                let a = log.payment(&request, first);
                let second = client.post("/v1/payments", &request);
                if first_created && second.status != 200 {
                    log.wrong.push(format!("{external} re-sent: {second:?}"));
                }
                let b = log.payment(&request, second);
                log.same_payment(&external, a, b);
                log.external_retries += 1;
            }
            // Oldest due first, reported twice at once by its external id.
            _ => {
                let external = format!("ext-{t}-{k}");
                let small = 300 + 100 * rng.below(10) as i64;
                let request = json!({
                    "external_id": external,
                    "debtor_id": debtor_id(d),
                    "currency": "EUR",
                    "amount": small,
                    "received_on": RECEIVED_ON,
                });
                let (first, second) = std::thread::scope(|s| {
                    let other = s.spawn(|| client.post("/v1/payments", &request));
                    let mine = client.post("/v1/payments", &request);
                    (mine, other.join().expect("re-send thread"))
                });
                let a = log.payment(&request, first);
                let b = log.payment(&request, second);
                log.same_payment(&external, a, b);
                log.external_retries += 1;
            }
        }
    }
    log
}

/// Reads while the others write: every snapshot must be consistent (status
/// follows the open amount, nothing negative) and nothing goes backwards
/// (no invoice disappears, no open amount grows, no payment vanishes).
fn reader(client: &Client, start: &Barrier, writers_done: &AtomicUsize, writers: usize) -> Log {
    let mut log = Log::default();
    let mut open_seen: BTreeMap<String, i64> = BTreeMap::new();
    let mut payments_seen = [0usize; DEBTORS];
    let mut rounds = 0;
    start.wait();
    let began = Instant::now();
    loop {
        // Read once more after the last writer is done.
        let last = writers_done.load(Ordering::SeqCst) >= writers;
        let invoices = list_invoices(client);
        if invoices.len() < open_seen.len() {
            log.wrong.push(format!(
                "{} invoices listed after {}",
                invoices.len(),
                open_seen.len()
            ));
        }
        for invoice in &invoices {
            let id = invoice["id"].as_str().unwrap_or("?").to_owned();
            let amount = invoice["amount"].as_i64().unwrap_or(-1);
            let open = invoice["open_amount"].as_i64().unwrap_or(-1);
            let want = match open {
                0 => "paid",
                o if o == amount => "open",
                o if o > 0 && o < amount => "partially-paid",
                _ => "(impossible)",
            };
            if invoice["status"] != want {
                log.wrong.push(format!("inconsistent snapshot: {invoice}"));
            }
            if let Some(before) = open_seen.insert(id, open)
                && open > before
            {
                log.wrong.push(format!(
                    "open amount went from {before} up to {open}: {invoice}"
                ));
            }
        }
        for (d, seen) in payments_seen.iter_mut().enumerate() {
            let reply = client.get(&format!("/v1/debtors/{}/payments", debtor_id(d)));
            let count = reply.body.as_array().map_or(0, Vec::len);
            if reply.status != 200 || count < *seen {
                log.wrong.push(format!(
                    "debtor {d}: {count} payments after {seen}: {reply:?}"
                ));
            }
            *seen = count;
        }
        rounds += 1;
        if last {
            break;
        }
        if began.elapsed() > Duration::from_secs(120) {
            log.wrong.push("the writers never finished".into());
            break;
        }
    }
    eprintln!("a reader read everything {rounds} times");
    log
}

/// Counts a finished writer when dropped.
struct Done<'a>(&'a AtomicUsize);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Every invoice, walking the pages.
fn list_invoices(client: &Client) -> Vec<Value> {
    let mut items = Vec::new();
    let mut path = "/v1/invoices?limit=7".to_owned();
    loop {
        let reply = client.get(&path);
        assert_eq!(reply.status, 200, "{reply:#?}");
        items.extend(
            reply.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .cloned(),
        );
        match reply.body["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/invoices?limit=7&cursor={c}"),
            None => return items,
        }
    }
}

/// The fields a refused payment may name: the invoice (missing, or paid),
/// the allocation's amount (more than is owed), or the payment's amount
/// (more than the debtor owes, for one allocated oldest due first).
fn acceptable_refusal(reply: &Reply) -> bool {
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    reply.status == 422
        && fields.len() == 1
        && [
            "allocations[0].invoice_id",
            "allocations[0].amount",
            "amount",
        ]
        .contains(&fields[0])
}

#[test]
fn concurrent_ingest_and_payments_lose_nothing_and_duplicate_nothing() {
    let began = Instant::now();
    let server = Server::start();
    let (_admin, client) = server.tenant("acme");
    let key = client.key().expect("a key").to_owned();
    for d in 0..DEBTORS {
        let reply = client.post(
            "/v1/debtors",
            &json!({ "external_id": debtor_id(d), "name": format!("Customer {d}") }),
        );
        assert_eq!(reply.status, 201, "{reply:#?}");
    }

    let writers = BULK_THREADS + SINGLE_THREADS + PAYER_THREADS;
    let threads = writers + READER_THREADS;
    let start = Barrier::new(threads);
    let writers_done = AtomicUsize::new(0);
    let logs: Vec<Log> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for n in 0..threads {
            let client = server.client(&key);
            let (start, writers_done, base) = (&start, &writers_done, server.base.as_str());
            handles.push(s.spawn(move || {
                // Counted even if the thread panics, so readers stop.
                let _done = (n < writers).then(|| Done(writers_done));
                if n < BULK_THREADS {
                    bulk_ingester(&client, n, start)
                } else if n < BULK_THREADS + SINGLE_THREADS {
                    single_creator(&client, n - BULK_THREADS, start)
                } else if n < writers {
                    payer(&client, base, n - BULK_THREADS - SINGLE_THREADS, start)
                } else {
                    reader(&client, start, writers_done, writers)
                }
            }));
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("a client thread panicked"))
            .collect()
    });
    let concurrent_phase = began.elapsed();

    // Nothing unexpected was said to any client.
    let wrong: Vec<&String> = logs.iter().flat_map(|l| &l.wrong).collect();
    assert!(wrong.is_empty(), "{} problems:\n{wrong:#?}", wrong.len());
    let unexpected: Vec<&(Value, Reply)> = logs
        .iter()
        .flat_map(|l| &l.refused)
        .filter(|(_, r)| !acceptable_refusal(r))
        .collect();
    assert!(
        unexpected.is_empty(),
        "refusals other than 422 for money or a missing invoice: {unexpected:#?}"
    );

    // Every invoice created exactly once.
    let invoices = all_invoices();
    let created: usize = logs.iter().map(|l| l.created).sum();
    let unchanged: usize = logs.iter().map(|l| l.unchanged).sum();
    let sent: usize = logs.iter().map(|l| l.sent).sum();
    assert_eq!(created, invoices.len(), "invoices created, by the replies");
    assert_eq!(
        created + unchanged,
        sent,
        "every item sent is created or unchanged"
    );
    assert_eq!(sent, invoices.len() * (BULK_THREADS + SINGLE_THREADS));
    let listed = list_invoices(&client);
    assert_eq!(listed.len(), invoices.len(), "invoices listed");
    let listed_ids: BTreeSet<&str> = listed
        .iter()
        .map(|i| i["id"].as_str().expect("id"))
        .collect();
    assert_eq!(listed_ids.len(), invoices.len(), "an invoice listed twice");
    let expected_ids: Vec<String> = invoices.iter().map(|&(d, i)| invoice_id(d, i)).collect();
    assert_eq!(
        listed_ids,
        expected_ids
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
    );

    // The payments the replies accepted, by id; the same id always the same payment.
    let mut accepted: BTreeMap<String, Value> = BTreeMap::new();
    for body in logs.iter().flat_map(|l| &l.accepted) {
        let id = body["id"].as_str().expect("id").to_owned();
        if let Some(seen) = accepted.get(&id) {
            for field in [
                "debtor_id",
                "amount",
                "allocations",
                "external_id",
                "received_on",
            ] {
                assert_eq!(seen[field], body[field], "payment {id} told two ways");
            }
        } else {
            accepted.insert(id, body.clone());
        }
    }
    let refused_for_money = logs
        .iter()
        .flat_map(|l| &l.refused)
        .filter(|(_, r)| {
            r.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("more than") || d.contains("takes no payment"))
        })
        .count();
    let attempts = PAYER_THREADS * ATTEMPTS;
    let key_retries: usize = logs.iter().map(|l| l.key_retries).sum();
    let external_retries: usize = logs.iter().map(|l| l.external_retries).sum();
    let hung_up: usize = logs.iter().map(|l| l.hung_up).sum();
    let hung_up_replayed: usize = logs.iter().map(|l| l.hung_up_replayed).sum();
    eprintln!(
        "{attempts} payment attempts ({key_retries} retried with a key, {hung_up} of them after hanging up ({hung_up_replayed} replayed), {external_retries} re-sent by external id): \
         {} payments recorded, {} refusals ({refused_for_money} for paying more than owed or a paid invoice); \
         concurrent phase {concurrent_phase:?}",
        accepted.len(),
        logs.iter().map(|l| l.refused.len()).sum::<usize>(),
    );
    assert!(refused_for_money > 0, "the test never tried to over-pay");
    assert!(
        accepted.len() > 20,
        "too few payments went through to test anything"
    );

    // What the server kept: exactly the accepted payments, no more.
    verify(&client, &accepted);

    // Sequentially now, the edges: one cent too many is refused and not
    // recorded; exactly what is owed pays it off.
    let listed = list_invoices(&client);
    let partial = listed
        .iter()
        .find(|i| i["status"] == "partially-paid" || i["status"] == "open")
        .expect("an invoice with money open");
    let open = partial["open_amount"].as_i64().unwrap();
    let (id, debtor) = (
        partial["id"].as_str().unwrap(),
        partial["debtor_id"].as_str().unwrap(),
    );
    let pay = |amount: i64, key: &str| {
        client.post_with(
            "/v1/payments",
            &json!({
                "debtor_id": debtor, "currency": "EUR", "amount": amount, "received_on": RECEIVED_ON,
                "allocations": [{ "invoice_id": id, "amount": amount }],
            }),
            &[("Idempotency-Key", key)],
        )
    };
    pay(open + 1, "edge-1").assert_problem(422, Some("allocations[0].amount"));
    let paid = pay(open, "edge-2");
    assert_eq!(paid.status, 201, "{paid:#?}");
    let replay = pay(open, "edge-2");
    assert!(replayed(&replay) && replay.body == paid.body, "{replay:#?}");
    pay(1, "edge-3").assert_problem(422, Some("allocations[0].invoice_id"));
    accepted.insert(
        paid.body["id"].as_str().unwrap().to_owned(),
        paid.body.clone(),
    );
    let after = client.get(&format!("/v1/invoices/{id}"));
    assert_eq!(after.body["status"], "paid", "{after:#?}");
    assert_eq!(after.body["open_amount"], 0, "{after:#?}");
    assert_eq!(after.body["paid_on"], RECEIVED_ON, "{after:#?}");
    verify(&client, &accepted);

    assert!(
        began.elapsed() < Duration::from_secs(60),
        "took {:?}",
        began.elapsed()
    );
}

/// Checks the server against the payments the clients were told of.
fn verify(client: &Client, accepted: &BTreeMap<String, Value>) {
    // No lost update, no over-payment, statuses that follow the money.
    let mut paid: BTreeMap<String, i64> = BTreeMap::new();
    for payment in accepted.values() {
        for a in payment["allocations"].as_array().expect("allocations") {
            *paid
                .entry(a["invoice_id"].as_str().unwrap().to_owned())
                .or_default() += a["amount"].as_i64().unwrap();
        }
        assert_eq!(payment["unapplied"], 0, "{payment}");
    }
    let listed = list_invoices(client);
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let (mut owed, mut owing) = (0, 0);
    for invoice in &listed {
        let id = invoice["id"].as_str().unwrap();
        let amount = invoice["amount"].as_i64().unwrap();
        let open = invoice["open_amount"].as_i64().unwrap();
        let expected = amount - paid.get(id).copied().unwrap_or(0);
        assert_eq!(
            open, expected,
            "invoice {id}: amount {amount} minus accepted payments: {invoice}"
        );
        assert!(open >= 0, "over-paid: {invoice}");
        let status = invoice["status"].as_str().unwrap();
        let want = if open == 0 {
            "paid"
        } else if open < amount {
            "partially-paid"
        } else {
            "open"
        };
        assert_eq!(status, want, "{invoice}");
        assert_eq!(invoice["paid_on"].is_null(), open != 0, "{invoice}");
        *statuses.entry(status.to_owned()).or_default() += 1;
        if open > 0 {
            owed += open;
            owing += 1;
        }
    }
    eprintln!("invoices by status: {statuses:?}; {owed} cents still owed on {owing} invoices");

    // No duplicate: each debtor's payments are exactly those accepted.
    for d in 0..DEBTORS {
        let reply = client.get(&format!("/v1/debtors/{}/payments", debtor_id(d)));
        assert_eq!(reply.status, 200, "{reply:#?}");
        let stored = reply.body.as_array().expect("payments");
        let mine: BTreeMap<&String, &Value> = accepted
            .iter()
            .filter(|(_, p)| p["debtor_id"] == debtor_id(d))
            .collect();
        assert_eq!(stored.len(), mine.len(), "debtor {d}'s payment count");
        for p in stored {
            let id = p["id"].as_str().unwrap().to_owned();
            let told = mine
                .get(&id)
                .unwrap_or_else(|| panic!("payment {id} was recorded but no client was told: {p}"));
            assert_eq!(p["amount"], told["amount"], "{p}");
            assert_eq!(p["allocations"], told["allocations"], "{p}");
            assert_eq!(p["external_id"], told["external_id"], "{p}");
        }
    }

    // And the aging report agrees with the invoices.
    let reply = client.get("/v1/aging?as_of=2024-12-31&currency=EUR");
    assert_eq!(reply.status, 200, "{reply:#?}");
    let total = match reply.body["currencies"].as_array().map(Vec::as_slice) {
        Some([eur]) => (
            eur["total"]["amount"].as_i64().unwrap(),
            eur["total"]["invoices"].as_i64().unwrap(),
        ),
        Some([]) => (0, 0),
        _ => panic!("{reply:#?}"),
    };
    assert_eq!(total, (owed, owing), "aging total on 2024-12-31");
}

/// Writes acknowledged with a 2xx are on disk: the server is killed with
/// SIGKILL while eight clients are writing, restarted on the same file, and
/// every acknowledged invoice and payment is there.
#[test]
fn every_acknowledged_write_survives_a_kill() {
    let mut server = Server::start();
    let (_, client) = server.tenant("acme");
    let debtor = json!({ "external_id": "d", "name": "D" });
    assert_eq!(client.post("/v1/debtors", &debtor).status, 201);
    let acknowledged: Vec<(Vec<String>, Vec<String>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|t| {
                let client = client.clone();
                scope.spawn(move || {
                    let (mut invoices, mut payments) = (Vec::new(), Vec::new());
                    for n in 0.. {
                        let id = format!("k-{t}-{n}");
                        let body = json!({
                            "external_id": id, "debtor_id": "d", "currency": "EUR", "amount": 1000,
                            "issued_on": "2024-01-01", "due_on": "2024-02-01",
                        });
                        let Some(reply) = client.try_request("POST", "/v1/invoices", Some(body.to_string().as_bytes()), &[]) else {
                            break;
                        };
                        assert_eq!(reply.status, 201, "{reply:?}");
                        invoices.push(id.clone());
                        let pay = json!({
                            "debtor_id": "d", "currency": "EUR", "amount": 400, "received_on": "2024-03-01",
                            "allocations": [{ "invoice_id": id, "amount": 400 }],
                        });
                        let Some(reply) = client.try_request("POST", "/v1/payments", Some(pay.to_string().as_bytes()), &[]) else {
                            break;
                        };
                        assert_eq!(reply.status, 201, "{reply:?}");
                        payments.push(reply.body["id"].as_str().unwrap().to_owned());
                    }
                    (invoices, payments)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(700));
        server.kill();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let invoices: Vec<&String> = acknowledged.iter().flat_map(|(i, _)| i).collect();
    let payments: Vec<&String> = acknowledged.iter().flat_map(|(_, p)| p).collect();
    assert!(
        invoices.len() > 50,
        "too few writes before the kill to mean anything: {}",
        invoices.len()
    );

    let restarted = Server::start_on(&server.db);
    let client = restarted.client(client.key().unwrap());
    for id in &invoices {
        let reply = client.get(&format!("/v1/invoices/{id}"));
        assert_eq!(
            reply.status, 200,
            "acknowledged invoice {id} lost: {reply:?}"
        );
    }
    for id in &payments {
        let reply = client.get(&format!("/v1/payments/{id}"));
        assert_eq!(
            reply.status, 200,
            "acknowledged payment {id} lost: {reply:?}"
        );
    }
    // The balances agree with the payments that survived.
    let all_payments = client.get("/v1/debtors/d/payments").body;
    let mut paid: BTreeMap<String, i64> = BTreeMap::new();
    for p in all_payments.as_array().unwrap() {
        *paid
            .entry(
                p["allocations"][0]["invoice_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
            .or_default() += 400;
    }
    for invoice in list_invoices(&client) {
        let id = invoice["id"].as_str().unwrap();
        let expected = 1000 - paid.get(id).copied().unwrap_or(0);
        assert_eq!(invoice["open_amount"], expected, "{invoice}");
    }
}
