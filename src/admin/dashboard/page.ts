/**
 * The dashboard: one page (HTML here; CSS and plain JavaScript in `static/`, no framework, no build step),
 * served by the admin server. It reads `/api/events` (Server-Sent Events: a history of chart points,
 * then one snapshot per second) and draws the charts on canvases by hand. Endpoint controls (drain,
 * enable, weight) ask for the admin token once and keep it in sessionStorage.
 */

/**
 * The page's HTML. Its stylesheet and script are static files (`static/`), linked with their content hash
 * (`versions`) so a browser may cache them for good and still fetch a changed file at once.
 */
export function dashboardHtml(versions: { css: string; js: string }): string {
  return String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lb · dashboard</title>
<link rel="stylesheet" href="/dashboard.css?v=${versions.css}">
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
    <div class="card"><h2>Requests/s by status <span class="legend"><span><i class="ok"></i>2xx</span><span><i class="info"></i>3xx</span><span><i class="warn"></i>4xx</span><span><i class="bad"></i>5xx</span></span></h2><canvas id="rate-chart"></canvas></div>
    <div class="card"><h2>Latency (5 s window) <span class="legend"><span><i class="ok"></i>p50</span><span><i class="warn"></i>p90</span><span><i class="bad"></i>p99</span></span></h2><canvas id="latency-chart"></canvas></div>
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
<script src="/dashboard.js?v=${versions.js}"></script>
</body>
</html>
`
}
