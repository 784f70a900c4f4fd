//! `tokio_echo` — comparison peer for `benches/echo_compare.sh`.
//!
//! The idiomatic tokio echo server, as most people would write it: a
//! current-thread runtime (single-threaded, like ringloop), one spawned task
//! per connection, each task owning a 64 KiB read buffer and looping
//! `read` -> `write_all`. TCP_NODELAY is set so small echoes are not delayed.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const USAGE: &str = "\
tokio_echo - tokio current-thread runtime TCP echo server, one task per connection

USAGE:
    tokio_echo [--addr HOST:PORT]

OPTIONS:
    --addr HOST:PORT    address to listen on   [default: 127.0.0.1:7000]
    -h, --help          print this help
";

/// Per-connection read buffer, as in tokio's own echo example.
const BUF_SIZE: usize = 64 * 1024;
/// Accept queue length (the std/tokio `bind` default is 128, too small for
/// connect bursts from the load generator).
const BACKLOG: u32 = 1024;

fn parse_args() -> Result<Option<SocketAddr>, String> {
    let mut addr = "127.0.0.1:7000".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--addr" => addr = args.next().ok_or("--addr needs a value")?,
            a if a.starts_with("--addr=") => addr = a["--addr=".len()..].to_string(),
            a => return Err(format!("unexpected argument '{a}'")),
        }
    }
    addr.to_socket_addrs()
        .map_err(|e| format!("--addr '{addr}': {e}"))?
        .next()
        .map(Some)
        .ok_or_else(|| format!("--addr '{addr}': no address found"))
}

fn raise_nofile_limit() {
    // SAFETY: getrlimit/setrlimit only touch the struct passed in.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

async fn serve(mut stream: TcpStream) {
    let mut buf = vec![0u8; BUF_SIZE];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => n,
            // Resets are normal when a client goes away mid-stream.
            Err(_) => return,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn run(addr: SocketAddr) -> io::Result<()> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(BACKLOG)?;
    eprintln!("tokio_echo: listening on {addr}");
    let mut last_err_log: Option<Instant> = None;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream));
            }
            Err(e) => {
                // Typically EMFILE: log at most once a second and back off a
                // little instead of spinning on the same error.
                if last_err_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    eprintln!("tokio_echo: accept: {e}");
                    last_err_log = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn main() -> ExitCode {
    let addr = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("tokio_echo: {e}\nTry 'tokio_echo --help'.");
            return ExitCode::from(2);
        }
    };
    raise_nofile_limit();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio_echo: cannot build runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_echo: {e}");
            ExitCode::FAILURE
        }
    }
}
