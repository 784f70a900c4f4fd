//! The command line of the example servers: `--flag value` pairs, and `-h`/`--help`.
//!
//! Each program matches the pairs against its own flags; what they share is this walk: every
//! flag takes a value, and help prints the program's usage and exits.

/// The `(flag, value)` pairs of `args`, in order. `-h`/`--help` prints `usage` and exits; a flag
/// without a value is an error naming it.
pub fn pairs(
    args: impl IntoIterator<Item = String>,
    usage: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut args = args.into_iter();
    let mut pairs = Vec::new();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{usage}");
            std::process::exit(0);
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        pairs.push((flag, value));
    }
    Ok(pairs)
}
