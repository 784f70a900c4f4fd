//! Splitting an inline request line (`SET k "a b"`) into arguments, by the rules of Redis's
//! `sdssplitargs`, so what works in `telnet` against Redis works here.
//!
//! * Arguments are separated by runs of whitespace (space, `\t`, `\r`, `\n`, `\v`, `\f`); inside
//!   an unquoted argument only space, `\t`, `\r` and `\n` end it, as in Redis.
//! * `"double quotes"` allow `\n \r \t \b \a`, `\xHH`, and `\` before any other byte for that
//!   byte; `'single quotes'` only allow `\'`.
//! * A quote may start mid-argument (`ab"c d"` is `abc d`), but a closing quote must be followed
//!   by whitespace or the end of the line; that, or a missing closing quote, is
//!   `Protocol error: unbalanced quotes in request`.
//!
//! One difference: Redis works on a C string, so a NUL byte ends its view of the line; here NUL is
//! an ordinary byte. (Redis in fact never gets that far: it looks for the `\n` with `strchr`,
//! which stops at the NUL, and waits for a newline that it will never see.)

use std::ops::Range;

use super::error::ProtocolError;

/// One argument: a range of the line when it was written without quotes (zero-copy), or the
/// unescaped bytes of a quoted argument.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    Span(Range<usize>),
    Owned(Vec<u8>),
}

/// C's `isspace` in the "C" locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c')
}

fn hex(b: Option<&u8>) -> Option<u8> {
    match b? {
        d @ b'0'..=b'9' => Some(d - b'0'),
        a @ b'a'..=b'f' => Some(a - b'a' + 10),
        a @ b'A'..=b'F' => Some(a - b'A' + 10),
        _ => None,
    }
}

/// A closing quote at `i` must be followed by whitespace or the end of the line.
fn check_closing(line: &[u8], i: usize) -> Result<(), ProtocolError> {
    match line.get(i + 1) {
        Some(&b) if !is_space(b) => Err(ProtocolError::UnbalancedQuotes),
        _ => Ok(()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// Splits `line` (without its line ending) into arguments. An empty or all-blank line gives no
/// arguments.
pub(crate) fn split_args(line: &[u8]) -> Result<Vec<Arg>, ProtocolError> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return Ok(args);
        }
        let start = i;
        // Becomes `Some` at the first quote: from then on the argument is rebuilt byte by byte.
        let mut owned: Option<Vec<u8>> = None;
        let mut quote = Quote::None;
        // Where an unquoted argument ends (before its separator).
        let mut end = start;
        loop {
            let c = line.get(i).copied();
            match quote {
                Quote::Double => {
                    let cur = owned.get_or_insert_with(Vec::new);
                    match c {
                        None => return Err(ProtocolError::UnbalancedQuotes),
                        Some(b'\\') => {
                            if line.get(i + 1) == Some(&b'x') {
                                if let (Some(hi), Some(lo)) =
                                    (hex(line.get(i + 2)), hex(line.get(i + 3)))
                                {
                                    cur.push(hi << 4 | lo);
                                    i += 4;
                                    continue;
                                }
                            }
                            match line.get(i + 1) {
                                Some(&e) => {
                                    cur.push(match e {
                                        b'n' => b'\n',
                                        b'r' => b'\r',
                                        b't' => b'\t',
                                        b'b' => 0x08,
                                        b'a' => 0x07,
                                        other => other,
                                    });
                                    i += 2;
                                }
                                // A backslash at the very end: kept, then the quote is unterminated.
                                None => {
                                    cur.push(b'\\');
                                    i += 1;
                                }
                            }
                        }
                        Some(b'"') => {
                            check_closing(line, i)?;
                            i += 1;
                            break;
                        }
                        Some(b) => {
                            cur.push(b);
                            i += 1;
                        }
                    }
                }
                Quote::Single => {
                    let cur = owned.get_or_insert_with(Vec::new);
                    match c {
                        None => return Err(ProtocolError::UnbalancedQuotes),
                        Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                            cur.push(b'\'');
                            i += 2;
                        }
                        Some(b'\'') => {
                            check_closing(line, i)?;
                            i += 1;
                            break;
                        }
                        Some(b) => {
                            cur.push(b);
                            i += 1;
                        }
                    }
                }
                Quote::None => match c {
                    None => {
                        end = i;
                        break;
                    }
                    Some(b' ' | b'\t' | b'\r' | b'\n') => {
                        end = i;
                        i += 1;
                        break;
                    }
                    Some(q @ (b'"' | b'\'')) => {
                        // Switch to building the argument: copy what was read unquoted so far.
                        owned.get_or_insert_with(|| line[start..i].to_vec());
                        quote = if q == b'"' {
                            Quote::Double
                        } else {
                            Quote::Single
                        };
                        i += 1;
                    }
                    Some(b) => {
                        if let Some(cur) = owned.as_mut() {
                            cur.push(b);
                        }
                        i += 1;
                    }
                },
            }
        }
        args.push(match owned {
            Some(v) => Arg::Owned(v),
            None => Arg::Span(start..end),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
        Ok(split_args(line)?
            .into_iter()
            .map(|a| match a {
                Arg::Span(r) => line[r].to_vec(),
                Arg::Owned(v) => v,
            })
            .collect())
    }

    fn ok(line: &str, want: &[&[u8]]) {
        let got = split(line.as_bytes()).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        let want: Vec<Vec<u8>> = want.iter().map(|w| w.to_vec()).collect();
        assert_eq!(got, want, "{line:?}");
    }

    #[test]
    fn plain_words() {
        ok("", &[]);
        ok("   \t ", &[]);
        ok("PING", &[b"PING"]);
        ok("  SET  a   b ", &[b"SET", b"a", b"b"]);
        ok("a\tb\x0bc", &[b"a", b"b\x0bc"]);
        ok("\x0ba", &[b"a"]);
    }

    #[test]
    fn quotes() {
        ok(r#"SET k "a b""#, &[b"SET", b"k", b"a b"]);
        ok(
            r#""\x41\x4a\xzz\n\r\t\b\a\q\"\\""#,
            &[b"AJxzz\n\r\t\x08\x07q\"\\"],
        );
        ok(r#"'it\'s' 'a\nb'"#, &[b"it's", b"a\\nb"]);
        ok(r#"ab"c d" e"#, &[b"abc d", b"e"]);
        ok(r#""" ''"#, &[b"", b""]);
        ok("\"a\"\t", &[b"a"]);
    }

    #[test]
    fn unbalanced() {
        for line in [
            r#"ECHO "a"#,
            "ECHO 'a",
            r#"ECHO "a"x"#,
            "ECHO 'a'x",
            r#"ECHO "a\""#,
            r"ECHO 'a\'",
            "\"\\",
        ] {
            assert_eq!(
                split(line.as_bytes()),
                Err(ProtocolError::UnbalancedQuotes),
                "{line:?}"
            );
        }
    }

    #[test]
    fn spans_are_zero_copy() {
        assert_eq!(
            split_args(b"GET key").unwrap(),
            vec![Arg::Span(0..3), Arg::Span(4..7)]
        );
    }
}
