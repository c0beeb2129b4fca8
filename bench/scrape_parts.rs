//! The per-scrape work of `/metrics`, part by part, each beside what it replaced, in one run:
//! - the `process_*` series read from files kept open, beside opening and reading the files
//!   the `prometheus` crate's process collector read on every scrape (`/proc/self/stat`,
//!   `/proc/self/limits`, and listing `/proc/self/fd`);
//! - the per-scrape lines deflated by the small encoder, beside flate2 (a fresh compressor at
//!   its fastest level, and one kept and reset).
//!
//! Run: `cargo bench --bench scrape_parts`. Rounds alternate the variants, so that the
//! machine's noise falls on both; the medians and their ratio are printed.

use std::cell::Cell;
use std::hint::black_box;
use std::io::Read as _;
use std::time::{Duration, Instant};

use aws_root_mfa_exporter::metrics::ExporterMetrics;
use aws_root_mfa_exporter::metrics::exposition::Exposition;
use aws_root_mfa_exporter::metrics::process::ProcessMetrics;
use aws_root_mfa_exporter::web::deflate::deflate_into;
use flate2::{Compress, Compression, FlushCompress};

const ROUNDS: usize = 7;
const CALLS: u32 = 2_000;

/// The median time of one call of each variant, over alternating rounds.
fn compare(variants: &mut [(&str, &mut dyn FnMut())]) -> Vec<Duration> {
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    for _ in 0..ROUNDS {
        for (i, (_, run)) in variants.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..CALLS {
                run();
            }
            times[i].push(start.elapsed() / CALLS);
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort();
            t[t.len() / 2]
        })
        .collect()
}

fn report(title: &str, names: &[&str], medians: &[Duration]) {
    println!("{title}");
    for (name, t) in names.iter().zip(medians) {
        let ratio = t.as_secs_f64() / medians[0].as_secs_f64();
        println!(
            "  {name:<52} {:>8.2} µs  {ratio:>5.2}x",
            t.as_secs_f64() * 1e6
        );
    }
}

fn read_afresh() {
    let mut text = String::new();
    for path in ["/proc/self/stat", "/proc/self/limits"] {
        text.clear();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .expect("readable /proc");
        black_box(&text);
    }
    black_box(
        std::fs::read_dir("/proc/self/fd")
            .expect("listable")
            .count(),
    );
}

fn flate2_fresh(tail: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tail.len());
    Compress::new(Compression::fast(), false)
        .compress_vec(tail, &mut out, FlushCompress::Finish)
        .expect("in memory");
    out
}

fn main() {
    let metrics = ExporterMetrics::new(&aws_root_mfa_exporter::BUILD);
    for op in [
        "GetAccountSummary",
        "ListVirtualMFADevices",
        "AssumeRole",
        "ListAccounts",
    ] {
        metrics.api.request("iam", op);
    }
    let process = ProcessMetrics::new();
    let names = [
        "process_* from files kept open (now)",
        "opening and reading them (before)",
    ];
    let medians = compare(&mut [
        (names[0], &mut || {
            let mut out = Exposition::default();
            process.encode(&mut out);
            black_box(out.finish());
        }),
        (names[1], &mut read_afresh),
    ]);
    report("The process series, a scrape:", &names, &medians);

    let tail = metrics.encode_per_scrape();
    let mut kept = Compress::new(Compression::fast(), false);
    let names = [
        "small fixed-Huffman encoder (now)",
        "flate2, a fresh compressor (before)",
        "flate2, one compressor kept and reset",
    ];
    let sizes = [Cell::new(0), Cell::new(0), Cell::new(0)];
    let medians = compare(&mut [
        (names[0], &mut || {
            let mut out = Vec::with_capacity(tail.len());
            deflate_into(&tail, &mut out);
            sizes[0].set(black_box(out).len());
        }),
        (names[1], &mut || {
            sizes[1].set(black_box(flate2_fresh(&tail)).len())
        }),
        (names[2], &mut || {
            kept.reset();
            let mut out = Vec::with_capacity(tail.len());
            kept.compress_vec(&tail, &mut out, FlushCompress::Finish)
                .expect("in memory");
            sizes[2].set(black_box(out).len());
        }),
    ]);
    report(
        &format!(
            "The per-scrape lines ({} bytes), deflated (sizes {}, {}, {} bytes):",
            tail.len(),
            sizes[0].get(),
            sizes[1].get(),
            sizes[2].get()
        ),
        &names,
        &medians,
    );

    let names = ["all of a scrape's own series, encoded"];
    let medians = compare(&mut [(names[0], &mut || {
        black_box(metrics.encode_per_scrape());
    })]);
    report("The exporter's own series:", &names, &medians);
}
