//! The alert rules as code: promtool lints them and runs their unit tests, every alert has its
//! labels, annotations, runbook section, and a test of it firing and of it staying quiet.

mod support;

use std::collections::BTreeSet;
use support::{repo_file, require_program, run_in_repo};

fn promtool(args: &[&str]) -> String {
    run_in_repo(&require_program("promtool", "prometheus"), args)
}

/// The alert names of alerts.yml, read as text: every rule starts with `- alert: NAME`.
fn alert_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn rules_pass_promtool_check_and_their_unit_tests() {
    let said = promtool(&["check", "rules", "deploy/prometheus/alerts.yml"]);
    assert!(said.contains("SUCCESS: 15 rules found"), "{said}");
    let said = promtool(&["test", "rules", "deploy/prometheus/tests/alerts_test.yml"]);
    assert!(said.contains("SUCCESS"), "{said}");
}

#[test]
fn every_alert_is_tested_firing_and_quiet_and_documented() {
    let rules = repo_file("deploy/prometheus/alerts.yml");
    let tests = repo_file("deploy/prometheus/tests/alerts_test.yml");
    let runbook = repo_file("docs/runbook.md");
    let names = alert_names(&rules);
    assert_eq!(names.len(), 15);

    // Each alert's block in the test file: the eval cases that name it.
    let cases: Vec<(String, bool)> = tests
        .split("- eval_time:")
        .skip(1)
        .filter_map(|case| {
            let name = case
                .lines()
                .find_map(|l| l.trim().strip_prefix("alertname: "))?;
            Some((name.to_owned(), case.contains("exp_alerts: []")))
        })
        .collect();
    for name in &names {
        assert!(
            cases.contains(&(name.clone(), false)),
            "{name} is never tested firing"
        );
        assert!(
            cases.contains(&(name.clone(), true)),
            "{name} is never tested staying quiet"
        );
        assert!(
            runbook.contains(&format!("## {name}")),
            "docs/runbook.md has no section for {name}"
        );
        let anchor = format!("docs/runbook.md#{}", name.to_lowercase());
        assert!(
            rules.contains(&anchor),
            "{name}'s runbook_url should point at {anchor}"
        );
    }
    let blocks: Vec<&str> = rules.split("- alert: ").skip(1).collect();
    for block in blocks {
        for key in ["severity:", "summary:", "description:", "runbook_url:"] {
            assert!(block.contains(key), "an alert lacks {key}: {block}");
        }
    }
    let unique: BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "alert names are unique");
}
