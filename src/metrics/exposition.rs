//! The Prometheus text format, written straight into one buffer.
//!
//! A poll's per-account series are written here rather than through a `prometheus::Registry`:
//! a registry keeps an object per series and gathers a second copy of them all before encoding,
//! some 20 series an account, which at 10,000 accounts cost far more memory at the peak of a
//! poll than the text itself. The output is byte for byte what the `prometheus` crate's
//! `TextEncoder` writes (the golden file checks it): families in the order given, each with its
//! `HELP` and `TYPE` lines, and no family without a sample.

use std::fmt::Write as _;

use bytes::Bytes;

/// A text exposition being written.
#[derive(Debug, Default)]
pub struct Exposition {
    buf: Vec<u8>,
}

impl From<Vec<u8>> for Exposition {
    /// Continues an exposition another encoder began.
    fn from(buf: Vec<u8>) -> Exposition {
        Exposition { buf }
    }
}

impl Exposition {
    /// An empty exposition with room for `bytes`.
    pub fn with_capacity(bytes: usize) -> Exposition {
        Exposition {
            buf: Vec::with_capacity(bytes),
        }
    }

    /// Starts a gauge family; its `HELP` and `TYPE` lines are written with its first sample,
    /// so that a family without samples leaves no trace. Samples must be added in the order of
    /// their label values, as a registry would sort them.
    pub fn gauge<'a>(
        &'a mut self,
        name: &'a str,
        help: &'a str,
        labels: &'a [&'a str],
    ) -> Family<'a> {
        self.family(name, help, labels, "gauge")
    }

    /// Starts a counter family; as [`Exposition::gauge`] otherwise.
    pub fn counter<'a>(
        &'a mut self,
        name: &'a str,
        help: &'a str,
        labels: &'a [&'a str],
    ) -> Family<'a> {
        self.family(name, help, labels, "counter")
    }

    fn family<'a>(
        &'a mut self,
        name: &'a str,
        help: &'a str,
        labels: &'a [&'a str],
        kind: &'static str,
    ) -> Family<'a> {
        Family {
            buf: &mut self.buf,
            name,
            help,
            labels,
            kind,
            started: false,
        }
    }

    /// The bytes written, without spare capacity.
    pub fn finish(mut self) -> Bytes {
        self.buf.shrink_to_fit();
        Bytes::from(self.buf)
    }
}

/// One metric family of an [`Exposition`], written sample by sample.
#[derive(Debug)]
pub struct Family<'a> {
    buf: &'a mut Vec<u8>,
    name: &'a str,
    help: &'a str,
    labels: &'a [&'a str],
    kind: &'static str,
    started: bool,
}

impl Family<'_> {
    /// Writes one sample with these label values (one for each of the family's label names).
    pub fn sample(&mut self, values: &[&str], value: f64) {
        debug_assert_eq!(values.len(), self.labels.len(), "{}", self.name);
        if !self.started {
            self.started = true;
            self.buf.extend_from_slice(b"# HELP ");
            self.buf.extend_from_slice(self.name.as_bytes());
            self.buf.push(b' ');
            escape(self.buf, self.help, false);
            self.buf.extend_from_slice(b"\n# TYPE ");
            self.buf.extend_from_slice(self.name.as_bytes());
            self.buf.push(b' ');
            self.buf.extend_from_slice(self.kind.as_bytes());
            self.buf.push(b'\n');
        }
        self.buf.extend_from_slice(self.name.as_bytes());
        for (i, (label, v)) in self.labels.iter().zip(values).enumerate() {
            self.buf.push(if i == 0 { b'{' } else { b',' });
            self.buf.extend_from_slice(label.as_bytes());
            self.buf.extend_from_slice(b"=\"");
            escape(self.buf, v, true);
            self.buf.push(b'"');
        }
        if !self.labels.is_empty() {
            self.buf.push(b'}');
        }
        self.buf.push(b' ');
        write_value(self.buf, value);
        self.buf.push(b'\n');
    }
}

/// Escapes as the text format asks: backslash and newline everywhere, the double quote in
/// label values only.
fn escape(buf: &mut Vec<u8>, text: &str, quote: bool) {
    for b in text.bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'"' if quote => buf.extend_from_slice(b"\\\""),
            _ => buf.push(b),
        }
    }
}

/// Formats a value as `f64`'s `Display` does (what `TextEncoder` writes), with the common
/// 0 and 1 of the flag series written without formatting.
fn write_value(buf: &mut Vec<u8>, value: f64) {
    if value == 0.0 && value.is_sign_positive() {
        buf.push(b'0');
    } else if value == 1.0 {
        buf.push(b'1');
    } else {
        let mut text = String::new();
        write!(text, "{value}").expect("writing to a String cannot fail");
        buf.extend_from_slice(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Encoder, GaugeVec, Opts, Registry, TextEncoder};

    /// A family: name, help, label names and samples.
    type Case<'a> = (&'a str, &'a str, &'a [&'a str], Vec<(Vec<&'a str>, f64)>);

    /// The same samples through a registry and `TextEncoder`, the reference.
    fn reference(families: &[Case]) -> String {
        let r = Registry::new();
        for (name, help, labels, samples) in families {
            let vec = GaugeVec::new(Opts::new(*name, *help), labels).unwrap();
            for (values, v) in samples {
                vec.with_label_values(values).set(*v);
            }
            r.register(Box::new(vec)).unwrap();
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&r.gather(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_what_the_text_encoder_writes() {
        let families: Vec<Case> = vec![
            ("a_empty", "Never sampled.", &["x"], vec![]),
            (
                "b_flags",
                "Help with a \\ backslash,\na newline and \"quotes\".",
                &["account_id"],
                vec![(vec!["1"], 1.0), (vec!["2"], 0.0), (vec!["3"], -0.0)],
            ),
            (
                "c_values",
                "Values.",
                &["id", "name"],
                vec![
                    (vec!["1", "pay\"ments\\\nprod"], 1_763_800_000.5),
                    (vec!["2", ""], 0.1 + 0.2),
                    (vec!["3", "ünïcödé"], 1e21),
                    (vec!["4", "x"], 12345678.0),
                    (vec!["5", "y"], f64::NAN),
                    (vec!["6", "z"], -2.5),
                ],
            ),
            ("d_plain", "No labels.", &[], vec![(vec![], 7.0)]),
        ];
        let mut out = Exposition::default();
        for (name, help, labels, samples) in &families {
            let mut family = out.gauge(name, help, labels);
            for (values, v) in samples {
                family.sample(values, *v);
            }
        }
        let got = String::from_utf8(out.finish().to_vec()).unwrap();
        assert_eq!(got, reference(&families));
    }

    #[test]
    fn a_counter_is_typed_as_one() {
        let mut out = Exposition::default();
        out.counter("x_total", "Things.", &[]).sample(&[], 2.5);
        let text = out.finish();
        assert_eq!(
            &text[..],
            b"# HELP x_total Things.\n# TYPE x_total counter\nx_total 2.5\n"
        );
    }
}
