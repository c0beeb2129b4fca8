//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the properties the
//! fuzz targets check, so that every input a fuzzing run kept, and every crash it found and
//! that was fixed, stays a regression test without needing cargo fuzz.

#[path = "../fuzz/properties.rs"]
mod properties;

use std::path::PathBuf;

/// A property of the fuzz targets: panics when an input breaks it.
type Property = fn(&[u8]);

const TARGETS: &[(&str, Property)] = &[
    ("web_config", properties::web_config),
    ("basic_auth", properties::basic_auth),
    ("role_arns", properties::role_arns),
    ("shard", properties::shard),
    ("xml_answer", properties::xml_answer),
    ("gzip_body", properties::gzip_body),
];

#[test]
fn the_fuzz_corpus_holds_every_property() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, property) in TARGETS {
        let dir = corpus.join(target);
        let inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        assert!(!inputs.is_empty(), "{}: empty corpus", dir.display());
        for input in inputs {
            let data = std::fs::read(&input).unwrap();
            let outcome = std::panic::catch_unwind(|| property(&data));
            assert!(outcome.is_ok(), "{target}: {} breaks it", input.display());
        }
    }
}
