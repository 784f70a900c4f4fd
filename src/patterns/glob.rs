//! Redis glob patterns (`PSUBSCRIBE`, `PUBSUB CHANNELS`, `KEYS`): `*`, `?`, `[abc]`, `[^a]`,
//! `[a-z]` and `\` escapes, byte for byte the rules of Redis' `stringmatchlen`.
//!
//! A pattern is compiled once ([`Glob::new`]) into tokens whose character classes are 256-bit
//! sets, because a pattern subscription is matched against every published channel: the
//! per-publish work should be a table lookup per byte, not a re-parse of `[a-z]`. Matching is the
//! classic iterative wildcard algorithm (remember the last `*`, retry one byte further on a
//! mismatch), O(pattern × string) in the worst case and without recursion, so no pattern a client
//! sends can blow the stack.
//!
//! Redis quirks kept on purpose, so a broker built on this answers exactly as Redis does:
//!
//! * a non-empty pattern never matches the empty string (`*` does not match `""`);
//! * an unterminated class (`[abc`) takes the rest of the pattern as its members;
//! * in a class, `x-y` is a range even when `y` is `]` (`[a-]` is the range `a`..=`]`), and a
//!   reversed range (`[z-a]`) means the same as `[a-z]`;
//! * a trailing lone `\` matches a literal backslash;
//! * range ends compare as signed chars (C `char` on x86), so a range reaching past 0x7f is not
//!   what an unsigned reading suggests.
//!
//! One difference: Redis gives up (no match) beyond 1,000 nested `*`; this matcher, having no
//! recursion, simply answers correctly.

use std::fmt;

/// A set of bytes, one bit each.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ByteSet([u64; 4]);

impl ByteSet {
    const EMPTY: ByteSet = ByteSet([0; 4]);
    const ALL: ByteSet = ByteSet([u64::MAX; 4]);

    fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    /// Adds the bytes between `a` and `b` in either order, compared as *signed* chars, as Redis
    /// does on x86 (`[a-\xff]` is `\xff..=a`, i.e. -1..=97).
    fn insert_range(&mut self, a: u8, b: u8) {
        let (a, b) = (a as i8, b as i8);
        for v in a.min(b)..=a.max(b) {
            self.insert(v as u8);
        }
    }

    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    fn complement(self) -> ByteSet {
        let [a, b, c, d] = self.0;
        ByteSet([!a, !b, !c, !d])
    }
}

#[derive(Clone, PartialEq, Eq)]
enum Token {
    /// `*`: any run of bytes, including none. Consecutive stars are folded into one.
    Star,
    /// A literal byte (possibly written escaped).
    Byte(u8),
    /// `?` (every byte) or a `[...]` class.
    Set(ByteSet),
}

/// A compiled Redis glob pattern.
///
/// ```
/// use ringloop::patterns::Glob;
///
/// let g = Glob::new(b"news.[a-c]*");
/// assert!(g.matches(b"news.art"));
/// assert!(!g.matches(b"news.sport"));
/// assert!(Glob::new(br"a\*").matches(b"a*"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    source: Box<[u8]>,
    tokens: Box<[Token]>,
}

impl Glob {
    /// Compiles `pattern`. Every byte string is a valid pattern (as in Redis), so this cannot fail.
    pub fn new(pattern: &[u8]) -> Glob {
        let p = pattern;
        let mut tokens = Vec::with_capacity(p.len());
        let mut i = 0;
        while i < p.len() {
            match p[i] {
                b'*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                    i += 1;
                }
                b'?' => {
                    tokens.push(Token::Set(ByteSet::ALL));
                    i += 1;
                }
                b'[' => {
                    let (set, next) = parse_class(p, i + 1);
                    tokens.push(Token::Set(set));
                    i = next;
                }
                b'\\' if p.len() - i >= 2 => {
                    tokens.push(Token::Byte(p[i + 1]));
                    i += 2;
                }
                b => {
                    tokens.push(Token::Byte(b));
                    i += 1;
                }
            }
        }
        Glob {
            source: pattern.into(),
            tokens: tokens.into_boxed_slice(),
        }
    }

    /// The pattern as given.
    pub fn as_bytes(&self) -> &[u8] {
        &self.source
    }

    /// True if the pattern has no wildcard (it matches at most one string).
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Byte(_)))
    }

    /// Does `s` match the whole pattern?
    pub fn matches(&self, s: &[u8]) -> bool {
        // Redis' loop runs only while both pattern and string have bytes left, so an empty
        // string matches only the empty pattern — even `*` does not match it.
        if s.is_empty() {
            return self.source.is_empty();
        }
        let t = &self.tokens;
        let (mut ti, mut si) = (0, 0);
        // The last star seen: (token index after it, string index it is currently matched up to).
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            let advanced = match t.get(ti) {
                Some(Token::Star) => {
                    star = Some((ti + 1, si));
                    ti += 1;
                    continue;
                }
                Some(Token::Byte(b)) => *b == s[si],
                Some(Token::Set(set)) => set.contains(s[si]),
                None => false,
            };
            if advanced {
                ti += 1;
                si += 1;
            } else if let Some((after_star, matched_to)) = star {
                // Let the star swallow one more byte and retry the rest from there. Only the
                // last star needs retrying: earlier stars growing cannot help (the standard
                // argument; Redis' `skipLongerMatches` is the same observation).
                ti = after_star;
                si = matched_to + 1;
                star = Some((after_star, si));
            } else {
                return false;
            }
        }
        t[ti..].iter().all(|tok| *tok == Token::Star)
    }
}

/// Parses a class whose body starts at `p[i]` (just after `[`). Returns the set and the index
/// after the closing `]` (or the end of the pattern if unterminated).
fn parse_class(p: &[u8], mut i: usize) -> (ByteSet, usize) {
    let negate = p.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut set = ByteSet::EMPTY;
    // Same order of tests as Redis: escape, end of class, end of pattern, range, literal.
    loop {
        let rest = p.len() - i;
        if rest == 0 {
            break;
        }
        if p[i] == b'\\' && rest >= 2 {
            i += 1;
            set.insert(p[i]);
        } else if p[i] == b']' {
            i += 1;
            break;
        } else if rest >= 3 && p[i + 1] == b'-' {
            set.insert_range(p[i], p[i + 2]);
            i += 2;
        } else {
            set.insert(p[i]);
        }
        i += 1;
    }
    (if negate { set.complement() } else { set }, i)
}

/// One-off match without keeping the compiled pattern.
pub fn glob_match(pattern: &[u8], s: &[u8]) -> bool {
    Glob::new(pattern).matches(s)
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", String::from_utf8_lossy(&self.source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        assert!(glob_match(b"h?llo", b"hello"));
        assert!(glob_match(b"h*llo", b"heeeello"));
        assert!(glob_match(b"h[ae]llo", b"hallo"));
        assert!(!glob_match(b"h[^e]llo", b"hello"));
        assert!(glob_match(b"h[a-b]llo", b"hbllo"));
        assert!(!glob_match(b"*", b""));
        assert!(glob_match(b"", b""));
        assert!(Glob::new(b"a\\*b").is_literal());
        assert!(!Glob::new(b"a*b").is_literal());
    }
}
