//! The broker through redis-py (`tests/python/redis_py_client.py`, which says what it checks):
//! RESP3 by default with `CLIENT SETINFO`, transactional pipelines, `WATCH`, blocking pops,
//! pub/sub pushes, TTLs — then the same over RESP2. Needs `python3` with the `redis` package
//! (`pip install -r tests/python/requirements.txt`; `.ci/run` installs it). Elsewhere the test is
//! skipped with a note, unless `CI` is set, where a missing piece fails it.

use std::path::Path;
use std::process::Command;

use crate::harness::Broker;

pub fn redis_py_client(backend: &str) {
    let has_redis_py = Command::new("python3")
        .args(["-c", "import redis"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_redis_py {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with redis-py is missing and CI is set"
        );
        eprintln!("SKIPPED: redis-py (pip install -r tests/python/requirements.txt)");
        return;
    }
    let b = Broker::start(backend, &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/redis_py_client.py");
    let out = Command::new("timeout")
        .arg("60")
        .arg("python3")
        .arg(script)
        .arg(b.addr.ip().to_string())
        .arg(b.port().to_string())
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-py client failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("OK resp3") && stdout.contains("OK resp2"),
        "{stdout}"
    );
}
