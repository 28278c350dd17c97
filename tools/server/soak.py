#!/usr/bin/env python3
"""Soak test with faults for `hotmoe serve` on loopback (issue 20).

Starts `hotmoe serve --parallel 4` (or uses --url/--pid of a running one), then for --minutes
runs --clients concurrent clients: streaming and non-streaming completions and chat requests with
mixed prompt and output lengths, clients that disconnect mid-stream, and greedy native
/completion requests streamed and unstreamed whose token ids must be equal (no lost or duplicated
token). An admin thread switches /moe-layer-perf modes and applies /moe-hot-cache in between.
Figures: requests, failures, token mismatches, RSS drift after warm-up and open fds from
/proc/PID, p50/p99 latency. Exit status 1 when a target is missed.

Usage: python3 tools/server/soak.py --bin .build/release/hotmoe [--minutes 10] [--clients 64]
       python3 tools/server/soak.py --url http://127.0.0.1:8080 --pid PID ...
Stdlib only."""
import argparse, difflib, http.client, json, os, random, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.parse

WORDS = ("the cache keeps the hot experts in memory while the cold ones stay on disk and every request "
         "routes each token through a few of them so the server must stay fast and correct under load").split()
TOPICS = ["The configuration file", "def main():", "Il sistema operativo", "Die Datei wird", "#!/bin/sh\nset -e\n",
          "Once upon a time", "SELECT * FROM", "The server"]


def prompt_of(rng):
    """A prompt of 2 to ~100 words: mostly short, some long (prefill-heavy); with at most 128
    new tokens it fits the default model's 256-token slots at --parallel 4."""
    n = rng.choice([0, 0, 4, 16, 48, 96])
    return rng.choice(TOPICS) + (" " + " ".join(rng.choice(WORDS) for _ in range(n)) if n else "")


def max_tokens_of(rng):
    return rng.choice([1, 4, 16, 32, 64, 128])


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []
        self.latency = {"stream": [], "plain": []}
        self.first_token = []
        self.pairs = 0
        self.mismatched_pairs = []
        self.lost = 0
        self.duplicated = 0

    def count(self, kind):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def fail(self, kind, why):
        with self.lock:
            self.failures.append(f"{kind}: {why}")


class Client:
    def __init__(self, url, timeout):
        u = urllib.parse.urlparse(url)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout

    def post(self, path, body):
        c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        return c, c.getresponse()

    def call(self, method, path, body=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            c.request(method, path, None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body)),
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()


def sse_events(response):
    """The JSON payloads of an SSE response, then None for [DONE]."""
    for line in response:
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        if line == b"data: [DONE]":
            yield None
            return
        yield json.loads(line[6:])


def streamed(cl, stats, kind, path, body, t0):
    """Reads a whole OpenAI stream; True when it ended with [DONE] and carried no error."""
    c, r = cl.post(path, body)
    try:
        if r.status != 200:
            stats.fail(kind, f"status {r.status} {r.read()[:200]!r}")
            return False
        first = None
        for ev in sse_events(r):
            if ev is None:
                if first is not None:
                    stats.first_token.append(first)
                return True
            if "error" in ev:
                stats.fail(kind, f"error event {str(ev)[:200]}")
                return False
            if first is None and ev.get("choices"):
                first = time.time() - t0
        stats.fail(kind, "stream ended without [DONE]")
        return False
    finally:
        c.close()


def plain(cl, stats, kind, path, body):
    status, data = cl.call("POST", path, body)
    if status != 200:
        stats.fail(kind, f"status {status} {data[:200]!r}")
        return None
    j = json.loads(data)
    if not j.get("choices") and "tokens" not in j:
        stats.fail(kind, f"no choices in {data[:200]!r}")
        return None
    return j


def disconnect(cl, stats, rng):
    """Opens a long stream, reads a few events, and goes away."""
    c, r = cl.post("/v1/completions", {"prompt": prompt_of(rng), "max_tokens": 256, "stream": True, "ignore_eos": True})
    try:
        if r.status != 200:
            stats.fail("disconnect", f"status {r.status}")
            return
        want = rng.randint(1, 6)
        for i, ev in enumerate(sse_events(r)):
            if ev is None or i + 1 >= want:
                break
    finally:
        # Abrupt close: RST instead of FIN where the platform allows (SO_LINGER 0).
        try:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except (OSError, AttributeError):
            pass
        c.close()


def token_pair(cl, stats, rng):
    """The same greedy native request streamed and unstreamed: token ids must be equal."""
    body = {"prompt": prompt_of(rng), "n_predict": max_tokens_of(rng), "temperature": 0, "cache_prompt": False}
    c, r = cl.post("/completion", dict(body, stream=True))
    streamed_ids = []
    try:
        if r.status != 200:
            stats.fail("pair", f"stream status {r.status}")
            return
        ended = False
        for ev in sse_events(r):
            if ev is None:
                break
            if "error" in ev:
                stats.fail("pair", f"error event {str(ev)[:200]}")
                return
            streamed_ids += ev.get("tokens", [])
            if ev.get("stop"):
                ended = True
        if not ended:
            stats.fail("pair", "native stream without a stop event")
            return
    finally:
        c.close()
    whole = plain(cl, stats, "pair", "/completion", dict(body, return_tokens=True))
    if whole is None:
        return
    ids = whole.get("tokens", [])
    with stats.lock:
        stats.pairs += 1
        if ids != streamed_ids:
            lost = dup = 0
            for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=ids, b=streamed_ids, autojunk=False).get_opcodes():
                if op in ("delete", "replace"):
                    lost += i2 - i1
                if op in ("insert", "replace"):
                    dup += j2 - j1
            stats.lost += lost
            stats.duplicated += dup
            stats.mismatched_pairs.append({"prompt": body["prompt"][:60], "n_predict": body["n_predict"],
                                           "unstreamed": len(ids), "streamed": len(streamed_ids)})


def client_loop(cl, stats, deadline, seed):
    rng = random.Random(seed)
    while time.time() < deadline:
        roll = rng.random()
        t0 = time.time()
        try:
            if roll < 0.30:
                kind = "completion-stream"
                ok = streamed(cl, stats, kind, "/v1/completions", {"prompt": prompt_of(rng), "max_tokens": max_tokens_of(rng),
                                                                   "stream": True, "seed": rng.randrange(1 << 30)}, t0)
                if ok:
                    stats.latency["stream"].append(time.time() - t0)
            elif roll < 0.50:
                kind = "completion"
                if plain(cl, stats, kind, "/v1/completions", {"prompt": prompt_of(rng), "max_tokens": max_tokens_of(rng),
                                                               "seed": rng.randrange(1 << 30)}) is not None:
                    stats.latency["plain"].append(time.time() - t0)
            elif roll < 0.65:
                kind = "chat-stream" if rng.random() < 0.5 else "chat"
                body = {"messages": [{"role": "user", "content": prompt_of(rng)}], "max_tokens": max_tokens_of(rng),
                        "stream": kind == "chat-stream"}
                if kind == "chat-stream":
                    if streamed(cl, stats, kind, "/v1/chat/completions", body, t0):
                        stats.latency["stream"].append(time.time() - t0)
                elif plain(cl, stats, kind, "/v1/chat/completions", body) is not None:
                    stats.latency["plain"].append(time.time() - t0)
            elif roll < 0.80:
                kind = "disconnect"
                disconnect(cl, stats, rng)
            else:
                kind = "pair"
                token_pair(cl, stats, rng)
            stats.count(kind)
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            stats.count("exception")
            stats.fail("client", repr(e)[:200])


def admin_loop(cl, stats, deadline, interval):
    """Perf mode switches and manual hot-cache applies while the clients run."""
    modes = ["update", "off", "full"]
    i = 0
    while time.time() + interval < deadline:
        time.sleep(interval)
        try:
            if i % 2 == 0:
                status, data = cl.call("POST", "/moe-layer-perf", {"mode": modes[(i // 2) % len(modes)]})
                kind = "perf-mode"
            else:
                status, profile = cl.call("GET", "/moe-layer-perf")
                if status == 200:
                    status, data = cl.call("POST", "/moe-hot-cache", profile)
                else:
                    data = profile
                kind = "hot-cache-apply"
            stats.count(kind)
            if status != 200:
                stats.fail(kind, f"status {status} {data[:200]!r}")
        except Exception as e:  # noqa: BLE001
            stats.fail("admin", repr(e)[:200])
        i += 1


def proc_figures(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def quantile(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p * len(xs)))], 3) if xs else None


def start_server(a):
    """A profiling run writes the perf JSON, then the server starts with a hot cache from it,
    so manual applies and the automatic post-request updates move real experts."""
    port = a.port or free_port()
    workdir = tempfile.mkdtemp(prefix="hotmoe-soak-")
    profile = os.path.join(workdir, "profile.json")
    model = ["-m", a.model] if a.model else []
    subprocess.run([a.bin, "run", *model, "-p", "The cache keeps the hot experts", "-n", "32", "--moe-layer-perf-out", profile],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cmd = [a.bin, "serve", *model, "--parallel", str(a.parallel), "--port", str(port), "--metrics",
           "--cpu-moe", "--moe-hot-cache", profile, "--moe-hot-cache-max-mib", str(a.hot_cache_mib),
           "--moe-hot-cache-update-rate", "0.1", "--moe-layer-perf-out", profile] + a.serve_arg
    log = open(os.path.join(workdir, "server.log"), "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    cl = Client(url, 5)
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}; log in {workdir}/server.log")
        try:
            if cl.call("GET", "/health")[0] == 200:
                return proc, url, workdir
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    sys.exit("server did not become healthy in 120 s")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", help="hotmoe binary to start (release build)")
    ap.add_argument("--model", help="GGUF model (default: hotmoe's embedded default model)")
    ap.add_argument("--url", help="use a running server instead (needs --pid)")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--hot-cache-mib", type=int, default=4)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=60, help="seconds before the RSS baseline is taken")
    ap.add_argument("--admin-interval", type=float, default=10)
    ap.add_argument("--sample-interval", type=float, default=5)
    ap.add_argument("--out", help="also write the JSON report here")
    ap.add_argument("serve_arg", nargs="*", help="extra arguments for hotmoe serve (after --)")
    a = ap.parse_args()
    proc = None
    if a.url:
        assert a.pid, "--url needs --pid (for /proc figures)"
        assert urllib.parse.urlparse(a.url).hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
        url, pid, workdir = a.url, a.pid, None
    else:
        assert a.bin, "give --bin (or --url and --pid)"
        proc, url, workdir = start_server(a)
        pid = proc.pid
    cl = Client(url, 900)
    stats = Stats()
    time.sleep(2)  # the health checks' connections close first
    rss_before, fds_before = proc_figures(pid)
    start = time.time()
    deadline = start + a.minutes * 60
    samples = []
    threads = [threading.Thread(target=client_loop, args=(cl, stats, deadline, 1000 + i), daemon=True) for i in range(a.clients)]
    threads.append(threading.Thread(target=admin_loop, args=(cl, stats, deadline, a.admin_interval), daemon=True))
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        try:
            samples.append((time.time() - start,) + proc_figures(pid))
        except (OSError, StopIteration):
            stats.fail("server", "process gone")
            break
        time.sleep(a.sample_interval)
    for t in threads:
        t.join(timeout=1)
    wall = time.time() - start
    time.sleep(2)  # let closed connections go
    alive = (proc.poll() is None) if proc else os.path.exists(f"/proc/{pid}")
    rss_after, fds_after = proc_figures(pid) if alive else (None, None)
    health = cl.call("GET", "/health")[0] if alive else None
    metrics = {}
    if alive:
        status, text = cl.call("GET", "/metrics")
        for line in text.decode().splitlines() if status == 200 else []:
            name, _, value = line.partition(" ")
            if name in ("hotmoe_requests_total", "hotmoe_request_errors_total", "hotmoe_tokens_predicted_total"):
                metrics[name] = float(value)
    warm = [s for s in samples if s[0] >= a.warmup]
    base = statistics.median(s[1] for s in warm[:3]) if len(warm) >= 6 else None
    end = statistics.median(s[1] for s in warm[-3:]) if len(warm) >= 6 else None
    drift = round(100 * (end - base) / base, 2) if base else None
    lat_all = stats.latency["stream"] + stats.latency["plain"]
    # A pair is two HTTP requests, an apply a GET and a POST.
    requests = sum(stats.counts.values()) + stats.counts.get("pair", 0) + stats.counts.get("hot-cache-apply", 0)
    report = {
        "clients": a.clients, "parallel": a.parallel, "seconds": round(wall, 1), "http_requests": requests,
        "by_kind": dict(sorted(stats.counts.items())), "failures": len(stats.failures),
        "failure_samples": sorted(set(stats.failures))[:10],
        "token_pairs_compared": stats.pairs, "token_pairs_mismatched": len(stats.mismatched_pairs),
        "lost_tokens": stats.lost, "duplicated_tokens": stats.duplicated, "mismatch_samples": stats.mismatched_pairs[:5],
        "rss_kib": {"start": rss_before, "after_warmup": base, "end_of_load": end, "after": rss_after,
                    "max": max((s[1] for s in samples), default=None)},
        "rss_drift_after_warmup_pct": drift,
        "fds": {"before": fds_before, "after": fds_after, "max": max((s[2] for s in samples), default=None)},
        "latency_s": {"p50": quantile(lat_all, .5), "p99": quantile(lat_all, .99),
                      "stream_p50": quantile(stats.latency["stream"], .5), "stream_p99": quantile(stats.latency["stream"], .99),
                      "plain_p50": quantile(stats.latency["plain"], .5), "plain_p99": quantile(stats.latency["plain"], .99),
                      "first_token_p50": quantile(stats.first_token, .5), "first_token_p99": quantile(stats.first_token, .99)},
        "server_alive": alive, "health_after": health, "metrics": metrics,
    }
    print(json.dumps(report, indent=1))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(dict(report, rss_samples=samples), f, indent=1)
    if proc:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    missed = (stats.failures or stats.mismatched_pairs or not alive or health != 200 or fds_after != fds_before
              or drift is None or drift >= 5)
    raise SystemExit(1 if missed else 0)


if __name__ == "__main__":
    main()
