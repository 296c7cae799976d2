//! The file's layering: where each revision ends, and whether what follows the last one is
//! part of any revision at all.

/// Offsets just past each `%%EOF` marker (and its end-of-line), in file order.
pub(crate) fn revision_ends(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut from = 0;
    while let Some(pos) = find(bytes, b"%%EOF", from) {
        let mut end = pos + 5;
        // One end-of-line belongs to the marker: CR, LF or CR LF.
        if bytes.get(end) == Some(&b'\r') {
            end += 1;
        }
        if bytes.get(end) == Some(&b'\n') {
            end += 1;
        }
        ends.push(end);
        from = pos + 5;
    }
    ends
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Whether the bytes after the last revision are only whitespace (some writers pad).
pub(crate) fn trailing_garbage(bytes: &[u8], ends: &[usize]) -> bool {
    let last = ends.last().copied().unwrap_or(0);
    bytes
        .get(last..)
        .is_some_and(|rest| rest.iter().any(|b| !b.is_ascii_whitespace() && *b != 0))
}

/// For an end offset, which revision (1-based) it closes; tolerates trailing whitespace.
pub(crate) fn revision_at(ends: &[usize], bytes: &[u8], end: usize) -> Option<usize> {
    ends.iter()
        .position(|&e| {
            e == end
                || (end > e
                    && bytes
                        .get(e..end)
                        .is_some_and(|gap| gap.iter().all(u8::is_ascii_whitespace)))
                || (end < e
                    && end >= e.saturating_sub(2)
                    && bytes
                        .get(end..e)
                        .is_some_and(|g| g.iter().all(u8::is_ascii_whitespace)))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_revisions() {
        let file = b"%PDF-1.7\n...%%EOF\nmore%%EOF\r\n";
        let ends = revision_ends(file);
        assert_eq!(ends, vec![18, 29]);
        assert!(!trailing_garbage(file, &ends));
        assert!(trailing_garbage(
            b"x%%EOF\nappended",
            &revision_ends(b"x%%EOF\nappended")
        ));
        assert_eq!(revision_at(&ends, file, 18), Some(1));
        assert_eq!(revision_at(&ends, file, 17), Some(1));
        assert_eq!(revision_at(&ends, file, 10), None);
    }
}
