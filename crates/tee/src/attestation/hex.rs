//! Lower-case hex for evidence bytes in JSON.

/// Lower-case hex of `b` (the `hex` crate).
pub fn encode_hex(b: &[u8]) -> String {
    ::hex::encode(b)
}

/// Bytes of a hex string (either case; surrounding whitespace ignored; the `hex` crate).
///
/// # Errors
/// A message naming the first bad character or an odd length.
pub fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    ::hex::decode(s.trim()).map_err(|e| e.to_string())
}

pub(crate) mod serde_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode_hex(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        super::decode_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let b: Vec<u8> = (0..=255).collect();
        assert_eq!(super::decode_hex(&super::encode_hex(&b)).unwrap(), b);
        assert_eq!(super::decode_hex("0aFF").unwrap(), vec![10, 255]);
        assert!(super::decode_hex("abc").is_err());
        assert!(super::decode_hex("zz").is_err());
    }
}
