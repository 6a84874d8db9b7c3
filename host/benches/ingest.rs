//! Ingest benchmark: invoices per second into a running `dun serve` over
//! real HTTP, each response durable (committed with synchronous=FULL)
//! before it is sent.
//!
//! - single: one invoice per POST /v1/invoices, 32 concurrent clients;
//! - bulk: POST /v1/invoices/bulk with 10,000 invoices per request.
//!
//! Run: `cargo bench -p dun --bench ingest`. Prints rates; asserts nothing
//! about time (targets: ≥10,000 single POSTs/s, ≥100,000 invoices/s bulk on
//! a 2-core machine).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const CLIENTS: usize = 32;
const SINGLE: usize = 40_000;
const BULK_REQUESTS: usize = 30;
const BULK_SIZE: usize = 10_000;
const DEBTORS: usize = 1_000;

fn dun() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dun"))
}

fn stdout_of(command: &mut Command) -> String {
    let out = command.output().expect("run dun");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bench.db");
    let db_arg = db.to_str().unwrap();
    stdout_of(dun().args(["tenant", "create", "bench", "--db", db_arg]));
    let key = stdout_of(dun().args([
        "key", "create", "--tenant", "bench", "--role", "client", "--db", db_arg,
    ]));
    let mut child = dun()
        .args(["serve", "--listen", "127.0.0.1:0", "--db", db_arg])
        .env("DUN_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("server output").unwrap();
        if let Some(url) = line.strip_prefix("dun listening on ") {
            break url.to_owned();
        }
    };
    let server = Server { child, base };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(&server.base, &key));
    drop(server);
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn post(
    client: &HttpClient,
    url: &str,
    key: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Bytes) {
    let request = hyper::Request::post(url)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = client.request(request).await.expect("request");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

async fn bulk_request(client: &HttpClient, url: &str, key: &str, body: Vec<u8>) {
    let (status, reply) = post(client, url, key, "application/json", body).await;
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(status, 200);
    assert_eq!(reply["created"], BULK_SIZE, "{reply}");
}

fn invoice(n: usize) -> serde_json::Value {
    serde_json::json!({
        "external_id": format!("inv-{n}"),
        "debtor_id": format!("cust-{}", n % DEBTORS),
        "currency": "EUR",
        "amount": 1000 + (n % 50_000) as i64,
        "issued_on": "2026-10-01",
        "due_on": "2026-10-31",
    })
}

async fn run(base: &str, key: &str) {
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(CLIENTS)
        .build_http();
    let client = Arc::new(client);

    for d in 0..DEBTORS {
        let body = serde_json::to_vec(&serde_json::json!({ "external_id": format!("cust-{d}"), "name": format!("Customer {d}") })).unwrap();
        let (status, _) = post(
            &client,
            &format!("{base}/v1/debtors"),
            key,
            "application/json",
            body,
        )
        .await;
        assert_eq!(status, 201);
    }

    // Single POSTs, 32 clients.
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (client, next, url, key) = (
                client.clone(),
                next.clone(),
                format!("{base}/v1/invoices"),
                key.to_owned(),
            );
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= SINGLE {
                        break;
                    }
                    let (status, body) = post(
                        &client,
                        &url,
                        &key,
                        "application/json",
                        serde_json::to_vec(&invoice(n)).unwrap(),
                    )
                    .await;
                    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let single = SINGLE as f64 / started.elapsed().as_secs_f64();

    // Bulk, one request at a time: each is one group commit.
    let bodies: Vec<Vec<u8>> = (0..BULK_REQUESTS)
        .map(|r| {
            let items: Vec<_> = (0..BULK_SIZE)
                .map(|i| invoice(SINGLE + r * BULK_SIZE + i))
                .collect();
            serde_json::to_vec(&items).unwrap()
        })
        .collect();
    let mut bodies = bodies.into_iter();
    let sequential: Vec<Vec<u8>> = bodies.by_ref().take(BULK_REQUESTS / 2).collect();
    let concurrent: Vec<Vec<u8>> = bodies.collect();
    let url = format!("{base}/v1/invoices/bulk");
    let started = Instant::now();
    for body in sequential {
        bulk_request(&client, &url, key, body).await;
    }
    let bulk_one = (BULK_REQUESTS / 2 * BULK_SIZE) as f64 / started.elapsed().as_secs_f64();
    // Two clients at once: one request's parsing overlaps the other's write.
    let started = Instant::now();
    let count = concurrent.len();
    let mut halves = concurrent.into_iter();
    let first: Vec<Vec<u8>> = halves.by_ref().take(count / 2).collect();
    let second: Vec<Vec<u8>> = halves.collect();
    let tasks: Vec<_> = [first, second]
        .into_iter()
        .map(|bodies| {
            let (client, url, key) = (client.clone(), url.clone(), key.to_owned());
            tokio::spawn(async move {
                for body in bodies {
                    bulk_request(&client, &url, &key, body).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let bulk_two = (count * BULK_SIZE) as f64 / started.elapsed().as_secs_f64();

    let request = hyper::Request::get(format!("{base}/metrics"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let metrics = client
        .request(request)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    let metrics = String::from_utf8_lossy(&metrics);
    let figure = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    };
    let (transactions, writes) = (
        figure("dun_store_transactions_total "),
        figure("dun_store_writes_total "),
    );

    println!(
        "ingest over HTTP into one SQLite file (WAL, synchronous=FULL), {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "  single POST /v1/invoices, {CLIENTS} clients: {SINGLE} invoices, {single:>9.0} invoices/s"
    );
    println!(
        "  bulk POST /v1/invoices/bulk, {BULK_SIZE} per request, 1 client:  {bulk_one:>9.0} invoices/s"
    );
    println!(
        "  bulk POST /v1/invoices/bulk, {BULK_SIZE} per request, 2 clients: {bulk_two:>9.0} invoices/s"
    );
    println!(
        "  group commit: {writes:.0} writes in {transactions:.0} transactions ({:.1} writes per commit)",
        writes / transactions.max(1.0)
    );
}
