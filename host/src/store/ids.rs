//! Public identifiers and API keys: random, prefixed by what they name
//! (`pay_…`, `dsp_…`), so a leaked id says what it is and reveals no count.

/// Crockford's base32 alphabet, lower case: no i, l, o, u.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `bytes` random bytes from the operating system, base32-encoded.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The OS random source failing is not something a caller can recover
    // from; refusing to mint ids is the only safe answer.
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    encode(&buf)
}

fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// A new public id: `prefix_` and 16 base32 characters (80 random bits).
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_token(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_random_and_url_safe() {
        let a = new_id("pay");
        let b = new_id("pay");
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 16);
        assert!(a[4..].bytes().all(|c| ALPHABET.contains(&c)));
        assert_eq!(encode(&[0xff, 0xff, 0xff, 0xff, 0xff]), "zzzzzzzz");
    }
}
