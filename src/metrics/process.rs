//! The standard `process_*` series (CPU, memory, file descriptors, threads, start time), read
//! from `/proc/self` on every scrape.
//!
//! Written here rather than through the `prometheus` crate's process collector, which took
//! some 55 µs a scrape on the 2-core machine of docs/performance.md, most of the cost of
//! serving `/metrics`: it opens and closes four files a scrape and has the kernel format the
//! whole `/proc/self/limits` table. Here `/proc/self/stat` and `/proc/self/fd` stay open and
//! are read again in place (a `pread`, and an `fstat` whose size is the number of open
//! descriptors since Linux 6.2), and the limit comes from `getrlimit`: some 6 µs. It also
//! keeps the CPU time's fraction of a second, which that collector dropped. The names, help
//! texts and types are the same as the Go client's.

use std::fs::File;
use std::os::unix::fs::FileExt as _;

use super::exposition::Exposition;

/// `/proc/self/stat` is a few hundred bytes; its fields end well within this.
const STAT_BUF: usize = 1024;

/// How the process's own series are read.
#[derive(Debug)]
pub struct ProcessMetrics {
    /// `/proc/self/stat`, kept open and read again from the start for each scrape.
    stat: Option<File>,
    /// `/proc/self/fd`, kept open for its size.
    fds: Option<File>,
    /// Clock ticks a second, the unit of the CPU times in `/proc/self/stat`.
    ticks: f64,
    /// Bytes a page, the unit of the resident set size there.
    page: f64,
    /// When the process started (it never changes, so it is read once).
    start_time: Option<f64>,
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        ProcessMetrics::new()
    }
}

/// The fields of `/proc/self/stat` exported, by their position after the command name.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stat {
    utime: f64,
    stime: f64,
    threads: f64,
    starttime: f64,
    vsize: f64,
    rss: f64,
}

impl ProcessMetrics {
    /// Reads what never changes: the clock tick, the page size and the start time.
    pub fn new() -> ProcessMetrics {
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let page = rustix::param::page_size() as f64;
        let stat = File::open("/proc/self/stat").ok();
        let start_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| boot_time(&s))
            .zip(stat.as_ref().and_then(read_stat))
            .map(|(boot, stat)| boot + stat.starttime / ticks);
        ProcessMetrics {
            stat,
            fds: File::open("/proc/self/fd").ok(),
            ticks,
            page,
            start_time,
        }
    }

    /// Writes the series as they are now; a file that cannot be read leaves its series out.
    pub fn encode(&self, out: &mut Exposition) {
        let stat = self.stat.as_ref().and_then(read_stat);
        if let Some(s) = stat {
            out.counter(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                &[],
            )
            .sample(&[], (s.utime + s.stime) / self.ticks);
        }
        let max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        if let Some(max) = max_fds {
            out.gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                &[],
            )
            .sample(&[], max as f64);
        }
        if let Some(open) = self.open_fds() {
            out.gauge("process_open_fds", "Number of open file descriptors.", &[])
                .sample(&[], open as f64);
        }
        if let Some(s) = stat {
            out.gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                &[],
            )
            .sample(&[], s.rss * self.page);
        }
        if let Some(t) = self.start_time {
            out.gauge(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                &[],
            )
            .sample(&[], t);
        }
        if let Some(s) = stat {
            out.gauge(
                "process_threads",
                "Number of OS threads in the process.",
                &[],
            )
            .sample(&[], s.threads);
            out.gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                &[],
            )
            .sample(&[], s.vsize);
        }
    }
}

impl ProcessMetrics {
    /// The number of open file descriptors: the size of `/proc/self/fd` since Linux 6.2,
    /// else (a size of 0: the directory itself is open, so never a true count) its entries.
    fn open_fds(&self) -> Option<u64> {
        let size = self.fds.as_ref()?.metadata().ok()?.len();
        if size > 0 {
            return Some(size);
        }
        Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
    }
}

/// Reads the open `/proc/self/stat` again from its start.
fn read_stat(file: &File) -> Option<Stat> {
    let mut buf = [0u8; STAT_BUF];
    let n = file.read_at(&mut buf, 0).ok()?;
    parse_stat(std::str::from_utf8(&buf[..n]).ok()?)
}

/// Parses `/proc/<pid>/stat`. The command name, second, is in parentheses and may hold
/// spaces and parentheses itself, so the fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let after = &text[text.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name; proc(5) numbers them from 1.
    let fields: Vec<&str> = after.split_ascii_whitespace().take(22).collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        threads: field(20)?,
        starttime: field(22)?,
        vsize: field(23)?,
        rss: field(24)?,
    })
}

/// The boot time from `/proc/stat`'s `btime` line, in Unix seconds.
fn boot_time(proc_stat: &str) -> Option<f64> {
    proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let tail = "S 1 2 3 4 5 6 7 8 9 10 250 75 13 14 15 16 9 18 5000 123456789 4096 20 21";
        let cases = [
            format!("42 (aws-root-mfa-) {tail}"),
            format!("42 (a (b) c) {tail}"),
            format!("42 ()) ) {tail}"),
        ];
        for text in &cases {
            assert_eq!(
                parse_stat(text),
                Some(Stat {
                    utime: 250.0,
                    stime: 75.0,
                    threads: 9.0,
                    starttime: 5000.0,
                    vsize: 123_456_789.0,
                    rss: 4096.0,
                }),
                "{text}"
            );
        }
        assert_eq!(parse_stat("42 (x) S 1 2"), None, "too few fields");
        assert_eq!(parse_stat("no name"), None);
    }

    #[test]
    fn boot_time_is_read_from_btime() {
        let text = "cpu  1 2 3\nintr 5\nbtime 1763800000\nprocesses 9\n";
        assert_eq!(boot_time(text), Some(1_763_800_000.0));
        assert_eq!(boot_time("cpu 1\n"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_described() {
        let mut out = Exposition::default();
        let process = ProcessMetrics::new();
        process.encode(&mut out);
        let text = String::from_utf8(out.finish().to_vec()).unwrap();
        let names: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "process_cpu_seconds_total",
                "process_max_fds",
                "process_open_fds",
                "process_resident_memory_bytes",
                "process_start_time_seconds",
                "process_threads",
                "process_virtual_memory_bytes"
            ]
        );
        let value = |name: &str| -> f64 {
            let line = text.lines().find(|l| l.starts_with(name)).unwrap();
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert!(value("process_resident_memory_bytes") > 1e6);
        assert!(value("process_threads") >= 1.0);
        assert!(value("process_open_fds") >= 3.0);
        // Both ways of counting agree, give or take the directory's own descriptor.
        let listed = std::fs::read_dir("/proc/self/fd").unwrap().count() as f64;
        assert!((value("process_open_fds") - listed).abs() <= 2.0);
        let started = value("process_start_time_seconds");
        assert!((started - crate::unix_now()).abs() < 3600.0, "{started}");
    }
}
