//! Patterns: protocol-agnostic building blocks above the loop (pub-sub fan-out, push-pull job
//! queues, long-poll waiters). They know nothing of RESP or HTTP, so the broker and the HTTP
//! front can share them.
