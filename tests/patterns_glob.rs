//! Redis glob rules: a table of cases, and a property test against a line-by-line port of
//! Redis' own `stringmatchlen` (util.c), NUL-terminator reads included.

use proptest::prelude::*;
use ringloop::patterns::{glob_match, Glob};

/// Redis `stringmatchlen_impl`, transcribed. `at` returns 0 past the end, as reading the sds
/// NUL terminator does in C.
fn redis_match(pattern: &[u8], string: &[u8]) -> bool {
    let mut skip_longer = false;
    redis_impl(pattern, string, &mut skip_longer, 0)
}

fn redis_impl(pat: &[u8], st: &[u8], skip_longer: &mut bool, nesting: u32) -> bool {
    if nesting > 1000 {
        return false;
    }
    let at = |b: &[u8], i: usize| b.get(i).copied().unwrap_or(0);
    let (mut p, mut pl) = (0usize, pat.len());
    let (mut s, mut sl) = (0usize, st.len());
    while pl > 0 && sl > 0 {
        match at(pat, p) {
            b'*' => {
                while pl > 0 && at(pat, p + 1) == b'*' {
                    p += 1;
                    pl -= 1;
                }
                if pl == 1 {
                    return true;
                }
                while sl > 0 {
                    if redis_impl(&pat[p + 1..], &st[s..], skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s += 1;
                    sl -= 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => {
                s += 1;
                sl -= 1;
            }
            b'[' => {
                p += 1;
                pl -= 1;
                let not = at(pat, p) == b'^';
                if not {
                    p += 1;
                    pl -= 1;
                }
                let mut matched = false;
                loop {
                    if at(pat, p) == b'\\' && pl >= 2 {
                        p += 1;
                        pl -= 1;
                        if at(pat, p) == at(st, s) {
                            matched = true;
                        }
                    } else if at(pat, p) == b']' {
                        break;
                    } else if pl == 0 {
                        p -= 1;
                        pl += 1;
                        break;
                    } else if pl >= 3 && at(pat, p + 1) == b'-' {
                        // `int start = pattern[0]` from a (signed, on x86) `char`.
                        let (mut a, mut b) = (at(pat, p) as i8, at(pat, p + 2) as i8);
                        if a > b {
                            std::mem::swap(&mut a, &mut b);
                        }
                        let c = at(st, s) as i8;
                        p += 2;
                        pl -= 2;
                        if c >= a && c <= b {
                            matched = true;
                        }
                    } else if at(pat, p) == at(st, s) {
                        matched = true;
                    }
                    p += 1;
                    pl -= 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s += 1;
                sl -= 1;
            }
            c => {
                let mut c = c;
                if c == b'\\' && pl >= 2 {
                    p += 1;
                    pl -= 1;
                    c = at(pat, p);
                }
                if c != at(st, s) {
                    return false;
                }
                s += 1;
                sl -= 1;
            }
        }
        p += 1;
        pl -= 1;
        if sl == 0 {
            while at(pat, p) == b'*' {
                p += 1;
                pl -= 1;
            }
            break;
        }
    }
    pl == 0 && sl == 0
}

/// (pattern, string, expected) — the documented rules, the edge cases, and Redis' quirks.
const CASES: &[(&str, &str, bool)] = &[
    // The examples from the Redis KEYS / PSUBSCRIBE documentation.
    ("h?llo", "hello", true),
    ("h?llo", "hallo", true),
    ("h?llo", "hxllo", true),
    ("h?llo", "hllo", false),
    ("h*llo", "hllo", true),
    ("h*llo", "heeeello", true),
    ("h[ae]llo", "hello", true),
    ("h[ae]llo", "hallo", true),
    ("h[ae]llo", "hillo", false),
    ("h[^e]llo", "hallo", true),
    ("h[^e]llo", "hbllo", true),
    ("h[^e]llo", "hello", false),
    ("h[a-b]llo", "hallo", true),
    ("h[a-b]llo", "hbllo", true),
    ("h[a-b]llo", "hcllo", false),
    // Stars.
    ("*", "anything", true),
    ("*", "", false), // Redis: a non-empty pattern never matches the empty string
    ("", "", true),
    ("", "a", false),
    ("**", "a", true),
    ("a*", "a", true),
    ("a**", "a", true),
    ("*a", "a", true),
    ("*a", "ba", true),
    ("*a", "ab", false),
    ("a*b*c", "aXXbYYc", true),
    ("a*b*c", "aXXbYY", false),
    ("*.*", "news.art", true),
    ("news.*", "news.", true), // the star matches nothing
    ("news.*", "news.x", true),
    ("news.*", "news", false),
    ("*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", true),
    (
        "a*a*a*a*a*a*a*b",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        false,
    ),
    // Classes.
    ("[abc]", "b", true),
    ("[abc]", "d", false),
    ("[^abc]", "d", true),
    ("[^abc]", "a", false),
    ("[a-z]", "q", true),
    ("[a-z]", "Q", false),
    ("[z-a]", "q", true), // reversed range
    ("[a-]", "]", true),  // `a-]` is the range a..=]
    ("[a-]", "-", false),
    ("[]", "a", false),   // empty class: matches nothing…
    ("[]a]", "]", false), // …and `]` right after `[` closes it
    ("[^]", "a", true),   // negated empty class: any byte
    ("[abc", "b", true),  // unterminated: the rest is the class
    ("[abc", "d", false),
    ("[", "a", false),
    ("[^", "a", true),
    ("[\\]]", "]", true),
    ("[\\-]", "-", true),
    ("[\\", "\\", true),
    ("[*]", "*", true),
    ("[*]", "a", false),
    ("[?]", "?", true),
    ("[?]", "a", false),
    // Escapes.
    ("\\*", "*", true),
    ("\\*", "a", false),
    ("\\?", "?", true),
    ("\\[a]", "[a]", true),
    ("a\\", "a\\", true), // a trailing lone backslash is literal
    ("\\\\", "\\", true),
    ("\\a", "a", true),
    // Ranges compare as signed chars (x86 C `char`): \xff is -1, below 'a'.
    ("[a-\u{7f}]", "b", true),
    // Binary safety.
    ("a?c", "a\u{0}c", true),
    ("a*", "a\u{0}\u{0}", true),
];

#[test]
fn table_agrees_with_redis() {
    for &(p, s, expected) in CASES {
        let (p, s) = (p.as_bytes(), s.as_bytes());
        let redis = redis_match(p, s);
        let ours = glob_match(p, s);
        assert_eq!(redis, expected, "oracle vs table for {:?} ~ {:?}", p, s);
        assert_eq!(ours, expected, "Glob for {:?} ~ {:?}", p, s);
    }
}

#[test]
fn ranges_compare_as_signed_chars_like_redis_on_x86() {
    // `[a-\xff]`: start 'a' (97) > end -1, so the range is -1..=97: bytes 0..=0x61 and 0xff.
    let g = Glob::new(b"[a-\xff]");
    for (s, expected) in [
        (&b"\xff"[..], true),
        (b"0", true),
        (b"a", true),
        (b"b", false),
        (b"\x80", false),
    ] {
        assert_eq!(g.matches(s), expected, "{s:?}");
        assert_eq!(redis_match(b"[a-\xff]", s), expected, "oracle {s:?}");
    }
}

#[test]
fn compiled_glob_is_reusable_and_reports_itself() {
    let g = Glob::new(b"user:[0-9]*");
    assert_eq!(g.as_bytes(), b"user:[0-9]*");
    assert!(g.matches(b"user:42"));
    assert!(g.matches(b"user:4"));
    assert!(!g.matches(b"user:x"));
    assert!(!g.matches(b"user:"));
    assert!(Glob::new(b"plain\\*").is_literal());
    assert!(!g.is_literal());
}

#[test]
fn pathological_patterns_are_fast() {
    // Exponential for naive backtracking; linear-ish here.
    let p = "a*".repeat(200) + "b";
    let s = "a".repeat(5000);
    let t = std::time::Instant::now();
    assert!(!glob_match(p.as_bytes(), s.as_bytes()));
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
    // Deep star nesting where Redis gives up: we still answer.
    let p = "*a".repeat(1500);
    let s = "a".repeat(1500);
    assert!(glob_match(p.as_bytes(), s.as_bytes()));
}

fn pattern_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(b"ab*?[]^-\\\x7f\x80\xff".to_vec()),
        0..10,
    )
}

fn string_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(b"ab-]^*\\[\x00\x7f\x80\xff".to_vec()),
        0..10,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn glob_matches_redis_stringmatchlen(p in pattern_bytes(), s in string_bytes()) {
        prop_assert_eq!(Glob::new(&p).matches(&s), redis_match(&p, &s),
            "pattern {:?} string {:?}", String::from_utf8_lossy(&p), String::from_utf8_lossy(&s));
    }
}
