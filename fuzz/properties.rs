//! What must hold for any input to the parsers the exporter writes by hand, or feeds with
//! untrusted text. Shared by the fuzz targets and by `tests/fuzz_corpus.rs`, which replays the
//! committed corpus through them on every test run.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use aws_root_mfa_exporter::aws::interceptor::complete_xml_answer;
use aws_root_mfa_exporter::aws::role::RoleArn;
use aws_root_mfa_exporter::aws::shard::Shard;
use aws_root_mfa_exporter::config::parse_role_arns;
use aws_root_mfa_exporter::web::auth::parse_basic;
use aws_root_mfa_exporter::web::config::WebConfig;

/// The web configuration parser never panics; what it accepts is self-consistent, and what it
/// refuses is explained in one line that never echoes a bcrypt hash.
pub fn web_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match WebConfig::parse(text, Path::new("/etc/exporter")) {
        Ok(config) => {
            if let Some(tls) = &config.tls {
                assert!(!tls.versions.is_empty(), "TLS on with no version");
            }
            for hash in config.users.values() {
                assert!(
                    aws_root_mfa_exporter::web::config::bcrypt_cost(hash).is_some(),
                    "a user without a valid hash was accepted"
                );
            }
            if let Some(limit) = config.rate_limit {
                assert!(limit.burst > 0 && !limit.interval.is_zero());
            }
        }
        Err(err) => {
            let line = err.to_string();
            assert!(!line.contains('\n'), "multi-line error: {line:?}");
        }
    }
}

/// `Authorization: Basic` parsing never panics, and what it returns re-encodes to itself.
pub fn basic_auth(data: &[u8]) {
    if let Some(creds) = parse_basic(data) {
        assert!(!creds.user.contains(&b':'), "a user name with a colon");
        let mut joined = creds.user.clone();
        joined.push(b':');
        joined.extend_from_slice(&creds.password);
        let header = format!("Basic {}", STANDARD.encode(&joined));
        let again = parse_basic(header.as_bytes()).expect("re-encoded credentials parse");
        assert!(again == creds, "round trip changed the credentials");
    }
}

/// The role ARN file parser never panics; every ARN it accepts names a 12-digit account and
/// parses again to the same value.
pub fn role_arns(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_role_arns(text) {
        Ok(arns) => {
            for arn in arns {
                let id = &arn.identity().account_id;
                assert!(id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()));
                assert_eq!(arn.as_str().parse::<RoleArn>().as_ref(), Ok(&arn));
            }
        }
        Err(err) => assert!(err.starts_with("line "), "{err}"),
    }
}

/// `--shard` parsing never panics; an accepted shard is in range and prints back to itself.
pub fn shard(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(shard) = text.parse::<Shard>() {
        assert!(shard.index < shard.count);
        assert_eq!(shard.to_string().parse::<Shard>(), Ok(shard));
        assert!(aws_root_mfa_exporter::aws::shard::shard_of(text, shard.count) < shard.count);
    }
}

/// The truncation guard never panics, and accepts any body once its closing tag is appended.
pub fn xml_answer(data: &[u8]) {
    let operation = "GetAccountSummary";
    let _ = complete_xml_answer(data, operation);
    let mut whole = data.to_vec();
    whole.extend_from_slice(b"</GetAccountSummaryResponse>\n");
    assert!(complete_xml_answer(&whole, operation));
}

/// A gzip `/metrics` body, the poll's part deflated once and a scrape's part by the small
/// encoder, always inflates to exactly the text it was made of; so does the small encoder's
/// stream on its own. The first byte chooses where the input splits into the two parts.
pub fn gzip_body(data: &[u8]) {
    use aws_root_mfa_exporter::web::compression::Precompressed;
    use aws_root_mfa_exporter::web::deflate::deflate_into;
    use std::io::Read as _;

    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(first) * rest.len() / 255;
    let (poll, scrape) = rest.split_at(split);
    let body = Precompressed::deflate(poll).gzip_with(scrape).concat();
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut text)
        .expect("a valid gzip member");
    assert_eq!(text, rest, "the body inflates to another text");

    let mut stream = Vec::new();
    deflate_into(rest, &mut stream);
    let mut text = Vec::new();
    flate2::read::DeflateDecoder::new(&stream[..])
        .read_to_end(&mut text)
        .expect("a valid deflate stream");
    assert_eq!(text, rest, "the stream inflates to another text");
}
