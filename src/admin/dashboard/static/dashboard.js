// The dashboard's browser code (plain ES5 in a function scope, no build step), served as /dashboard.js
// (see ../assets.ts). It reads /api/events and draws the charts on canvases by hand.
(function () {
  'use strict';
  var TOKEN_KEY = 'lbAdminToken';
  var history = [];
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
