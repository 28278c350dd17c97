#!/usr/bin/env python3
"""Drives the web UI of a running `hotmoe serve` in headless Chromium (Debian's `chromium`):
sends a request so there is live data, loads #/moe-layer-perf, checks that the heatmap and the
hit-rate graph were drawn from it (the page records what it drew on the canvases), and saves
screenshots of the chat page and the perf page.
Usage: python3 tools/server/browser_check.py [http://127.0.0.1:8080] [out-dir]"""
import json, os, re, shutil, subprocess, sys, urllib.request

base = (sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080").rstrip("/")
out = sys.argv[2] if len(sys.argv) > 2 else "."
chromium = shutil.which("chromium") or shutil.which("chromium-browser") or sys.exit("chromium not found: apt-get install chromium")
req = urllib.request.Request(base + "/v1/completions", json.dumps({"prompt": "The configuration file", "max_tokens": 16}).encode(),
                             {"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=120).read()
flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,1000", "--virtual-time-budget=6000"]
dom = subprocess.run([chromium, *flags, "--dump-dom", base + "/#/moe-layer-perf"], capture_output=True, text=True, timeout=120).stdout
cells = re.search(r'id="heatmap"[^>]*data-cells="(\d+)"', dom) or re.search(r'data-cells="(\d+)"[^>]*id="heatmap"', dom)
hits = re.search(r'data-hits="(\d+)"', dom)
points = re.search(r'data-points="(\d+)"', dom)
assert cells and int(cells.group(1)) > 0, "heatmap was not drawn"
assert hits and int(hits.group(1)) > 0, "heatmap has no live data"
assert points and int(points.group(1)) >= 1, "hit-rate graph was not drawn"
assert "Hit rate" in dom and "Cold lane" in dom and "Merge" in dom, "timing cards missing"
for name, url in (("chat", base + "/"), ("moe-layer-perf", base + "/#/moe-layer-perf")):
    path = os.path.join(out, f"webui-{name}.png")
    subprocess.run([chromium, *flags, f"--screenshot={path}", url], capture_output=True, timeout=120)
    print("screenshot:", path, os.path.getsize(path) if os.path.exists(path) else "missing")
print(f"heatmap cells {cells.group(1)}, hits {hits.group(1)}, graph points {points.group(1)}: web UI renders live data")
