//! The keyspace: 16 numbered databases whose keys hold strings or lists.
//!
//! Lists live in one [`Queues`] (the patterns' job queues), which gives the broker what a job
//! queue needs for free: pushes at either end, pops at either end, and blocking pops served
//! first-come first-served with deadlines. A list `k` of database `n` is the queue named
//! `[n] ++ k`; the per-database map only records that the key is a list (for `TYPE`, `KEYS`,
//! `DBSIZE`, `WRONGTYPE`). Like Redis, a list that becomes empty is deleted.
//!
//! What `Queues` does not offer — reading or removing by position/value (`LINDEX`, `LRANGE`,
//! `LREM`) — is done here on top of it: reads walk its ready jobs in order, and `LREM` rebuilds
//! the list (it is O(n) in Redis too).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use bytes::Bytes;
use ringloop::patterns::pushpull::{
    ConsumerId, ConsumerOptions, End, JobId, PullRequest, Pulled, PushOptions, QueueConfig, Queues,
    QueuesConfig,
};
use ringloop::patterns::NameMap;

/// Databases, as Redis's default `databases 16`.
pub const DATABASES: usize = 16;

/// What a key holds.
#[derive(Clone, Debug)]
pub enum Entry {
    Str(Bytes),
    /// The elements are in [`Db::queues`].
    List,
}

/// A key holds another type than the command works on.
#[derive(Debug)]
pub struct WrongType;

/// A write `WATCH` cares about.
#[derive(Clone, Debug)]
pub enum Touch {
    Key(usize, Bytes),
    /// Every key of a database (`FLUSHDB`, `FLUSHALL`).
    Db(usize),
}

pub struct Db {
    pub keys: Vec<NameMap<Bytes, Entry>>,
    pub queues: Queues,
    /// Writes since the broker last looked, recorded only while some client watches a key
    /// (`watched > 0`), so `WATCH` costs nothing when nobody uses it.
    pub touched: Vec<Touch>,
    /// Keys watched, over all clients.
    pub watched: usize,
    /// Deadlines of keys with a TTL, per database.
    expires: Vec<NameMap<Bytes, Instant>>,
    /// The same deadlines in time order, for `expire_due` (entries whose key's deadline changed
    /// since are stale and skipped when popped).
    deadlines: BinaryHeap<Reverse<(Instant, usize, Bytes)>>,
    /// Keys removed because their TTL ran out.
    pub expired: u64,
    /// The consumer non-blocking pops are made as (a pop leaves no lease, so one is enough).
    popper: ConsumerId,
}

impl Default for Db {
    fn default() -> Self {
        Db::new()
    }
}

/// The queue name of list `key` in database `db`.
pub fn qname(db: usize, key: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(key.len() + 1);
    v.push(db as u8);
    v.extend_from_slice(key);
    v
}

/// The database and key of a queue name.
pub fn split_qname(name: &[u8]) -> (usize, Bytes) {
    match name.split_first() {
        Some((&db, key)) => (db as usize, Bytes::copy_from_slice(key)),
        None => (0, Bytes::new()),
    }
}

impl Db {
    pub fn new() -> Db {
        let mut queues = Queues::new(QueuesConfig {
            // Redis lists have no length limit; memory is the limit.
            default_queue: QueueConfig {
                max_jobs: usize::MAX,
                max_bytes: usize::MAX,
                ..QueueConfig::default()
            },
            auto_create: true,
        });
        let popper = queues.add_consumer(ConsumerOptions::default());
        Db {
            keys: (0..DATABASES).map(|_| NameMap::default()).collect(),
            queues,
            touched: Vec::new(),
            watched: 0,
            expires: (0..DATABASES).map(|_| NameMap::default()).collect(),
            deadlines: BinaryHeap::new(),
            expired: 0,
            popper,
        }
    }

    /// Records a write to `key` for `WATCH`.
    pub fn touch(&mut self, db: usize, key: &[u8]) {
        if self.watched > 0 {
            self.touched
                .push(Touch::Key(db, Bytes::copy_from_slice(key)));
        }
    }

    pub fn get(&self, db: usize, key: &[u8]) -> Option<&Entry> {
        self.keys[db].get(key)
    }

    /// True if `key` is missing or a list.
    pub fn list_or_none(&self, db: usize, key: &[u8]) -> Result<bool, WrongType> {
        match self.keys[db].get(key) {
            None => Ok(false),
            Some(Entry::List) => Ok(true),
            Some(Entry::Str(_)) => Err(WrongType),
        }
    }

    /// Removes a key of any type; true if it existed.
    pub fn remove(&mut self, db: usize, key: &[u8]) -> bool {
        self.touch(db, key);
        self.expires[db].remove(key);
        match self.keys[db].remove(key) {
            Some(Entry::List) => {
                self.queues.delete(&qname(db, key));
                true
            }
            Some(Entry::Str(_)) => true,
            None => false,
        }
    }

    /// `SET`: the value replaces whatever was there, TTL included (`keep_ttl` keeps it).
    pub fn set_string(&mut self, db: usize, key: Bytes, value: Bytes) {
        self.expires[db].remove(&key[..]);
        self.set_string_keep_ttl(db, key, value);
    }

    pub fn set_string_keep_ttl(&mut self, db: usize, key: Bytes, value: Bytes) {
        self.touch(db, &key);
        if let Some(Entry::List) = self.keys[db].get(&key[..]) {
            self.queues.delete(&qname(db, &key));
        }
        self.keys[db].insert(key, Entry::Str(value));
    }

    pub fn flush(&mut self, db: usize) {
        self.expires[db].clear();
        if self.watched > 0 {
            self.touched.push(Touch::Db(db));
        }
        let keys = std::mem::take(&mut self.keys[db]);
        for (key, entry) in keys {
            if let Entry::List = entry {
                self.queues.delete(&qname(db, &key));
            }
        }
    }

    pub fn len(&self, db: usize, key: &[u8]) -> usize {
        self.queues.len(&qname(db, key))
    }

    /// Pushes `items` one after the other at `end` (`LPUSH k a b c` leaves `c b a`). Returns the
    /// new length.
    pub fn push(
        &mut self,
        db: usize,
        key: &Bytes,
        items: Vec<Bytes>,
        end: End,
        now: Instant,
    ) -> Result<usize, WrongType> {
        let exists = self.list_or_none(db, key)?;
        let name = qname(db, key);
        let options = match end {
            End::Front => PushOptions::default().front(),
            End::Back => PushOptions::default(),
        };
        if !items.is_empty() {
            self.touch(db, key);
            // The queue has no limits (see `new`), so the push cannot be refused.
            if let Err(e) = self.queues.push_all(&name, items, options, now) {
                log::error!("push refused: {e}");
            }
            // Pushing to an existing list (the hot path of a job queue) touches the keyspace
            // once, for the type check above.
            if !exists {
                self.keys[db].insert(key.clone(), Entry::List);
            }
        }
        Ok(self.queues.len(&name))
    }

    /// Pops up to `count` elements from `end`. The key must be a list (checked by the caller).
    pub fn pop(
        &mut self,
        db: usize,
        key: &[u8],
        end: End,
        count: usize,
        now: Instant,
    ) -> Vec<Bytes> {
        if count == 0 {
            return Vec::new();
        }
        let name = qname(db, key);
        let mut req = PullRequest::pop(count);
        if end == End::Back {
            req = req.from_back();
        }
        let got = match self.queues.pull(self.popper, &[&name], req, now) {
            Ok(Pulled::Jobs { deliveries, .. }) => {
                deliveries.into_iter().map(|d| d.payload).collect()
            }
            _ => Vec::new(),
        };
        if !got.is_empty() {
            self.touch(db, key);
        }
        self.drop_if_empty(db, key);
        got
    }

    /// Like Redis, an emptied list stops existing. The queue behind it survives while it still
    /// holds jobs reserved over HTTP (or delayed): deleting it would end their leases and lose
    /// the jobs; [`Db::relist`] brings the key back when one of them returns.
    pub fn drop_if_empty(&mut self, db: usize, key: &[u8]) {
        if let Some(Entry::List) = self.keys[db].get(key) {
            let name = qname(db, key);
            if self.queues.is_empty(&name) {
                self.keys[db].remove(key);
                self.expires[db].remove(key);
                let held = self
                    .queues
                    .stats(&name)
                    .is_some_and(|s| s.reserved + s.delayed > 0);
                if !held {
                    self.queues.delete(&name);
                }
            }
        }
    }

    /// Makes `key` a list again if its queue has ready jobs (a nacked or expired job came back
    /// to a list that had been emptied meanwhile).
    pub fn relist(&mut self, db: usize, key: &Bytes) {
        if !self.keys[db].contains_key(&key[..]) && !self.queues.is_empty(&qname(db, key)) {
            self.keys[db].insert(key.clone(), Entry::List);
        }
    }

    /// Pushes one element at the head (`LPUSH key payload`), returning the job id it got.
    pub fn push_job(
        &mut self,
        db: usize,
        key: &Bytes,
        payload: Bytes,
        now: Instant,
    ) -> Result<JobId, WrongType> {
        self.list_or_none(db, key)?;
        self.touch(db, key);
        let name = qname(db, key);
        // The queue has no limits (see `new`): the HTTP front applies its own before this.
        let id = self
            .queues
            .push(&name, payload, PushOptions::default().front(), now)
            .unwrap_or(JobId(0));
        self.keys[db].insert(key.clone(), Entry::List);
        Ok(id)
    }

    /// The elements of a list, head first.
    pub fn iter<'a>(&'a self, db: usize, key: &[u8]) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.queues.ready_jobs(&qname(db, key)).map(|(_, p)| p)
    }

    /// `LREM`: removes up to `count` elements equal to `value` (from the head if `count > 0`,
    /// from the tail if `< 0`, all if 0). Returns how many went.
    pub fn remove_value(
        &mut self,
        db: usize,
        key: &[u8],
        count: i64,
        value: &[u8],
        now: Instant,
    ) -> usize {
        let items: Vec<Bytes> = self.iter(db, key).cloned().collect();
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let mut drop = vec![false; items.len()];
        let mut removed = 0;
        let order: Box<dyn Iterator<Item = usize>> = if count < 0 {
            Box::new((0..items.len()).rev())
        } else {
            Box::new(0..items.len())
        };
        for i in order {
            if removed == limit {
                break;
            }
            if items[i] == value {
                drop[i] = true;
                removed += 1;
            }
        }
        if removed == 0 {
            return 0;
        }
        // Rebuild: take everything out, put the survivors back in order. Emptying the list on
        // the way would drop its TTL: keep it.
        let ttl = self.expires[db].get(key).copied();
        let all = self.pop(db, key, End::Front, items.len(), now);
        let keep: Vec<Bytes> = all
            .into_iter()
            .zip(drop)
            .filter_map(|(item, d)| (!d).then_some(item))
            .collect();
        if !keep.is_empty() {
            let key = Bytes::copy_from_slice(key);
            let _ = self.push(db, &key, keep, End::Back, now);
        }
        if let Some(at) = ttl {
            if self.keys[db].contains_key(key) {
                self.expires[db].insert(Bytes::copy_from_slice(key), at);
            }
        }
        removed
    }

    /// Gives `key` a deadline (it must exist). A deadline already past removes it at once.
    pub fn set_expiry(&mut self, db: usize, key: &Bytes, at: Instant, now: Instant) {
        if at <= now {
            self.remove(db, key);
            self.expired += 1;
            return;
        }
        self.touch(db, key);
        self.expires[db].insert(key.clone(), at);
        self.deadlines.push(Reverse((at, db, key.clone())));
        // Re-arming a key's TTL leaves its old heap entry behind until it is due; rebuild when
        // stale entries outnumber live ones, so a key refreshed on every request (a session)
        // cannot grow the heap without bound.
        let live: usize = self.expires.iter().map(NameMap::len).sum();
        if self.deadlines.len() > 2 * live + 1024 {
            self.deadlines = self
                .expires
                .iter()
                .enumerate()
                .flat_map(|(db, m)| m.iter().map(move |(k, &at)| Reverse((at, db, k.clone()))))
                .collect();
        }
    }

    /// The key's deadline, if it has one.
    pub fn expiry(&self, db: usize, key: &[u8]) -> Option<Instant> {
        self.expires[db].get(key).copied()
    }

    /// Removes the key's deadline; true if it had one (`PERSIST`).
    pub fn persist(&mut self, db: usize, key: &[u8]) -> bool {
        let had = self.expires[db].remove(key).is_some();
        if had {
            self.touch(db, key);
        }
        had
    }

    /// Keys with a deadline in `db`.
    pub fn expiring(&self, db: usize) -> usize {
        self.expires[db].len()
    }

    /// Removes every key whose deadline is at or before `now`. Called before each command, so
    /// no command ever sees an expired key, and once a second so memory is given back even when
    /// nobody asks.
    pub fn expire_due(&mut self, now: Instant) {
        while let Some(Reverse((at, _, _))) = self.deadlines.peek() {
            if *at > now {
                return;
            }
            let Some(Reverse((at, db, key))) = self.deadlines.pop() else {
                return;
            };
            // Stale entries (deadline moved or removed since) are skipped.
            if self.expires[db].get(&key[..]) == Some(&at) {
                self.remove(db, &key);
                self.expired += 1;
            }
        }
    }

    /// Keys of every type in `db`.
    pub fn dbsize(&self, db: usize) -> usize {
        self.keys[db].len()
    }
}
