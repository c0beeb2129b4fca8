//! Operator input and the process itself under abuse: bounded files and intervals refused with
//! one line and exit code 2, and an exporter whose standard error is gone.

mod support;

use std::fs::File;

use support::{exporter_command, tempdir};

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
        // `check`, so that an accepted value ends the process instead of serving.
        (
            &["check", "--poll.interval", "1ns"],
            "--poll.interval <DURATION>': \"1ns\" is below the minimum of 1s",
        ),
        (
            &["check", "--poll.interval", "999ms"],
            "is below the minimum of 1s",
        ),
        (
            &["check", "--assume-role-arns.file", &big_roles],
            "larger than the limit of 16 MiB",
        ),
        (
            &["check", "--assume-role-arns.file", "/dev/zero"],
            "--assume-role-arns.file /dev/zero: not a regular file",
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
