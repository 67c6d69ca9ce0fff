//! The response to a render: one thumbnail is the body itself, with its
//! content type and size headers; several (a spec with more than one
//! recipe) come as one `multipart/mixed` body, a part per recipe in the
//! spec's order, each part with the same headers.

/// One rendered thumbnail, as the engine returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// The recipe's name.
    pub recipe: String,
    /// Width as displayed (after EXIF orientation).
    pub width: u32,
    /// Height as displayed.
    pub height: u32,
    /// MIME type of `bytes`.
    pub content_type: String,
    /// The encoded thumbnail.
    pub bytes: Vec<u8>,
}

/// An HTTP response to send as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The headers describing one thumbnail.
fn describe(t: &Thumbnail) -> Vec<(String, String)> {
    vec![
        ("content-type".to_owned(), t.content_type.clone()),
        ("content-length".to_owned(), t.bytes.len().to_string()),
        ("x-thumbnail-recipe".to_owned(), t.recipe.clone()),
        ("x-thumbnail-width".to_owned(), t.width.to_string()),
        ("x-thumbnail-height".to_owned(), t.height.to_string()),
    ]
}

/// The `200` answer for what the engine rendered (one thumbnail per recipe).
pub fn answer(thumbnails: Vec<Thumbnail>) -> Answer {
    let count = ("x-thumbnail-count".to_owned(), thumbnails.len().to_string());
    if let [one] = thumbnails.as_slice() {
        let mut headers = describe(one);
        headers.push(count);
        let body = thumbnails.into_iter().next().map(|t| t.bytes);
        return Answer {
            status: 200,
            headers,
            body: body.unwrap_or_default(),
        };
    }
    let boundary = boundary(&thumbnails);
    let mut body = Vec::new();
    for t in &thumbnails {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        for (name, value) in describe(t) {
            body.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&t.bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Answer {
        status: 200,
        headers: vec![
            (
                "content-type".to_owned(),
                format!("multipart/mixed; boundary={boundary}"),
            ),
            ("content-length".to_owned(), body.len().to_string()),
            count,
        ],
        body,
    }
}

/// A boundary that occurs in no part (RFC 2046 §5.1.1).
fn boundary(thumbnails: &[Thumbnail]) -> String {
    let mut n = 0u64;
    loop {
        let candidate = format!("thumbflow-render-{n:016x}");
        let needle = candidate.as_bytes();
        let clash = thumbnails
            .iter()
            .any(|t| t.bytes.windows(needle.len()).any(|w| w == needle));
        if !clash {
            return candidate;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn thumb(recipe: &str, bytes: &[u8]) -> Thumbnail {
        Thumbnail {
            recipe: recipe.into(),
            width: 300,
            height: 169,
            content_type: "image/jpeg".into(),
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn one_thumbnail_is_the_body_with_its_size_headers() {
        let a = answer(vec![thumb("thumb", b"\xFF\xD8jpeg")]);
        assert_eq!(a.status, 200);
        assert_eq!(a.body, b"\xFF\xD8jpeg");
        assert_eq!(a.header("content-type"), Some("image/jpeg"));
        assert_eq!(a.header("content-length"), Some("6"));
        assert_eq!(a.header("x-thumbnail-width"), Some("300"));
        assert_eq!(a.header("x-thumbnail-height"), Some("169"));
        assert_eq!(a.header("x-thumbnail-recipe"), Some("thumb"));
        assert_eq!(a.header("x-thumbnail-count"), Some("1"));
    }

    #[test]
    fn several_thumbnails_are_multipart_in_recipe_order() {
        // The first part holds the first candidate boundary: it must not be used.
        let a = answer(vec![
            thumb("a", b"xx--thumbflow-render-0000000000000000yy"),
            thumb("b", b"second"),
        ]);
        let content_type = a.header("content-type").unwrap();
        let boundary = content_type
            .strip_prefix("multipart/mixed; boundary=")
            .unwrap();
        assert_eq!(boundary, "thumbflow-render-0000000000000001");
        assert_eq!(a.header("x-thumbnail-count"), Some("2"));
        let text = String::from_utf8(a.body.clone()).unwrap();
        let parts: Vec<&str> = text
            .split(&format!("--{boundary}"))
            .filter(|p| !p.is_empty() && *p != "--\r\n")
            .collect();
        assert_eq!(parts.len(), 2, "{text}");
        let (head, body) = parts[0].split_once("\r\n\r\n").unwrap();
        assert!(head.contains("x-thumbnail-recipe: a"), "{head}");
        assert!(head.contains("content-length: 39"), "{head}");
        assert_eq!(body, "xx--thumbflow-render-0000000000000000yy\r\n");
        let (head, body) = parts[1].split_once("\r\n\r\n").unwrap();
        assert!(head.contains("x-thumbnail-recipe: b"), "{head}");
        assert_eq!(body, "second\r\n");
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
        assert_eq!(
            a.header("content-length"),
            Some(a.body.len().to_string().as_str())
        );
    }
}
