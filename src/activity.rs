//! What the root user did last: when its password and its access keys were last used. Facts,
//! not a verdict: alerts decide what is recent enough to page for.

/// The last use of root's password and access keys, as Unix times; `None` where never used.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RootActivity {
    /// When root last signed in with its password.
    pub password_last_used: Option<f64>,
    /// When each of root's access keys was last used, by ordinal (first created first), never
    /// by key id: the id is a credential's name and has no place in a label.
    pub access_keys_last_used: [Option<f64>; 2],
}

impl RootActivity {
    /// The label value of the access key at `index` (0 or 1): `"1"` or `"2"`.
    pub fn key_ordinal(index: usize) -> &'static str {
        match index {
            0 => "1",
            _ => "2",
        }
    }
}
