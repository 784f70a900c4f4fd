"""The broker through redis-py, the most used Redis client library (run by tests/broker/python.rs).

usage: python3 redis_py_client.py HOST PORT

redis-py 8 speaks RESP3 by default (HELLO 3) and sends CLIENT SETINFO on every connection; its
pipelines are MULTI/EXEC transactions by default and its optimistic-locking helper uses WATCH.
Every scenario runs over RESP3 and RESP2. Exits non-zero on the first failed check.
"""

import sys
import threading
import time

import redis


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def scenario(host, port, protocol):
    r = redis.Redis(host=host, port=port, protocol=protocol, decode_responses=True,
                    socket_timeout=10)
    tag = f"resp{protocol}"
    check(r.ping() is True, "PING")
    r.flushdb()

    # Strings with a TTL (a lock, a cache entry).
    check(r.set("lock", "me", nx=True, px=2000) is True, "SET NX PX")
    check(r.set("lock", "other", nx=True) is None, "second SET NX refused")
    check(0 < r.pttl("lock") <= 2000, "PTTL")
    check(r.expire("lock", 100) is True and r.ttl("lock") == 100, "EXPIRE/TTL")
    check(r.persist("lock") is True and r.ttl("lock") == -1, "PERSIST")

    # A pipeline is MULTI ... EXEC by default.
    pipe = r.pipeline()
    pipe.rpush("jobs", "a", "b", "c").lpop("jobs").lrange("jobs", 0, -1)
    check(pipe.execute() == [3, "a", ["b", "c"]], "transactional pipeline")

    # Optimistic locking with WATCH: redis-py retries on conflict.
    r.set("counter", 41)

    def incr(p):
        v = int(p.get("counter"))
        p.multi()
        p.set("counter", v + 1)

    r.transaction(incr, "counter")
    check(r.get("counter") == "42", "WATCH transaction")

    # A blocking pop served by a push from another connection.
    got = {}

    def worker():
        got["job"] = redis.Redis(host=host, port=port, protocol=protocol,
                                 decode_responses=True).brpop("queue", timeout=5)

    t = threading.Thread(target=worker)
    t.start()
    time.sleep(0.2)
    r.lpush("queue", "job-1")
    t.join(10)
    check(got.get("job") in (("queue", "job-1"), ["queue", "job-1"]), f"BRPOP got {got}")

    # Pub/sub: channel and pattern subscriptions (pushes in RESP3).
    p = r.pubsub()
    p.subscribe("news")
    p.psubscribe("n*")
    kinds = []
    deadline = time.time() + 5
    while len(kinds) < 2 and time.time() < deadline:
        m = p.get_message(timeout=0.5)
        if m:
            kinds.append(m["type"])
    check(kinds == ["subscribe", "psubscribe"], f"confirmations {kinds}")
    check(r.publish("news", "hello") == 2, "PUBLISH receivers")
    msgs = []
    deadline = time.time() + 5
    while len(msgs) < 2 and time.time() < deadline:
        m = p.get_message(timeout=0.5)
        if m:
            msgs.append((m["type"], m["data"]))
    check(sorted(msgs) == [("message", "hello"), ("pmessage", "hello")], f"messages {msgs}")
    p.close()

    # redis-py announced itself with CLIENT SETINFO.
    me = [c for c in r.client_list() if c.get("lib-name") == "redis-py"]
    check(me, "CLIENT LIST shows lib-name=redis-py")
    check(r.info("keyspace")["db0"]["keys"] >= 1, "INFO keyspace")
    print(f"OK {tag}: TTLs, transactional pipeline, WATCH, BRPOP, pub/sub, CLIENT SETINFO")


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    print(f"redis-py {redis.__version__}")
    for protocol in (3, 2):
        scenario(host, port, protocol)


if __name__ == "__main__":
    main()
