#!/usr/bin/env bash
# Measures, on the embedded default (SQLite file, in-process state):
#   - the time from launching `latchkey serve` to discovery answering 200,
#     on a second start (the first creates the database and signing key);
#   - the server's idle RSS after it answers;
#   - that SIGTERM stops it cleanly (exit 0).
# Usage: scripts/startup.sh [RUNS]   (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release --quiet --bin latchkey
bin=$PWD/target/release/latchkey
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$bin" "$tmp" "$runs" <<'PY'
import http.client, os, signal, socket, statistics, subprocess, sys, time

binary, tmp, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start():
    port = free_port()
    env = dict(os.environ,
               DATABASE_URL=f"sqlite://{tmp}/latchkey.db",
               LATCHKEY_LISTEN=f"127.0.0.1:{port}",
               LATCHKEY_ISSUER=f"http://127.0.0.1:{port}",
               LATCHKEY_LOG="warn")
    env.pop("REDIS_URL", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary, "serve"], cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = t0 + 10
    while time.perf_counter() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/.well-known/openid-configuration")
            if c.getresponse().status == 200:
                return proc, (time.perf_counter() - t0) * 1000
        except OSError:
            time.sleep(0.001)
    proc.kill()
    sys.exit("server never answered within 10 s")

def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill(); return None

# First start: creates the database and the signing key.
proc, first = start()
stop(proc)

times, rss, exits = [], [], []
for _ in range(runs):
    proc, ms = start()
    times.append(ms)
    time.sleep(1)
    rss.append(rss_mb(proc.pid))
    exits.append(stop(proc))

print(f"first start (creates database and key): {first:.1f} ms")
print(f"second start to discovery 200 over {runs} runs: "
      f"min {min(times):.1f} ms, median {statistics.median(times):.1f} ms, max {max(times):.1f} ms")
print(f"idle RSS: min {min(rss):.1f} MB, median {statistics.median(rss):.1f} MB, max {max(rss):.1f} MB")
print(f"exit codes after SIGTERM: {exits}")
if any(e != 0 for e in exits):
    sys.exit("server did not exit cleanly on SIGTERM")
PY
