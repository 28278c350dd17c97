#!/usr/bin/env python3
"""Load test for `hotmoe serve` on loopback: N concurrent streaming clients for a bounded time.
Reports requests, failures, p50/p99 latency (whole request and first token) and tokens/s.
Usage: python3 tools/server/load.py [--url http://127.0.0.1:8080] [--clients 32] [--seconds 120] [--max-tokens 32]"""
import argparse, http.client, json, statistics, threading, time, urllib.parse

PROMPTS = ["The configuration file", "def main():", "Il sistema operativo", "Die Datei wird", "#!/bin/sh\nset -e\n", "The server"]


def client(url, deadline, max_tokens, results, idx):
    u = urllib.parse.urlparse(url)
    i = idx
    while time.time() < deadline:
        body = json.dumps({"prompt": PROMPTS[i % len(PROMPTS)], "max_tokens": max_tokens, "stream": True, "temperature": 0.8, "seed": i})
        i += 1
        t0 = time.time()
        first = None
        tokens = 0
        try:
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=300)
            c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            if r.status != 200:
                results.append(("fail", f"status {r.status}", time.time() - t0, None, 0))
                r.read(); c.close(); continue
            done = False
            for line in r:
                line = line.strip()
                if not line.startswith(b"data: "):
                    continue
                if line == b"data: [DONE]":
                    done = True
                    break
                j = json.loads(line[6:])
                if j["choices"] and j["choices"][0].get("text"):
                    tokens += 1
                    first = first or time.time() - t0
            c.close()
            results.append(("ok" if done else "fail", "" if done else "no [DONE]", time.time() - t0, first, tokens))
        except Exception as e:  # noqa: BLE001
            results.append(("fail", repr(e), time.time() - t0, None, 0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--max-tokens", type=int, default=32)
    a = ap.parse_args()
    assert urllib.parse.urlparse(a.url).hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
    results = []
    start = time.time()
    deadline = start + a.seconds
    threads = [threading.Thread(target=client, args=(a.url, deadline, a.max_tokens, results, i)) for i in range(a.clients)]
    for t in threads: t.start()
    for t in threads: t.join()
    wall = time.time() - start
    ok = [r for r in results if r[0] == "ok"]
    fails = [r for r in results if r[0] != "ok"]
    lat = sorted(r[2] for r in ok)
    ttft = sorted(r[3] for r in ok if r[3] is not None)
    q = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")
    report = {"clients": a.clients, "seconds": round(wall, 1), "requests": len(results), "ok": len(ok), "failed": len(fails),
              "latency_p50_s": round(q(lat, .5), 3), "latency_p99_s": round(q(lat, .99), 3),
              "first_token_p50_s": round(q(ttft, .5), 3), "first_token_p99_s": round(q(ttft, .99), 3),
              "tokens": sum(r[4] for r in ok), "tokens_per_s": round(sum(r[4] for r in ok) / wall, 1),
              "failures": sorted({r[1] for r in fails})[:5]}
    print(json.dumps(report, indent=1))
    raise SystemExit(1 if fails else 0)


if __name__ == "__main__":
    main()
