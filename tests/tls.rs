//! `--web.config.file` end to end: the exporter binary serving HTTPS with basic
//! authentication, mutual TLS, reloads without a restart, certificate renewal, and a real
//! Prometheus scraping it the way a user configures it.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use support::tls_client::{Client, fixture_certificate};
use support::{
    Exporter, Exposition, Moto, exchange, get_json, shared_moto, start_prometheus_with, tempdir,
    wait_until, web_fixtures,
};

const COMPLIANT: &str = "200000000001";

fn scenario() -> Value {
    json!({"accounts": [{"id": COMPLIANT, "mfa_enabled": true}]})
}

fn moto() -> &'static Moto {
    shared_moto(scenario)
}

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

const PROMETHEUS_USER: (&str, &str) = ("prometheus", "scrape-me");
const PROMETHEUS_HASH: &str = "$2b$10$uiT5XwCBZpHk7l4biRuw0e6mXvQtraamW.FBJCJfogqAO.e.0X9hO";
const GRAFANA_HASH: &str = "$2b$10$./UW7zpxKrZ..67CMTm1h.5BUbGYJcQpRckL1cLDzUS9FznVyWjQy";

/// A web configuration in a directory of its own, with copies of the server certificate, so
/// that a test can rewrite either.
struct WebDir {
    dir: PathBuf,
}

impl WebDir {
    fn new(name: &str) -> WebDir {
        let dir = tempdir(name);
        for file in ["server.crt", "server.key", "ca.crt"] {
            std::fs::copy(web_fixtures().join(file), dir.join(file)).unwrap();
        }
        WebDir { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("web.yml")
    }

    /// Replaces the configuration atomically, as an editor or a ConfigMap update does.
    fn write(&self, text: &str) {
        let tmp = self.dir.join("web.yml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.config()).unwrap();
    }

    /// Installs the certificate and key of the fixture `name` as the server's.
    fn install_certificate(&self, name: &str) {
        for ext in ["key", "crt"] {
            let tmp = self.dir.join(format!("server.{ext}.tmp"));
            std::fs::copy(web_fixtures().join(format!("{name}.{ext}")), &tmp).unwrap();
            std::fs::rename(&tmp, self.dir.join(format!("server.{ext}"))).unwrap();
        }
    }

    fn start(&self) -> Exporter {
        Exporter::start(
            &moto().env_for(COMPLIANT),
            &[
                "--web.config.file",
                self.config().to_str().unwrap(),
                "--poll.interval",
                "1h",
            ],
        )
    }
}

fn tls_with_users(users: &[(&str, &str)]) -> String {
    let mut text = String::from(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
         http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n    \
         Strict-Transport-Security: max-age=31536000\n",
    );
    if !users.is_empty() {
        text.push_str("basic_auth_users:\n");
        for (user, hash) in users {
            text.push_str(&format!("  {user}: '{hash}'\n"));
        }
    }
    text
}

/// Scrapes over TLS as `prometheus` and parses the exposition.
fn scrape(addr: SocketAddr) -> Exposition {
    let auth = basic(PROMETHEUS_USER.0, PROMETHEUS_USER.1);
    let resp = Client::new(None)
        .get(addr, "/metrics", &[("Authorization", &auth)])
        .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    Exposition::parse(&resp.text())
}

fn rejected(exposition: &Exposition, reason: &str) -> f64 {
    exposition
        .value(
            "aws_root_mfa_exporter_http_rejected_total",
            &[("reason", reason)],
        )
        .unwrap_or_else(|| panic!("no rejected_total for {reason}"))
}

#[test]
fn https_with_basic_auth_serves_metrics_and_refuses_everyone_else() {
    let web = WebDir::new("tls-auth");
    web.write(&tls_with_users(&[("prometheus", PROMETHEUS_HASH)]));
    let exporter = web.start();
    let addr = exporter.addr;
    let client = Client::new(None);

    let ok = client
        .get(
            addr,
            "/metrics",
            &[("Authorization", &basic("prometheus", "scrape-me"))],
        )
        .unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        ok.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    assert!(ok.text().contains("aws_root_mfa_exporter_build_info"));

    for (what, headers) in [
        ("no credentials", vec![]),
        (
            "a wrong password",
            vec![("Authorization", basic("prometheus", "guess"))],
        ),
        (
            "an unknown user",
            vec![("Authorization", basic("admin", "scrape-me"))],
        ),
        (
            "another scheme",
            vec![("Authorization", "Bearer scrape-me".to_owned())],
        ),
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for path in ["/metrics", "/"] {
            let resp = client.get(addr, path, &headers).unwrap();
            assert_eq!(resp.status, 401, "{what} on {path}");
            assert!(
                resp.header("www-authenticate")
                    .is_some_and(|v| v.starts_with("Basic ")),
                "{what}: {:?}",
                resp.headers
            );
            assert_eq!(resp.header("x-content-type-options"), Some("nosniff"));
            assert!(
                !resp.text().contains("aws_root_mfa"),
                "{what} leaked metrics"
            );
        }
    }

    // The probes answer without credentials, and say nothing about any account.
    for path in ["/healthz", "/readyz"] {
        let resp = client.get(addr, path, &[]).unwrap();
        assert!(matches!(resp.status, 200 | 503), "{path}: {}", resp.status);
        assert!(!resp.text().contains(COMPLIANT));
    }

    // Plain HTTP on the TLS port gets no HTTP answer, let alone metrics.
    let answer = plain_http_status(addr);
    assert!(answer != Some(200), "plain HTTP was served: {answer:?}");

    let after = scrape(addr);
    assert!(rejected(&after, "unauthorized") >= 8.0);
    assert!(rejected(&after, "tls_handshake") >= 1.0);
    assert_eq!(
        after.value(
            "aws_root_mfa_exporter_web_config_last_reload_successful",
            &[]
        ),
        Some(1.0)
    );
    let log = exporter.log();
    for secret in ["scrape-me", "$2b$10$", "Basic "] {
        assert!(!log.contains(secret), "the log holds {secret:?}:\n{log}");
    }
}

#[test]
fn an_unknown_user_costs_as_much_as_a_wrong_password_of_any_user() {
    let web = WebDir::new("tls-timing");
    // A second user whose hash is far cheaper (cost 4 against 10): its wrong passwords must
    // cost as much as anyone's, or timing tells it apart.
    let cheap = bcrypt::hash_with_salt("cheap-secret", 4, [9; 16])
        .unwrap()
        .to_string();
    web.write(&tls_with_users(&[
        ("prometheus", PROMETHEUS_HASH),
        ("cheap", &cheap),
    ]));
    let exporter = web.start();
    let client = Client::new(None);
    let time = |user: &str, password: &str| {
        let auth = basic(user, password);
        let started = Instant::now();
        let resp = client
            .get(exporter.addr, "/", &[("Authorization", &auth)])
            .unwrap();
        (started.elapsed(), resp.status)
    };
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (mut wrong, mut wrong_cheap, mut unknown, mut cached) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    assert_eq!(time("prometheus", "scrape-me").1, 200);
    assert_eq!(time("cheap", "cheap-secret").1, 200);
    // Interleaved, so that a change in machine load affects all alike.
    for _ in 0..7 {
        for (user, password, times, want) in [
            ("prometheus", "wrong", &mut wrong, 401),
            ("cheap", "wrong", &mut wrong_cheap, 401),
            ("nobody", "wrong", &mut unknown, 401),
            ("prometheus", "scrape-me", &mut cached, 200),
        ] {
            let (t, status) = time(user, password);
            assert_eq!(status, want, "{user}");
            times.push(t);
        }
    }
    let (wrong, wrong_cheap, unknown, cached) = (
        median(wrong),
        median(wrong_cheap),
        median(unknown),
        median(cached),
    );
    eprintln!(
        "median: wrong password {wrong:?}, wrong password of the cheap user {wrong_cheap:?}, \
         unknown user {unknown:?}, cached {cached:?}"
    );
    for (what, t) in [
        ("wrong password", wrong),
        ("cheap user's wrong password", wrong_cheap),
    ] {
        let ratio = unknown.as_secs_f64() / t.as_secs_f64();
        assert!(
            (0.67..1.5).contains(&ratio),
            "unknown user {unknown:?} vs {what} {t:?}: a timing difference tells which users \
             exist"
        );
    }
    // Both paths really ran bcrypt: each costs well above a request that needs none.
    assert!(
        unknown > cached * 3,
        "unknown user {unknown:?} is about as cheap as a cached success {cached:?}"
    );
}

#[test]
fn changes_to_the_file_and_the_certificate_take_effect_without_a_restart() {
    let web = WebDir::new("tls-reload");
    web.write(&tls_with_users(&[("prometheus", PROMETHEUS_HASH)]));
    let exporter = web.start();
    let addr = exporter.addr;
    let client = Client::new(None);
    let status = |user: &str, password: &str| {
        client
            .get(addr, "/", &[("Authorization", &basic(user, password))])
            .map(|r| r.status)
    };
    assert_eq!(status("prometheus", "scrape-me"), Ok(200));
    assert_eq!(status("grafana", "other"), Ok(401));

    // A user is replaced: the old one is refused at once, cache or not.
    web.write(&tls_with_users(&[("grafana", GRAFANA_HASH)]));
    assert_eq!(status("grafana", "other"), Ok(200));
    assert_eq!(status("prometheus", "scrape-me"), Ok(401));

    // A broken change is refused and the last good configuration stays in force.
    web.write("tls_server_config:\n  cert_file: [server.crt\n");
    assert_eq!(status("grafana", "other"), Ok(200));
    let broken = |user: &str, password: &str| {
        let resp = client
            .get(
                addr,
                "/metrics",
                &[("Authorization", &basic(user, password))],
            )
            .unwrap();
        Exposition::parse(&resp.text())
    };
    assert_eq!(
        broken("grafana", "other").value(
            "aws_root_mfa_exporter_web_config_last_reload_successful",
            &[]
        ),
        Some(0.0)
    );
    let log = exporter.log();
    assert_eq!(
        log.matches("web configuration change rejected").count(),
        1,
        "logged once, not once per request:\n{log}"
    );

    // Fixed again.
    web.write(&tls_with_users(&[("prometheus", PROMETHEUS_HASH)]));
    assert_eq!(
        scrape(addr).value(
            "aws_root_mfa_exporter_web_config_last_reload_successful",
            &[]
        ),
        Some(1.0)
    );

    // The certificate is renewed in place: new connections get the new one.
    assert_eq!(
        client.server_certificate(addr),
        Ok(fixture_certificate("server"))
    );
    web.install_certificate("server2");
    assert_eq!(
        client.server_certificate(addr),
        Ok(fixture_certificate("server2"))
    );

    // Switching TLS off needs a restart, as with exporter-toolkit: the change is refused, and
    // the log line says so.
    web.write(&format!(
        "basic_auth_users:\n  prometheus: '{PROMETHEUS_HASH}'\n"
    ));
    let after = scrape(addr);
    assert_eq!(
        after.value(
            "aws_root_mfa_exporter_web_config_last_reload_successful",
            &[]
        ),
        Some(0.0)
    );
    assert!(plain_http_status(addr).is_none(), "plain HTTP was served");
    let log = exporter.log();
    assert!(
        log.contains("would switch TLS off") && log.contains("restart the exporter"),
        "{log}"
    );
}

/// The status of a plain-HTTP `GET /metrics` without credentials, if any HTTP answer came.
fn plain_http_status(addr: SocketAddr) -> Option<u16> {
    let mut plain = std::net::TcpStream::connect(addr).ok()?;
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    exchange(&mut plain, "localhost", "GET", "/metrics", &[], b"")
        .ok()
        .map(|r| r.status)
}

/// How a test rewrites the web configuration under a polling client.
#[derive(Debug, Clone, Copy)]
enum Rewrite {
    /// `: > web.yml`, and the file stays empty for a moment.
    Truncate,
    /// Written in place, as `open(O_TRUNC)` then `write`.
    InPlace,
    /// `cp` of an unchanged copy over the file.
    Copy,
}

/// Rewrites the configuration `rounds` times with `how`, while clients without credentials
/// poll `/metrics` over plain HTTP and HTTPS and `allowed` polls over HTTPS. Returns the
/// statuses each saw: a status, or 0 when no HTTP answer came.
fn poll_while_rewriting(
    web: &WebDir,
    addr: SocketAddr,
    how: Rewrite,
    rounds: usize,
    allowed: (Client, Vec<(&'static str, String)>),
) -> [Vec<u16>; 3] {
    use std::sync::atomic::{AtomicBool, Ordering};
    let text = std::fs::read(web.config()).unwrap();
    let copy = web.dir.join("web.yml.orig");
    std::fs::write(&copy, &text).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let stop = &stop;
        let poll = move |get: &dyn Fn() -> u16| {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                seen.push(get());
            }
            seen
        };
        let plain = scope.spawn(move || poll(&|| plain_http_status(addr).unwrap_or(0)));
        let anonymous = scope.spawn(move || {
            let client = Client::new(None);
            poll(&|| client.get(addr, "/metrics", &[]).map_or(0, |r| r.status))
        });
        let (client, headers) = &allowed;
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let with_credentials = scope.spawn(move || {
            poll(&|| {
                client
                    .get(addr, "/metrics", &headers)
                    .map_or(0, |r| r.status)
            })
        });
        for _ in 0..rounds {
            match how {
                Rewrite::Truncate => {
                    std::fs::File::create(web.config()).unwrap();
                    std::thread::sleep(Duration::from_millis(30));
                    std::fs::write(web.config(), &text).unwrap();
                }
                Rewrite::InPlace => std::fs::write(web.config(), &text).unwrap(),
                Rewrite::Copy => {
                    let status = std::process::Command::new("cp")
                        .arg(&copy)
                        .arg(web.config())
                        .status()
                        .unwrap();
                    assert!(status.success());
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        [
            plain.join().unwrap(),
            anonymous.join().unwrap(),
            with_credentials.join().unwrap(),
        ]
    })
}

fn assert_no_downgrade(what: &str, [plain, anonymous, allowed]: [Vec<u16>; 3]) {
    let ok = |seen: &[u16]| seen.iter().filter(|s| **s == 200).count();
    eprintln!(
        "{what}: {} plain, {} anonymous HTTPS, {} allowed HTTPS requests",
        plain.len(),
        anonymous.len(),
        allowed.len()
    );
    assert!(!plain.is_empty() && !anonymous.is_empty() && allowed.len() >= 5);
    assert_eq!(ok(&plain), 0, "{what}: plain HTTP got /metrics");
    assert_eq!(
        ok(&anonymous),
        0,
        "{what}: HTTPS without credentials got /metrics"
    );
    assert_eq!(
        ok(&allowed),
        allowed.len(),
        "{what}: the allowed client was refused: {allowed:?}"
    );
}

#[test]
fn a_file_caught_half_written_never_turns_tls_or_basic_auth_off() {
    let web = WebDir::new("tls-rewrite");
    web.write(&tls_with_users(&[("prometheus", PROMETHEUS_HASH)]));
    let exporter = web.start();
    let credentials = || {
        (
            Client::new(None),
            vec![("Authorization", basic(PROMETHEUS_USER.0, PROMETHEUS_USER.1))],
        )
    };
    for (how, rounds) in [
        (Rewrite::Truncate, 30),
        (Rewrite::InPlace, 100),
        (Rewrite::Copy, 100),
    ] {
        let seen = poll_while_rewriting(&web, exporter.addr, how, rounds, credentials());
        assert_no_downgrade(&format!("{how:?}"), seen);
    }
    // Whole again, the file is the configuration in force: the gauge is back to 1.
    assert_eq!(
        scrape(exporter.addr).value(
            "aws_root_mfa_exporter_web_config_last_reload_successful",
            &[]
        ),
        Some(1.0)
    );
    let log = exporter.log();
    assert!(log.contains("the file is empty"), "{log}");
    assert!(
        !log.contains("web configuration reloaded"),
        "an unchanged file is never reloaded:\n{log}"
    );
}

#[test]
fn a_file_caught_half_written_never_turns_mutual_tls_off() {
    let web = WebDir::new("mtls-rewrite");
    web.write(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n",
    );
    let exporter = web.start();
    for how in [Rewrite::Truncate, Rewrite::Copy] {
        let seen = poll_while_rewriting(
            &web,
            exporter.addr,
            how,
            30,
            (Client::new(Some("client")), vec![]),
        );
        assert_no_downgrade(&format!("mTLS, {how:?}"), seen);
    }
}

#[test]
fn the_reload_gauge_recovers_when_the_file_in_force_is_restored() {
    let web = WebDir::new("tls-restore");
    let good = tls_with_users(&[("prometheus", PROMETHEUS_HASH)]);
    let bad = "tls_server_config:\n  cert_file: [server.crt\n";
    web.write(&good);
    let exporter = web.start();
    let gauge = || {
        scrape(exporter.addr).value(
            "aws_root_mfa_exporter_web_config_last_reload_successful",
            &[],
        )
    };
    let rejections = || {
        exporter
            .log()
            .matches("web configuration change rejected")
            .count()
    };
    web.write(bad);
    assert_eq!(gauge(), Some(0.0));
    assert_eq!(rejections(), 1);
    // The very bytes in force: valid again.
    web.write(&good);
    assert_eq!(gauge(), Some(1.0));
    // The same mistake once more is news, and is logged again.
    web.write(bad);
    assert_eq!(gauge(), Some(0.0));
    assert_eq!(rejections(), 2, "{}", exporter.log());
}

#[test]
fn connections_admitted_by_a_replaced_configuration_are_closed() {
    use std::io::{Read, Write};
    let web = WebDir::new("tls-keepalive");
    web.write(&tls_with_users(&[("prometheus", PROMETHEUS_HASH)]));
    let exporter = web.start();
    let mut stream = Client::new(None).connect(exporter.addr).unwrap();
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\n\r\n",
        basic(PROMETHEUS_USER.0, PROMETHEUS_USER.1)
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = [0u8; 512];
    let n = stream.read(&mut answer).unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &answer[..n]
    );

    // Another user: the configuration that admitted the connection is replaced.
    web.write(&tls_with_users(&[("grafana", GRAFANA_HASH)]));
    stream
        .sock
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let closed = match stream.read(&mut answer) {
        Ok(0) => true,
        Err(err) => err.kind() == std::io::ErrorKind::UnexpectedEof,
        Ok(n) => panic!("unexpected data: {:?}", &answer[..n]),
    };
    assert!(
        closed && started.elapsed() < Duration::from_secs(5),
        "the idle connection stayed open for {:?}",
        started.elapsed()
    );

    // A request on a connection whose handshake was checked against a certificate no longer
    // in force is not served: it gets 421 and the connection closes, or finds it closed.
    let mut stream = Client::new(None).connect(exporter.addr).unwrap();
    web.install_certificate("server2");
    let request = request.replace("/healthz", "/metrics");
    let answer = stream
        .write_all(request.as_bytes())
        .and_then(|()| {
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).map(|_| raw)
        })
        .unwrap_or_default();
    let answer = String::from_utf8_lossy(&answer);
    eprintln!(
        "answer on the stale connection: {:?}",
        answer.lines().next()
    );
    assert!(
        answer.is_empty()
            || (answer.starts_with("HTTP/1.1 421") && answer.contains("connection: close")),
        "{answer}"
    );
}

#[test]
fn mutual_tls_lets_in_only_verified_clients_with_an_allowed_name() {
    let web = WebDir::new("mtls");
    web.write(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n  \
         client_allowed_sans: [prometheus.example]\n",
    );
    let exporter = web.start();
    let addr = exporter.addr;

    let resp = Client::new(Some("client"))
        .get(addr, "/healthz", &[])
        .unwrap();
    assert_eq!(resp.status, 200);
    for (who, client) in [
        ("no certificate", Client::new(None)),
        (
            "a certificate from another CA",
            Client::new(Some("stranger")),
        ),
        (
            "a certificate without an allowed name",
            Client::new(Some("intruder")),
        ),
    ] {
        let outcome = client.get(addr, "/healthz", &[]);
        assert!(
            outcome.is_err(),
            "{who} was let in: {:?}",
            outcome.map(|r| r.status)
        );
    }
    let resp = Client::new(Some("client"))
        .get(addr, "/metrics", &[])
        .unwrap();
    let exposition = Exposition::parse(&resp.text());
    assert!(rejected(&exposition, "tls_handshake") >= 3.0);
}

#[test]
fn the_minimum_tls_version_is_enforced() {
    let web = WebDir::new("tls13");
    web.write(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n",
    );
    let exporter = web.start();
    let tls12 = Client::with_versions(None, &[&rustls::version::TLS12]);
    assert!(tls12.get(exporter.addr, "/healthz", &[]).is_err());
    let tls13 = Client::with_versions(None, &[&rustls::version::TLS13]);
    assert_eq!(
        tls13.get(exporter.addr, "/healthz", &[]).map(|r| r.status),
        Ok(200)
    );
}

fn start_prometheus(dir: &Path, exporter: SocketAddr) -> (support::Daemon, SocketAddr) {
    start_prometheus_with(
        dir,
        &format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tls\n    \
             scheme: https\n    tls_config:\n      ca_file: {ca}\n      server_name: localhost\n    \
             basic_auth:\n      username: prometheus\n      password: scrape-me\n    \
             static_configs:\n      - targets: ['{exporter}']\n",
            ca = web_fixtures().join("ca.crt").display()
        ),
    )
}

#[test]
fn prometheus_scrapes_over_https_with_basic_auth() {
    let web = WebDir::new("tls-prometheus");
    web.write(&tls_with_users(&[("prometheus", PROMETHEUS_HASH)]));
    let exporter = web.start();
    let (_prometheus, prometheus) = start_prometheus(&web.dir, exporter.addr);
    let query = |expr: &str| {
        let answer = get_json(
            prometheus,
            &format!("/api/v1/query?query={}", expr.replace(' ', "%20")),
        );
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    wait_until(
        "Prometheus to scrape the exporter over HTTPS",
        Duration::from_secs(60),
        || {
            let up = query("up{job=\"tls\"}");
            !up.is_empty() && up[0]["value"][1] == "1" && !query("aws_root_mfa_hardware").is_empty()
        },
    );
    let compliant = query("aws_root_mfa_hardware");
    assert_eq!(compliant[0]["metric"]["account_id"], COMPLIANT);
}

#[test]
fn the_rate_limit_refuses_requests_beyond_the_burst_but_never_the_probes() {
    let web = WebDir::new("rate-limit");
    web.write("rate_limit:\n  interval: 1h\n  burst: 3\n");
    let exporter = web.start();
    let statuses: Vec<u16> = (0..5).map(|_| exporter.get("/").status).collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    // Anyone can empty the bucket; the liveness probe must still answer, or Kubernetes
    // restarts a healthy exporter.
    for _ in 0..50 {
        assert_eq!(exporter.get("/metrics").status, 429);
    }
    assert_eq!(exporter.get("/healthz").status, 200);
    assert_ne!(exporter.get("/readyz").status, 429);
    // Raising the limit applies at once, without a restart.
    web.write("rate_limit:\n  interval: 1ms\n  burst: 1000\n");
    let resp = exporter.get("/metrics");
    assert_eq!(resp.status, 200);
    let exposition = Exposition::parse(&resp.text());
    assert_eq!(rejected(&exposition, "rate_limited"), 52.0);
}
