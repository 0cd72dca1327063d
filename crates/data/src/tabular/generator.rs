//! A SYNTHETIC TON_IoT generator: files in the exact 44-column layout of `train_test_network.csv`, with the
//! real file's class proportions scaled to the requested row count, and per-class flow statistics drawn from
//! documented traffic behaviour. **The rows are synthetic**: they are not TON_IoT data, and numbers measured
//! on them say how the code behaves, not how a model does on the real dataset.
//!
//! Per class (Zeek `conn`/`dns`/`http`/`ssl` fields, as in the real file; behaviour from the attack
//! descriptions of Moustafa 2021, "A new distributed architecture for evaluating AI-based security systems
//! at the edge: network TON_IoT datasets", §4, and Zeek's connection-state documentation):
//! - normal: a mix of DNS lookups, HTTP(S) browsing with real user agents and certificate subjects (commas
//!   inside quoted fields), and plain TCP/UDP flows, mostly `SF`;
//! - scanning: many very short flows to random ports, `S0`/`REJ`/`RSTO`/`OTH` states, zero payload, one or
//!   two 40-60 byte packets;
//! - dos / ddos: floods on one destination (80/443/53): high packet counts within short durations, little
//!   or no reply; dos from one source, ddos from many (addresses are identifiers, so the two classes differ
//!   only in rate statistics — as in the real data, they are the hardest pair);
//! - password: repeated SSH/FTP login sessions (a few seconds, a few kB each way, `SF`/`RSTR`/`S3`) and some
//!   HTTP form logins;
//! - xss / injection: HTTP requests with long URIs and bodies carrying script tags or SQL (commas and
//!   quotes included), scanner user agents, 200/302/404/500 replies;
//! - backdoor / ransomware: unusual ports (4444, 31337, 6667, ...) and SMB/RPC with odd, often large sizes
//!   and long durations;
//! - mitm: ARP-spoofing side effects seen in the conn/dns logs: unmatched or rejected DNS replies,
//!   NXDOMAIN, authoritative answers from a non-server, missed bytes, Zeek `weird` entries.
//!
//! Deterministic for a seed (`ChaCha8Rng`); rows are emitted in a shuffled class order.

use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use super::schema::{CLASSES, TRAIN_TEST, TRAIN_TEST_COUNTS};
use crate::{Error, Result};

/// Settings of the SYNTHETIC generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TonIotGenConfig {
    /// Rows to write (the real file has 211,043).
    pub rows: usize,
    /// Seed of every random draw.
    pub seed: u64,
}

/// Rows per class for `rows` in all: the real file's proportions ([`TRAIN_TEST_COUNTS`]) scaled by
/// largest remainders, so the counts sum to `rows` exactly (and equal the real counts at 211,043).
pub fn class_counts(rows: usize) -> [usize; 10] {
    let total: usize = TRAIN_TEST_COUNTS.iter().sum();
    let mut out = [0usize; 10];
    let mut rem: Vec<(usize, usize)> = Vec::with_capacity(10);
    for (i, &c) in TRAIN_TEST_COUNTS.iter().enumerate() {
        let exact = c as u128 * rows as u128;
        out[i] = (exact / total as u128) as usize;
        rem.push(((exact % total as u128) as usize, i));
    }
    let missing = rows - out.iter().sum::<usize>();
    rem.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in rem.iter().take(missing) {
        out[i] += 1;
    }
    out
}

/// One flow: the 44 fields as text, in [`TRAIN_TEST`] order.
struct Flow([String; 44]);

impl Flow {
    fn new() -> Self {
        let mut f = Flow(std::array::from_fn(|_| "-".to_string()));
        for name in [
            "duration",
            "src_bytes",
            "dst_bytes",
            "missed_bytes",
            "src_pkts",
            "src_ip_bytes",
            "dst_pkts",
            "dst_ip_bytes",
            "http_request_body_len",
            "http_response_body_len",
        ] {
            f.set(name, "0");
        }
        for name in [
            "dns_qclass",
            "dns_qtype",
            "dns_rcode",
            "http_trans_depth",
            "http_status_code",
        ] {
            f.set(name, "0");
        }
        f
    }
    fn set(&mut self, name: &str, v: impl ToString) {
        if let Some(i) = TRAIN_TEST.iter().position(|c| c.name == name) {
            self.0[i] = v.to_string();
        }
    }
}

struct Gen {
    rng: ChaCha8Rng,
}

const DOMAINS: [&str; 10] = [
    "www.google.com",
    "time.windows.com",
    "api.weather.com",
    "mqtt.iot-hub.local",
    "ntp.ubuntu.com",
    "graph.facebook.com",
    "connectivitycheck.gstatic.com",
    "fridge-telemetry.example",
    "www.msftncsi.com",
    "update.tplink.com",
];
const UAS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:68.0) Gecko/20100101 Firefox/68.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 13_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "okhttp/3.12.1",
];
const SCAN_UAS: [&str; 3] = [
    "Mozilla/5.0 (compatible; Nikto/2.1.6)",
    "sqlmap/1.4#stable (http://sqlmap.org)",
    "Mozilla/5.0 (Windows NT 6.1; rv:45.0) Gecko/20100101 \"Firefox/45.0\"",
];
const SUBJECTS: [&str; 3] = [
    "CN=*.google.com,O=Google LLC,L=Mountain View,ST=California,C=US",
    "CN=*.azure-devices.net",
    "CN=www.example.org,O=\"Example, Inc.\",C=AU",
];
const ISSUERS: [&str; 2] = [
    "CN=GTS CA 1O1,O=Google Trust Services,C=US",
    "CN=DigiCert SHA2 Secure Server CA,O=DigiCert Inc,C=US",
];

impl Gen {
    fn ln(&mut self, median: f64, sigma: f64) -> f64 {
        LogNormal::new(median.ln(), sigma)
            .map(|d| d.sample(&mut self.rng))
            .unwrap_or(median)
    }
    fn int(&mut self, median: f64, sigma: f64) -> u64 {
        self.ln(median, sigma).round() as u64
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.rng.gen_range(0..xs.len())]
    }
    fn ip(&mut self, net: &str) -> String {
        format!("{net}.{}", self.rng.gen_range(1..255))
    }
    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p.clamp(0.0, 1.0))
    }

    /// Sets packet and IP-byte counts consistent with payloads (40-byte headers per packet).
    fn traffic(&mut self, f: &mut Flow, dur: f64, sb: u64, db: u64, sp: u64, dp: u64) {
        f.set("duration", format!("{dur:.6}"));
        f.set("src_bytes", sb);
        f.set("dst_bytes", db);
        f.set("src_pkts", sp);
        f.set("dst_pkts", dp);
        f.set("src_ip_bytes", sb + 40 * sp + self.rng.gen_range(0..8) * sp);
        f.set("dst_ip_bytes", db + 40 * dp);
    }

    fn endpoints(&mut self, f: &mut Flow, src_net: &str, dst: String, dport: u32) {
        let s = self.ip(src_net);
        let sport = self.rng.gen_range(1024..65535);
        f.set("src_ip", s);
        f.set("src_port", sport);
        f.set("dst_ip", dst);
        f.set("dst_port", dport);
    }

    fn dns(&mut self, f: &mut Flow, query: &str, rcode: u32) {
        f.set("proto", "udp");
        f.set("service", "dns");
        f.set("dns_query", query);
        f.set("dns_qclass", 1);
        f.set(
            "dns_qtype",
            *[1u32, 1, 28, 16, 12].choose(&mut self.rng).unwrap_or(&1),
        );
        f.set("dns_rcode", rcode);
        f.set("dns_AA", "F");
        f.set("dns_RD", "T");
        f.set("dns_RA", "T");
        f.set("dns_rejected", "F");
        f.set("conn_state", "SF");
    }

    /// An HTTP flow; `sizes` = (request body, response body, status code).
    fn http(&mut self, f: &mut Flow, method: &str, uri: &str, ua: &str, sizes: (u64, u64, u32)) {
        let (req, resp, code) = sizes;
        f.set("proto", "tcp");
        f.set("service", "http");
        f.set("http_trans_depth", self.rng.gen_range(1..4));
        f.set("http_method", method);
        f.set("http_uri", uri);
        f.set("http_version", "1.1");
        f.set("http_request_body_len", req);
        f.set("http_response_body_len", resp);
        f.set("http_status_code", code);
        f.set("http_user_agent", ua);
        f.set(
            "http_orig_mime_types",
            if req > 0 {
                "application/x-www-form-urlencoded"
            } else {
                "-"
            },
        );
        f.set("http_resp_mime_types", "text/html");
        f.set("conn_state", "SF");
    }

    fn flow(&mut self, class: usize) -> Flow {
        let mut f = Flow::new();
        let victim = "192.168.1.190".to_string();
        match CLASSES[class] {
            "normal" => match self.rng.gen_range(0..4) {
                0 => {
                    let d = self.ip("192.168.1");
                    self.endpoints(&mut f, "192.168.1", d, 53);
                    let q = self.pick(&DOMAINS);
                    let rcode = if self.chance(0.05) { 3 } else { 0 };
                    self.dns(&mut f, q, rcode);
                    let (dur, sb, db) = (
                        self.ln(0.02, 1.0),
                        self.int(40.0, 0.3),
                        self.int(120.0, 0.5),
                    );
                    self.traffic(&mut f, dur, sb, db, 1, 1);
                }
                1 => {
                    let d = self.ip("172.217.25");
                    self.endpoints(&mut f, "192.168.1", d, 80);
                    let uri = self.pick(&["/", "/index.html", "/api/v1/status", "/favicon.ico"]);
                    let ua = self.pick(&UAS);
                    let (req, resp) = (0, self.int(3000.0, 1.2));
                    self.http(&mut f, "GET", uri, ua, (req, resp, 200));
                    let (dur, sp, dp) = (self.ln(0.3, 1.0), self.int(6.0, 0.4), self.int(6.0, 0.5));
                    let sb = self.int(350.0, 0.3);
                    self.traffic(&mut f, dur, sb, resp + 300, sp, dp);
                }
                2 => {
                    let d = self.ip("52.114.132");
                    self.endpoints(&mut f, "192.168.1", d, 443);
                    f.set("proto", "tcp");
                    f.set("service", "ssl");
                    f.set("ssl_version", self.pick(&["TLSv12", "TLSv13"]));
                    f.set("ssl_cipher", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
                    f.set("ssl_resumed", if self.chance(0.3) { "T" } else { "F" });
                    f.set("ssl_established", "T");
                    f.set("ssl_subject", self.pick(&SUBJECTS));
                    f.set("ssl_issuer", self.pick(&ISSUERS));
                    f.set("conn_state", "SF");
                    let (dur, sb, db) = (
                        self.ln(2.0, 1.5),
                        self.int(1500.0, 1.0),
                        self.int(8000.0, 1.3),
                    );
                    let (sp, dp) = (self.int(12.0, 0.6), self.int(14.0, 0.7));
                    self.traffic(&mut f, dur, sb, db, sp, dp);
                }
                _ => {
                    let d = self.ip("192.168.1");
                    let port = *[1883u32, 8883, 123, 5353]
                        .choose(&mut self.rng)
                        .unwrap_or(&1883);
                    self.endpoints(&mut f, "192.168.1", d, port);
                    f.set(
                        "proto",
                        if port == 123 || port == 5353 {
                            "udp"
                        } else {
                            "tcp"
                        },
                    );
                    f.set("conn_state", self.pick(&["SF", "SF", "SF", "S0", "SHR"]));
                    let (dur, sb, db) = (
                        self.ln(1.0, 1.5),
                        self.int(200.0, 1.0),
                        self.int(200.0, 1.0),
                    );
                    let (sp, dp) = (self.int(4.0, 0.6), self.int(4.0, 0.6));
                    self.traffic(&mut f, dur, sb, db, sp, dp);
                }
            },
            "scanning" => {
                let d = self.ip("192.168.1");
                let port = self.rng.gen_range(1..65535);
                self.endpoints(&mut f, "192.168.1", d, port);
                f.set("proto", if self.chance(0.9) { "tcp" } else { "udp" });
                f.set(
                    "conn_state",
                    self.pick(&["S0", "S0", "REJ", "REJ", "RSTO", "RSTOS0", "OTH", "SH"]),
                );
                let dur = if self.chance(0.6) {
                    0.0
                } else {
                    self.ln(0.0005, 1.0)
                };
                let (sp, dp) = (self.rng.gen_range(1..3), self.rng.gen_range(0..2));
                self.traffic(&mut f, dur, 0, 0, sp, dp);
            }
            name @ ("dos" | "ddos") => {
                let net = if name == "ddos" { "10.0" } else { "192.168.1" };
                let src = if name == "ddos" {
                    format!("{}.{}", self.ip(net), self.rng.gen_range(1..255))
                } else {
                    "192.168.1.30".into()
                };
                let port = *[80u32, 80, 443, 53].choose(&mut self.rng).unwrap_or(&80);
                self.endpoints(&mut f, net, victim, port);
                f.set("src_ip", src);
                let http = port == 80 && self.chance(0.5);
                if http {
                    let ua = self.pick(&UAS);
                    self.http(&mut f, "GET", "/", ua, (0, 0, 0));
                } else {
                    f.set("proto", if port == 53 { "udp" } else { "tcp" });
                    if port == 53 {
                        f.set("service", "dns");
                    }
                }
                f.set("conn_state", self.pick(&["S0", "OTH", "SF", "S1", "SH"]));
                let (rate, dur) = if name == "dos" {
                    (self.ln(900.0, 0.6), self.ln(0.8, 1.2))
                } else {
                    (self.ln(400.0, 0.8), self.ln(0.3, 1.2))
                };
                let sp = ((rate * dur).round() as u64).max(1);
                let dp = self.rng.gen_range(0..(sp / 20 + 2));
                let sb = sp * self.rng.gen_range(0..64);
                self.traffic(&mut f, dur, sb, dp * 10, sp, dp);
            }
            "password" => {
                let d = self.ip("192.168.1");
                let (port, svc) = *[(22u32, "ssh"), (22, "ssh"), (21, "ftp"), (80, "http")]
                    .choose(&mut self.rng)
                    .unwrap_or(&(22, "ssh"));
                self.endpoints(&mut f, "192.168.1", d, port);
                if svc == "http" {
                    let ua = self.pick(&SCAN_UAS);
                    let body = self.int(60.0, 0.2);
                    self.http(&mut f, "POST", "/dvwa/login.php", ua, (body, 1500, 302));
                } else {
                    f.set("proto", "tcp");
                    f.set("service", svc);
                }
                f.set("conn_state", self.pick(&["SF", "SF", "RSTR", "S3", "RSTO"]));
                let (dur, sb, db) = (
                    self.ln(3.0, 0.5),
                    self.int(1800.0, 0.3),
                    self.int(2600.0, 0.3),
                );
                let (sp, dp) = (self.int(18.0, 0.3), self.int(16.0, 0.3));
                self.traffic(&mut f, dur, sb, db, sp, dp);
            }
            name @ ("xss" | "injection") => {
                let d = self.ip("192.168.1");
                self.endpoints(&mut f, "192.168.1", d, 80);
                let n = self.rng.gen_range(0..1000);
                let uri = if name == "xss" {
                    match self.rng.gen_range(0..3) {
                        0 => format!("/dvwa/vulnerabilities/xss_r/?name=<script>alert(document.cookie)</script>&id={n}"),
                        1 => format!("/search.php?q=\"><img src=x onerror=alert('xss',{n})>"),
                        _ => format!("/guestbook.php?msg=%3Cscript%3Ealert(%22{n}%22)%3C/script%3E"),
                    }
                } else {
                    match self.rng.gen_range(0..3) {
                        0 => format!(
                            "/dvwa/vulnerabilities/sqli/?id=1' OR '1'='1&Submit=Submit&n={n}"
                        ),
                        1 => {
                            format!("/products.php?id={n} UNION SELECT user,password FROM users--")
                        }
                        _ => format!("/index.php?page=../../etc/passwd;cat%20/etc/shadow&x={n}"),
                    }
                };
                let method = if self.chance(0.6) { "GET" } else { "POST" };
                let ua = self.pick(&SCAN_UAS);
                let req = if method == "POST" {
                    self.int(700.0, 0.7)
                } else {
                    0
                };
                let code = *[200u32, 200, 302, 404, 500]
                    .choose(&mut self.rng)
                    .unwrap_or(&200);
                let resp = self.int(4000.0, 0.8);
                self.http(&mut f, method, &uri, ua, (req, resp, code));
                let (dur, sp, dp) = (self.ln(0.1, 1.0), self.int(5.0, 0.3), self.int(5.0, 0.3));
                let sb = uri.len() as u64 + req + 200;
                self.traffic(&mut f, dur, sb, resp + 250, sp, dp);
            }
            name @ ("backdoor" | "ransomware") => {
                let d = self.ip("192.168.1");
                if name == "backdoor" {
                    let port = *[4444u32, 31337, 6667, 1337, 12345, 5555, 8081]
                        .choose(&mut self.rng)
                        .unwrap_or(&4444);
                    self.endpoints(&mut f, "192.168.1", d, port);
                    f.set("proto", "tcp");
                    f.set("conn_state", self.pick(&["SF", "OTH", "S1", "RSTR", "SH"]));
                    let (dur, sb, db) = (
                        self.ln(40.0, 1.5),
                        self.int(333.0, 1.8),
                        self.int(77.0, 2.0),
                    );
                    let (sp, dp) = (self.int(9.0, 1.2), self.int(7.0, 1.2));
                    self.traffic(&mut f, dur, sb, db, sp, dp);
                } else {
                    let port = *[445u32, 445, 139, 135, 3389]
                        .choose(&mut self.rng)
                        .unwrap_or(&445);
                    self.endpoints(&mut f, "192.168.1", d, port);
                    f.set("proto", "tcp");
                    f.set("service", self.pick(&["smb", "smb;gssapi", "dce_rpc", "-"]));
                    f.set("conn_state", self.pick(&["SF", "S1", "RSTO", "OTH"]));
                    let (dur, sb, db) = (
                        self.ln(15.0, 1.2),
                        self.int(60_000.0, 1.5),
                        self.int(40_000.0, 1.5),
                    );
                    let (sp, dp) = (self.int(80.0, 1.0), self.int(70.0, 1.0));
                    self.traffic(&mut f, dur, sb, db, sp, dp);
                }
            }
            _ => {
                // mitm
                let d = self.ip("192.168.1");
                self.endpoints(&mut f, "192.168.1", d, 53);
                let q = self.pick(&DOMAINS);
                let rcode = *[0u32, 3, 3, 2].choose(&mut self.rng).unwrap_or(&3);
                self.dns(&mut f, q, rcode);
                f.set("dns_AA", if self.chance(0.7) { "T" } else { "F" });
                f.set("dns_rejected", if self.chance(0.5) { "T" } else { "F" });
                f.set("conn_state", self.pick(&["SHR", "SF", "OTH", "S0"]));
                f.set(
                    "weird_name",
                    self.pick(&[
                        "dns_unmatched_reply",
                        "dns_unmatched_msg",
                        "possible_split_routing",
                        "unsolicited_SYN_response",
                    ]),
                );
                f.set("weird_addl", "-");
                f.set("weird_notice", "F");
                let missed = if self.chance(0.3) {
                    self.int(500.0, 1.0)
                } else {
                    0
                };
                f.set("missed_bytes", missed);
                let (dur, sb, db) = (
                    self.ln(0.01, 2.0),
                    self.int(45.0, 0.4),
                    self.int(200.0, 0.8),
                );
                let (sp, dp) = (self.rng.gen_range(1..4), self.rng.gen_range(1..6));
                self.traffic(&mut f, dur, sb, db, sp, dp);
            }
        }
        f.set("label", u8::from(class != 0));
        f.set("type", CLASSES[class]);
        f
    }
}

/// Generates `cfg.rows` SYNTHETIC rows (plus the header) as CSV text in the real file's 44-column layout.
///
/// # Errors
/// [`Error::Invalid`] when the CSV writer fails (it writes to memory, so only on internal errors).
pub fn generate_csv(cfg: &TonIotGenConfig) -> Result<Vec<u8>> {
    let mut order: Vec<usize> = class_counts(cfg.rows)
        .iter()
        .enumerate()
        .flat_map(|(c, &n)| std::iter::repeat_n(c, n))
        .collect();
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(cfg.seed),
    };
    order.shuffle(&mut g.rng);
    let mut w = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::with_capacity(cfg.rows * 200 + 1024));
    let err = |e: csv::Error| Error::Invalid {
        what: "synthetic TON_IoT CSV".into(),
        expected: "a writable buffer".into(),
        got: e.to_string(),
    };
    w.write_record(TRAIN_TEST.iter().map(|c| c.name))
        .map_err(err)?;
    for class in order {
        let f = g.flow(class);
        w.write_record(&f.0).map_err(err)?;
    }
    w.into_inner().map_err(|e| Error::Invalid {
        what: "synthetic TON_IoT CSV".into(),
        expected: "a flushed buffer".into(),
        got: e.to_string(),
    })
}

/// Writes a SYNTHETIC TON_IoT file to `path` atomically; gzipped when the name ends in `.gz`.
///
/// # Errors
/// [`Error::Io`] naming the path.
pub fn write_synthetic(path: &Path, cfg: &TonIotGenConfig) -> Result<()> {
    let csv = generate_csv(cfg)?;
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&csv).map_err(io)?;
        enc.finish().map_err(io)?
    } else {
        csv
    };
    Ok(privsplit_io::write_atomic(path, &bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_scale_exactly_and_match_the_real_file() {
        assert_eq!(class_counts(211_043), TRAIN_TEST_COUNTS);
        for rows in [0, 1, 7, 3_000, 50_000] {
            assert_eq!(class_counts(rows).iter().sum::<usize>(), rows);
        }
        let c = class_counts(3_000);
        assert_eq!(c[0], 711); // 50,000 / 211,043 * 3,000 = 710.75
        assert_eq!(c[5], 15); // mitm: 14.83
    }

    #[test]
    fn output_is_deterministic_per_seed() {
        let a = generate_csv(&TonIotGenConfig { rows: 200, seed: 3 }).expect("gen");
        let b = generate_csv(&TonIotGenConfig { rows: 200, seed: 3 }).expect("gen");
        let c = generate_csv(&TonIotGenConfig { rows: 200, seed: 4 }).expect("gen");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
