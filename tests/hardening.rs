//! Operator input and the process itself under abuse: bounded files and intervals refused with
//! one line and exit code 2, and an exporter whose standard error is gone.

mod support;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use support::{Exposition, exporter_command, http, tempdir};

const ACCOUNT: &str = "400000000001";

/// Runs the exporter with `args` and returns its exit code and standard error.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let out = exporter_command(&[], args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A file of `len` bytes that takes no room on disk.
fn sparse(name: &str, len: u64) -> String {
    let path = tempdir("sparse").join(name);
    File::create(&path).unwrap().set_len(len).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn oversized_or_special_files_and_tiny_intervals_get_one_line_and_exit_2() {
    let big_roles = sparse("roles.txt", 16 * 1024 * 1024 + 1);
    let big_web = sparse("web.yml", 1024 * 1024 + 1);
    let cases: &[(&[&str], &str)] = &[
        // With `check` after the flag, so that an accepted value ends the process instead of serving.
        (
            &["--poll.interval", "1ns", "check"],
            "--poll.interval <DURATION>': \"1ns\" is below the minimum of 1s",
        ),
        (
            &["--poll.interval", "999ms", "check"],
            "is below the minimum of 1s",
        ),
        (
            &["check", "--assume-role.arns-file", &big_roles],
            "larger than the limit of 16 MiB",
        ),
        (
            &["check", "--assume-role.arns-file", "/dev/zero"],
            "--assume-role.arns-file /dev/zero: not a regular file",
        ),
        (
            &[
                "--web.listen-address",
                "127.0.0.1:0",
                "--web.config.file",
                &big_web,
            ],
            "larger than the limit of 1 MiB",
        ),
        (
            &[
                "--web.listen-address",
                "127.0.0.1:0",
                "--web.config.file",
                "/dev/zero",
            ],
            "error: web config /dev/zero: cannot read: not a regular file",
        ),
    ];
    for (args, mentions) in cases {
        let (code, stderr) = refused(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{args:?}: one line, got {stderr:?}"
        );
        assert!(stderr.contains(mentions), "{args:?}: {stderr}");
    }
}

/// An exporter whose standard error is closed once it serves: the read end of its pipe is
/// dropped, so every later log line fails with EPIPE.
#[test]
fn an_exporter_whose_stderr_is_closed_keeps_polling_or_exits() {
    let moto = support::Moto::start(&json!({"accounts": [{"id": ACCOUNT, "mfa_enabled": true}]}));
    let mut child = exporter_command(
        &moto.env_for(ACCOUNT),
        &[
            "--web.listen-address",
            "127.0.0.1:0",
            "--poll.interval",
            "1s",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr: SocketAddr = loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no serving line");
        if let Some(addr) = line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("address="))
            .filter(|_| line.contains("msg=serving"))
        {
            break addr.parse().unwrap();
        }
    };
    drop(stderr);

    let last_check = || {
        let resp = http(addr, "GET", "/metrics", &[], b"");
        assert_eq!(resp.status, 200);
        let m = Exposition::parse(&resp.text());
        (
            m.account("aws_root_last_successful_check_timestamp_seconds", ACCOUNT),
            m.value("aws_root_mfa_exporter_log_lines_dropped_total", &[]),
        )
    };
    // Several polls' worth of log lines go nowhere.
    std::thread::sleep(Duration::from_secs(3));
    if let Some(status) = child.try_wait().unwrap() {
        // Exiting is acceptable too, as long as a supervisor can tell.
        assert!(!status.success(), "exited {status:?}");
        return;
    }
    let before = last_check();
    std::thread::sleep(Duration::from_secs(3));
    if let Some(status) = child.try_wait().unwrap() {
        assert!(!status.success(), "exited {status:?}");
        return;
    }
    let after = last_check();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        before.0.is_some() && after.0 > before.0,
        "the metrics froze while the process stayed up: {before:?} then {after:?}"
    );
    assert!(
        after.1.unwrap_or(0.0) >= 2.0,
        "dropped log lines are counted: {after:?}"
    );
}

/// The resident memory of a process, from `/proc`, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

#[test]
fn a_list_of_100000_roles_is_served_within_seconds_in_little_memory() {
    let file = tempdir("roles").join("roles.txt");
    let text: String = (0..100_000u64)
        .map(|i| {
            format!(
                "arn:aws:iam::{:012}:role/RootMfaReader\n",
                100_000_000_000 + i
            )
        })
        .collect();
    std::fs::write(&file, text).unwrap();
    // Nothing listens there: every check fails fast, and the server must serve meanwhile.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "not-a-secret"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let addr: SocketAddr = format!("127.0.0.1:{}", support::free_port())
        .parse()
        .unwrap();
    let started = std::time::Instant::now();
    let mut child = exporter_command(
        &env,
        &[
            "--web.listen-address",
            &addr.to_string(),
            "--assume-role-arns.file",
            file.to_str().unwrap(),
            "--poll.interval",
            "1h",
            "--poll.timeout",
            "1s",
            "--log.level",
            "error",
            "--log.format",
            "json",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let pid = child.id();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not serving after {:?}, {:.0} MiB resident",
            started.elapsed(),
            rss_mib(pid)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The port is bound before the accounts are read: the answer is what says it serves.
    assert_eq!(http(addr, "GET", "/healthz", &[], b"").status, 200);
    let serving_after = started.elapsed();
    assert!(
        serving_after < Duration::from_secs(20),
        "serving only after {serving_after:?}, {:.0} MiB resident",
        rss_mib(pid)
    );
    // The first poll is under way, building clients for each check as it goes.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(http(addr, "GET", "/healthz", &[], b"").status, 200);
    let rss = rss_mib(pid);
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("serving after {serving_after:?}, {rss:.0} MiB resident 3 s into the first poll");
    assert!(rss < 512.0, "{rss:.0} MiB resident for 100,000 roles");
}
