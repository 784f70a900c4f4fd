//! Server commands: `COMMAND`, `INFO`, `CONFIG GET|SET|RESETSTAT`, `DBSIZE`, `FLUSHDB`,
//! `FLUSHALL`.

use bytes::Bytes;
use ringloop::patterns::Glob;
use ringloop::proto::resp::Value;

use super::{
    eq, lookup, text, unknown_subcommand, wrong_arity, Spec, BLOCKING, COMMANDS, NO_AUTH, PUBSUB,
    SYNTAX, WRITE,
};
use crate::db::DATABASES;
use crate::service::{Exec, Stats};

/// `COMMAND INFO`'s ten fields (Redis 7), from the table.
fn command_info(s: &Spec) -> Value {
    let mut flags = vec![if s.flags & WRITE != 0 {
        "write"
    } else {
        "readonly"
    }];
    if s.flags & BLOCKING != 0 {
        flags.push("blocking");
    }
    if s.flags & NO_AUTH != 0 {
        flags.push("no_auth");
    }
    if s.flags & PUBSUB != 0 {
        flags.push("pubsub");
    }
    Value::Array(vec![
        Value::bulk(s.name),
        Value::Integer(s.arity as i64),
        Value::Set(flags.into_iter().map(Value::simple).collect()),
        Value::Integer(s.keys.0 as i64),
        Value::Integer(s.keys.1 as i64),
        Value::Integer(s.keys.2 as i64),
        Value::Set(Vec::new()),
        Value::Set(Vec::new()),
        Value::Array(Vec::new()),
        Value::Array(Vec::new()),
    ])
}

pub fn command(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let Some(sub) = args.get(1) else {
        let all = Value::Array(COMMANDS.iter().map(command_info).collect());
        return ex.me.value(&all);
    };
    if eq(sub, "count") {
        ex.me.int(COMMANDS.len() as i64);
    } else if eq(sub, "info") {
        let infos: Vec<Value> = if args.len() == 2 {
            COMMANDS.iter().map(command_info).collect()
        } else {
            args[2..]
                .iter()
                .map(|n| lookup(n).map_or(Value::NullArray, command_info))
                .collect()
        };
        ex.me.value(&Value::Array(infos));
    } else if eq(sub, "docs") {
        // A map of name → docs, for the named commands (unknown ones are left out, as Redis
        // does) or for all.
        let specs: Vec<&Spec> = if args.len() == 2 {
            COMMANDS.iter().collect()
        } else {
            args[2..].iter().filter_map(|n| lookup(n)).collect()
        };
        let docs = specs
            .into_iter()
            .map(|s| (Value::bulk(s.name), super::docs::docs(s)))
            .collect();
        ex.me.value(&Value::Map(docs));
    } else if eq(sub, "list") {
        ex.me.array(COMMANDS.len());
        for s in COMMANDS {
            ex.me.bulk(s.name.as_bytes());
        }
    } else if eq(sub, "help") {
        let help = [
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "COUNT",
            "DOCS [<command-name> ...]",
            "INFO [<command-name> ...]",
            "LIST",
            "HELP",
        ];
        ex.me.array(help.len());
        for h in help {
            ex.me.simple(h);
        }
    } else {
        unknown_subcommand(ex, "command", sub);
    }
}

pub fn info(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let sections: Vec<String> = args[1..]
        .iter()
        .map(|a| text(a).to_ascii_lowercase())
        .collect();
    let text = crate::info::render(ex, &sections);
    ex.me.verbatim(text);
}

pub fn config(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    let sub = &args[1];
    if eq(sub, "get") {
        if args.len() < 3 {
            return ex.me.err(&wrong_arity("config|get"));
        }
        let params = ex.st.cfg.params();
        let globs: Vec<Glob> = args[2..]
            .iter()
            .map(|p| Glob::new(&p.to_ascii_lowercase()))
            .collect();
        let found: Vec<(Value, Value)> = params
            .into_iter()
            .filter(|(name, _)| globs.iter().any(|g| g.matches(name.as_bytes())))
            .map(|(name, v)| (Value::bulk(name), Value::bulk(v)))
            .collect();
        ex.me.value(&Value::Map(found));
    } else if eq(sub, "set") {
        if args.len() < 4 || args.len() % 2 != 0 {
            return ex.me.err(&wrong_arity("config|set"));
        }
        // All or nothing, as Redis 7: apply to a copy, commit if every pair is valid.
        let mut cfg = ex.st.cfg.clone();
        for pair in args[2..].chunks(2) {
            let name = text(&pair[0]).to_ascii_lowercase();
            if let Err(e) = cfg.set(&name, &text(&pair[1])) {
                return ex.me.err(&format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - {e}"
                ));
            }
        }
        ex.st.cfg = cfg;
        ex.me.ok();
    } else if eq(sub, "resetstat") {
        ex.st.stats = Stats::default();
        ex.me.ok();
    } else if eq(sub, "rewrite") {
        ex.me.err("ERR The server is running without a config file");
    } else if eq(sub, "help") {
        let help = [
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "SET <directive> <value>",
            "RESETSTAT",
            "HELP",
        ];
        ex.me.array(help.len());
        for h in help {
            ex.me.simple(h);
        }
    } else {
        unknown_subcommand(ex, "config", sub);
    }
}

pub fn dbsize(ex: &mut Exec<'_, '_>, _: &[Bytes]) {
    ex.me.int(ex.st.db.dbsize(ex.me.db) as i64);
}

fn flush_mode_ok(ex: &mut Exec<'_, '_>, args: &[Bytes]) -> bool {
    match args.len() {
        1 => true,
        2 if eq(&args[1], "async") || eq(&args[1], "sync") => true,
        _ => {
            ex.me.err(SYNTAX);
            false
        }
    }
}

pub fn flushdb(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    if flush_mode_ok(ex, args) {
        ex.st.db.flush(ex.me.db);
        ex.me.ok();
    }
}

pub fn flushall(ex: &mut Exec<'_, '_>, args: &[Bytes]) {
    if flush_mode_ok(ex, args) {
        for db in 0..DATABASES {
            ex.st.db.flush(db);
        }
        ex.me.ok();
    }
}
