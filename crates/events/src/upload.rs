//! What the HTTP gateway accepts as an upload: the object key rules, the
//! thumbnail prefix no client may write to, and the image type read from
//! the bytes themselves.
//!
//! The client's `Content-Type` header is never trusted: a stored object is
//! served back with the type [`sniff_image`] found in its first bytes, so an
//! HTML page uploaded as `image/jpeg` (or a JPEG uploaded as `text/html`)
//! cannot make the gateway's origin serve HTML.

/// Longest object key accepted, in bytes (the S3 limit).
pub const MAX_UPLOAD_KEY_BYTES: usize = 1024;

/// Why an upload is refused; [`UploadError::http_status`] is the answer's code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// The object key breaks a key rule: fix the key (HTTP 400).
    #[error("invalid object key: {reason}")]
    InvalidKey {
        /// Which rule, in words a client can act on.
        reason: &'static str,
    },
    /// The key lies under the thumbnail prefix, where only the thumbnailer
    /// writes (HTTP 403).
    #[error(
        "object key {key:?} is under the thumbnail prefix {prefix:?}, where only thumbflow \
         writes: upload the original under another key"
    )]
    ThumbnailPrefix {
        /// The refused key.
        key: String,
        /// The configured `thumbnail_prefix`.
        prefix: String,
    },
    /// The bytes are not an image thumbflow reads (HTTP 415).
    #[error(
        "upload is not an image thumbflow reads (its first bytes match none of JPEG, PNG, \
         WebP, GIF, TIFF, BMP, AVIF, HEIF): the Content-Type header is not trusted"
    )]
    NotAnImage,
}

impl UploadError {
    /// The HTTP status code the gateway answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            UploadError::InvalidKey { .. } => 400,
            UploadError::ThumbnailPrefix { .. } => 403,
            UploadError::NotAnImage => 415,
        }
    }
}

/// Check a percent-decoded object key from a client: valid UTF-8, 1 to
/// [`MAX_UPLOAD_KEY_BYTES`] bytes, no control characters, no `.` or `..`
/// path segment.
pub fn check_object_key(raw: &[u8]) -> Result<&str, UploadError> {
    let bad = |reason| UploadError::InvalidKey { reason };
    let key = std::str::from_utf8(raw).map_err(|_| bad("not valid UTF-8 once percent-decoded"))?;
    if key.is_empty() {
        return Err(bad("empty: use /objects/{key}"));
    }
    if key.len() > MAX_UPLOAD_KEY_BYTES {
        return Err(bad("longer than 1024 bytes"));
    }
    if key.chars().any(char::is_control) {
        return Err(bad("contains a control character"));
    }
    if key
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        return Err(bad("contains a '.' or '..' path segment"));
    }
    Ok(key)
}

/// Refuse an upload whose key lies under the thumbnail prefix (an empty
/// prefix protects nothing and refuses nothing).
pub fn check_upload_target(key: &str, thumbnail_prefix: &str) -> Result<(), UploadError> {
    if !thumbnail_prefix.is_empty() && key.starts_with(thumbnail_prefix) {
        return Err(UploadError::ThumbnailPrefix {
            key: key.to_owned(),
            prefix: thumbnail_prefix.to_owned(),
        });
    }
    Ok(())
}

/// The image media type the bytes start with (magic numbers), or `None`.
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Some("image/gif");
    }
    if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return Some("image/tiff");
    }
    // BMP: "BM", then the file size, two reserved words and the pixel offset;
    // require the DIB header size to be a known one so text starting "BM" is refused.
    if bytes.len() >= 18 && starts(b"BM") {
        let dib = u32::from_le_bytes([bytes[14], bytes[15], bytes[16], bytes[17]]);
        if matches!(dib, 12 | 40 | 52 | 56 | 64 | 108 | 124) {
            return Some("image/bmp");
        }
    }
    // ISO-BMFF: a `ftyp` box whose major or compatible brands name the format.
    if bytes.len() >= 16 && &bytes[4..8] == b"ftyp" {
        let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        let end = size.clamp(16, 64).min(bytes.len());
        let brands = || std::iter::once(&bytes[8..12]).chain(bytes[16..end].chunks_exact(4));
        if brands().any(|b| b == b"avif" || b == b"avis") {
            return Some("image/avif");
        }
        if brands().any(|b| matches!(b, b"heic" | b"heix" | b"heim" | b"heis" | b"mif1" | b"msf1"))
        {
            return Some("image/heif");
        }
    }
    None
}

/// The content type to store an upload under: the sniffed image type, or
/// [`UploadError::NotAnImage`].
pub fn upload_content_type(bytes: &[u8]) -> Result<&'static str, UploadError> {
    sniff_image(bytes).ok_or(UploadError::NotAnImage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_image_reads_magic_numbers() {
        assert_eq!(
            sniff_image(b"\xFF\xD8\xFF\xE0\0\x10JFIF"),
            Some("image/jpeg")
        );
        assert_eq!(
            sniff_image(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some("image/png")
        );
        assert_eq!(sniff_image(b"GIF89a\x01\0\x01\0"), Some("image/gif"));
        assert_eq!(sniff_image(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_image(b"II*\0\x08\0\0\0"), Some("image/tiff"));
        assert_eq!(sniff_image(b"MM\0*\0\0\0\x08"), Some("image/tiff"));
        let mut bmp = b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0".to_vec();
        bmp.extend_from_slice(&40u32.to_le_bytes());
        assert_eq!(sniff_image(&bmp), Some("image/bmp"));
        assert_eq!(
            sniff_image(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf"),
            Some("image/avif")
        );
        assert_eq!(
            sniff_image(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"),
            Some("image/heif")
        );
    }

    #[test]
    fn sniff_image_types_every_fixture_by_its_extension() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/images");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            let want = match ext {
                "jpg" => "image/jpeg",
                "png" => "image/png",
                "gif" => "image/gif",
                "webp" => "image/webp",
                "bmp" => "image/bmp",
                "tiff" => "image/tiff",
                _ => continue,
            };
            let bytes = std::fs::read(&path).unwrap();
            assert_eq!(sniff_image(&bytes), Some(want), "{}", path.display());
            seen += 1;
        }
        assert!(
            seen >= 20,
            "only {seen} fixtures found in {}",
            dir.display()
        );
    }

    #[test]
    fn sniff_image_refuses_non_images() {
        assert_eq!(
            sniff_image(b"<!doctype html><script>alert(1)</script>"),
            None
        );
        assert_eq!(
            sniff_image(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            None
        );
        assert_eq!(sniff_image(b"BM is not a bitmap, it is text"), None);
        assert_eq!(sniff_image(b"RIFF\x24\0\0\0WAVEfmt "), None);
        assert_eq!(sniff_image(b"\0\0\0\x18ftypmp42\0\0\0\0isommp42"), None);
        assert_eq!(sniff_image(b""), None);
        assert_eq!(
            upload_content_type(b"%PDF-1.7"),
            Err(UploadError::NotAnImage)
        );
        assert_eq!(UploadError::NotAnImage.http_status(), 415);
    }

    #[test]
    fn check_object_key_enforces_rules_with_reasons() {
        assert_eq!(
            check_object_key("a b/ü 日本.jpg".as_bytes()),
            Ok("a b/ü 日本.jpg")
        );
        assert_eq!(check_object_key(b"a..b/c...jpg"), Ok("a..b/c...jpg"));
        let reason = |raw: &[u8]| match check_object_key(raw) {
            Err(UploadError::InvalidKey { reason }) => reason,
            other => panic!("expected InvalidKey, got {other:?}"),
        };
        assert!(reason(b"\xff\xfe.jpg").contains("UTF-8"));
        assert!(reason(b"").contains("empty"));
        assert!(reason("k".repeat(1025).as_bytes()).contains("1024"));
        assert!(check_object_key("k".repeat(1024).as_bytes()).is_ok());
        assert!(reason(b"a/../b.jpg").contains(".."));
        assert!(reason(b"../b.jpg").contains(".."));
        assert!(reason(b"a/..").contains(".."));
        assert!(reason(b"./a.jpg").contains(".."));
        assert!(reason(b"a\nb.jpg").contains("control"));
        assert!(reason(b"a\0b.jpg").contains("control"));
        assert!(reason("a\u{7f}b.jpg".as_bytes()).contains("control"));
        assert_eq!(UploadError::InvalidKey { reason: "x" }.http_status(), 400);
    }

    #[test]
    fn check_upload_target_guards_thumbnail_prefix() {
        let err = check_upload_target("thumbnails/x.jpg", "thumbnails/").unwrap_err();
        assert_eq!(err.http_status(), 403);
        assert!(err.to_string().contains("thumbnail prefix"), "{err}");
        assert_eq!(
            check_upload_target("photos/thumbnails/x.jpg", "thumbnails/"),
            Ok(())
        );
        assert_eq!(check_upload_target("thumbnails.jpg", "thumbnails/"), Ok(()));
        assert_eq!(check_upload_target("anything", ""), Ok(()));
    }
}
