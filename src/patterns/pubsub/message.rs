//! What a publish carries ([`Message`]) and how it becomes the bytes a subscriber's connection
//! writes ([`Encoder`]).
//!
//! Fan-out is zero-copy: the payload is a [`Bytes`] shared by every outbox and the history ring.
//! Going one step further, the hub asks its encoder for a wire frame once per *route* (the exact
//! channel, or each matching pattern) and per subscriber [`Format`], then clones that frame (a
//! reference-count increment for `Bytes` or `Rc`) into every outbox. A RESP adapter thus encodes
//! `*3\r\n$7\r\nmessage\r\n…` once for 10,000 subscribers. Formats exist because one hub can feed
//! RESP2 clients, RESP3 clients and browsers (SSE) at once, and their frames differ.

use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;

/// A published message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The channel it was published to.
    pub channel: Bytes,
    /// The payload, shared (never copied) by every subscriber.
    pub payload: Bytes,
    /// Its sequence id in the channel, if the channel retains history (ids start at 1 and grow
    /// by one per publish to that channel).
    pub id: Option<u64>,
    /// When it was published (the `now` given to `publish`).
    pub published_at: Instant,
}

/// A subscriber's wire format, numbered by the host (for example 0 = RESP2, 1 = RESP3, 2 = SSE).
/// The hub only compares formats, to encode each message once per format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Format(pub u8);

/// Turns a message into the frame an outbox holds.
pub trait Encoder {
    /// What an outbox holds and the host writes; cloned once per subscriber, so it should be
    /// cheap to clone (`Bytes`, `Rc<_>`).
    type Frame: Clone;

    /// Encodes `message` for subscribers using `format`. `pattern` is the pattern subscription
    /// it matched (`None` for an exact channel subscription, and for history replays).
    fn encode(&mut self, format: Format, message: &Message, pattern: Option<&Bytes>)
        -> Self::Frame;

    /// The size that counts against a subscriber's outbox limits (the bytes the frame will take
    /// on the wire, ideally).
    fn frame_len(&self, frame: &Self::Frame) -> usize;
}

/// A delivery as the [`RawEncoder`] hands it out: the message plus the pattern it matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The message (its payload shared with every other subscriber).
    pub message: Message,
    /// The pattern subscription that matched, or `None` for an exact channel subscription.
    pub pattern: Option<Bytes>,
}

/// The default encoder: no wire format at all, the host gets the message itself (one `Rc` per
/// route, shared by every subscriber) and encodes when it writes. Sizes count channel, payload
/// and pattern bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawEncoder;

impl Encoder for RawEncoder {
    type Frame = Rc<Delivery>;

    fn encode(
        &mut self,
        _format: Format,
        message: &Message,
        pattern: Option<&Bytes>,
    ) -> Rc<Delivery> {
        Rc::new(Delivery {
            message: message.clone(),
            pattern: pattern.cloned(),
        })
    }

    fn frame_len(&self, frame: &Rc<Delivery>) -> usize {
        frame.message.channel.len()
            + frame.message.payload.len()
            + frame.pattern.as_ref().map_or(0, Bytes::len)
    }
}

/// An encoder from a closure producing `Bytes` frames:
/// `BytesEncoder(|format, msg, pattern| resp::encode_message(format, msg, pattern))`.
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesEncoder<F>(pub F);

impl<F> Encoder for BytesEncoder<F>
where
    F: FnMut(Format, &Message, Option<&Bytes>) -> Bytes,
{
    type Frame = Bytes;

    fn encode(&mut self, format: Format, message: &Message, pattern: Option<&Bytes>) -> Bytes {
        (self.0)(format, message, pattern)
    }

    fn frame_len(&self, frame: &Bytes) -> usize {
        frame.len()
    }
}
