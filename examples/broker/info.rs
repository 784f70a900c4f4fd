//! `INFO`: Redis's sections and field names where they exist (so tools that parse `INFO` work),
//! plus a `loop` section with the event loop's own counters.

use std::fmt::Write;

use crate::commands::connection::REDIS_VERSION;
use crate::db::DATABASES;
use crate::service::Exec;

const SECTIONS: [&str; 6] = ["server", "clients", "memory", "stats", "keyspace", "loop"];

/// Resident memory of the process in bytes (the broker has no allocator of its own to ask).
fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .unwrap_or(0);
    pages * 4096
}

/// The text of `INFO [section ...]`.
pub fn render(ex: &mut Exec<'_, '_>, asked: &[String]) -> String {
    let all = asked.is_empty()
        || asked
            .iter()
            .any(|s| s == "all" || s == "everything" || s == "default");
    let want = |s: &str| all || asked.iter().any(|a| a == s);
    let mut out = String::new();
    let st = &*ex.st;
    for section in SECTIONS.iter().filter(|s| want(s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match *section {
            "server" => {
                let uptime = ex.now.saturating_duration_since(st.started).as_secs();
                let _ = write!(
                    out,
                    "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\n\
                     os:{} {}\r\narch_bits:{}\r\nmultiplexing_api:{}\r\nprocess_id:{}\r\n\
                     tcp_port:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\n\
                     server_name:ringloop-broker\r\n",
                    std::env::consts::OS,
                    std::env::consts::ARCH,
                    usize::BITS,
                    st.backend,
                    std::process::id(),
                    st.laddr.map_or(0, |a| a.port()),
                    uptime / 86400,
                );
            }
            "clients" => {
                let connected = ex.others.len() + 1;
                let pubsub =
                    ex.others.values().filter(|c| c.subs > 0).count() + usize::from(ex.me.subs > 0);
                let _ = write!(
                    out,
                    "# Clients\r\nconnected_clients:{connected}\r\nmaxclients:{}\r\n\
                     blocked_clients:{}\r\npubsub_clients:{pubsub}\r\n",
                    st.cfg.maxclients,
                    st.blocked.len(),
                );
            }
            "memory" => {
                let rss = rss_bytes();
                let _ = write!(
                    out,
                    "# Memory\r\nused_memory:{rss}\r\nused_memory_rss:{rss}\r\n\
                     mem_allocator:libc\r\n"
                );
            }
            "stats" => {
                let s = &st.stats;
                let hub = st.hub.stats();
                let _ = write!(
                    out,
                    "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
                     total_net_input_bytes:{}\r\nrejected_connections:{}\r\n\
                     pubsub_channels:{}\r\npubsub_patterns:{}\r\ntotal_published_messages:{}\r\n\
                     pubsub_frames_delivered:{}\r\nclient_output_buffer_limit_disconnections:{}\r\n\
                     blocked_clients_served:{}\r\nblocked_clients_timed_out:{}\r\n\
                     total_error_replies_protocol:{}\r\nidle_clients_closed:{}\r\n\
                     expired_keys:{}\r\nhttp_requests:{}\r\nhttp_sse_streams_opened:{}\r\n",
                    s.connections,
                    s.commands,
                    s.net_input,
                    s.rejected,
                    hub.channels,
                    hub.patterns,
                    s.published,
                    hub.delivered,
                    s.evicted_subscribers,
                    s.blocked_served,
                    s.blocked_timeouts,
                    s.protocol_errors,
                    s.idle_closed,
                    st.db.expired,
                    st.http.stats.requests,
                    st.http.stats.sse_streams,
                );
            }
            "keyspace" => {
                out.push_str("# Keyspace\r\n");
                for db in 0..DATABASES {
                    let n = st.db.dbsize(db);
                    if n > 0 {
                        let e = st.db.expiring(db);
                        let _ = write!(out, "db{db}:keys={n},expires={e},avg_ttl=0\r\n");
                    }
                }
            }
            "loop" => {
                let l = ex.cx.lp().stats();
                let _ = write!(
                    out,
                    "# Loop\r\nloop_backend:{}\r\nloop_backend_detail:{}\r\nloop_turns:{}\r\n\
                     loop_kernel_waits:{}\r\nloop_syscalls:{}\r\nloop_completions:{}\r\n\
                     loop_wakeups:{}\r\nloop_completions_per_wakeup:{:.2}\r\nloop_in_flight:{}\r\n\
                     loop_timers_pending:{}\r\nloop_multishot_items:{}\r\n",
                    l.backend,
                    st.backend,
                    l.turns,
                    l.kernel_waits,
                    l.syscalls,
                    l.completions,
                    l.wakeups,
                    l.completions_per_wakeup(),
                    l.in_flight,
                    l.timers_pending,
                    l.multishot_items,
                );
            }
            _ => {}
        }
    }
    out
}
