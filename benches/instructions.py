#!/usr/bin/env python3
"""instructions.py: user-space instructions per echoed message, counted by valgrind (callgrind).

CPU time on this VM moves by ±10-25 % from one minute to the next, so a change that saves a
few hundred instructions per message cannot be seen in `echo_paired.py` without an hour of
rounds. An instruction count can: callgrind counts every instruction the server executes in
user space, the same count for the same binary and input whatever else the machine is doing.
It says nothing about the kernel's share (most of the CPU at one connection), nor about cache
misses: it ranks the servers' own code, and shows where a change moved it.

For each server: start it under callgrind, warm it up with one loadgen run, zero the counters
(`callgrind_control -z`), run loadgen for `--secs`, dump the counters (`callgrind_control -d`),
and divide the instructions by the messages loadgen echoed (connection setup and teardown are
inside the window: a few thousand instructions against tens of thousands of messages). The
server is then killed: a thread blocked in `io_uring_enter` keeps valgrind from delivering
SIGINT.

Usage:
    benches/instructions.py [--secs S] [--conns C] [--size B] [--depth D] [--top N] -- CMD_A -- CMD_B ...

Each CMD is a server command line; ' --addr 127.0.0.1:PORT' is appended to it. Example (the
table in BENCHMARKS.md):

    benches/instructions.py -- \\
        target/release/examples/echo_server --backend uring -- \\
        target/release/examples/echo_server --backend epoll -- \\
        benches/peers/mio_echo/target/release/mio_echo -- \\
        target/release/liburing_echo
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from echo_paired import LOADGEN, loadgen_result, wait_listening  # noqa: E402


def run_loadgen(port, args, secs):
    out = subprocess.run(
        [LOADGEN, "--addr", f"127.0.0.1:{port}", "--conns", str(args.conns), "--size",
         str(args.size), "--depth", str(args.depth), "--secs", str(secs), "--warmup", "0"],
        capture_output=True, text=True,
    ).stdout
    return loadgen_result(out)


def top_functions(dump, msgs, n):
    """The `n` functions with the most instructions of their own, per message.

    Read from the dump itself (callgrind_annotate 3.19 credits a Rust thread's whole run to its
    entry function): a cost line belongs to the function of the last `fn=`, except the line
    after a `calls=`, which is the callee's inclusive cost."""
    names, own, fn, columns, after_call = {}, {}, None, 1, False
    with open(dump) as f:
        for line in f:
            if line.startswith("positions:"):
                columns = len(line.split()) - 1
            elif line.startswith("fn="):
                m = re.match(r"fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
                if m and m.group(2):
                    names[m.group(1)] = m.group(2)
                fn = names.get(m.group(1)) if m else line[3:].strip()
            elif line.startswith("cfn="):
                m = re.match(r"cfn=\((\d+)\) (.*)", line.rstrip("\n"))
                if m:
                    names[m.group(1)] = m.group(2)
            elif line.startswith("calls="):
                after_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if after_call:
                    after_call = False
                    continue
                fields = line.split()
                if len(fields) > columns:
                    own[fn] = own.get(fn, 0) + int(fields[columns])
    rows = sorted(((v / msgs, k or "?") for k, v in own.items()), reverse=True)
    return rows[:n]


def measure(cmd, port, args, workdir):
    dump = os.path.join(workdir, f"callgrind.{port}")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={dump}"]
        + cmd + ["--addr", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not wait_listening(port, timeout=60):
            sys.exit(f"instructions.py: {' '.join(cmd)} did not listen on port {port}")
        run_loadgen(port, args, 1)
        subprocess.run(["callgrind_control", "-z", str(server.pid)], capture_output=True, check=True)
        result = run_loadgen(port, args, args.secs)
        subprocess.run(["callgrind_control", "-d", str(server.pid)], capture_output=True, check=True)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    msgs = int(result["msgs"]) if result else 0
    if msgs == 0 or result.get("errors") != "0":
        sys.exit(f"instructions.py: {' '.join(cmd)} echoed nothing (or with errors): {result}")
    dumps = sorted(
        (f for f in os.listdir(workdir) if f.startswith(f"callgrind.{port}.")),
        key=lambda f: os.path.getmtime(os.path.join(workdir, f)),
    )
    if not dumps:
        sys.exit(f"instructions.py: no callgrind dump from {' '.join(cmd)}")
    path = os.path.join(workdir, dumps[-1])
    with open(path) as f:
        total = next(int(line.split()[1]) for line in f if line.startswith("summary:"))
    return msgs, total, top_functions(path, msgs, args.top)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--top", type=int, default=8, help="functions listed per server")
    ap.add_argument("--port", type=int, default=7400)
    ap.add_argument("servers", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmds, cur = [], None
    for word in args.servers:
        if word == "--":
            cur = []
            cmds.append(cur)
        elif cur is None:
            sys.exit("instructions.py: server commands come after --")
        else:
            cur.append(word)
    cmds = [c for c in cmds if c]
    if not cmds:
        sys.exit(__doc__)
    print(f"# {args.conns} conn x {args.size} B, depth {args.depth}, {args.secs} s under callgrind")
    with tempfile.TemporaryDirectory() as workdir:
        for i, cmd in enumerate(cmds):
            msgs, total, top = measure(cmd, args.port + i, args, workdir)
            print(f"\n{' '.join(cmd)}")
            print(f"  {total / msgs:8.0f} instructions per message  ({msgs} messages)")
            for per_msg, name in top:
                print(f"  {per_msg:8.1f}  {name[:110]}")


if __name__ == "__main__":
    main()
