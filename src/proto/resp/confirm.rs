//! Reading a pub/sub confirmation: the frame a server sends for each channel of a
//! `SUBSCRIBE`/`UNSUBSCRIBE` (and their `P`/`S` forms), which says how many subscriptions the
//! connection has left. A proxy that forwards a subscribed connection uses the count to know
//! when the connection is an ordinary one again.

use bytes::BytesMut;

use super::{Protocol, ReplyDecoder, Value};

/// What a confirmation confirms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmed {
    /// `subscribe` or `psubscribe`.
    Subscribe,
    /// `unsubscribe` or `punsubscribe`.
    Unsubscribe,
    /// `ssubscribe` (shard channels, counted apart from the others).
    ShardSubscribe,
    /// `sunsubscribe`.
    ShardUnsubscribe,
}

impl Confirmed {
    /// True for the shard-channel forms, whose count is kept apart from channels and patterns.
    pub fn is_shard(self) -> bool {
        matches!(
            self,
            Confirmed::ShardSubscribe | Confirmed::ShardUnsubscribe
        )
    }
}

/// If `frame` (one whole reply) is a subscription confirmation in `proto`, what it confirms and
/// the number of subscriptions left — channels and patterns together, or shard channels alone.
///
/// RESP2 confirmations are 3-element arrays; RESP3 ones are pushes, and an ordinary RESP3
/// array reply of the same shape (a subscribed RESP3 client may run any command) is not one.
///
/// ```
/// use ringloop::proto::resp::{subscription_confirmation, Confirmed, Protocol};
///
/// let frame = b"*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:0\r\n";
/// assert_eq!(
///     subscription_confirmation(frame, Protocol::Resp2),
///     Some((Confirmed::Unsubscribe, 0))
/// );
/// assert_eq!(subscription_confirmation(frame, Protocol::Resp3), None);
/// ```
pub fn subscription_confirmation(frame: &[u8], proto: Protocol) -> Option<(Confirmed, i64)> {
    let head: &[u8] = match proto {
        Protocol::Resp2 => b"*3\r\n",
        Protocol::Resp3 => b">3\r\n",
    };
    if !frame.starts_with(head) {
        return None;
    }
    let mut buf = BytesMut::from(frame);
    let (Value::Array(items) | Value::Push(items)) =
        ReplyDecoder::new().decode(&mut buf).ok()??
    else {
        return None;
    };
    let [Value::Bulk(kind), _, Value::Integer(count)] = items.as_slice() else {
        return None;
    };
    let confirmed = match kind.to_ascii_lowercase().as_slice() {
        b"subscribe" | b"psubscribe" => Confirmed::Subscribe,
        b"unsubscribe" | b"punsubscribe" => Confirmed::Unsubscribe,
        b"ssubscribe" => Confirmed::ShardSubscribe,
        b"sunsubscribe" => Confirmed::ShardUnsubscribe,
        _ => return None,
    };
    Some((confirmed, *count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirmation(head: char, kind: &str, channel: Option<&str>, count: i64) -> Vec<u8> {
        let channel = channel.map_or("$-1\r\n".to_string(), |c| {
            format!("${}\r\n{c}\r\n", c.len())
        });
        format!(
            "{head}3\r\n${}\r\n{kind}\r\n{channel}:{count}\r\n",
            kind.len()
        )
        .into_bytes()
    }

    #[test]
    fn every_kind_in_both_protocols() {
        for (kind, want) in [
            ("subscribe", Confirmed::Subscribe),
            ("psubscribe", Confirmed::Subscribe),
            ("unsubscribe", Confirmed::Unsubscribe),
            ("PUNSUBSCRIBE", Confirmed::Unsubscribe),
            ("ssubscribe", Confirmed::ShardSubscribe),
            ("sunsubscribe", Confirmed::ShardUnsubscribe),
        ] {
            for (head, proto) in [('*', Protocol::Resp2), ('>', Protocol::Resp3)] {
                let frame = confirmation(head, kind, Some("ch"), 3);
                assert_eq!(
                    subscription_confirmation(&frame, proto),
                    Some((want, 3)),
                    "{kind}"
                );
            }
        }
        // An argument-less UNSUBSCRIBE with nothing subscribed names no channel.
        let frame = confirmation('*', "unsubscribe", None, 0);
        assert_eq!(
            subscription_confirmation(&frame, Protocol::Resp2),
            Some((Confirmed::Unsubscribe, 0))
        );
        assert!(Confirmed::ShardUnsubscribe.is_shard() && !Confirmed::Unsubscribe.is_shard());
    }

    #[test]
    fn other_frames_are_not_confirmations() {
        let r2 = Protocol::Resp2;
        let r3 = Protocol::Resp3;
        let message = b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n";
        assert_eq!(subscription_confirmation(message, r2), None);
        // A RESP3 client's ordinary array reply, shaped like a confirmation.
        let array = confirmation('*', "unsubscribe", Some("a"), 0);
        assert_eq!(subscription_confirmation(&array, r3), None);
        // A RESP2 push header does not occur; a pong, an error, a truncated frame.
        assert_eq!(
            subscription_confirmation(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n", r2),
            None
        );
        assert_eq!(subscription_confirmation(b"-ERR no\r\n", r2), None);
        assert_eq!(
            subscription_confirmation(b"*3\r\n$9\r\nsubscribe\r\n", r2),
            None
        );
        // The count must be an integer.
        let bulk_count = b"*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n$1\r\n1\r\n";
        assert_eq!(subscription_confirmation(bulk_count, r2), None);
    }
}
