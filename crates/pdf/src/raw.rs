//! Byte-exact access to objects of the original file.
//!
//! An incremental update must re-emit the page, catalog and AcroForm objects it changes. Going
//! through lopdf's object model would rewrite every number as an `f32` (`595.27559` becomes
//! `595.2756`), and validators such as pyHanko compare the old and new object key by key: a
//! page whose MediaBox "changed" turns an allowed signature into an unexplained modification.
//! So we copy the original bytes of every entry we do not touch and only add or replace the
//! keys the signature needs. This module is the small lexer that makes that possible; it only
//! finds where values begin and end, it does not interpret them.

use std::ops::Range;

use crate::error::PdfError;

/// Nesting deeper than this is refused: real files stay far below, crafted ones recurse forever.
const MAX_DEPTH: usize = 256;

fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

fn is_delimiter(byte: u8) -> bool {
    matches!(
        byte,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(byte: u8) -> bool {
    !is_whitespace(byte) && !is_delimiter(byte)
}

fn malformed(what: &str, at: usize) -> PdfError {
    PdfError::Malformed(format!("{what} at byte {at}"))
}

/// Skips whitespace and comments.
pub fn skip_ws(buf: &[u8], mut pos: usize) -> usize {
    while let Some(&byte) = buf.get(pos) {
        if is_whitespace(byte) {
            pos += 1;
        } else if byte == b'%' {
            while let Some(&c) = buf.get(pos) {
                if c == b'\r' || c == b'\n' {
                    break;
                }
                pos += 1;
            }
        } else {
            break;
        }
    }
    pos
}

/// End of a run of regular characters (a number, keyword or the body of a name).
fn token_end(buf: &[u8], mut pos: usize) -> usize {
    while buf.get(pos).is_some_and(|&b| is_regular(b)) {
        pos += 1;
    }
    pos
}

fn is_unsigned_int(token: &[u8]) -> bool {
    !token.is_empty() && token.iter().all(u8::is_ascii_digit)
}

/// Returns the end of the value starting at `pos` (which must not be whitespace).
pub fn value_end(buf: &[u8], pos: usize) -> Result<usize, PdfError> {
    value_end_depth(buf, pos, 0)
}

fn value_end_depth(buf: &[u8], pos: usize, depth: usize) -> Result<usize, PdfError> {
    if depth > MAX_DEPTH {
        return Err(malformed("objects nested too deeply", pos));
    }
    let Some(&first) = buf.get(pos) else {
        return Err(malformed("unexpected end of file", pos));
    };
    match first {
        b'<' if buf.get(pos + 1) == Some(&b'<') => {
            let mut cur = pos + 2;
            loop {
                cur = skip_ws(buf, cur);
                match buf.get(cur) {
                    Some(b'>') if buf.get(cur + 1) == Some(&b'>') => return Ok(cur + 2),
                    Some(_) => cur = value_end_depth(buf, cur, depth + 1)?,
                    None => return Err(malformed("unterminated dictionary", pos)),
                }
            }
        }
        b'<' => buf[pos..]
            .iter()
            .position(|&b| b == b'>')
            .map(|off| pos + off + 1)
            .ok_or_else(|| malformed("unterminated hex string", pos)),
        b'[' => {
            let mut cur = pos + 1;
            loop {
                cur = skip_ws(buf, cur);
                match buf.get(cur) {
                    Some(b']') => return Ok(cur + 1),
                    Some(_) => cur = value_end_depth(buf, cur, depth + 1)?,
                    None => return Err(malformed("unterminated array", pos)),
                }
            }
        }
        b'(' => {
            let mut level = 0usize;
            let mut cur = pos;
            while let Some(&byte) = buf.get(cur) {
                match byte {
                    b'\\' => cur += 1,
                    b'(' => level += 1,
                    b')' => {
                        level -= 1;
                        if level == 0 {
                            return Ok(cur + 1);
                        }
                    }
                    _ => {}
                }
                cur += 1;
            }
            Err(malformed("unterminated string", pos))
        }
        b'/' => Ok(token_end(buf, pos + 1)),
        b'>' | b']' | b')' | b'{' | b'}' => Err(malformed("unexpected delimiter", pos)),
        _ => {
            let end = token_end(buf, pos);
            if end == pos {
                return Err(malformed("unexpected byte", pos));
            }
            // `N G R` is one value: look ahead for the generation and the R.
            if is_unsigned_int(&buf[pos..end]) {
                let gen_start = skip_ws(buf, end);
                let gen_end = token_end(buf, gen_start);
                if gen_end > gen_start && is_unsigned_int(&buf[gen_start..gen_end]) {
                    let r_start = skip_ws(buf, gen_end);
                    let r_end = token_end(buf, r_start);
                    if &buf[r_start..r_end] == b"R" {
                        return Ok(r_end);
                    }
                }
            }
            Ok(end)
        }
    }
}

/// Decodes `#xx` escapes of a name body (without the slash) so keys compare by meaning.
fn decode_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'#'
            && let Some(hex) = raw.get(i + 1..i + 3)
            && let Ok(text) = std::str::from_utf8(hex)
            && let Ok(byte) = u8::from_str_radix(text, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

/// One top-level entry of a dictionary, as byte ranges into the source.
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// The decoded key, without the slash.
    pub key: Vec<u8>,
    /// The key as written, slash included.
    pub key_raw: Range<usize>,
    /// The value as written.
    pub value: Range<usize>,
}

/// Splits the dictionary starting at `pos` into its entries.
pub fn dict_entries(buf: &[u8], pos: usize) -> Result<Vec<RawEntry>, PdfError> {
    if buf.get(pos..pos + 2) != Some(b"<<") {
        return Err(malformed("expected a dictionary", pos));
    }
    let mut entries = Vec::new();
    let mut cur = pos + 2;
    loop {
        cur = skip_ws(buf, cur);
        match buf.get(cur) {
            Some(b'>') if buf.get(cur + 1) == Some(&b'>') => return Ok(entries),
            Some(b'/') => {
                let key_end = token_end(buf, cur + 1);
                let value_start = skip_ws(buf, key_end);
                let value_stop = value_end(buf, value_start)?;
                entries.push(RawEntry {
                    key: decode_name(&buf[cur + 1..key_end]),
                    key_raw: cur..key_end,
                    value: value_start..value_stop,
                });
                cur = value_stop;
            }
            Some(_) => return Err(malformed("expected a name as dictionary key", cur)),
            None => return Err(malformed("unterminated dictionary", pos)),
        }
    }
}

/// Finds the value of indirect object `id` whose header starts at `offset` (`N G obj`).
pub fn indirect_value(buf: &[u8], offset: usize, id: u32) -> Result<Range<usize>, PdfError> {
    if offset >= buf.len() {
        return Err(PdfError::Damaged(format!(
            "object {id} is located past the end of the file"
        )));
    }
    let num_start = skip_ws(buf, offset);
    let num_end = token_end(buf, num_start);
    let gen_start = skip_ws(buf, num_end);
    let gen_end = token_end(buf, gen_start);
    let kw_start = skip_ws(buf, gen_end);
    let kw_end = kw_start + 3;
    let number = std::str::from_utf8(&buf[num_start..num_end])
        .ok()
        .and_then(|s| s.parse::<u32>().ok());
    if number != Some(id)
        || !is_unsigned_int(&buf[gen_start..gen_end])
        || buf.get(kw_start..kw_end) != Some(b"obj")
    {
        return Err(PdfError::Damaged(format!(
            "object {id} is not at the offset the cross-reference table gives"
        )));
    }
    let start = skip_ws(buf, kw_end);
    let end = value_end(buf, start)?;
    Ok(start..end)
}

/// Rebuilds a dictionary: original entries in their original bytes, minus the keys in
/// `replace`, then every `(key, value)` of `replace` whose value is `Some`.
pub fn patch_dict(
    buf: &[u8],
    dict_start: usize,
    replace: &[(&[u8], Option<Vec<u8>>)],
) -> Result<Vec<u8>, PdfError> {
    let entries = dict_entries(buf, dict_start)?;
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"<<");
    for entry in &entries {
        if replace.iter().any(|(key, _)| *key == entry.key.as_slice()) {
            continue;
        }
        out.extend_from_slice(&buf[entry.key_raw.clone()]);
        out.push(b' ');
        out.extend_from_slice(&buf[entry.value.clone()]);
        out.push(b'\n');
    }
    for (key, value) in replace {
        if let Some(value) = value {
            out.push(b'/');
            out.extend_from_slice(key);
            out.push(b' ');
            out.extend_from_slice(value);
            out.push(b'\n');
        }
    }
    out.extend_from_slice(b">>");
    Ok(out)
}

/// The raw value of `key` in the dictionary at `dict_start`, if present.
pub fn dict_get(buf: &[u8], dict_start: usize, key: &[u8]) -> Result<Option<Range<usize>>, PdfError> {
    Ok(dict_entries(buf, dict_start)?
        .into_iter()
        .find(|entry| entry.key == key)
        .map(|entry| entry.value))
}

/// Appends items to the array written at `range` (which must be `[ … ]`), keeping its bytes.
pub fn append_to_array(buf: &[u8], range: Range<usize>, items: &[u8]) -> Result<Vec<u8>, PdfError> {
    let raw = buf
        .get(range.clone())
        .filter(|raw| raw.first() == Some(&b'[') && raw.last() == Some(&b']'))
        .ok_or_else(|| malformed("expected an array", range.start))?;
    let mut out = Vec::with_capacity(raw.len() + items.len() + 2);
    out.extend_from_slice(&raw[..raw.len() - 1]);
    out.push(b' ');
    out.extend_from_slice(items);
    out.push(b']');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_ends() {
        let cases: &[(&[u8], usize)] = &[
            (b"12 0 R /X", 6),
            (b"12 0 /X", 2),
            (b"595.27559 ]", 9),
            (b"(a\\)b(c)) x", 9),
            (b"<0aff> x", 6),
            (b"<< /A [1 2 << /B (>>) >>] >> x", 28),
            (b"/Name#20x y", 9),
            (b"true", 4),
        ];
        for (input, end) in cases {
            assert_eq!(
                value_end(input, 0).ok(),
                Some(*end),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn patch_keeps_raw_numbers() {
        let src = b"<< /Type /Page /MediaBox [0 0 595.27559 841.88976] /Annots [3 0 R] /Parent 2 0 R >>";
        let out = patch_dict(src, 0, &[(b"Annots", Some(b"[3 0 R 9 0 R]".to_vec()))]).ok();
        let out = String::from_utf8(out.unwrap_or_default()).unwrap_or_default();
        assert!(out.contains("[0 0 595.27559 841.88976]"));
        assert!(out.contains("/Annots [3 0 R 9 0 R]"));
        assert_eq!(out.matches("/Annots").count(), 1);
    }

    #[test]
    fn indirect_header_checked() {
        let src = b"garbage 7 0 obj\n<< /A 1 >>\nendobj";
        assert_eq!(indirect_value(src, 8, 7).ok(), Some(16..26));
        assert!(indirect_value(src, 8, 8).is_err());
        assert!(indirect_value(src, 0, 7).is_err());
    }

    #[test]
    fn escaped_keys_decode() {
        let src = b"<< /Annot#73 [1 0 R] >>";
        let entries = dict_entries(src, 0).unwrap_or_default();
        assert_eq!(entries.first().map(|e| e.key.clone()), Some(b"Annots".to_vec()));
    }

    proptest::proptest! {
        #[test]
        fn lexer_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = value_end(&bytes, 0);
            let _ = dict_entries(&bytes, 0);
            let _ = indirect_value(&bytes, 0, 1);
        }
    }
}
