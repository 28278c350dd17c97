/// The web UI, embedded in the binary (no build step, no CDN): a streaming chat page and the
/// live MoE layer performance page at #/moe-layer-perf.
enum WebUI {
    static let page = #"""
<!doctype html><html lang="en"><head><meta charset="utf-8"><title>hotmoe</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="manifest" href="/manifest.webmanifest"><link rel="icon" href="/favicon.svg" type="image/svg+xml">
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f7f7f9;color:#222}
header{background:#24292f;color:#fff;padding:.6em 1em;display:flex;gap:1em;align-items:center}
header a{color:#cfe3ff;text-decoration:none}main{max-width:1100px;margin:1em auto;padding:0 1em}
#log{background:#fff;border:1px solid #ddd;border-radius:6px;padding:1em;min-height:300px;white-space:pre-wrap}
.msg-user{color:#0550ae;margin-top:.8em}.msg-assistant{margin-top:.3em}
textarea{width:100%;height:70px;margin-top:.5em}button,select{padding:.4em .9em;margin:.3em .3em 0 0}
.cards{display:flex;flex-wrap:wrap;gap:.6em;margin:.8em 0}.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5em .8em;min-width:120px}
.card b{display:block;font-size:1.3em}.card span{font-size:.8em;color:#666}canvas{background:#fff;border:1px solid #ddd;border-radius:6px}
#status{font-size:.85em;color:#666}
</style></head><body>
<header><b>hotmoe</b><a href="#/">Chat</a><a href="#/moe-layer-perf" id="perf-button" title="MoE layer performance">&#9889; MoE perf</a>
<select id="mode" title="MoE perf mode"><option value="full">Full</option><option value="update">Update</option><option value="off">Off</option></select>
<span id="status"></span></header>
<main>
<section id="chat-view">
<div id="log"></div>
<textarea id="input" placeholder="Message (Enter to send, Shift+Enter for a new line)"></textarea>
<button id="send">Send</button><button id="clear">Clear</button>
</section>
<section id="perf-view" hidden>
<h2>MoE layer performance</h2>
<div class="cards" id="cards"></div>
<h3>Hot-cache hit rate over time</h3><canvas id="graph" width="1000" height="220"></canvas>
<h3>Layer &times; expert selections</h3><canvas id="heatmap" width="1000" height="300"></canvas>
<div><button id="apply">Apply cache</button><span id="apply-result"></span></div>
</section>
</main>
<script>
const $ = id => document.getElementById(id);
// Under --api-key: asks once for the key, keeps it in this browser, sends it as a bearer token.
async function api(url, opts = {}){
  for (let attempt = 0; ; attempt++) {
    const key = localStorage.getItem('hotmoe-api-key'), headers = Object.assign({}, opts.headers || {});
    if (key) headers['Authorization'] = 'Bearer ' + key;
    const r = await fetch(url, Object.assign({}, opts, {headers}));
    if (r.status !== 401 || attempt > 0) return r;
    const entered = prompt('This server needs an API key'); if (!entered) return r;
    localStorage.setItem('hotmoe-api-key', entered);
  }
}
if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js').catch(() => {});
let history = [], perf = null, hitSeries = [];
function route(){ const p = location.hash === '#/moe-layer-perf'; $('perf-view').hidden = !p; $('chat-view').hidden = p; if (p) refresh(); }
window.addEventListener('hashchange', route);
$('clear').onclick = () => { history = []; $('log').textContent = ''; };
$('input').addEventListener('keydown', e => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); send(); } });
$('send').onclick = send;
async function send(){
  const text = $('input').value.trim(); if (!text) return; $('input').value = '';
  history.push({role:'user', content:text});
  const u = document.createElement('div'); u.className = 'msg-user'; u.textContent = 'You: ' + text; $('log').appendChild(u);
  const a = document.createElement('div'); a.className = 'msg-assistant'; $('log').appendChild(a);
  const r = await api('/v1/chat/completions', {method:'POST', headers:{'Content-Type':'application/json'},
    body: JSON.stringify({messages: history, stream: true, max_tokens: 256})});
  if (!r.ok) { a.textContent = 'error: ' + (await r.text()); return; }
  const reader = r.body.getReader(), dec = new TextDecoder(); let buf = '', out = '';
  for (;;) { const {done, value} = await reader.read(); if (done) break; buf += dec.decode(value, {stream:true});
    let i; while ((i = buf.indexOf('\n\n')) >= 0) { const line = buf.slice(0, i); buf = buf.slice(i + 2);
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      const j = JSON.parse(line.slice(6)); const d = j.choices && j.choices[0] && j.choices[0].delta;
      if (d && d.content) { out += d.content; a.textContent = out; }
      if (j.timings) $('status').textContent = j.timings.predicted_per_second.toFixed(1) + ' tok/s'; } }
  history.push({role:'assistant', content: out});
}
$('mode').onchange = async () => { await api('/moe-layer-perf', {method:'POST', headers:{'Content-Type':'application/json'}, body: JSON.stringify({mode: $('mode').value})}); hitSeries = []; refresh(); };
$('apply').onclick = async () => {
  if (!perf) return; $('apply-result').textContent = ' applying (waits for idle slots)...';
  const r = await api('/moe-hot-cache', {method:'POST', headers:{'Content-Type':'application/json'}, body: JSON.stringify(perf)});
  $('apply-result').textContent = ' ' + await r.text(); refresh(); };
function sum(layers, key){ return layers.reduce((s, l) => s + (l[key] || 0), 0); }
function card(label, value, note){ return `<div class="card"><span>${label}</span><b>${value}</b><span>${note || ''}</span></div>`; }
async function refresh(){
  const r = await api('/moe-layer-perf'); perf = await r.json();
  if (perf.mode) $('mode').value = perf.mode;
  const L = perf.layers || [];
  const hot = sum(L, 'hot_slots_total'), cold = sum(L, 'cold_slots_total'), rate = hot + cold ? hot / (hot + cold) : 0;
  hitSeries.push(rate); if (hitSeries.length > 200) hitSeries.shift();
  const us = k => sum(L, k).toFixed(0) + ' µs';
  // Execution order: summary, routing/prep, parallel region, hot and cold lanes, sync, merge.
  $('cards').innerHTML = card('Hit rate', (rate * 100).toFixed(1) + '%', hot + ' hot / ' + cold + ' cold slots')
    + card('Total MoE / token', us('total_moe_time_per_call_us'), 'sum over layers, per call')
    + card('Routing / prep', us('routing_time_per_call_us'))
    + card('Parallel wall', us('parallel_region_wall_time_per_call_us'))
    + card('Hot lane', us('parallel_hot_lane_wall_time_per_call_us'))
    + card('Cold lane', us('parallel_cold_lane_wall_time_per_call_us'))
    + card('Overlap', us('parallel_overlap_estimate_per_call_us'), 'hidden by parallel lanes')
    + card('Join wait', us('parallel_join_wait_time_per_call_us'))
    + card('Merge', us('merge_time_per_call_us'));
  drawGraph(); drawHeatmap(L, perf.n_expert || 0);
}
function drawGraph(){
  const c = $('graph'), g = c.getContext('2d'); g.clearRect(0, 0, c.width, c.height);
  g.strokeStyle = '#ddd'; g.fillStyle = '#666'; g.font = '11px sans-serif';
  for (let i = 0; i <= 4; i++) { const y = 10 + (c.height - 20) * (1 - i / 4); g.beginPath(); g.moveTo(40, y); g.lineTo(c.width, y); g.stroke(); g.fillText((i * 25) + '%', 2, y + 4); }
  g.strokeStyle = '#1f77b4'; g.lineWidth = 2; g.beginPath();
  hitSeries.forEach((v, i) => { const x = 40 + (c.width - 50) * i / Math.max(1, hitSeries.length - 1), y = 10 + (c.height - 20) * (1 - v);
    i ? g.lineTo(x, y) : g.moveTo(x, y); }); g.stroke();
  c.dataset.points = hitSeries.length; c.dataset.last = hitSeries.length ? hitSeries[hitSeries.length - 1].toFixed(4) : '';
}
function drawHeatmap(L, E){
  const c = $('heatmap'), g = c.getContext('2d'); g.clearRect(0, 0, c.width, c.height);
  if (!L.length || !E) { g.fillText('no data yet: send a request', 10, 20); return; }
  const rowH = Math.max(4, Math.min(24, (c.height - 10) / L.length)), cw = (c.width - 50) / E;
  L.forEach((l, r) => { const hits = new Array(E).fill(0), hotSet = new Set((l.hot_experts || []).map(p => p[0]));
    (l.experts || []).forEach(([e, h]) => hits[e] = h); const m = Math.max(1, ...hits);
    g.fillStyle = '#333'; g.fillText('L' + l.layer, 2, 5 + r * rowH + rowH * .7);
    hits.forEach((h, e) => { const v = h / m; g.fillStyle = hotSet.has(e) ? `rgba(214,39,40,${.15 + .85 * v})` : `rgba(31,119,180,${.08 + .92 * v})`;
      g.fillRect(45 + e * cw, 5 + r * rowH, Math.max(1, cw - .5), rowH - 1); }); });
  c.dataset.cells = L.length * E; c.dataset.hits = L.reduce((s, l) => s + (l.experts || []).reduce((t, p) => t + p[1], 0), 0);
}
setInterval(() => { if (location.hash === '#/moe-layer-perf') refresh(); }, 2000);
route();
</script></body></html>
"""#

    /// Makes the page installable as an app (and is what llama-server's UI serves too).
    static let manifest = ##"{"name":"hotmoe","short_name":"hotmoe","start_url":"/","display":"standalone","background_color":"#f7f7f9","theme_color":"#24292f","icons":[{"src":"/favicon.svg","sizes":"any","type":"image/svg+xml"}]}"##

    static let icon = ##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#24292f"/><path d="M14 46V18h6v11h12V18h6v28h-6V35H20v11z" fill="#cfe3ff"/><circle cx="48" cy="20" r="6" fill="#d62728"/></svg>"##

    /// Changes whenever the page does (FNV-1a of its text): the service worker's cache name
    /// and /_app/version.json.
    static let version = String(page.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }, radix: 16)

    /// The shell files the service worker keeps for offline use.
    static let shellPaths = ["/", "/manifest.webmanifest", "/favicon.svg"]

    /// Network first, the cached shell when the server is unreachable; API calls are never
    /// cached. The cache name carries the page's version, so an upgrade replaces the old shell.
    static let serviceWorker: String = {
        let paths = shellPaths.map { "'\($0)'" }.joined(separator: ", ")
        return """
        const SHELL = 'hotmoe-shell-\(version)', PATHS = [\(paths)];
        self.addEventListener('install', e => { e.waitUntil(caches.open(SHELL).then(c => c.addAll(PATHS))); self.skipWaiting(); });
        self.addEventListener('activate', e => { e.waitUntil(caches.keys().then(ks => Promise.all(ks.filter(k => k !== SHELL).map(k => caches.delete(k))))); self.clients.claim(); });
        self.addEventListener('fetch', e => {
          const u = new URL(e.request.url);
          if (e.request.method !== 'GET' || u.origin !== location.origin || !PATHS.includes(u.pathname)) return;
          e.respondWith(fetch(e.request).then(r => { const copy = r.clone(); caches.open(SHELL).then(c => c.put(e.request, copy)); return r; })
            .catch(() => caches.match(e.request)));
        });

        """
    }()
}
