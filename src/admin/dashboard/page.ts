/**
 * The dashboard: one static page (HTML, CSS and plain JavaScript, no framework, no build step),
 * served by the admin server. It reads `/api/events` (Server-Sent Events: a history of chart points,
 * then one snapshot per second) and draws the charts on canvases by hand. Endpoint controls (drain,
 * enable, weight) ask for the admin token once and keep it in sessionStorage.
 */

const STYLE = String.raw`
:root { --bg:#0f1419; --panel:#171e26; --line:#26313d; --text:#e6edf3; --muted:#8b98a5; --ok:#3fb950; --warn:#d29922; --bad:#f85149; --info:#58a6ff; --violet:#bc8cff; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--text); font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
header { display:flex; align-items:center; gap:12px; padding:10px 16px; border-bottom:1px solid var(--line); position:sticky; top:0; background:var(--bg); z-index:2; flex-wrap:wrap; }
header h1 { font-size:16px; margin:0; letter-spacing:.5px; }
header .spacer { flex:1; }
.pill { padding:2px 10px; border-radius:999px; font-size:12px; border:1px solid var(--line); color:var(--muted); white-space:nowrap; }
.pill.ok { color:var(--ok); border-color:var(--ok); } .pill.bad { color:var(--bad); border-color:var(--bad); } .pill.warn { color:var(--warn); border-color:var(--warn); }
button { background:#21262d; color:var(--text); border:1px solid #363b42; border-radius:6px; padding:4px 10px; font:inherit; font-size:13px; cursor:pointer; }
button:hover { border-color:var(--info); } button.danger:hover { border-color:var(--bad); }
button:disabled { opacity:.5; cursor:default; }
main { padding:12px 16px 32px; max-width:1400px; margin:0 auto; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit,minmax(130px,1fr)); gap:10px; margin-bottom:12px; }
.kpi { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:8px 12px; }
.kpi .label { color:var(--muted); font-size:12px; }
.kpi .value { font-size:22px; font-variant-numeric:tabular-nums; font-weight:600; }
.kpi .unit { font-size:12px; color:var(--muted); margin-left:2px; font-weight:400; }
.charts { display:grid; grid-template-columns:1fr 1fr; gap:10px; margin-bottom:12px; }
.card { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:8px 12px; min-width:0; }
.card h2 { font-size:13px; margin:0 0 6px; color:var(--muted); font-weight:600; display:flex; gap:10px; align-items:center; flex-wrap:wrap; }
.legend { display:flex; gap:10px; font-weight:400; font-size:12px; }
.legend i { display:inline-block; width:10px; height:3px; vertical-align:middle; margin-right:4px; border-radius:2px; }
canvas { width:100%; height:170px; display:block; }
.codes { display:flex; flex-wrap:wrap; gap:6px; margin-bottom:12px; align-items:center; }
.code { font-variant-numeric:tabular-nums; font-size:12px; padding:2px 8px; border-radius:4px; background:#21262d; }
.code.c2 { color:var(--ok); } .code.c3 { color:var(--info); } .code.c4 { color:var(--warn); } .code.c5 { color:var(--bad); }
table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); white-space:nowrap; }
th { color:var(--muted); font-weight:500; font-size:12px; }
td.num, th.num { text-align:right; }
.ep { font-weight:600; } .url { color:var(--muted); font-size:12px; }
.badge { padding:1px 8px; border-radius:999px; font-size:12px; font-weight:600; }
.s-healthy { background:rgba(63,185,80,.15); color:var(--ok); } .s-unhealthy, .s-circuit-open { background:rgba(248,81,73,.15); color:var(--bad); }
.s-ejected { background:rgba(210,153,34,.15); color:var(--warn); } .s-draining { background:rgba(139,152,165,.2); color:var(--muted); }
.c-open { color:var(--bad); } .c-half-open { color:var(--warn); } .c-closed { color:var(--muted); }
.actions { display:flex; gap:6px; align-items:center; }
.actions input { width:64px; background:#0d1117; color:var(--text); border:1px solid #363b42; border-radius:6px; padding:3px 6px; font:inherit; font-size:13px; }
.pool { margin-bottom:12px; overflow-x:auto; }
#toast { position:fixed; bottom:16px; left:50%; transform:translateX(-50%); background:#21262d; border:1px solid var(--line); padding:8px 14px; border-radius:8px; display:none; z-index:5; max-width:90vw; }
#toast.show { display:block; } #toast.bad { border-color:var(--bad); }
dialog { background:var(--panel); color:var(--text); border:1px solid var(--line); border-radius:10px; padding:16px; width:min(360px,90vw); }
dialog::backdrop { background:rgba(0,0,0,.5); }
dialog input { width:100%; margin:8px 0 12px; padding:6px 8px; background:#0d1117; color:var(--text); border:1px solid #363b42; border-radius:6px; font:inherit; }
dialog .row { display:flex; gap:8px; justify-content:flex-end; }
.muted { color:var(--muted); }
@media (max-width: 760px) {
  main { padding:10px; }
  .charts { grid-template-columns:1fr; }
  .kpis { grid-template-columns:repeat(2,1fr); }
  .kpi .value { font-size:19px; }
  canvas { height:140px; }
  thead { display:none; }
  table, tbody, tr, td { display:block; width:100%; }
  tr { border:1px solid var(--line); border-radius:8px; margin-bottom:8px; padding:4px 0; }
  td { border:none; display:flex; justify-content:space-between; padding:3px 10px; white-space:normal; }
  td::before { content:attr(data-label); color:var(--muted); font-size:12px; margin-right:8px; }
  td.num { text-align:right; }
  td.first::before { content:none; }
  td.first { display:block; }
}
`

const SCRIPT = String.raw`
(function () {
  'use strict';
  var TOKEN_KEY = 'lbAdminToken';
  var history = [];
  var latest = null;
  var windowPoints = 300;
  var $ = function (id) { return document.getElementById(id); };

  function fmt(n, digits) {
    if (n === undefined || n === null || !isFinite(n)) return '–';
    if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
    return n.toFixed(digits === undefined ? 1 : digits);
  }
  function ms(n) {
    if (n === undefined || n === null) return '–';
    if (n >= 1000) return (n / 1000).toFixed(2) + ' s';
    if (n >= 10) return n.toFixed(0) + ' ms';
    return n.toFixed(2) + ' ms';
  }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === 'text') e.textContent = attrs[k];
      else if (k === 'class') e.className = attrs[k];
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  function toast(msg, bad) {
    var t = $('toast');
    t.textContent = msg;
    t.className = 'show' + (bad ? ' bad' : '');
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.className = ''; }, 3500);
  }

  // ---- token -------------------------------------------------------------------------------
  function tokenState() {
    var has = !!sessionStorage.getItem(TOKEN_KEY);
    $('token-btn').textContent = has ? 'Token set ✓' : 'Set admin token';
  }
  function askToken() {
    return new Promise(function (resolve) {
      var d = $('token-dialog');
      var input = $('token-input');
      input.value = sessionStorage.getItem(TOKEN_KEY) || '';
      d.returnValue = '';
      d.onclose = function () {
        if (d.returnValue === 'ok' && input.value.trim() !== '') {
          sessionStorage.setItem(TOKEN_KEY, input.value.trim());
          tokenState();
          resolve(input.value.trim());
        } else resolve(null);
      };
      d.showModal();
      input.focus();
    });
  }
  function act(method, path, body) {
    var token = sessionStorage.getItem(TOKEN_KEY);
    var go = function (tok) {
      if (!tok) return Promise.resolve();
      var init = { method: method, headers: { authorization: 'Bearer ' + tok } };
      if (body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
      return fetch(path, init).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (r.status === 401) { sessionStorage.removeItem(TOKEN_KEY); tokenState(); toast('Admin token refused: ' + (j.error || r.status), true); return; }
          if (!r.ok) { toast('Error ' + r.status + ': ' + (j.error || ''), true); return; }
          toast(method + ' ' + path + ': done');
        });
      }, function (e) { toast('Request failed: ' + e, true); });
    };
    return token ? go(token) : askToken().then(go);
  }

  // ---- charts ------------------------------------------------------------------------------
  function setupCanvas(c) {
    var dpr = window.devicePixelRatio || 1;
    var w = c.clientWidth, h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    var g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    return { g: g, w: w, h: h };
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  // series: [{ color, values: number[] (undefined = gap), fill: bool }]; stacked when opts.stacked
  function chart(canvas, points, series, opts) {
    var s = setupCanvas(canvas), g = s.g, w = s.w, h = s.h;
    var left = 44, right = 8, top = 8, bottom = 18;
    var pw = w - left - right, ph = h - top - bottom;
    var n = points.length;
    var max = 0, i, j;
    for (i = 0; i < n; i++) {
      var acc = 0;
      for (j = 0; j < series.length; j++) {
        var v = series[j].values[i];
        if (v === undefined || v === null) continue;
        acc = opts.stacked ? acc + v : Math.max(acc, v);
      }
      max = Math.max(max, acc);
    }
    max = niceMax(max);
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#8b98a5'; g.strokeStyle = '#26313d'; g.lineWidth = 1;
    for (i = 0; i <= 4; i++) {
      var y = top + ph - (ph * i) / 4;
      g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(w - right, y + 0.5); g.stroke();
      g.textAlign = 'right'; g.textBaseline = 'middle';
      g.fillText(opts.format(max * i / 4), left - 6, y);
    }
    g.textAlign = 'left'; g.textBaseline = 'alphabetic';
    var span = windowPoints;
    g.fillText('-' + Math.round(span / 60) + ' min', left, h - 4);
    g.textAlign = 'right'; g.fillText('now', w - right, h - 4);
    if (n === 0) { g.textAlign = 'center'; g.fillText('waiting for data…', left + pw / 2, top + ph / 2); return; }
    var x = function (k) { return left + pw - ((n - 1 - k) / (span - 1)) * pw; };
    var yv = function (v) { return top + ph - (v / max) * ph; };
    var base = new Array(n).fill(0);
    for (j = 0; j < series.length; j++) {
      var sr = series[j];
      g.strokeStyle = sr.color; g.lineWidth = 1.6; g.beginPath();
      var started = false, tops = [];
      for (i = 0; i < n; i++) {
        var val = sr.values[i];
        if (val === undefined || val === null) { started = false; tops.push(null); continue; }
        var yy = yv(opts.stacked ? base[i] + val : val);
        tops.push(yy);
        if (!started) { g.moveTo(x(i), yy); started = true; } else g.lineTo(x(i), yy);
      }
      g.stroke();
      if (opts.stacked) {
        g.globalAlpha = 0.18; g.fillStyle = sr.color; g.beginPath();
        for (i = 0; i < n; i++) g.lineTo(x(i), tops[i] === null ? yv(base[i]) : tops[i]);
        for (i = n - 1; i >= 0; i--) g.lineTo(x(i), yv(base[i]));
        g.closePath(); g.fill(); g.globalAlpha = 1;
        for (i = 0; i < n; i++) base[i] += sr.values[i] || 0;
      }
    }
  }
  function drawCharts() {
    var pts = history.slice(-windowPoints);
    var col = function (f) { return pts.map(f); };
    chart($('rate-chart'), pts, [
      { color: '#3fb950', values: col(function (p) { return p.classes[0]; }) },
      { color: '#58a6ff', values: col(function (p) { return p.classes[1]; }) },
      { color: '#d29922', values: col(function (p) { return p.classes[2]; }) },
      { color: '#f85149', values: col(function (p) { return p.classes[3]; }) }
    ], { stacked: true, format: function (v) { return fmt(v, v < 10 ? 1 : 0); } });
    chart($('latency-chart'), pts, [
      { color: '#3fb950', values: col(function (p) { return p.p50; }) },
      { color: '#d29922', values: col(function (p) { return p.p90; }) },
      { color: '#f85149', values: col(function (p) { return p.p99; }) }
    ], { stacked: false, format: function (v) { return v >= 1000 ? (v / 1000).toFixed(1) + 's' : (v < 10 ? v.toFixed(1) : Math.round(v)) + 'ms'; } });
  }

  // ---- tables ------------------------------------------------------------------------------
  function endpointRow(pool, e) {
    var base = '/api/pools/' + encodeURIComponent(pool) + '/backends/' + encodeURIComponent(e.id);
    var weight = el('input', { type: 'number', min: '0', step: '1', value: String(e.weight), 'aria-label': 'weight of ' + e.id });
    var td = function (label, cls, child) { return el('td', { 'data-label': label, class: cls || '' }, [child]); };
    var txt = function (t) { return document.createTextNode(t); };
    return el('tr', { 'data-pool': pool, 'data-endpoint': e.id, 'data-state': e.state }, [
      el('td', { class: 'first' }, [el('div', { class: 'ep', text: e.id + (e.backup ? ' (backup)' : '') }), el('div', { class: 'url', text: e.url })]),
      td('State', '', el('span', { class: 'badge s-' + e.state, text: e.state })),
      td('Circuit', 'c-' + e.circuit, txt(e.circuit)),
      td('Weight', 'num', txt(String(e.weight))),
      td('In-flight', 'num', txt(String(e.inFlight))),
      td('Req/s', 'num', txt(fmt(e.rps))),
      td('Errors', 'num', txt((e.errorRate * 100).toFixed(1) + '%')),
      td('p50', 'num', txt(ms(e.p50))),
      td('p99', 'num', txt(ms(e.p99))),
      td('Actions', '', el('div', { class: 'actions' }, [
        e.drained
          ? el('button', { text: 'Enable', 'data-action': 'enable', onclick: function () { act('POST', base + '/enable'); } })
          : el('button', { class: 'danger', text: 'Drain', 'data-action': 'drain', onclick: function () { act('POST', base + '/drain'); } }),
        weight,
        el('button', { text: 'Set', 'data-action': 'weight', onclick: function () {
          var v = Number(weight.value);
          if (!(v >= 0)) { toast('weight: expected a number >= 0', true); return; }
          act('PATCH', base, { weight: v });
        } })
      ]))
    ]);
  }
  function renderPools(snap) {
    // Do not rebuild under a user typing a weight.
    var active = document.activeElement;
    if (active && active.tagName === 'INPUT' && $('pools').contains(active)) return;
    var root = $('pools');
    root.textContent = '';
    snap.pools.forEach(function (p) {
      var head = el('tr', {}, ['Endpoint', 'State', 'Circuit', 'Weight', 'In-flight', 'Req/s', 'Errors', 'p50', 'p99', ''].map(function (h, i) {
        return el('th', { class: i >= 3 && i <= 8 ? 'num' : '', text: h });
      }));
      var rows = p.endpoints.map(function (e) { return endpointRow(p.name, e); });
      var ready = p.endpoints.filter(function (e) { return e.state === 'healthy'; }).length;
      root.appendChild(el('section', { class: 'card pool', 'data-pool': p.name }, [
        el('h2', { text: 'Pool ' + p.name + ' · ' + p.algorithm + ' · ' + ready + '/' + p.endpoints.length + ' healthy' }),
        el('table', {}, [el('thead', {}, [head]), el('tbody', {}, rows)])
      ]));
    });
  }
  function render(snap) {
    latest = snap;
    $('rps').textContent = fmt(snap.rps);
    $('p50').textContent = ms(snap.p50);
    $('p90').textContent = ms(snap.p90);
    $('p99').textContent = ms(snap.p99);
    $('inflight').textContent = String(snap.inFlight);
    $('requests').textContent = Math.round(snap.requests).toLocaleString('en-US');
    $('ratelimited').textContent = Math.round(snap.rateLimited).toLocaleString('en-US');
    $('websockets').textContent = String(snap.websockets);
    var total = snap.classes.reduce(function (a, b) { return a + b; }, 0);
    $('errors').textContent = total > 0 ? (snap.classes[3] / total * 100).toFixed(1) + '%' : '–';
    var st = $('status');
    // With shared state the figures are those of every instance; the workers are this one's.
    var fleet = snap.instances > 1 ? ' · ' + snap.instances + ' instances' : '';
    st.textContent = (snap.ready ? 'ready · ' : 'not ready · ') + snap.workers + ' workers' + fleet;
    st.className = 'pill ' + (snap.ready ? 'ok' : 'bad');
    var codes = $('codes');
    codes.textContent = '';
    codes.appendChild(el('span', { class: 'muted', text: 'Status codes (since start):' }));
    Object.keys(snap.codes).sort().forEach(function (c) {
      codes.appendChild(el('span', { class: 'code c' + c.charAt(0), 'data-code': c, text: c + ' × ' + Math.round(snap.codes[c]).toLocaleString('en-US') }));
    });
    renderPools(snap);
  }

  // ---- stream ------------------------------------------------------------------------------
  function connect() {
    var es = new EventSource('/api/events');
    es.addEventListener('history', function (ev) { history = JSON.parse(ev.data); drawCharts(); });
    es.onmessage = function (ev) {
      var snap = JSON.parse(ev.data);
      var last = history[history.length - 1];
      if (!last || last.t !== snap.t) history.push({ t: snap.t, rps: snap.rps, p50: snap.p50, p90: snap.p90, p99: snap.p99, classes: snap.classes });
      if (history.length > 600) history.shift();
      render(snap);
      drawCharts();
      $('conn').textContent = 'live';
      $('conn').className = 'pill ok';
    };
    es.onerror = function () { $('conn').textContent = 'reconnecting…'; $('conn').className = 'pill warn'; };
  }
  $('token-btn').addEventListener('click', function () { askToken(); });
  $('range').addEventListener('change', function (e) { windowPoints = Number(e.target.value); drawCharts(); });
  window.addEventListener('resize', drawCharts);
  tokenState();
  drawCharts();
  connect();
})();
`

/** The whole page (about 20 KiB), sent as is. */
export const DASHBOARD_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lb · dashboard</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>lb</h1>
  <span id="status" class="pill">connecting…</span>
  <span id="conn" class="pill warn">connecting…</span>
  <span class="spacer"></span>
  <label class="muted">Range
    <select id="range">
      <option value="60">1 min</option>
      <option value="300" selected>5 min</option>
      <option value="600">10 min</option>
    </select>
  </label>
  <button id="token-btn" type="button">Set admin token</button>
</header>
<main>
  <section class="kpis">
    <div class="kpi"><div class="label">Requests/s</div><div class="value" id="rps">–</div></div>
    <div class="kpi"><div class="label">p50 latency</div><div class="value" id="p50">–</div></div>
    <div class="kpi"><div class="label">p90 latency</div><div class="value" id="p90">–</div></div>
    <div class="kpi"><div class="label">p99 latency</div><div class="value" id="p99">–</div></div>
    <div class="kpi"><div class="label">5xx share (1 s)</div><div class="value" id="errors">–</div></div>
    <div class="kpi"><div class="label">In-flight</div><div class="value" id="inflight">–</div></div>
    <div class="kpi"><div class="label">Rate limited</div><div class="value" id="ratelimited">–</div></div>
    <div class="kpi"><div class="label">WebSockets</div><div class="value" id="websockets">–</div></div>
    <div class="kpi"><div class="label">Requests (total)</div><div class="value" id="requests">–</div></div>
  </section>
  <section class="charts">
    <div class="card"><h2>Requests/s by status <span class="legend"><span><i style="background:#3fb950"></i>2xx</span><span><i style="background:#58a6ff"></i>3xx</span><span><i style="background:#d29922"></i>4xx</span><span><i style="background:#f85149"></i>5xx</span></span></h2><canvas id="rate-chart"></canvas></div>
    <div class="card"><h2>Latency (5 s window) <span class="legend"><span><i style="background:#3fb950"></i>p50</span><span><i style="background:#d29922"></i>p90</span><span><i style="background:#f85149"></i>p99</span></span></h2><canvas id="latency-chart"></canvas></div>
  </section>
  <section class="codes" id="codes"></section>
  <section id="pools"></section>
</main>
<div id="toast" role="status"></div>
<dialog id="token-dialog">
  <form method="dialog">
    <strong>Admin token</strong>
    <div class="muted">Needed to drain, enable or re-weight. Kept in this tab only (sessionStorage).</div>
    <input id="token-input" type="password" autocomplete="off" placeholder="LB_ADMIN_TOKEN">
    <div class="row"><button value="ok" type="submit" id="token-ok">Save</button><button value="cancel" type="submit" formnovalidate>Cancel</button></div>
  </form>
</dialog>
<script>${SCRIPT}</script>
</body>
</html>
`
