//! Pieces of a request-target: the path, its percent-decoded segments, the query string.
//!
//! Query strings are `application/x-www-form-urlencoded` in practice (what HTML forms and
//! `URLSearchParams` produce), so they are decoded with `form_urlencoded`, where `+` means a
//! space. Paths are not: in a path `+` is a plain `+` (RFC 3986), so path segments get their own
//! percent decoding here rather than `form_urlencoded`'s.

/// The path of a request-target: everything before `?` or `#`. An absolute-form target
/// (`http://host/p?q`, what a client sends to a proxy, and which RFC 9112 §3.2.2 says servers
/// must accept) yields its path part, `/` if it has none. Other forms (`*`, `host:port`) are
/// returned as they are.
pub(crate) fn path(target: &str) -> &str {
    let end = target.find(['?', '#']).unwrap_or(target.len());
    let before_query = target.get(..end).unwrap_or(target);
    match strip_scheme_authority(before_query) {
        Some("") => "/",
        Some(p) => p,
        None => before_query,
    }
}

/// The query string of a request-target (after the first `?`, up to a `#`), if there is a `?`.
pub(crate) fn query(target: &str) -> Option<&str> {
    let start = target.find('?')? + 1;
    let rest = target.get(start..)?;
    Some(
        rest.find('#')
            .and_then(|end| rest.get(..end))
            .unwrap_or(rest),
    )
}

/// For `scheme://authority/path`, the `/path` part (possibly empty); `None` for anything else.
fn strip_scheme_authority(target: &str) -> Option<&str> {
    let colon = target.find("://")?;
    let scheme = target.get(..colon)?;
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return None;
    }
    let after = target.get(colon + 3..)?;
    Some(after.find('/').and_then(|i| after.get(i..)).unwrap_or(""))
}

/// The non-empty `/`-separated segments of `path`, percent-decoded (invalid UTF-8 after decoding
/// becomes U+FFFD). `%2F` decodes to a `/` inside its segment, which is the point of decoding
/// after splitting.
pub(crate) fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits is kept literally, as browsers
/// and `percent-encoding` do.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    if !bytes.contains(&b'%') {
        return s.to_owned();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).and_then(|&h| hex(h));
            let lo = bytes.get(i + 2).and_then(|&l| hex(l));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The first value of `key` in a query string, decoded (`+` is a space).
pub(crate) fn query_value(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(path("/a/b?x=1#f"), "/a/b");
        assert_eq!(path("/a#f?x"), "/a");
        assert_eq!(path("http://h:80/p/q?x"), "/p/q");
        assert_eq!(path("http://h"), "/");
        assert_eq!(path("*"), "*");
        assert_eq!(path("/x://y"), "/x://y");
        assert_eq!(query("/a?x=1#f"), Some("x=1"));
        assert_eq!(query("/a"), None);
        assert_eq!(query("/a?"), Some(""));
    }

    #[test]
    fn decoding() {
        assert_eq!(segments("//a%20b//c+d/%2F/"), ["a b", "c+d", "/"]);
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(query_value("a=1&b=x+y%21&a=2", "a").as_deref(), Some("1"));
        assert_eq!(query_value("a=1&b=x+y%21", "b").as_deref(), Some("x y!"));
        assert_eq!(query_value("flag&b=1", "flag").as_deref(), Some(""));
        assert_eq!(query_value("a=1", "c"), None);
    }
}
