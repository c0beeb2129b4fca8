//! The landing page in a real browser: Debian's Chromium, driven by Playwright from
//! `tests/browser_check.py`, loads the page of a multi-account world at 1400 px and at 400 px.
//! Screenshots are kept under Cargo's test temporary directory, not committed.

mod support;

use std::process::Command;

use serde_json::json;
use support::{Exporter, Moto, python, require_program};

#[test]
fn the_landing_page_shows_every_account_and_count_and_fits_a_narrow_window() {
    let chromium = require_program("chromium", "chromium");
    let python = python();
    let ok = Command::new(&python)
        .args(["-c", "import playwright, html5lib"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "Playwright and html5lib are not available to {}: run `make test`, which installs \
         tests/requirements.txt into .venv",
        python.display()
    );
    let moto = Moto::start(
        &json!({"organization": {"management": {"mfa_enabled": true}, "members": [
            {"name": "payments-prod", "mfa_enabled": true},
            {"name": "payments-dev", "mfa_enabled": true, "root_virtual": ["phone"]},
            {"name": "data-lake", "mfa_enabled": false},
            {"name": "legacy-ci", "mfa_enabled": true, "access_keys": 1},
            {"name": "sandbox-42", "mfa_enabled": false, "password": 0},
            {"name": "a-member-account-whose-name-is-much-longer-than-a-phone-is-wide",
             "mfa_enabled": true, "root_virtual": ["a", "b"]},
            {"name": "acquired-co", "mfa_enabled": true,
             "assume_role_fault": {"status": 403, "code": "AccessDenied"}},
        ]}}),
    );
    let org = moto.org();
    let exporter = Exporter::start(
        &moto.env_for(&org.management),
        &["--organization.role-name", "RootMfaReader"],
    );
    exporter.wait_ready();
    let mut ids: Vec<String> = org.members.values().cloned().collect();
    ids.push(org.management.clone());
    let counts = json!({
        "compliant": 2, "non-compliant": 4, "not applicable": 1, "failing checks": 1,
        "accounts": 8,
    });
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("landing");
    let run = Command::new(&python)
        .arg(support::repo_path("tests/browser_check.py"))
        .arg(format!("http://{}/", exporter.addr))
        .arg("--out")
        .arg(&out)
        .arg("--accounts")
        .arg(ids.join(","))
        .arg("--counts")
        .arg(counts.to_string())
        .env("AWS_ROOT_MFA_EXPORTER_TEST_CHROMIUM", &chromium)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "{said}");
    assert_eq!(said.matches("\nok   ").count() + 1, 3, "{said}");
    eprintln!("{said}");
}
