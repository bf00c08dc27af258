//! How many pages a PDF has, from its structure, reading a bounded part.
//!
//! Two places say it (ISO 32000-1): a linearized file's first object gives
//! its page count as `/N` (Annex F.3.3), and the root of the page tree, a
//! dictionary of `/Type /Pages`, gives it as `/Count` (§7.7.3.2). The root
//! lies anywhere, so only the first and last [`WINDOW`] bytes are searched
//! (a whole file below twice that), where writers put it in practice. A
//! file whose page tree is compressed in an object stream (PDF 1.5) shows
//! neither: then the count is guessed from the file's size.

use super::payload::Payload;

/// Bytes read at each end of a PDF.
pub const WINDOW: usize = 64 * 1024;

/// Bytes per page assumed when the count cannot be read (a text page takes
/// a few kilobytes, a scanned one a few hundred).
pub const BYTES_PER_PAGE_GUESS: usize = 20 * 1024;

/// The pages of a PDF: read from it where it says, else guessed from its
/// size (a PDF's cost is a guess either way: see [`super::content`]).
pub fn pages(pdf: &Payload) -> u32 {
    let len = pdf.len();
    let head = pdf.bytes(0, WINDOW.min(len));
    if !head.starts_with(b"%PDF-") {
        return guess(len);
    }
    if let Some(n) = linearized_pages(&head) {
        return n;
    }
    let tail_from = len.saturating_sub(WINDOW).max(head.len());
    let tail = if tail_from < len { pdf.bytes(tail_from, len - tail_from) } else { Vec::new() };
    page_tree_count(&head).max(page_tree_count(&tail)).unwrap_or_else(|| guess(len))
}

fn guess(len: usize) -> u32 {
    u32::try_from(len.div_ceil(BYTES_PER_PAGE_GUESS).max(1)).unwrap_or(u32::MAX)
}

/// `/N` of a `/Linearized` dictionary near the start of the file.
fn linearized_pages(head: &[u8]) -> Option<u32> {
    let at = find(&head[..head.len().min(2048)], b"/Linearized")?;
    let dict = dictionary_around(head, at)?;
    number_after(dict, b"/N")
}

/// The largest `/Count` of a `/Type /Pages` dictionary in `bytes` (the
/// root's count is the whole tree's, so the largest).
fn page_tree_count(bytes: &[u8]) -> Option<u32> {
    let mut best = None;
    let mut from = 0;
    while let Some(at) = find(&bytes[from..], b"/Count").map(|at| from + at) {
        from = at + 1;
        let Some(dict) = dictionary_around(bytes, at) else {
            continue;
        };
        if is_pages_tree(dict) {
            best = best.max(number_after(dict, b"/Count"));
        }
    }
    best
}

/// Whether a dictionary says `/Type /Pages` (with any white space between).
fn is_pages_tree(dict: &[u8]) -> bool {
    let Some(at) = find(dict, b"/Type") else {
        return false;
    };
    let rest = &dict[at + 5..];
    let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
    rest.starts_with(b"/Pages") && !rest.get(6).is_some_and(u8::is_ascii_alphanumeric)
}

/// The innermost `<<` … `>>` around position `at`.
fn dictionary_around(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let start = bytes[..at].windows(2).rposition(|w| w == b"<<")?;
    let end = at + find(&bytes[at..], b">>")?;
    Some(&bytes[start..end])
}

/// The whole number after a key such as `/Count`, where it is one.
fn number_after(dict: &[u8], key: &[u8]) -> Option<u32> {
    let mut from = 0;
    while let Some(at) = find(&dict[from..], key).map(|at| from + at) {
        from = at + key.len();
        let rest = &dict[from..];
        // `/N` must not match `/Names`.
        if rest.first().is_some_and(u8::is_ascii_alphanumeric) {
            continue;
        }
        let digits: Vec<u8> = rest.iter().skip_while(|b| b.is_ascii_whitespace()).take_while(|b| b.is_ascii_digit()).copied().collect();
        if let Ok(n) = std::str::from_utf8(&digits).unwrap_or("").parse::<u32>() {
            return Some(n);
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_tree_root_gives_the_count_not_its_kids_or_outlines() {
        let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R /Outlines 9 0 R >> endobj\n\
            9 0 obj << /Type /Outlines /Count 40 >> endobj\n\
            2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 12 >> endobj\n\
            3 0 obj << /Type/Pages /Parent 2 0 R /Count 7 >> endobj\n";
        assert_eq!(page_tree_count(pdf), Some(12));
        assert_eq!(page_tree_count(b"<< /Type /Page /Count 3 >>"), None);
    }

    #[test]
    fn a_linearized_file_says_its_pages_first() {
        let head = b"%PDF-1.7\n%\xE2\xE3\n12 0 obj\n<< /Linearized 1 /L 83412 /H [ 700 200 ] /O 14 /E 9000 /N 37 /T 83000 >>\nendobj\n";
        assert_eq!(linearized_pages(head), Some(37));
        assert_eq!(number_after(b"<< /Names 3 /N 4 >>", b"/N"), Some(4));
    }
}
