//! Shared harness of the end-to-end tests: the stand-in AWS (moto, through `moto_launcher.py`),
//! the real exporter binary, a minimal HTTP client, and the exposition parser.
//!
//! Nothing is skipped: a missing prerequisite fails the test with a message saying how to get it.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod tls_client;

/// The exporter binary that Cargo built for these tests.
pub const EXPORTER: &str = env!("CARGO_BIN_EXE_aws-root-mfa-exporter");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python interpreter that has moto: `$AWS_ROOT_MFA_EXPORTER_TEST_PYTHON`, else `.venv/`.
pub fn python() -> PathBuf {
    let python = std::env::var_os("AWS_ROOT_MFA_EXPORTER_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    let ok = Command::new(&python)
        .args(["-c", "import moto, boto3, werkzeug"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "moto is not available to {}: run `make test`, which creates .venv with \
         `pip install -r tests/requirements.txt`, or point AWS_ROOT_MFA_EXPORTER_TEST_PYTHON at a \
         Python that has `moto[server]`",
        python.display()
    );
    python
}

/// Finds a program on `PATH`, or fails saying which Debian package provides it.
pub fn require_program(name: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{name} is not on PATH: install it with `apt-get install {package}` (Debian), or run `make deps`")
    })
}

/// Credentials of the IAM user the launcher made in one account.
#[derive(Debug, Clone)]
pub struct Creds {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// A running stand-in AWS.
pub struct Moto {
    child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
    pub endpoint: String,
    pub credentials: HashMap<String, Creds>,
    /// The Organization, if the scenario has one.
    pub organization: Option<Organization>,
}

/// The Organization the launcher made: moto picks the member account ids.
#[derive(Debug, Clone)]
pub struct Organization {
    pub management: String,
    pub members: HashMap<String, String>,
}

impl Organization {
    /// The account id of the member called `name`.
    pub fn id(&self, name: &str) -> &str {
        self.members
            .get(name)
            .unwrap_or_else(|| panic!("no member {name}"))
    }
}

impl Moto {
    /// Starts moto with the accounts of `scenario` (`{"accounts": [spec, …]}`).
    pub fn start(scenario: &Value) -> Moto {
        let dir = tempdir("moto");
        let file = dir.join("scenario.json");
        std::fs::write(&file, scenario.to_string()).unwrap();
        let mut child = Command::new(python())
            .arg(root().join("tests/moto_launcher.py"))
            .arg("--scenario")
            .arg(&file)
            .arg("--exit-on-stdin-close")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tests/moto_launcher.py");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("moto launcher did not start ({e}): {line:?}"));
        let credentials = ready["credentials"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(account, c)| {
                let creds = Creds {
                    access_key_id: c["access_key_id"].as_str().unwrap().into(),
                    secret_access_key: c["secret_access_key"].as_str().unwrap().into(),
                };
                (account.clone(), creds)
            })
            .collect();
        let organization = ready.get("organization").map(|o| Organization {
            management: o["management"].as_str().unwrap().into(),
            members: o["members"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, id)| (name.clone(), id.as_str().unwrap().into()))
                .collect(),
        });
        Moto {
            child: Mutex::new(child),
            _stdin: Mutex::new(stdin),
            endpoint: ready["endpoint"].as_str().unwrap().into(),
            credentials,
            organization,
        }
    }

    /// The Organization of the scenario.
    pub fn org(&self) -> &Organization {
        self.organization
            .as_ref()
            .expect("the scenario has an organization")
    }

    /// Changes the Organization while moto runs: `{"remove": [id], "status": {id: STATUS}}`.
    pub fn change_organization(&self, change: &Value) {
        self.post_fixture("/_fixture/organization", change, 204);
    }

    /// (Re)applies account specs while moto runs, e.g. to inject or lift a fault.
    pub fn apply(&self, specs: &Value) {
        self.post_fixture("/_fixture/accounts", specs, 200);
    }

    /// Works an SQS queue of the stand-in (`POST /_fixture/sqs`: create, delete, depth, send)
    /// and returns its answer.
    pub fn sqs(&self, change: &Value) -> Value {
        let addr: SocketAddr = self.endpoint.trim_start_matches("http://").parse().unwrap();
        let resp = http(
            addr,
            "POST",
            "/_fixture/sqs",
            &[],
            change.to_string().as_bytes(),
        );
        assert_eq!(
            resp.status,
            200,
            "POST /_fixture/sqs {change} failed: {}",
            resp.text()
        );
        serde_json::from_slice(&resp.body).expect("a JSON answer")
    }

    fn post_fixture(&self, path: &str, body: &Value, want: u16) {
        let addr: SocketAddr = self.endpoint.trim_start_matches("http://").parse().unwrap();
        let resp = http(addr, "POST", path, &[], body.to_string().as_bytes());
        assert_eq!(resp.status, want, "POST {path} failed: {}", resp.text());
    }

    /// The environment for an exporter whose ambient credentials belong to `account`.
    pub fn env_for(&self, account: &str) -> Vec<(String, String)> {
        let c = &self.credentials[account];
        let mut env = self.env_without_credentials();
        env.push(("AWS_ACCESS_KEY_ID".into(), c.access_key_id.clone()));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), c.secret_access_key.clone()));
        env
    }

    /// The environment for an exporter with no credentials at all.
    pub fn env_without_credentials(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A fresh, empty directory under the target directory.
pub fn tempdir(prefix: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{prefix}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A command for the exporter with a clean environment: no ambient AWS settings, no profile
/// files, no instance metadata, only what the test passes.
pub fn exporter_command(env: &[(String, String)], args: &[&str]) -> Command {
    let home = tempdir("home");
    // Empty profile files: no profile of the machine's, and no warning that they are missing.
    std::fs::write(home.join("config"), "").unwrap();
    std::fs::write(home.join("credentials"), "").unwrap();
    let mut cmd = Command::new(EXPORTER);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(args);
    cmd
}

/// Runs `check` to completion.
pub fn run_check(env: &[(String, String)], args: &[&str]) -> Output {
    let mut all = vec!["check"];
    all.extend_from_slice(args);
    exporter_command(env, &all)
        .output()
        .expect("run the exporter")
}

/// A running exporter server.
pub struct Exporter {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Exporter {
    /// Starts the server on a free loopback port and waits until it listens.
    pub fn start(env: &[(String, String)], extra_args: &[&str]) -> Exporter {
        let mut args = vec!["--web.listen-address", "127.0.0.1:0"];
        args.extend_from_slice(extra_args);
        let mut child = exporter_command(env, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the exporter");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("msg=serving")
                    && let Some(addr) = line
                        .split_whitespace()
                        .find_map(|kv| kv.strip_prefix("address="))
                {
                    let _ = tx.send(addr.to_owned());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("the exporter did not start: {}", log.lock().unwrap()));
        Exporter {
            child,
            addr: addr.parse().unwrap(),
            log,
        }
    }

    /// What the exporter has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits for `/readyz` to answer 200 (the first poll has finished).
    pub fn wait_ready(&self) {
        self.wait_for("the first poll", Duration::from_secs(30), || {
            http(self.addr, "GET", "/readyz", &[], b"").status == 200
        });
    }

    /// Polls `condition` every 100 ms until it holds, or fails naming `what`.
    pub fn wait_for(&self, what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if condition() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "timed out waiting for {what}; exporter log:\n{}",
            self.log()
        );
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> HttpResponse {
        http(self.addr, "GET", path, &[], b"")
    }

    /// Scrapes `/metrics` and parses it.
    pub fn scrape(&self) -> Exposition {
        let resp = self.get("/metrics");
        assert_eq!(resp.status, 200);
        Exposition::parse(&resp.text())
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(
                Instant::now() < deadline,
                "no exit after SIGTERM: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A minimal HTTP/1.1 client: one request per connection, `Content-Length` bodies only.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    exchange(&mut stream, &addr.to_string(), method, path, headers, body)
        .unwrap_or_else(|err| panic!("{method} {path}: {err}"))
}

/// Sends one request on `stream` and reads the response to the end of the connection.
pub fn exchange(
    stream: &mut (impl Read + Write),
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut raw = Vec::new();
    if let Err(err) = stream.read_to_end(&mut raw) {
        // rustls reports a peer that closes without close_notify as an error, after the data.
        if raw.is_empty() || err.kind() != std::io::ErrorKind::UnexpectedEof {
            return Err(err);
        }
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no complete response"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(&response.body);
    }
    Ok(response)
}

/// Decodes a chunked body (Prometheus and Alertmanager send their API answers so).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = body.windows(2).position(|w| w == b"\r\n") {
        let size_field = String::from_utf8_lossy(&body[..eol]);
        let size = usize::from_str_radix(size_field.split(';').next().unwrap().trim(), 16)
            .expect("chunk size");
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = &body[eol + 2 + size + 2..];
    }
    out
}

/// One sample of a text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed text exposition.
#[derive(Debug, Clone)]
pub struct Exposition {
    pub text: String,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// Parses the Prometheus text format (as this exporter writes it: no timestamps).
    pub fn parse(text: &str) -> Exposition {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("sample has a value");
                let (name, labels) = match series.split_once('{') {
                    Some((name, rest)) => (name, parse_labels(rest.trim_end_matches('}'))),
                    None => (series, BTreeMap::new()),
                };
                Sample {
                    name: name.to_owned(),
                    labels,
                    value: value
                        .parse()
                        .unwrap_or_else(|_| panic!("bad value in {line:?}")),
                }
            })
            .collect();
        Exposition {
            text: text.to_owned(),
            samples,
        }
    }

    /// The value of the one sample with this name and these labels (others may exist too).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let matching: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert!(
            matching.len() <= 1,
            "{name}{labels:?} matches {} samples",
            matching.len()
        );
        matching.first().map(|s| s.value)
    }

    /// The per-account gauge for `account`.
    pub fn account(&self, name: &str, account: &str) -> Option<f64> {
        self.value(name, &[("account_id", account)])
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = s;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => value.push(other),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').trim().to_owned(), value);
        rest = &after[end..];
    }
    labels
}

/// Runs a program in the repository root, fails the test unless it succeeds, and returns what it
/// printed (standard output, then standard error).
pub fn run_in_repo(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{} {args:?}: {said}",
        program.display()
    );
    said
}

/// Lints an exposition with `promtool check metrics`, failing on any problem or warning.
pub fn promtool_check_metrics(text: &str) {
    let promtool = require_program("promtool", "prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}\n---\n{text}"
    );
}

/// A process-wide stand-in AWS shared by the tests of one test binary; it stops when the
/// binary exits because its standard input closes.
pub fn shared_moto(scenario: fn() -> Value) -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| Moto::start(&scenario()))
}

/// A server process that is killed when the test ends.
pub struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn get_json(addr: SocketAddr, path: &str) -> Value {
    let resp = http(addr, "GET", path, &[], b"");
    assert_eq!(resp.status, 200, "GET {path}: {}", resp.text());
    serde_json::from_slice(&resp.body).unwrap()
}

pub fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("timed out waiting for {what}");
}

pub fn wait_http(addr: SocketAddr, path: &str) {
    wait_until(&format!("{addr}{path}"), Duration::from_secs(30), || {
        std::net::TcpStream::connect(addr).is_ok()
            && http(addr, "GET", path, &[], b"").status == 200
    });
}

/// Starts a Prometheus-style server on a free loopback port and waits for `/-/ready`.
pub fn start_daemon(
    binary: &Path,
    args: impl FnOnce(SocketAddr) -> Vec<String>,
) -> (Daemon, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new(binary)
        .args(args(addr))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
    let daemon = Daemon(child);
    wait_http(addr, "/-/ready");
    (daemon, addr)
}

/// Starts a real Prometheus with `config` (its YAML) in `dir`, on a free loopback port.
pub fn start_prometheus_with(dir: &Path, config: &str) -> (Daemon, SocketAddr) {
    let binary = require_program("prometheus", "prometheus");
    let file = dir.join("prometheus.yml");
    std::fs::write(&file, config).unwrap();
    start_daemon(&binary, |addr| {
        vec![
            format!("--config.file={}", file.display()),
            format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            format!("--web.listen-address={addr}"),
        ]
    })
}

/// The directory of the web configuration fixtures and test certificates.
pub fn web_fixtures() -> PathBuf {
    root().join("tests/fixtures/web")
}

/// Reads a file relative to the repository root.
/// The absolute path of a file of the repository.
pub fn repo_path(path: &str) -> PathBuf {
    root().join(path)
}

pub fn repo_file(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}
