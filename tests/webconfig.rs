//! The web configuration fixtures: every `*.good.yml` loads, and the exporter refuses every
//! `*.bad.yml` at start-up with exit code 2 and one line naming the key on its first line.

mod support;

use std::path::{Path, PathBuf};

use aws_root_mfa_exporter::metrics::ExporterMetrics;
use aws_root_mfa_exporter::web::reload::{ConfigWatcher, ReloadMetrics};
use support::{exporter_command, web_fixtures};

fn fixtures(suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(web_fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "too few {suffix} fixtures: {files:?}");
    files
}

fn load(path: &Path) -> Result<ConfigWatcher, String> {
    let metrics = ExporterMetrics::new(&aws_root_mfa_exporter::BUILD);
    ConfigWatcher::load(path, ReloadMetrics::register(metrics.per_scrape()))
        .map_err(|e| e.to_string())
}

#[test]
fn good_fixtures_load() {
    for file in fixtures(".good.yml") {
        let guard = load(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let active = guard.in_force();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            active.tls.is_some(),
            name.contains("tls") || name.starts_with("full"),
            "{name}: TLS on or off"
        );
    }
}

#[test]
fn bad_fixtures_are_refused_at_start_up_naming_the_key() {
    for file in fixtures(".bad.yml") {
        let text = std::fs::read_to_string(&file).unwrap();
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# error: "))
            .unwrap_or_else(|| panic!("{}: no '# error: ' first line", file.display()));
        let name = file.display().to_string();

        let in_process = load(&file).map(|_| ()).expect_err(&name);
        assert!(in_process.contains(expected), "{name}: {in_process}");

        let out = exporter_command(
            &[],
            &[
                "--web.listen-address",
                "127.0.0.1:0",
                "--web.config.file",
                file.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: not one line: {stderr}");
        assert!(
            stderr.starts_with("error: web config ") && stderr.contains(expected),
            "{name}: {stderr}"
        );
        // Nothing secret is echoed: no hash, no password, no key material.
        for secret in ["$2b$10$", "scrape-me", "PRIVATE KEY"] {
            assert!(!stderr.contains(secret), "{name} echoed a secret: {stderr}");
        }
    }
}

#[test]
fn a_missing_file_is_refused_at_start_up() {
    let out = exporter_command(
        &[],
        &[
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.config.file",
            "/nonexistent/web.yml",
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "error: web config /nonexistent/web.yml: cannot read: No such file or directory (os error 2)"
    );
}
