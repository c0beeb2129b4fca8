//! Reads of the files an operator names (the web configuration, its certificates, the role ARN
//! file), bounded in size and limited to regular files: `/dev/zero`, a FIFO or a runaway log
//! given by mistake must fail with one line, not read until memory runs out or block forever.
//! And [`Stamp`], which tells that a file changed without reading it.

use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::SystemTime;

/// The most `--web.config.file` may hold, and each certificate, key or CA file it names.
pub const WEB_CONFIG_MAX_BYTES: u64 = 1024 * 1024;
/// The most `--assume-role-arns.file` may hold: some 350,000 ARNs.
pub const ROLE_ARNS_MAX_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a whole regular file of at most `cap` bytes. The error says, in one line, why not.
pub fn read_bounded(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    // Checked before opening: opening a FIFO for reading blocks until someone writes to it.
    regular(&std::fs::metadata(path)?, cap)?;
    let file = std::fs::File::open(path)?;
    // And again on what was opened, in case the path was replaced in between.
    let len = regular(&file.metadata()?, cap)?;
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(cap + 1).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(too_large(cap));
    }
    Ok(out)
}

fn regular(meta: &std::fs::Metadata, cap: u64) -> io::Result<u64> {
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if meta.len() > cap {
        return Err(too_large(cap));
    }
    Ok(meta.len())
}

fn too_large(cap: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("larger than the limit of {}", human(cap)),
    )
}

fn human(bytes: u64) -> String {
    if bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{bytes} bytes")
    }
}

/// What identifies a version of a file without reading it: where it lives (device and inode),
/// its size and its modification and change times. A file rewritten in place, replaced by a
/// rename, or pointed to by a swapped symbolic link (as Kubernetes updates a mounted
/// ConfigMap) gets a different stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    /// The stamp of the file at `path` (following symbolic links).
    pub fn of(path: &Path) -> io::Result<Stamp> {
        let meta = std::fs::metadata(path)?;
        let ns = |secs: i64, nanos: i64| i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Ok(Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        })
    }

    /// Whether the file changed so recently that a second write in the same clock tick could
    /// leave the stamp as it is: file systems keep time in ticks of a few milliseconds, so two
    /// writes of the same size within one tick look alike. Such a stamp must not be trusted to
    /// mean "unchanged" (git calls this the racy-clean problem).
    pub fn is_recent(&self, now: SystemTime) -> bool {
        const RACY_NS: i128 = 2_000_000_000;
        let now_ns = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        now_ns - self.mtime_ns.max(self.ctime_ns) < RACY_NS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("files-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn regular_files_within_the_cap_are_read() {
        let path = dir().join("small");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(read_bounded(&path, 5).unwrap(), b"hello");
        let err = read_bounded(&path, 4).unwrap_err().to_string();
        assert_eq!(err, "larger than the limit of 4 bytes");
        assert_eq!(
            too_large(WEB_CONFIG_MAX_BYTES).to_string(),
            "larger than the limit of 1 MiB"
        );
    }

    #[test]
    fn devices_and_directories_are_refused_without_reading() {
        for path in ["/dev/zero", "/dev/null", "/"] {
            let err = read_bounded(Path::new(path), WEB_CONFIG_MAX_BYTES).unwrap_err();
            assert_eq!(err.to_string(), "not a regular file", "{path}");
        }
        assert_eq!(
            read_bounded(Path::new("/nonexistent/file"), 1)
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn a_rewrite_changes_the_stamp() {
        let path = dir().join("stamped");
        std::fs::write(&path, b"one").unwrap();
        let first = Stamp::of(&path).unwrap();
        assert_eq!(Stamp::of(&path).unwrap(), first);
        assert!(first.is_recent(SystemTime::now()));
        assert!(!first.is_recent(SystemTime::now() + std::time::Duration::from_secs(3)));
        std::fs::write(&path, b"").unwrap();
        assert_ne!(Stamp::of(&path).unwrap(), first, "size");
        let tmp = dir().join("stamped.tmp");
        std::fs::write(&tmp, b"one").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        assert_ne!(Stamp::of(&path).unwrap(), first, "inode");
    }
}
