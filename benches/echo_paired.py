#!/usr/bin/env python3
"""echo_paired.py: a paired A/B measurement of echo servers' CPU per message.

On this kind of VM every server's cost per message flips between machine states (±10-25 %,
the same for all servers, lasting seconds to minutes), so medians of separate runs can hide a
5 % difference. This script runs the servers back to back in rounds (the order rotated each
round), each for a short window, and reports for each server the median over rounds of its
cost *divided by the first server's cost in the same round*: the machine state cancels out of
the ratio (with the ratios' mean and its 95 % confidence interval, which says how many rounds
a given difference needs: the interval shrinks with the square root of the rounds). It also
reports the medians of server CPU and of server user time per message (user
time is the server's own code; the kernel's TCP work, the same for every server, is the rest),
and the median over rounds of the client's p99.9 latency (one window's p99.9 is a handful of
samples, often set by one stall of the machine: only many windows compare servers).

Usage:
    benches/echo_paired.py [--rounds N] [--conns C] [--size B] [--depth D] [--window S] -- CMD_A -- CMD_B ...

Each CMD is a server command line; ' --addr 127.0.0.1:PORT' is appended to it. The server is
pinned to CPU 0 and examples/loadgen (closed loop, every byte verified) to CPU 1. Example (the
epoll pool-buffer measurement in docs/DESIGN.md):

    benches/echo_paired.py --rounds 10 --conns 1000 --size 4096 -- \\
        benches/peers/mio_echo/target/release/mio_echo -- \\
        target/release/examples/echo_server --backend epoll --buffer-size 4096 -- \\
        target/release/examples/echo_server --backend epoll --buffer-size 16384
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOADGEN = os.environ.get("LOADGEN", os.path.join(ROOT, "target/release/examples/loadgen"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid):
    """(utime + stime, utime) of a process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return utime + stime, utime


def wait_listening(port, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True)
        if out.stdout.strip():
            return True
        time.sleep(0.05)
    return False


_ports = iter(range(0, 1 << 30))


def loadgen_result(out):
    """The key=value fields of loadgen's `RESULT` line, or None if it printed none."""
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return dict(field.split("=", 1) for field in line.split()[1:])
    return None


def measure(cmd, args):
    """One window: (total µs/msg, user µs/msg, p99.9 latency µs) of the server running `cmd`."""
    # A fresh port each time: a peer without SO_REUSEADDR cannot rebind one whose last
    # connections are still in TIME_WAIT.
    port = args.port + next(_ports) % 2000
    server = subprocess.Popen(
        ["taskset", "-c", "0"] + cmd + ["--addr", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not wait_listening(port) or server.poll() is not None:
            sys.exit(f"server did not listen: {' '.join(cmd)}")
        lg = subprocess.Popen(
            ["taskset", "-c", "1", LOADGEN, "--addr", f"127.0.0.1:{port}",
             "--conns", str(args.conns), "--size", str(args.size), "--depth", str(args.depth),
             "--secs", str(args.window + 1), "--warmup", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        # Skip connection setup and the first moments; sample the server around the window.
        time.sleep(0.7)
        c0, u0 = cpu_ticks(server.pid)
        t0 = time.time()
        time.sleep(args.window)
        c1, u1 = cpu_ticks(server.pid)
        t1 = time.time()
        out, _ = lg.communicate(timeout=60)
    finally:
        server.kill()
        server.wait()
    result = loadgen_result(out)
    if not result or int(result["errors"]) != 0:
        sys.exit(f"loadgen failed or saw errors against {' '.join(cmd)}:\n{out}")
    msgs = float(result["msgs_per_sec"]) * (t1 - t0)
    if msgs <= 0:
        sys.exit(f"no messages were echoed during the window by {' '.join(cmd)}:\n{out}")
    p999 = float(result["p999_us"])
    return (c1 - c0) / CLK_TCK * 1e6 / msgs, (u1 - u0) / CLK_TCK * 1e6 / msgs, p999


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit(__doc__)
    split = argv.index("--")
    p = argparse.ArgumentParser(usage=__doc__)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--conns", type=int, default=1000)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--depth", type=int, default=1, help="messages in flight per connection")
    p.add_argument("--window", type=int, default=2)
    p.add_argument("--port", type=int, default=27000, help="first port (one per window)")
    args = p.parse_args(argv[:split])
    cmds, cur = [], []
    for a in argv[split + 1:] + ["--"]:
        if a == "--":
            if cur:
                cmds.append(cur)
            cur = []
        else:
            cur.append(a)
    names = [" ".join([os.path.basename(c[0])] + c[1:]) for c in cmds]
    if len(set(names)) < len(names):
        # Two builds of one program (an A/B of commits): name them by their full paths, or
        # their rounds would be filed under one name.
        names = [" ".join(c) for c in cmds]
    if len(set(names)) < len(names):
        sys.exit("echo_paired.py: the same server command is listed twice")
    total = {n: [] for n in names}
    user = {n: [] for n in names}
    ratio = {n: [] for n in names}
    p999 = {n: [] for n in names}
    for r in range(args.rounds):
        k = r % len(cmds)
        got = {}
        for cmd, name in list(zip(cmds, names))[k:] + list(zip(cmds, names))[:k]:
            got[name] = measure(cmd, args)
            total[name].append(got[name][0])
            user[name].append(got[name][1])
            p999[name].append(got[name][2])
        for name in names:
            ratio[name].append(got[name][0] / got[names[0]][0])
        print(f"round {r + 1}/{args.rounds}: "
              + ", ".join(f"{n}: {got[n][0]:.2f}" for n in names), file=sys.stderr)
    print(f"{args.conns} conns x {args.size} B x depth {args.depth}, {args.rounds} rounds of {args.window} s windows; "
          f"server CPU us/msg (utime+stime) and user us/msg (utime), medians; ratio = median "
          f"over rounds of CPU/msg divided by the first server's in the same round")
    print()
    print("| server | CPU µs/msg | user µs/msg | ratio to first (min–max) | mean ratio ± 95 % CI "
          "| p99.9 µs (min–max) |")
    print("|---|---:|---:|---|---|---|")
    for n in names:
        rs = sorted(ratio[n])
        print(f"| {n} | {statistics.median(total[n]):.2f} | {statistics.median(user[n]):.2f} "
              f"| {statistics.median(rs):.3f} ({rs[0]:.2f}–{rs[-1]:.2f}) | {mean_ci(rs)} "
              f"| {statistics.median(p999[n]):.0f} ({min(p999[n]):.0f}–{max(p999[n]):.0f}) |")


def mean_ci(values):
    """Mean and the half-width of its 95 % confidence interval (normal approximation: the
    rounds are independent pairs; with fewer than 10 rounds the interval is optimistic)."""
    if len(values) < 2:
        return f"{values[0]:.3f}"
    half = 1.96 * statistics.stdev(values) / len(values) ** 0.5
    return f"{statistics.mean(values):.3f} ± {half:.3f}"


if __name__ == "__main__":
    main()
