//! Shared by the end-to-end tests: start the real `dun` binary on port 0
//! with a temporary SQLite file, make tenants and keys with its CLI, and
//! talk HTTP to it.
#![allow(dead_code)] // each test binary uses its own part of this

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub mod browser;
pub mod dashboard;
pub mod receiver;
pub mod smtp;

/// The `dun` binary under test.
pub fn dun() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dun"))
}

/// Runs a `dun` command that must succeed; its trimmed stdout.
pub fn run_ok(command: &mut Command) -> String {
    let out = command.output().expect("run dun");
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// A running `dun serve` on a temporary database. Killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
    pub db: PathBuf,
    /// What it printed before "listening" (the demo keys on first start).
    pub banner: Vec<String>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// A fresh server with its own temporary directory.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("dun.db");
        let mut server = Server::start_on(&db);
        server._dir = Some(dir);
        server
    }

    /// A fresh server with these extra environment variables.
    pub fn start_with_env(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("dun.db");
        let mut server = Server::start_on_with(&db, env);
        server._dir = Some(dir);
        server
    }

    /// A server on an existing (or new) database file.
    pub fn start_on(db: &Path) -> Server {
        Server::start_on_with(db, &[])
    }

    pub fn start_on_with(db: &Path, env: &[(&str, &str)]) -> Server {
        let mut child = dun()
            .args(["serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .env("DUN_LOG", "warn")
            // Messages the file sender writes stay beside the database.
            .env("DUN_OUTBOX_DIR", db.with_file_name("outbox"))
            .env("DUN_CACHE_DIR", db.with_file_name("cache"))
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start dun serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut banner = Vec::new();
        let base = loop {
            let line = lines
                .next()
                .expect("dun serve exited before listening")
                .expect("read stdout");
            if let Some(url) = line.strip_prefix("dun listening on ") {
                break url.to_owned();
            }
            banner.push(line);
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base,
            db: db.to_owned(),
            banner,
            _dir: None,
        }
    }

    /// Makes a tenant with the CLI; an admin and a client for it.
    pub fn tenant(&self, id: &str) -> (Client, Client) {
        run_ok(dun().args(["tenant", "create", id, "--db"]).arg(&self.db));
        let key = |role: &str| {
            run_ok(
                dun()
                    .args(["key", "create", "--tenant", id, "--role", role, "--db"])
                    .arg(&self.db),
            )
        };
        (self.client(&key("admin")), self.client(&key("client")))
    }

    /// An operator client (a new operator key, made with the CLI).
    pub fn operator(&self) -> Client {
        let key = run_ok(
            dun()
                .args(["key", "create", "--role", "operator", "--db"])
                .arg(&self.db),
        );
        self.client(&key)
    }

    pub fn client(&self, key: &str) -> Client {
        Client::new(&self.base, Some(key))
    }

    pub fn anonymous(&self) -> Client {
        Client::new(&self.base, None)
    }

    /// Stops the server (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A response: status, content type, headers, and the body as JSON (or a
/// JSON string holding the text when it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a problem+json response with this status naming `field`.
    pub fn assert_problem(&self, status: u16, field: Option<&str>) {
        assert_eq!(self.status, status, "{self:#?}");
        assert_eq!(self.content_type, "application/problem+json", "{self:#?}");
        assert_eq!(self.body["status"], status, "{self:#?}");
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{self:#?}"
        );
        if let Some(field) = field {
            let fields: Vec<&str> = self.body["errors"]
                .as_array()
                .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
                .unwrap_or_default();
            assert!(
                fields.contains(&field),
                "expected a problem on {field:?}: {self:#?}"
            );
        }
    }
}

/// A blocking HTTP client with one API key.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    key: Option<String>,
}

impl Client {
    pub fn new(base: &str, key: Option<&str>) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            base: base.to_owned(),
            key: key.map(str::to_owned),
        }
    }

    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Any request; `headers` are added as given.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.try_request(method, path, body, headers)
            .expect("HTTP exchange")
    }

    /// [`Client::request`], or `None` when the exchange itself fails (the
    /// server is gone).
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Option<Reply> {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(key) = &self.key {
            builder = builder.header("authorization", format!("Bearer {key}"));
        }
        let has_type = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !has_type {
            builder = builder.header("content-type", "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder
            .body(body.unwrap_or_default().to_vec())
            .expect("request");
        let mut response = self.agent.run(request).ok()?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Some(Reply {
            status,
            content_type,
            headers,
            body,
        })
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None, &[])
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.request("POST", path, Some(body.to_string().as_bytes()), &[])
    }

    pub fn post_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        self.request("POST", path, Some(body.to_string().as_bytes()), headers)
    }

    pub fn put(&self, path: &str, body: &Value) -> Reply {
        self.request("PUT", path, Some(body.to_string().as_bytes()), &[])
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.request("DELETE", path, None, &[])
    }
}

/// The path of the shared data set, or `None` (with a message saying so)
/// when this machine does not have it.
pub fn shared_data(file: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(file);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: the data set {} is absent on this machine (it is not committed; CI has it in ../shared/data/)",
            path.display()
        );
        None
    }
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm): dates
/// computed by hand, to check the host's own date arithmetic against.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number: the inverse of
/// [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}
