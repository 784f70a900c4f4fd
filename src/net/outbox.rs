//! [`Outbox`]: a connection's write queue, with back-pressure watermarks.
//!
//! Two rules make a server correct and robust, whatever its completion style:
//!
//! * **One send in flight per socket.** Two sends queued on the same socket may complete out of
//!   order (io_uring may retry the first after the second went through), so data waits here until
//!   the previous send has completed, then goes out in one vectored send.
//! * **Back-pressure.** Bytes queued but not yet sent are counted; above the high-water mark the
//!   connection should stop reading until its peer has drained the queue below the low-water mark
//!   (a quarter of the high one). A peer that never reads then costs a bounded amount of memory.

use std::collections::VecDeque;

use bytes::Bytes;

/// Most buffers gathered into one send.
const MAX_BATCH: usize = 64;

/// Buffers this small on average are copied into one contiguous buffer rather than sent as a
/// vector: the kernel's per-segment cost (`_copy_from_iter` walking the iovec, one skb fragment
/// each) outweighs a user-space `memcpy` of a few hundred bytes. Pub/sub fan-out is the case:
/// dozens of ~60-byte frames per subscriber per batch.
const COALESCE_AVG: usize = 512;

/// ... up to this many bytes per send.
const COALESCE_MAX: usize = 64 << 10;

/// What one send takes from an [`Outbox`]: a single buffer (a `Send`), or several gathered into
/// one `SendVectored`.
#[derive(Debug)]
pub enum Batch {
    /// One buffer.
    One(Bytes),
    /// Several buffers, sent in order by one vectored send.
    Many(Vec<Bytes>),
}

/// A write queue: at most one send in flight, partial sends requeued in order.
#[derive(Debug)]
pub struct Outbox {
    queue: VecDeque<Bytes>,
    unsent: usize,
    sending: bool,
    high_water: usize,
}

impl Outbox {
    /// An empty queue whose high-water mark is `high_water` bytes.
    pub fn new(high_water: usize) -> Self {
        Outbox {
            queue: VecDeque::new(),
            unsent: 0,
            sending: false,
            high_water,
        }
    }

    /// Queues received bytes for echoing.
    pub fn push(&mut self, data: Bytes) {
        self.unsent += data.len();
        self.queue.push_back(data);
    }

    /// The next buffers to send, unless a send is already in flight or nothing is queued.
    pub fn next_batch(&mut self) -> Option<Batch> {
        if self.sending || self.queue.is_empty() {
            return None;
        }
        self.sending = true;
        // The common case — one reply, one echo — goes out as a plain send, with no vector to
        // allocate.
        if self.queue.len() == 1 {
            return self.queue.pop_front().map(Batch::One);
        }
        let n = self.queue.len().min(MAX_BATCH);
        let total: usize = self.queue.iter().take(n).map(Bytes::len).sum();
        if total <= COALESCE_MAX && total <= n * COALESCE_AVG {
            let mut joined = bytes::BytesMut::with_capacity(total);
            for buf in self.queue.drain(..n) {
                joined.extend_from_slice(&buf);
            }
            return Some(Batch::One(joined.freeze()));
        }
        Some(Batch::Many(self.queue.drain(..n).collect()))
    }

    /// A send of `batch` completed having written `n` bytes: requeue what was not written, in
    /// front, in order.
    pub fn sent(&mut self, batch: Batch, mut n: usize) {
        self.sending = false;
        self.unsent -= n.min(self.unsent);
        let bufs = match batch {
            Batch::One(mut buf) => {
                if n < buf.len() {
                    self.queue.push_front(buf.split_off(n));
                }
                return;
            }
            Batch::Many(bufs) => bufs,
        };
        let mut rest = Vec::new();
        for mut buf in bufs {
            if n >= buf.len() {
                n -= buf.len();
                continue;
            }
            rest.push(buf.split_off(n));
            n = 0;
        }
        for buf in rest.into_iter().rev() {
            self.queue.push_front(buf);
        }
    }

    /// Like [`Outbox::sent`], and when the batch was one buffer written whole, hands that buffer
    /// back so its allocation can be reused (`Bytes::try_into_mut`) instead of freed.
    pub fn sent_reclaim(&mut self, batch: Batch, n: usize) -> Option<Bytes> {
        match batch {
            Batch::One(buf) if n >= buf.len() => {
                self.sending = false;
                self.unsent -= n.min(self.unsent);
                Some(buf)
            }
            other => {
                self.sent(other, n);
                None
            }
        }
    }

    /// Takes a send of `len` bytes that bypasses the queue — straight from a buffer the caller
    /// owns, such as the pool buffer the bytes arrived in, to save copying them — as the one in
    /// flight. Only when nothing is queued or in flight (order!); false means: queue them.
    pub fn begin_direct(&mut self, len: usize) -> bool {
        if !self.is_idle() {
            return false;
        }
        self.sending = true;
        self.unsent += len;
        true
    }

    /// The send started with [`Outbox::begin_direct`] wrote `n` bytes; `rest` is a copy of what
    /// it did not write, which goes out next, before anything queued since.
    pub fn direct_sent(&mut self, n: usize, rest: Option<Bytes>) {
        self.sending = false;
        self.unsent -= n.min(self.unsent);
        if let Some(rest) = rest.filter(|r| !r.is_empty()) {
            self.queue.push_front(rest);
        }
    }

    /// Reading must pause: too much is waiting for the peer.
    pub fn over_high_water(&self) -> bool {
        self.unsent > self.high_water
    }

    /// Reading may resume: the peer drained most of the backlog.
    pub fn under_low_water(&self) -> bool {
        self.unsent <= self.high_water / 4
    }

    /// Nothing queued and nothing in flight.
    pub fn is_idle(&self) -> bool {
        !self.sending && self.queue.is_empty()
    }

    /// Bytes queued or in flight, not yet acknowledged by a send completion.
    pub fn unsent(&self) -> usize {
        self.unsent
    }

    /// True while a send taken with [`Outbox::next_batch`] has not completed.
    pub fn is_sending(&self) -> bool {
        self.sending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_send_requeues_the_rest_in_order() {
        let mut o = Outbox::new(1 << 20);
        let big = |c: u8| Bytes::from(vec![c; 2000]);
        o.push(big(b'a'));
        o.push(big(b'b'));
        let batch = o.next_batch().unwrap();
        assert!(
            matches!(batch, Batch::Many(ref b) if b.len() == 2),
            "large buffers: a vector"
        );
        assert!(o.next_batch().is_none(), "one send in flight at a time");
        o.sent(batch, 2500);
        let Some(Batch::One(rest)) = o.next_batch() else {
            panic!("one buffer left")
        };
        assert_eq!(rest, Bytes::from(vec![b'b'; 1500]));
        o.sent(Batch::One(rest), 1499);
        let Some(Batch::One(last)) = o.next_batch() else {
            panic!("one byte left")
        };
        assert_eq!(last, Bytes::from_static(b"b"));
        o.sent(Batch::One(last), 1);
        assert!(o.is_idle());
        assert_eq!(o.unsent(), 0);
    }

    #[test]
    fn a_whole_single_send_is_handed_back_for_reuse() {
        let mut o = Outbox::new(1 << 20);
        o.push(Bytes::from_static(b"hello"));
        let batch = o.next_batch().unwrap();
        assert_eq!(o.sent_reclaim(batch, 5), Some(Bytes::from_static(b"hello")));
        assert!(o.is_idle());
        assert_eq!(o.unsent(), 0);
        // A partial send requeues the rest and hands nothing back.
        o.push(Bytes::from_static(b"world"));
        let batch = o.next_batch().unwrap();
        assert_eq!(o.sent_reclaim(batch, 2), None);
        assert_eq!(o.unsent(), 3);
        let Some(Batch::One(rest)) = o.next_batch() else {
            panic!("the rest")
        };
        assert_eq!(rest, Bytes::from_static(b"rld"));
    }

    #[test]
    fn a_direct_send_keeps_order_and_counts() {
        let mut o = Outbox::new(8);
        assert!(o.begin_direct(10), "idle: the send may bypass the queue");
        assert!(o.over_high_water(), "its bytes count as unsent");
        assert!(!o.begin_direct(1), "one send in flight at a time");
        o.push(Bytes::from_static(b"later"));
        assert!(
            o.next_batch().is_none(),
            "queued data waits for the direct send"
        );
        // It wrote 6 of 10: the copied rest goes out before what was queued meanwhile.
        o.direct_sent(6, Some(Bytes::from_static(b"7890")));
        assert_eq!(o.unsent(), 9);
        let Some(Batch::One(next)) = o.next_batch() else {
            panic!("rest and later, joined")
        };
        assert_eq!(next, Bytes::from_static(b"7890later"));
        o.sent(Batch::One(next), 9);
        assert!(o.is_idle());
        // Written whole: nothing to requeue.
        assert!(o.begin_direct(3));
        o.direct_sent(3, None);
        assert!(o.is_idle());
        assert_eq!(o.unsent(), 0);
    }

    #[test]
    fn small_buffers_are_joined_into_one_send() {
        let mut o = Outbox::new(1 << 20);
        for part in [&b"abc"[..], b"def", b"gh"] {
            o.push(Bytes::copy_from_slice(part));
        }
        let Some(Batch::One(joined)) = o.next_batch() else {
            panic!("small buffers go out as one")
        };
        assert_eq!(joined, Bytes::from_static(b"abcdefgh"));
        // A partial send of the joined buffer requeues exactly the rest.
        o.sent(Batch::One(joined), 5);
        assert_eq!(o.unsent(), 3);
        let Some(Batch::One(rest)) = o.next_batch() else {
            panic!("the rest")
        };
        assert_eq!(rest, Bytes::from_static(b"fgh"));
    }
}
