//! The HTTP page in a real browser: Debian's chromium, headless, driven by playwright-core
//! (`tests/browser/sse_page.mjs`, which says what it checks). Needs `node`, `/usr/bin/chromium`
//! and `npm ci` in `tests/browser`; `.ci/run` installs them. Elsewhere the test is skipped with
//! a note, unless `CI` is set, where a missing piece fails it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::Broker;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// What is missing to run the browser test, if anything.
fn missing() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!("{chromium} (apt-get install chromium)"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("node (apt-get install nodejs npm)".into());
    }
    if !browser_dir().join("node_modules/playwright-core").exists() {
        return Some("playwright-core (npm ci --prefix tests/browser)".into());
    }
    None
}

pub fn browser_sse_page(backend: &str) {
    if let Some(what) = missing() {
        assert!(
            std::env::var_os("CI").is_none(),
            "browser test: {what} is missing and CI is set"
        );
        eprintln!("SKIPPED: browser test needs {what}");
        return;
    }
    let b = Broker::start(backend, &[]);
    let http = b.http.expect("HTTP address").to_string();
    let mut child = Command::new("node")
        .arg("sse_page.mjs")
        .arg(&http)
        .arg(b.addr.to_string())
        .current_dir(browser_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn node");
    // The script bounds itself (60 s); this is the backstop.
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().expect("wait node").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("node output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser test failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(stdout.contains("ids 1..10, none twice"), "{stdout}");
}
