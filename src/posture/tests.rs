//! The decision's table of cases: every posture the answers can describe, and its verdicts.

use super::*;

const ACCOUNT: &str = "123456789012";

fn identity(partition: &str) -> Identity {
    Identity {
        account_id: ACCOUNT.into(),
        partition: partition.into(),
    }
}

fn summary(mfa: Option<i32>, keys: Option<i32>, certs: Option<i32>, pw: Option<i32>) -> Summary {
    Summary {
        mfa_enabled: mfa,
        access_keys_present: keys,
        signing_certificates_present: certs,
        password_present: pw,
    }
}

/// A summary with MFA on or off, root password present, no keys, no certificates.
fn usual(mfa: i32) -> Summary {
    summary(Some(mfa), Some(0), Some(0), Some(1))
}

/// A device of `user_arn`; its name is only there for the reader, as the decision ignores
/// device names.
fn device(_name: &str, user_arn: Option<&str>) -> VirtualDevice {
    VirtualDevice {
        user_arn: user_arn.map(str::to_owned),
    }
}

fn root_device(partition: &str, _name: &str) -> VirtualDevice {
    VirtualDevice {
        user_arn: Some(format!("arn:{partition}:iam::{ACCOUNT}:root")),
    }
}

fn user_device(i: usize) -> VirtualDevice {
    device(
        &format!("user-{i}"),
        Some(&format!("arn:aws:iam::{ACCOUNT}:user/user-{i}")),
    )
}

struct Case {
    name: &'static str,
    partition: &'static str,
    summary: Summary,
    devices: Option<Vec<VirtualDevice>>,
    want: Result<(bool, bool, u32, bool, bool), Undecidable>,
    /// IAM.4, IAM.6 and IAM.9, then the status over all three.
    verdicts: Option<([Verdict; 3], Status)>,
}

#[test]
fn decision_table() {
    use Status::*;
    use Verdict::{Failed, NotApplicable as Na, Passed};
    let many_users_then_root: Vec<VirtualDevice> = (0..250)
        .map(user_device)
        .chain([root_device("aws", "my-yubikey-backup-phone")])
        .collect();
    let cases = vec![
        Case {
            name: "MFA disabled",
            partition: "aws",
            summary: usual(0),
            devices: None,
            want: Ok((false, false, 0, false, true)),
            verdicts: Some(([Passed, Failed, Failed], NonCompliant)),
        },
        Case {
            name: "hardware MFA: enabled and no virtual device at all",
            partition: "aws",
            summary: usual(1),
            devices: Some(vec![]),
            want: Ok((true, true, 0, false, true)),
            verdicts: Some(([Passed, Passed, Passed], Compliant)),
        },
        Case {
            name: "legacy root-account-mfa-device assigned to root",
            partition: "aws",
            summary: usual(1),
            devices: Some(vec![root_device("aws", "root-account-mfa-device")]),
            want: Ok((true, false, 1, false, true)),
            verdicts: Some(([Passed, Failed, Passed], NonCompliant)),
        },
        Case {
            name: "root device with any name is found by its user ARN",
            partition: "aws",
            summary: usual(1),
            devices: Some(vec![root_device("aws", "phone")]),
            want: Ok((true, false, 1, false, true)),
            verdicts: Some(([Passed, Failed, Passed], NonCompliant)),
        },
        Case {
            name: "root device on the last page behind 250 user devices",
            partition: "aws",
            summary: usual(1),
            devices: Some(many_users_then_root),
            want: Ok((true, false, 1, false, true)),
            verdicts: Some(([Passed, Failed, Passed], NonCompliant)),
        },
        Case {
            name: "decoy user rootadmin owns a device named root-account-mfa-device",
            partition: "aws",
            summary: usual(1),
            devices: Some(vec![device(
                "root-account-mfa-device",
                Some(&format!("arn:aws:iam::{ACCOUNT}:user/rootadmin")),
            )]),
            want: Ok((true, true, 0, false, true)),
            verdicts: Some(([Passed, Passed, Passed], Compliant)),
        },
        Case {
            name: "a user path ending in root is not the root user",
            partition: "aws",
            summary: usual(1),
            devices: Some(vec![device(
                "x",
                Some(&format!("arn:aws:iam::{ACCOUNT}:user/root")),
            )]),
            want: Ok((true, true, 0, false, true)),
            verdicts: Some(([Passed, Passed, Passed], Compliant)),
        },
        Case {
            name: "another account's root is not this root",
            partition: "aws",
            summary: usual(1),
            devices: Some(vec![device("x", Some("arn:aws:iam::999999999999:root"))]),
            want: Ok((true, true, 0, false, true)),
            verdicts: Some(([Passed, Passed, Passed], Compliant)),
        },
        Case {
            name: "devices with no user (unassigned) are not root's",
            partition: "aws",
            summary: usual(1),
            devices: Some(vec![device("spare", None), device("spare2", None)]),
            want: Ok((true, true, 0, false, true)),
            verdicts: Some(([Passed, Passed, Passed], Compliant)),
        },
        Case {
            name: "both a virtual and a hardware device: non-compliant",
            partition: "aws",
            summary: usual(1),
            devices: Some(vec![root_device("aws", "phone"), user_device(1)]),
            want: Ok((true, false, 1, false, true)),
            verdicts: Some(([Passed, Failed, Passed], NonCompliant)),
        },
        Case {
            name: "two virtual devices on root are counted",
            partition: "aws",
            summary: usual(1),
            devices: Some(vec![root_device("aws", "a"), root_device("aws", "b")]),
            want: Ok((true, false, 2, false, true)),
            verdicts: Some(([Passed, Failed, Passed], NonCompliant)),
        },
        Case {
            name: "no root credentials at all: not applicable",
            partition: "aws",
            summary: summary(Some(0), Some(0), Some(0), Some(0)),
            devices: None,
            want: Ok((false, false, 0, false, false)),
            verdicts: Some(([Passed, Na, Na], NotApplicable)),
        },
        Case {
            name: "access keys but no password: credentials present",
            partition: "aws",
            summary: summary(Some(0), Some(1), Some(0), Some(0)),
            devices: None,
            want: Ok((false, false, 0, true, true)),
            verdicts: Some(([Failed, Failed, Failed], NonCompliant)),
        },
        Case {
            name: "signing certificate only: credentials present",
            partition: "aws",
            summary: summary(Some(0), Some(0), Some(1), Some(0)),
            devices: None,
            want: Ok((false, false, 0, false, true)),
            verdicts: Some(([Passed, Failed, Failed], NonCompliant)),
        },
        Case {
            name: "password key missing (older IAM): unknown counts as present",
            partition: "aws",
            summary: summary(Some(0), Some(0), Some(0), None),
            devices: None,
            want: Ok((false, false, 0, false, true)),
            verdicts: Some(([Passed, Failed, Failed], NonCompliant)),
        },
        Case {
            name: "access keys key missing: unknown counts as present",
            partition: "aws",
            summary: summary(Some(1), None, Some(0), Some(0)),
            devices: Some(vec![]),
            want: Ok((true, true, 0, true, true)),
            verdicts: Some(([Failed, Passed, Passed], NonCompliant)),
        },
        Case {
            name: "certificates key missing: unknown counts as present",
            partition: "aws",
            summary: summary(Some(0), Some(0), None, Some(0)),
            devices: None,
            want: Ok((false, false, 0, false, true)),
            verdicts: Some(([Passed, Failed, Failed], NonCompliant)),
        },
        Case {
            name: "AccountMFAEnabled missing: cannot decide",
            partition: "aws",
            summary: summary(None, Some(0), Some(0), Some(1)),
            devices: Some(vec![]),
            want: Err(Undecidable::MissingMfaEnabled),
            verdicts: None,
        },
        Case {
            name: "MFA enabled but devices not listed: cannot decide",
            partition: "aws",
            summary: usual(1),
            devices: None,
            want: Err(Undecidable::DevicesNotListed),
            verdicts: None,
        },
        Case {
            name: "China partition root device",
            partition: "aws-cn",
            summary: usual(1),
            devices: Some(vec![root_device("aws-cn", "root-account-mfa-device")]),
            want: Ok((true, false, 1, false, true)),
            verdicts: Some(([Passed, Failed, Passed], NonCompliant)),
        },
        Case {
            name: "China partition: an aws-partition root ARN does not match",
            partition: "aws-cn",
            summary: usual(1),
            devices: Some(vec![root_device("aws", "root-account-mfa-device")]),
            want: Ok((true, true, 0, false, true)),
            verdicts: Some(([Passed, Passed, Passed], Compliant)),
        },
        Case {
            name: "China partition hardware",
            partition: "aws-cn",
            summary: usual(1),
            devices: Some(vec![]),
            want: Ok((true, true, 0, false, true)),
            verdicts: Some(([Passed, Passed, Passed], Compliant)),
        },
        Case {
            name: "GovCloud has no root user: not applicable whatever IAM says",
            partition: "aws-us-gov",
            summary: Summary::default(),
            devices: None,
            want: Ok((false, false, 0, false, false)),
            verdicts: Some(([Na, Na, Na], NotApplicable)),
        },
    ];

    for case in cases {
        let id = identity(case.partition);
        let got = decide(&id, &case.summary, case.devices.as_deref());
        let got_tuple = got.clone().map(|p| {
            (
                p.mfa_enabled,
                p.hardware,
                p.virtual_devices,
                p.access_keys_present,
                p.credentials_present,
            )
        });
        assert_eq!(got_tuple, case.want.clone(), "{}", case.name);
        let verdicts = got
            .ok()
            .map(|p| (Control::ALL.map(|c| p.verdict(c)), p.status(&Control::ALL)));
        assert_eq!(verdicts, case.verdicts, "{}", case.name);
    }
}

#[test]
fn status_follows_the_selected_controls() {
    let hardware_and_keys = Posture {
        root_user: true,
        mfa_enabled: true,
        hardware: true,
        virtual_devices: 0,
        access_keys_present: true,
        credentials_present: true,
        inventory: None,
    };
    let cases = [
        (hardware_and_keys, &Control::ALL[..], Status::NonCompliant),
        (
            hardware_and_keys,
            &[Control::Iam6, Control::Iam9][..],
            Status::Compliant,
        ),
        (
            hardware_and_keys,
            &[Control::Iam4][..],
            Status::NonCompliant,
        ),
        (
            Posture::NO_ROOT_USER,
            &[Control::Iam4][..],
            Status::NotApplicable,
        ),
        (
            Posture::NO_ROOT_USER,
            &Control::ALL[..],
            Status::NotApplicable,
        ),
    ];
    for (posture, controls, want) in cases {
        assert_eq!(posture.status(controls), want, "{controls:?}");
    }
}

#[test]
fn identity_from_caller_arn() {
    let cases = [
        ("arn:aws:sts::123456789012:assumed-role/r/s", Some("aws")),
        ("arn:aws-cn:iam::123456789012:user/u", Some("aws-cn")),
        (
            "arn:aws-us-gov:sts::123456789012:user/u",
            Some("aws-us-gov"),
        ),
        ("not-an-arn", None),
        ("arn::sts::123456789012:user/u", None),
        ("", None),
    ];
    for (arn, partition) in cases {
        let got = Identity::from_caller(ACCOUNT, arn);
        assert_eq!(
            got.as_ref().map(|i| i.partition.as_str()),
            partition,
            "{arn}"
        );
    }
    assert_eq!(Identity::from_caller("", "arn:aws:sts::1:user/u"), None);
}

#[test]
fn root_arn_is_exact() {
    assert_eq!(identity("aws").root_arn(), "arn:aws:iam::123456789012:root");
    assert_eq!(
        identity("aws-cn").root_arn(),
        "arn:aws-cn:iam::123456789012:root"
    );
}

#[test]
fn devices_are_listed_only_when_mfa_is_enabled() {
    assert!(usual(1).needs_device_listing());
    assert!(!usual(0).needs_device_listing());
    assert!(!Summary::default().needs_device_listing());
}

fn virt(n: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:mfa/{n}")
}

fn fido(n: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:u2f/root-account-mfa-device/{n}")
}

/// The inventory (virtual, fido, hardware TOTP), the verdicts of IAM.4, IAM.6 and IAM.9,
/// and the status; or why there is none.
type Exact = Result<((u32, u32, u32), [Verdict; 3], Status), Undecidable>;

#[test]
fn exact_inventory_decision_table() {
    use Status::*;
    use Verdict::{Failed, NotApplicable as Na, Passed};
    let totp = |n: u32| format!("GAHT{n:08}");
    let cases: Vec<(&str, Vec<String>, Summary, Exact)> = vec![
        (
            "FIDO only",
            vec![fido("yubikey")],
            usual(1),
            Ok(((0, 1, 0), [Passed, Passed, Passed], Compliant)),
        ),
        (
            "hardware TOTP only",
            vec![totp(1)],
            usual(1),
            Ok(((0, 0, 1), [Passed, Passed, Passed], Compliant)),
        ),
        (
            "virtual only",
            vec![virt("phone")],
            usual(1),
            Ok(((1, 0, 0), [Passed, Failed, Passed], NonCompliant)),
        ),
        (
            "virtual and FIDO: IAM.6 strict, fails",
            vec![virt("phone"), fido("key")],
            usual(1),
            Ok(((1, 1, 0), [Passed, Failed, Passed], NonCompliant)),
        ),
        (
            "no device",
            vec![],
            usual(0),
            Ok(((0, 0, 0), [Passed, Failed, Failed], NonCompliant)),
        ),
        (
            "several of each",
            vec![
                virt("a"),
                virt("b"),
                fido("c"),
                fido("d"),
                fido("e"),
                totp(1),
                totp(2),
                totp(3),
            ],
            usual(1),
            Ok(((2, 3, 3), [Passed, Failed, Passed], NonCompliant)),
        ),
        (
            "two FIDO and a TOTP, no virtual",
            vec![fido("a"), fido("b"), totp(7)],
            usual(1),
            Ok(((0, 2, 1), [Passed, Passed, Passed], Compliant)),
        ),
        (
            "no device and no credentials: not applicable",
            vec![],
            summary(Some(0), Some(0), Some(0), Some(0)),
            Ok(((0, 0, 0), [Passed, Na, Na], NotApplicable)),
        ),
        (
            "AccountMFAEnabled missing: the inventory decides",
            vec![fido("k")],
            summary(None, Some(0), Some(0), Some(1)),
            Ok(((0, 1, 0), [Passed, Passed, Passed], Compliant)),
        ),
        (
            "summary says no MFA but root lists a device: the inventory decides",
            vec![virt("p")],
            usual(0),
            Ok(((1, 0, 0), [Passed, Failed, Passed], NonCompliant)),
        ),
        (
            "keys present with FIDO",
            vec![fido("k")],
            summary(Some(1), Some(1), Some(0), Some(1)),
            Ok(((0, 1, 0), [Failed, Passed, Passed], NonCompliant)),
        ),
        (
            "summary says MFA but the listing is empty: cannot decide",
            vec![],
            usual(1),
            Err(Undecidable::InventoryDisagrees),
        ),
    ];
    for (name, serials, summary, want) in cases {
        let inventory = Inventory::of(serials.iter().map(String::as_str));
        let got = decide_exact(&identity("aws"), &summary, inventory).map(|p| {
            let inv = p.inventory.expect("an exact posture carries its inventory");
            assert_eq!(p.virtual_devices, inv.virtual_, "{name}");
            (
                (inv.virtual_, inv.fido, inv.hardware_totp),
                Control::ALL.map(|c| p.verdict(c)),
                p.status(&Control::ALL),
            )
        });
        assert_eq!(got, want, "{name}");
    }
    // GovCloud: no root user, whatever the inventory.
    let gov = decide_exact(&identity("aws-us-gov"), &usual(1), Inventory::default());
    assert_eq!(gov, Ok(Posture::NO_ROOT_USER));
}
