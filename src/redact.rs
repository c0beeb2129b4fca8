//! The one redaction that everything reaching a log line or the output of `check` goes
//! through: the log formatter applies it to every field of every event (the AWS SDK's own
//! debug and trace output included), and AWS error messages get it before they are stored.
//!
//! What it masks, and why each can appear at all:
//! - access key ids (`AKIA…`, `ASIA…`): AWS quotes them in error messages, and the SDK's debug
//!   output prints the credentials it resolved (the secret key it redacts itself);
//! - session tokens: a `SignatureDoesNotMatch` message quotes the canonical request, which
//!   carries `x-amz-security-token:<token>`, and presigned forms carry
//!   `X-Amz-Security-Token=<token>`; a value after any of the [`SECRET_KEYS`], and any long
//!   base64 run that looks like a token, is masked;
//! - request signatures (`Signature=…`, `X-Amz-Signature=…`);
//! - the external id of `sts:AssumeRole`, by value, once [`register_secret`] has been told it.

use std::borrow::Cow;
use std::sync::RwLock;

/// What a masked value is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Keys whose value is a secret, compared without regard to case: `key=value`,
/// `key:value`, `"key": "value"` and `<Key>value` forms are all recognised.
pub const SECRET_KEYS: &[&str] = &[
    "x-amz-security-token",
    "x-amz-signature",
    "signature",
    "sessiontoken",
    "session_token",
    "secretaccesskey",
    "secret_access_key",
    "externalid",
    "external_id",
];

/// A base64 run at least this long, with upper and lower case letters and digits, is taken
/// for a token: STS session tokens are several hundred characters, while nothing else this
/// exporter logs (ids, ARNs, hex digests, paths) is such a run.
const TOKEN_MIN_LEN: usize = 64;

/// Registered values below this length are not replaced by value: a two-letter external id
/// would otherwise mask every occurrence of two common letters. They are still masked after
/// their key (`ExternalId=`).
const SECRET_MIN_LEN: usize = 4;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Adds a value (such as the external id) that must never appear in a log line or output.
pub fn register_secret(value: &str) {
    if value.len() < SECRET_MIN_LEN {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    for form in [value.to_owned(), percent_encode(value)] {
        if !secrets.contains(&form) {
            secrets.push(form);
        }
    }
    // The longest first, so that a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every secret masked; borrowed when there was nothing to mask.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    {
        let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
        for secret in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
    }
    for pass in [byte_lists, after_secret_keys, token_runs, access_key_ids] {
        if let Some(changed) = pass(&out) {
            out = Cow::Owned(changed);
        }
    }
    out
}

fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `b` may be part of a masked value: anything up to a space, quote, backslash (an
/// escaped quote or newline in `Debug` output), or a separator of headers, queries and XML.
fn value_byte(b: u8) -> bool {
    !(b.is_ascii_whitespace() || b"\"'\\&<>,;()}]".contains(&b))
}

/// Decodes lists of byte values (`[69, 120, 116, …]`) that hold something to mask, and masks
/// it: the SDK prints request bodies that way when `LOG_SIGNABLE_BODY=true`, and the body of
/// `sts:AssumeRole` holds the external id.
fn byte_lists(text: &str) -> Option<String> {
    const MIN_BYTES: usize = 8;
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find('[') {
        let start = from + found;
        from = start + 1;
        let Some(len) = text[from..].find(']') else {
            break;
        };
        let inner = &text[from..from + len];
        let decoded: Option<Vec<u8>> = inner
            .split(',')
            .map(|n| n.trim().parse::<u8>().ok())
            .collect();
        let Some(decoded) = decoded.filter(|d| d.len() >= MIN_BYTES) else {
            continue;
        };
        let decoded = String::from_utf8_lossy(&decoded).into_owned();
        if let Cow::Owned(masked) = redact(&decoded) {
            spans.push((start, from + len + 1, masked));
        }
        from += len + 1;
    }
    if spans.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(bytes.len());
    let mut at = 0;
    for (start, end, masked) in spans {
        out.push_str(&text[at..start]);
        out.push_str(&format!("{masked:?}"));
        at = end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// Masks the value after each of [`SECRET_KEYS`].
fn after_secret_keys(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let lower = text.to_ascii_lowercase();
    let mut spans = Vec::new();
    for key in SECRET_KEYS {
        let mut from = 0;
        while let Some(found) = lower[from..].find(key) {
            let start = from + found;
            from = start + key.len();
            // A whole key: `SignatureDoesNotMatch` or `XSignature` are not `Signature`.
            if start > 0 && is_word(bytes[start - 1]) {
                continue;
            }
            if let Some(span) = value_after(bytes, start + key.len()) {
                spans.push(span);
            }
        }
    }
    replace_spans(text, spans, |_| MASK.to_owned())
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The value after a key ending at `i`: optional closing quotes, a separator (`=`, `:` or the
/// `>` of an XML tag), optional space and opening quotes, then the value itself.
fn value_after(bytes: &[u8], mut i: usize) -> Option<(usize, usize)> {
    let skip = |i: &mut usize, set: &[u8]| {
        while *i < bytes.len() && set.contains(&bytes[*i]) {
            *i += 1;
        }
    };
    skip(&mut i, b"\\\"' ");
    if !matches!(bytes.get(i), Some(b'=' | b':' | b'>')) {
        return None;
    }
    i += 1;
    skip(&mut i, b"\\\"' ");
    // `Debug` of an `Option`: the value is inside.
    if bytes[i..].starts_with(b"Some(") {
        i += "Some(".len();
        skip(&mut i, b"\\\"'");
    }
    let rest = &bytes[i..];
    // The SDK's own mask (`** redacted **`) and ours are left alone.
    if rest.starts_with(b"*") || rest.starts_with(MASK.as_bytes()) {
        return None;
    }
    let start = i;
    while i < bytes.len() && value_byte(bytes[i]) {
        i += 1;
    }
    (i > start).then_some((start, i))
}

/// Masks every base64 run that looks like a token (see [`TOKEN_MIN_LEN`]).
fn token_runs(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let (mut upper, mut lower, mut digit) = (false, false, false);
        let mut len = 0;
        loop {
            match bytes.get(i) {
                Some(b'%')
                    if matches!(
                        bytes.get(i + 1..i + 3),
                        Some(b"2B" | b"2F" | b"3D" | b"2b" | b"2f" | b"3d")
                    ) =>
                {
                    i += 3;
                }
                Some(&b) if b.is_ascii_alphanumeric() || b"+/=".contains(&b) => {
                    upper |= b.is_ascii_uppercase();
                    lower |= b.is_ascii_lowercase();
                    digit |= b.is_ascii_digit();
                    i += 1;
                }
                _ => break,
            }
            len += 1;
        }
        if len >= TOKEN_MIN_LEN && upper && lower && digit {
            spans.push((start, i));
        }
        if i == start {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    replace_spans(text, spans, |_| MASK.to_owned())
}

/// Masks access key ids, keeping their four-letter prefix so that a reader can still tell a
/// long-term key (`AKIA`) from a session's (`ASIA`).
fn access_key_ids(text: &str) -> Option<String> {
    const MIN_TAIL: usize = 12;
    const MAX_TAIL: usize = 124;
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i + 4 <= bytes.len() {
        let prefix = &bytes[i..i + 4];
        let bounded = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if bounded && (prefix == b"AKIA" || prefix == b"ASIA") {
            let tail = bytes[i + 4..]
                .iter()
                .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                .count();
            let end = i + 4 + tail;
            let ends = bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric());
            if (MIN_TAIL..=MAX_TAIL).contains(&tail) && ends {
                spans.push((i, end));
                i = end;
                continue;
            }
        }
        i += 1;
    }
    replace_spans(text, spans, |id| format!("{}****************", &id[..4]))
}

/// Replaces the byte ranges `spans` (which fall on character boundaries) of `text`.
fn replace_spans(
    text: &str,
    mut spans: Vec<(usize, usize)>,
    with: impl Fn(&str) -> String,
) -> Option<String> {
    if spans.is_empty() {
        return None;
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        if start < at {
            // Overlapping spans: the earlier one already covers this part.
            at = at.max(end);
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(&with(&text[start..end]));
        at = end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "FQoGZXIvYXdzEBYaDHVzZXItMTIzNDU2Nzg5MDEyIiwiZXhwIjoxNzAwMDAwMDAwfQ+K1s9\
                         wq7DcHpOQ2ZqYmV0a2V5L3NlY3JldC9zZXNzaW9uL3Rva2VuL2V4YW1wbGU=";

    #[test]
    fn access_key_ids_are_masked() {
        let cases = [
            (
                "Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam",
                "Credential=AKIA****************/20260101/us-east-1/iam",
            ),
            ("key ASIAABCDEFGHIJKLMNOP.", "key ASIA****************."),
            (
                "access_key_id: \"ASIAXI2SSRABC4VUOYFU\"",
                "access_key_id: \"ASIA****************\"",
            ),
            // Any length AWS allows, not only today's 20 characters.
            ("AKIAIOSFODNN7EXAMPLEX1", "AKIA****************"),
            ("AKIASHORT", "AKIASHORT"),
            (
                "arn:aws:iam::123456789012:role/AKIA",
                "arn:aws:iam::123456789012:role/AKIA",
            ),
            ("é AKIAIOSFODNN7EXAMPLE", "é AKIA****************"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn session_tokens_are_masked_in_every_form() {
        let encoded = TOKEN
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        let cases = [
            format!("'POST\n/\n\nhost:iam.amazonaws.com\nx-amz-security-token:{TOKEN}\n\nhost'"),
            format!("GET /?Action=X&X-Amz-Security-Token={encoded}&X-Amz-Date=1"),
            format!("headers: {{\"x-amz-security-token\": \"{TOKEN}\"}}"),
            format!("Debug: {{\\\"x-amz-security-token\\\": \\\"{TOKEN}\\\"}}"),
            format!("<SessionToken>{TOKEN}</SessionToken>"),
            format!("session_token: {TOKEN}"),
            // Without a key, it still looks like a token.
            format!("the token {TOKEN} expired"),
            format!("quoted {encoded} too"),
        ];
        for input in cases {
            let out = redact(&input);
            assert!(
                !out.contains(&TOKEN[..40]) && !out.contains(&encoded[..40]),
                "{input}\n=> {out}"
            );
            assert!(out.contains(MASK), "{out}");
        }
        let line = format!("x-amz-security-token:{TOKEN}\nx-amz-date:20260101T000000Z");
        assert_eq!(
            redact(&line),
            "x-amz-security-token:[REDACTED]\nx-amz-date:20260101T000000Z"
        );
    }

    #[test]
    fn signatures_and_secret_keys_are_masked() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam/\
                    aws4_request, SignedHeaders=host;x-amz-date, \
                    Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024";
        assert_eq!(
            redact(auth),
            "AWS4-HMAC-SHA256 Credential=AKIA****************/20260101/us-east-1/iam/\
             aws4_request, SignedHeaders=host;x-amz-date, Signature=[REDACTED]"
        );
        assert_eq!(
            redact("&X-Amz-Signature=abc123&x=1"),
            "&X-Amz-Signature=[REDACTED]&x=1"
        );
        assert_eq!(
            redact("SecretAccessKey=wJalrXUtnFEMI/K7MDENG"),
            "SecretAccessKey=[REDACTED]"
        );
        // The SDK's own mask is kept as it is.
        let sdk = "secret_access_key: \"** redacted **\"";
        assert_eq!(redact(sdk), sdk);
    }

    #[test]
    fn words_that_merely_contain_a_key_are_left_alone() {
        for text in [
            "SignatureDoesNotMatch: The request signature we calculated does not match",
            "code=SignatureDoesNotMatch",
            "check failed account_id=123456789012 code=AccessDenied",
            "arn:aws:iam::123456789012:role/audit/RootMfaReader",
            "canonical request hash 9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
            "TypeId(0xb6a79ef75d91946ded90504e6af41134)",
        ] {
            assert_eq!(redact(text), text);
            assert!(matches!(redact(text), Cow::Borrowed(_)), "no copy: {text}");
        }
    }

    #[test]
    fn registered_secrets_are_masked_by_value() {
        register_secret("ext id/0042-secret");
        register_secret("ab");
        assert_eq!(
            redact("ExternalId=ext%20id%2F0042-secret&RoleArn=arn"),
            "ExternalId=[REDACTED]&RoleArn=arn"
        );
        assert_eq!(
            redact("external_id: Some(\"ext id/0042-secret\")"),
            "external_id: Some(\"[REDACTED]\")"
        );
        assert_eq!(
            redact("lab about"),
            "lab about",
            "too short to mask by value"
        );
        assert_eq!(
            redact("<ExternalId>ab</ExternalId>"),
            "<ExternalId>[REDACTED]</ExternalId>"
        );
    }

    #[test]
    fn request_bodies_printed_as_bytes_are_decoded_and_masked() {
        let body = format!("Action=AssumeRole&SessionToken={TOKEN}&Version=2011-06-15");
        let list = body
            .bytes()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let out = redact(&format!("body: Bytes([{list}]) headers: [1, 2]")).into_owned();
        assert_eq!(
            out,
            "body: Bytes(\"Action=AssumeRole&SessionToken=[REDACTED]&Version=2011-06-15\") \
             headers: [1, 2]"
        );
        let harmless = "body: Bytes([65, 99, 116, 105, 111, 110, 61, 88])";
        assert_eq!(redact(harmless), harmless, "left as it is");
    }

    #[test]
    fn redaction_is_idempotent() {
        let text =
            format!("x-amz-security-token:{TOKEN} Credential=AKIAIOSFODNN7EXAMPLE/x Signature=abc");
        let once = redact(&text).into_owned();
        assert_eq!(redact(&once), once);
    }
}
