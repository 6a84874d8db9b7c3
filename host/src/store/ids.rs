//! Public identifiers and API keys, prefixed by what they name (`pay_…`,
//! `dsp_…`), so a leaked id says what it is. Keys are wholly random. Ids
//! start with their creation time (milliseconds) and end with random bits,
//! like a ULID: they reveal no count, and the unique indexes on them grow at
//! one end instead of taking inserts all over, which keeps a sweep writing
//! hundreds of thousands of evaluations and messages from thrashing pages.

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

/// A new public id: `prefix_` and 16 base32 characters: 40 bits of
/// milliseconds since 2020 (good until 2054), then 40 random bits.
pub(crate) fn new_id(prefix: &str) -> String {
    const EPOCH_2020_MS: u128 = 1_577_836_800_000;
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().saturating_sub(EPOCH_2020_MS)) as u64;
    let mut bytes = [0u8; 10];
    bytes[..5].copy_from_slice(&millis.to_be_bytes()[3..]);
    getrandom::fill(&mut bytes[5..]).expect("the operating system's random source failed");
    format!("{prefix}_{}", encode(&bytes))
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
        // Later ids sort after earlier ones (the time comes first).
        std::thread::sleep(std::time::Duration::from_millis(2));
        let c = new_id("pay");
        assert!(c > a && c > b, "{a} {b} {c}");
    }
}
