//! File classification by content: photo, video, document or other.
//!
//! The first bytes of a file decide (magic numbers through the `infer`
//! crate, plus ISO-BMFF brands for camera RAW and HEIF that it does not
//! know); text that is valid UTF-8 is a document. The extension is only
//! consulted when the content says nothing (e.g. an unknown binary format),
//! so a JPEG renamed `.txt` is still a photo.

use crate::api::FileClass;

/// How many leading bytes classification looks at.
pub(crate) const SNIFF_LEN: usize = 8192;

/// Classifies a file from its first bytes (up to [`SNIFF_LEN`]) and its name.
pub(crate) fn classify(head: &[u8], name: &str) -> FileClass {
    if let Some(class) = by_iso_brand(head) {
        return class;
    }
    if let Some(kind) = infer::get(head) {
        use infer::MatcherType::*;
        match kind.matcher_type() {
            Image => return FileClass::Photo,
            Video => return FileClass::Video,
            Doc | Book | Text => return FileClass::Document,
            Archive if kind.mime_type() == "application/pdf" || kind.extension() == "rtf" => {
                return FileClass::Document
            }
            _ => {}
        }
    }
    if !head.is_empty() && looks_like_text(head) {
        return FileClass::Document;
    }
    by_extension(name)
}

/// ISO base media files name their flavour in the `ftyp` box.
fn by_iso_brand(head: &[u8]) -> Option<FileClass> {
    if head.len() < 12 || &head[4..8] != b"ftyp" {
        return None;
    }
    match &head[8..12] {
        b"crx " | b"heic" | b"heix" | b"mif1" | b"msf1" | b"avif" => Some(FileClass::Photo),
        b"isom" | b"iso2" | b"mp41" | b"mp42" | b"qt  " | b"M4V " | b"avc1" | b"3gp4" | b"3gp5" => {
            Some(FileClass::Video)
        }
        _ => None,
    }
}

/// UTF-8 without NUL or other control bytes than whitespace. A multi-byte
/// character cut at the end of the sniffed window is allowed.
fn looks_like_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => match std::str::from_utf8(&head[..e.valid_up_to()]) {
            Ok(s) => s,
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    valid
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
}

fn by_extension(name: &str) -> FileClass {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" | "png" | "heic" | "heif" | "tif" | "tiff" | "cr2" | "cr3" | "nef"
        | "arw" | "dng" | "raf" | "orf" | "rw2" | "webp" | "gif" => FileClass::Photo,
        "mp4" | "mov" | "m4v" | "avi" | "mkv" | "mts" | "m2ts" | "3gp" => FileClass::Video,
        "pdf" | "doc" | "docx" | "xls" | "xlsx" | "ppt" | "pptx" | "odt" | "ods" | "txt" | "md"
        | "csv" | "json" | "rtf" | "pages" | "numbers" => FileClass::Document,
        _ => FileClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_wins_over_extension() {
        let jpeg = b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08rest";
        assert_eq!(classify(jpeg, "notes.txt"), FileClass::Photo);
        let cr3 = b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom";
        assert_eq!(classify(cr3, "IMG_1.CR3"), FileClass::Photo);
        let mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2";
        assert_eq!(classify(mp4, "clip.jpg"), FileClass::Video);
        assert_eq!(classify(b"%PDF-1.7\n...", "contract"), FileClass::Document);
        assert_eq!(
            classify(b"name,table\nAda,1\n", "guests.bin"),
            FileClass::Document
        );
        assert_eq!(
            classify("Gäste – 婚礼\n".as_bytes(), "x"),
            FileClass::Document
        );
    }

    #[test]
    fn unknown_binary_falls_back_to_extension() {
        let junk = [0u8, 1, 2, 3, 200, 201, 0, 7];
        assert_eq!(classify(&junk, "a.CR2"), FileClass::Photo);
        assert_eq!(classify(&junk, "a.bin"), FileClass::Other);
        assert_eq!(classify(b"", "empty.pdf"), FileClass::Document);
    }

    #[test]
    fn cut_multibyte_char_is_still_text() {
        let s = "ab€".as_bytes();
        assert!(looks_like_text(&s[..s.len() - 1]));
    }
}
