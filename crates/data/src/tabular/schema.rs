//! The TON_IoT network-dataset schema: every column of the two published layouts, its role, and the ten
//! traffic classes.
//!
//! Source: the TON_IoT network dataset (Moustafa, UNSW Canberra, 2019-2021; Alsaedi et al., "TON_IoT
//! telemetry dataset", IEEE Access 8, 2020). `train_test_network.csv` has the 44 columns of [`TRAIN_TEST`]
//! (211,043 rows); the full `Network_dataset_N.csv` files add `ts` and `http_referrer` (46 columns). Missing
//! values are written `-`.

/// What a column is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An identifier (address, port, timestamp): type-checked, then dropped before training.
    Identifier(IdKind),
    /// A count or duration: parsed as a finite number (`-` = missing); log1p + standardised.
    Numeric,
    /// A symbol or free text: kept as a token (`-` is its own token); one-hot with an "other" bucket.
    Categorical,
    /// `label`: 0 (normal) or 1 (attack).
    Label,
    /// `type`: one of [`CLASSES`].
    Type,
}

/// The kind of an identifier column (what its values must look like).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// An IPv4/IPv6 address: any non-empty text.
    Address,
    /// A port: an integer in `0..=65535` or `-`.
    Port,
    /// A timestamp in seconds since 1970: a finite number or `-`.
    Timestamp,
}

/// One column of the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// The header name, as in the published files.
    pub name: &'static str,
    /// Its role.
    pub role: Role,
    /// Whether only the 46-column `Network_dataset_N.csv` layout has it.
    pub full_layout_only: bool,
}

const fn col(name: &'static str, role: Role) -> Column {
    Column {
        name,
        role,
        full_layout_only: false,
    }
}

const fn extra(name: &'static str, role: Role) -> Column {
    Column {
        name,
        role,
        full_layout_only: true,
    }
}

use IdKind::{Address, Port, Timestamp};
use Role::{Categorical as Cat, Identifier as Id, Numeric as Num};

/// The 44 columns of `train_test_network.csv`, in file order.
pub const TRAIN_TEST: [Column; 44] = [
    col("src_ip", Id(Address)),
    col("src_port", Id(Port)),
    col("dst_ip", Id(Address)),
    col("dst_port", Id(Port)),
    col("proto", Cat),
    col("service", Cat),
    col("duration", Num),
    col("src_bytes", Num),
    col("dst_bytes", Num),
    col("conn_state", Cat),
    col("missed_bytes", Num),
    col("src_pkts", Num),
    col("src_ip_bytes", Num),
    col("dst_pkts", Num),
    col("dst_ip_bytes", Num),
    col("dns_query", Cat),
    col("dns_qclass", Cat),
    col("dns_qtype", Cat),
    col("dns_rcode", Cat),
    col("dns_AA", Cat),
    col("dns_RD", Cat),
    col("dns_RA", Cat),
    col("dns_rejected", Cat),
    col("ssl_version", Cat),
    col("ssl_cipher", Cat),
    col("ssl_resumed", Cat),
    col("ssl_established", Cat),
    col("ssl_subject", Cat),
    col("ssl_issuer", Cat),
    col("http_trans_depth", Num),
    col("http_method", Cat),
    col("http_uri", Cat),
    col("http_version", Cat),
    col("http_request_body_len", Num),
    col("http_response_body_len", Num),
    col("http_status_code", Cat),
    col("http_user_agent", Cat),
    col("http_orig_mime_types", Cat),
    col("http_resp_mime_types", Cat),
    col("weird_name", Cat),
    col("weird_addl", Cat),
    col("weird_notice", Cat),
    col("label", Role::Label),
    col("type", Role::Type),
];

/// The two columns only the full `Network_dataset_N.csv` files have.
pub const FULL_ONLY: [Column; 2] = [extra("ts", Id(Timestamp)), extra("http_referrer", Cat)];

/// The ten traffic classes (`type` values), in the order used for class indices.
pub const CLASSES: [&str; 10] = [
    "normal",
    "backdoor",
    "ddos",
    "dos",
    "injection",
    "mitm",
    "password",
    "ransomware",
    "scanning",
    "xss",
];

/// Rows per class in the real `train_test_network.csv` (same order as [`CLASSES`]); 211,043 in all.
pub const TRAIN_TEST_COUNTS: [usize; 10] = [
    50_000, 20_000, 20_000, 20_000, 20_000, 1_043, 20_000, 20_000, 20_000, 20_000,
];

/// The index of class `name` in [`CLASSES`] (exact, lower-case match).
pub fn class_index(name: &str) -> Option<u8> {
    CLASSES.iter().position(|c| *c == name).map(|i| i as u8)
}

/// Which of the two published layouts a file follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// `train_test_network.csv`: 44 columns.
    TrainTest,
    /// `Network_dataset_N.csv`: 46 columns (adds `ts`, `http_referrer`).
    Full,
}

impl Layout {
    /// The columns of this layout (file order of the published files; a file may order them otherwise).
    pub fn columns(self) -> Vec<Column> {
        match self {
            Layout::TrainTest => TRAIN_TEST.to_vec(),
            Layout::Full => {
                let mut v = Vec::with_capacity(46);
                v.push(FULL_ONLY[0]);
                for c in TRAIN_TEST {
                    v.push(c);
                    if c.name == "http_uri" {
                        v.push(FULL_ONLY[1]);
                    }
                }
                v
            }
        }
    }
}

/// Every known column, both layouts.
pub fn all_columns() -> impl Iterator<Item = Column> {
    TRAIN_TEST.into_iter().chain(FULL_ONLY)
}

/// Looks a header name up, case-insensitively (surrounding spaces and a UTF-8 byte-order mark ignored).
pub fn lookup(header: &str) -> Option<Column> {
    let h = header.trim_start_matches('\u{feff}').trim();
    all_columns().find(|c| c.name.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_have_the_published_column_counts() {
        assert_eq!(Layout::TrainTest.columns().len(), 44);
        let full = Layout::Full.columns();
        assert_eq!(full.len(), 46);
        assert_eq!(full[0].name, "ts");
        let numeric = TRAIN_TEST
            .iter()
            .filter(|c| c.role == Role::Numeric)
            .count();
        let cat = TRAIN_TEST
            .iter()
            .filter(|c| c.role == Role::Categorical)
            .count();
        assert_eq!((numeric, cat), (11, 27));
        assert_eq!(TRAIN_TEST_COUNTS.iter().sum::<usize>(), 211_043);
        assert_eq!(class_index("mitm"), Some(5));
        assert_eq!(class_index("MITM"), None);
        assert_eq!(lookup("\u{feff}DNS_aa ").map(|c| c.name), Some("dns_AA"));
    }
}
