//! `COMMAND DOCS`: Redis's summary, group and argument syntax for every command in the table, so
//! `redis-cli` can show its hints and `COMMAND DOCS GET` reads as it does on Redis.

use ringloop::proto::resp::Value;

use super::Spec;

/// (name, summary, group, since, syntax of the arguments after the name).
static DOCS: &[(&str, &str, &str, &str, &str)] = &[
    ("ping", "Returns the server's liveliness response.", "connection", "1.0.0", "[message]"),
    ("echo", "Returns the given string.", "connection", "1.0.0", "message"),
    ("hello", "Handshakes with the Redis server.", "connection", "6.0.0", "[protover [AUTH username password] [SETNAME clientname]]"),
    ("auth", "Authenticates the connection.", "connection", "1.0.0", "[username] password"),
    ("quit", "Closes the connection.", "connection", "1.0.0", ""),
    ("reset", "Resets the connection.", "connection", "6.2.0", ""),
    ("select", "Changes the selected database.", "connection", "1.0.0", "index"),
    ("client", "A container for client connection commands.", "connection", "2.4.0", "<subcommand> [arguments]"),
    ("multi", "Starts a transaction.", "transactions", "1.2.0", ""),
    ("exec", "Executes all commands in a transaction.", "transactions", "1.2.0", ""),
    ("discard", "Discards a transaction.", "transactions", "2.0.0", ""),
    ("watch", "Monitors changes to keys to determine the execution of a transaction.", "transactions", "2.2.0", "key [key ...]"),
    ("unwatch", "Forgets about watched keys of a transaction.", "transactions", "2.2.0", ""),
    ("command", "Returns detailed information about all commands.", "server", "2.8.13", "[COUNT|DOCS|INFO|LIST] [command-name ...]"),
    ("info", "Returns information and statistics about the server.", "server", "1.0.0", "[section [section ...]]"),
    ("config", "A container for server configuration commands.", "server", "2.0.0", "GET parameter [parameter ...] | SET parameter value [parameter value ...] | RESETSTAT"),
    ("dbsize", "Returns the number of keys in the database.", "server", "1.0.0", ""),
    ("flushdb", "Removes all keys from the current database.", "server", "1.0.0", "[ASYNC|SYNC]"),
    ("flushall", "Removes all keys from all databases.", "server", "1.0.0", "[ASYNC|SYNC]"),
    ("del", "Deletes one or more keys.", "generic", "1.0.0", "key [key ...]"),
    ("unlink", "Asynchronously deletes one or more keys.", "generic", "4.0.0", "key [key ...]"),
    ("exists", "Determines whether one or more keys exist.", "generic", "1.0.0", "key [key ...]"),
    ("type", "Determines the type of value stored at a key.", "generic", "1.0.0", "key"),
    ("keys", "Returns all key names that match a pattern.", "generic", "1.0.0", "pattern"),
    ("get", "Returns the string value of a key.", "string", "1.0.0", "key"),
    ("set", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "string", "1.0.0", "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"),
    ("expire", "Sets the expiration time of a key in seconds.", "generic", "1.0.0", "key seconds [NX|XX|GT|LT]"),
    ("pexpire", "Sets the expiration time of a key in milliseconds.", "generic", "2.6.0", "key milliseconds [NX|XX|GT|LT]"),
    ("expireat", "Sets the expiration time of a key to a Unix timestamp.", "generic", "1.2.0", "key unix-time-seconds [NX|XX|GT|LT]"),
    ("pexpireat", "Sets the expiration time of a key to a Unix milliseconds timestamp.", "generic", "2.6.0", "key unix-time-milliseconds [NX|XX|GT|LT]"),
    ("ttl", "Returns the expiration time in seconds of a key.", "generic", "1.0.0", "key"),
    ("pttl", "Returns the expiration time in milliseconds of a key.", "generic", "2.6.0", "key"),
    ("expiretime", "Returns the expiration time of a key as a Unix timestamp.", "generic", "7.0.0", "key"),
    ("pexpiretime", "Returns the expiration time of a key as a Unix milliseconds timestamp.", "generic", "7.0.0", "key"),
    ("persist", "Removes the expiration time of a key.", "generic", "2.2.0", "key"),
    ("subscribe", "Listens for messages published to channels.", "pubsub", "2.0.0", "channel [channel ...]"),
    ("unsubscribe", "Stops listening to messages posted to channels.", "pubsub", "2.0.0", "[channel [channel ...]]"),
    ("psubscribe", "Listens for messages published to channels that match one or more patterns.", "pubsub", "2.0.0", "pattern [pattern ...]"),
    ("punsubscribe", "Stops listening to messages published to channels that match one or more patterns.", "pubsub", "2.0.0", "[pattern [pattern ...]]"),
    ("publish", "Posts a message to a channel.", "pubsub", "2.0.0", "channel message"),
    ("pubsub", "A container for Pub/Sub commands.", "pubsub", "2.8.0", "CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT"),
    ("lpush", "Prepends one or more elements to a list. Creates the key if it doesn't exist.", "list", "1.0.0", "key element [element ...]"),
    ("rpush", "Appends one or more elements to a list. Creates the key if it doesn't exist.", "list", "1.0.0", "key element [element ...]"),
    ("lpushx", "Prepends one or more elements to a list only when the list exists.", "list", "2.2.0", "key element [element ...]"),
    ("rpushx", "Appends an element to a list only when the list exists.", "list", "2.2.0", "key element [element ...]"),
    ("lpop", "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", "list", "1.0.0", "key [count]"),
    ("rpop", "Returns and removes the last elements of a list. Deletes the list if the last element was popped.", "list", "1.0.0", "key [count]"),
    ("llen", "Returns the length of a list.", "list", "1.0.0", "key"),
    ("lrange", "Returns a range of elements from a list.", "list", "1.0.0", "key start stop"),
    ("lindex", "Returns an element from a list by its index.", "list", "1.0.0", "key index"),
    ("lrem", "Removes elements from a list. Deletes the list if the last element was removed.", "list", "1.0.0", "key count element"),
    ("lmove", "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", "list", "6.2.0", "source destination LEFT|RIGHT LEFT|RIGHT"),
    ("rpoplpush", "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", "list", "1.2.0", "source destination"),
    ("blpop", "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "list", "2.0.0", "key [key ...] timeout"),
    ("brpop", "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.", "list", "2.0.0", "key [key ...] timeout"),
    ("blmove", "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.", "list", "6.2.0", "source destination LEFT|RIGHT LEFT|RIGHT timeout"),
    ("brpoplpush", "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.", "list", "2.2.0", "source destination timeout"),
];

/// The docs of `spec`: a map of `summary`, `since`, `group`, `complexity`, and `arguments`
/// (one argument per word of the syntax, as `redis-cli` only needs names for its hints).
pub fn docs(spec: &Spec) -> Value {
    let (summary, group, since, syntax) = DOCS
        .iter()
        .find(|d| d.0 == spec.name)
        .map_or(("", "generic", "", ""), |d| (d.1, d.2, d.3, d.4));
    let arguments: Vec<Value> = syntax
        .split_whitespace()
        .map(|word| {
            let optional = word.starts_with('[');
            let name = word.trim_matches(|c| c == '[' || c == ']' || c == '.');
            let mut fields = vec![
                (Value::bulk("name"), Value::bulk(name)),
                (Value::bulk("type"), Value::bulk("string")),
                (Value::bulk("display_text"), Value::bulk(name)),
            ];
            if optional {
                fields.push((
                    Value::bulk("flags"),
                    Value::Array(vec![Value::simple("optional")]),
                ));
            }
            Value::Map(fields)
        })
        .collect();
    let mut fields = vec![
        (Value::bulk("summary"), Value::bulk(summary)),
        (Value::bulk("since"), Value::bulk(since)),
        (Value::bulk("group"), Value::bulk(group)),
    ];
    if !arguments.is_empty() {
        fields.push((Value::bulk("arguments"), Value::Array(arguments)));
    }
    Value::Map(fields)
}
