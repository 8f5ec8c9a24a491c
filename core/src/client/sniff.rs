//! Media type sniffing from a file's first bytes (magic numbers), so that a space's type policy
//! is decided by what a file is, not by what its name claims.

/// How many leading bytes [`sniff`] looks at.
pub const SNIFF_LEN: usize = 4096;

/// The media type of content starting with `prefix` (up to [`SNIFF_LEN`] bytes; `complete` when
/// `prefix` is the whole file). Unknown binary content is `application/octet-stream`.
pub fn sniff(prefix: &[u8], complete: bool) -> &'static str {
    const OCTET: &str = "application/octet-stream";
    if prefix.starts_with(b"%PDF-") {
        return "application/pdf";
    }
    if prefix.starts_with(b"\x89PNG\r\n\x1a\n") {
        return "image/png";
    }
    if prefix.starts_with(b"\xff\xd8\xff") {
        return "image/jpeg";
    }
    if prefix.starts_with(b"GIF87a") || prefix.starts_with(b"GIF89a") {
        return "image/gif";
    }
    if prefix.starts_with(b"PK\x03\x04") || prefix.starts_with(b"PK\x05\x06") {
        // Office Open XML packages are ZIP files with a `[Content_Types].xml` part and a
        // top-level folder naming the application.
        if contains(prefix, b"[Content_Types].xml") || contains(prefix, b"_rels/") {
            if contains(prefix, b"word/") {
                return "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
            }
            if contains(prefix, b"xl/") {
                return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
            }
            if contains(prefix, b"ppt/") {
                return "application/vnd.openxmlformats-officedocument.presentationml.presentation";
            }
        }
        return "application/zip";
    }
    if is_text(prefix, complete) {
        return "text/plain";
    }
    OCTET
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// UTF-8 without control characters other than tab, line feed, form feed and carriage return.
/// A multi-byte character cut off at the end of an incomplete prefix is allowed.
fn is_text(prefix: &[u8], complete: bool) -> bool {
    if prefix.is_empty() {
        return false;
    }
    let valid = match std::str::from_utf8(prefix) {
        Ok(s) => s,
        Err(e) if !complete && e.error_len().is_none() => {
            // Only an incomplete character at the very end.
            match std::str::from_utf8(&prefix[..e.valid_up_to()]) {
                Ok(s) => s,
                Err(_) => return false,
            }
        }
        Err(_) => return false,
    };
    valid
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_decide() {
        assert_eq!(sniff(b"%PDF-1.7\n%...", false), "application/pdf");
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", false), "image/png");
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF", false), "image/jpeg");
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0", false), "image/gif");
        assert_eq!(
            sniff(b"PK\x03\x04\x14\0\0\0hello.txt", false),
            "application/zip"
        );
        let docx = b"PK\x03\x04\x14\0\x06\0[Content_Types].xml....PK\x03\x04word/document.xml";
        assert_eq!(
            sniff(docx, false),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        let xlsx = b"PK\x03\x04\x14\0\x06\0[Content_Types].xml....xl/workbook.xml";
        assert!(sniff(xlsx, false).ends_with("spreadsheetml.sheet"));
        assert_eq!(sniff("Grüße\r\n\tok".as_bytes(), true), "text/plain");
        // A cut multi-byte character at the end of a prefix is still text; in a whole file not.
        assert_eq!(sniff(&"ü".as_bytes()[..1], false), "text/plain");
        assert_eq!(
            sniff(&"aü".as_bytes()[..2], true),
            "application/octet-stream"
        );
        assert_eq!(sniff(b"MZ\x90\0\x03\0", false), "application/octet-stream");
        assert_eq!(
            sniff(b"text with \0 nul", false),
            "application/octet-stream"
        );
        assert_eq!(sniff(b"", true), "application/octet-stream");
    }
}
