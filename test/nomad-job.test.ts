import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { REPO_ROOT } from '../testkit/sightline.js';

// Loaded untyped: its type declarations pull in the DOM library, which
// changes the global fetch types for every other file.
const { parse } = createRequire(import.meta.url)('@cdktf/hcl2json') as { parse(name: string, text: string): Promise<unknown> };

/**
 * Nomad is not among Debian's packages, so the example job is parsed with
 * an HCL parser and checked against Nomad's documented job specification:
 * the blocks and attributes a service job with health checks needs.
 */
describe('examples/nomad/sightline.nomad.hcl', () => {
  const file = path.join(REPO_ROOT, 'examples', 'nomad', 'sightline.nomad.hcl');
  const text = readFileSync(file, 'utf8');

  it('is a service job with a ready check, ports, a ClickHouse address from config or Consul, and resources', async () => {
    const doc = (await parse('sightline.nomad.hcl', text)) as any;
    for (const v of ['image', 'clickhouse_url', 'clickhouse_cluster', 'instances']) assert.ok(doc.variable[v], `variable ${v}`);
    const job = doc.job.sightline[0];
    assert.equal(job.type, 'service');
    assert.deepEqual(job.datacenters, ['dc1']);
    assert.equal(job.update[0].health_check, 'checks');

    const group = job.group.sightline[0];
    assert.equal(group.count, '${var.instances}');
    const ports = group.network[0].port;
    assert.deepEqual(Object.keys(ports).sort(), ['http', 'otlp_grpc', 'otlp_http']);
    assert.deepEqual([ports.otlp_grpc[0].to, ports.otlp_http[0].to, ports.http[0].to], [4317, 4318, 3200]);
    assert.equal(group.ephemeral_disk[0].sticky, true);

    const services = group.service as any[];
    const query = services.find((s) => s.name === 'sightline');
    assert.equal(query.port, 'http');
    assert.deepEqual(
      { type: query.check[0].type, path: query.check[0].path },
      { type: 'http', path: '/ready' },
    );
    assert.ok(services.some((s) => s.port === 'otlp_grpc') && services.some((s) => s.port === 'otlp_http'));

    const task = group.task.sightline[0];
    assert.equal(task.driver, 'docker');
    assert.deepEqual(task.config[0].args.slice(0, 2), ['bin/sightline.cjs', 'serve']);
    assert.equal(task.kill_signal, 'SIGTERM');
    const env = task.template[0];
    assert.equal(env.env, true);
    assert.match(env.data, /SIGHTLINE_STORE=.*var\.clickhouse_url.*key "sightline\/clickhouse_url"/);
    assert.match(env.data, /SIGHTLINE_CLICKHOUSE_CLUSTER=/);
    // Off loopback: identities and TLS, re-read on SIGHUP when the variable changes.
    assert.match(env.data, /SIGHTLINE_LISTEN=0\.0\.0\.0/);
    assert.match(env.data, /SIGHTLINE_CONFIG=.*sightline\.yaml/);
    assert.match(env.data, /SIGHTLINE_TLS_CERT=.*SIGHTLINE_TLS_KEY=/s);
    const signalled = (task.template as any[]).filter((t) => t.change_mode === 'signal');
    assert.deepEqual(signalled.map((t) => [t.destination, t.change_signal]), [
      ['secrets/sightline.yaml', 'SIGHUP'],
      ['secrets/tls.crt', 'SIGHUP'],
      ['secrets/tls.key', 'SIGHUP'],
    ]);
    assert.equal(query.check[0].protocol, 'https');
    assert.ok(task.resources[0].cpu >= 1000 && task.resources[0].memory >= 1024, 'resources fit the benchmark (<= 1 GiB RSS)');
  });

  it('reads the ClickHouse password from the Nomad variable into the secrets directory, never from the URL', async () => {
    const doc = (await parse('sightline.nomad.hcl', text)) as any;
    const task = doc.job.sightline[0].group.sightline[0].task.sightline[0];
    const templates = task.template as any[];
    // The env template points Sightline at the file rendered below.
    assert.match(templates[0].data, /^\s*SIGHTLINE_STORE_PASSWORD_FILE=\{\{ env "NOMAD_SECRETS_DIR" \}\}\/clickhouse-password$/m);
    const password = templates.find((t) => t.destination === 'secrets/clickhouse-password');
    assert.ok(password, 'a template renders secrets/clickhouse-password');
    assert.match(password.data, /\{\{ with nomadVar "nomad\/jobs\/sightline" \}\}\{\{ \.clickhouse_password \}\}\{\{ end \}\}/);
    assert.equal(password.perms, '0600');
    // Sightline reads the password once, at start: a new one needs a restart, not SIGHUP.
    assert.equal(password.change_mode, 'restart');
    // No user:password@ in any URL of the job, its comments or its variable descriptions.
    assert.doesNotMatch(text, /(?:clickhouse|https?):\/\/[^\s/@:]+:[^\s/@]+@/);
  });

  it('uses only flags and variables that `sightline serve` knows', async () => {
    const { SERVE_FLAGS, envName } = await import('../src/config/index.js');
    const known = new Set(SERVE_FLAGS.map((f) => envName(f.name)));
    for (const m of text.matchAll(/\b(SIGHTLINE_[A-Z_]+)=/g)) assert.ok(known.has(m[1]), `${m[1]} is a serve setting`);
  });
});

/**
 * The replicated topology's job (docs/deploy.md, "Replicated cluster"):
 * ZooKeeper and ClickHouse pinned to their machines by node metadata, each
 * ClickHouse node's replication config, and Sightline listing every replica.
 */
describe('examples/nomad/sightline-replicated.nomad.hcl', () => {
  const file = path.join(REPO_ROOT, 'examples', 'nomad', 'sightline-replicated.nomad.hcl');
  const text = readFileSync(file, 'utf8');
  const load = async () => ((await parse('sightline-replicated.nomad.hcl', text)) as any).job['sightline-replicated'][0];

  it('runs three ZooKeeper servers, each on its own machine with its data and its id', async () => {
    const job = await load();
    assert.equal(job.type, 'service');
    assert.equal(job.update[0].max_parallel, 1, 'one node restarts at a time, so each shard keeps a replica');
    const zk = job.group.zookeeper[0];
    assert.equal(zk.count, 3);
    const constraints = zk.constraint as any[];
    assert.ok(constraints.some((c) => c.attribute === '${meta.zookeeper_id}' && c.operator === 'is_set'));
    assert.ok(constraints.some((c) => c.operator === 'distinct_hosts'));
    assert.equal(zk.volume.zookeeper[0].type, 'host');
    const task = zk.task.zookeeper[0];
    assert.match(task.config[0].args.join(' '), /zkServer\.sh start-foreground \/local\/zoo\.cfg/);
    const cfg = (task.template as any[]).find((t) => t.destination === 'local/zoo.cfg').data as string;
    for (const line of ['dataDir=/var/lib/zookeeper', 'clientPort=2181', 'admin.enableServer=false']) assert.ok(cfg.includes(line), line);
    assert.match(cfg, /%\{for i, host in var\.zookeeper_hosts\}server\.\$\{i \+ 1\}=\$\{host\}:2888:3888/);
    assert.match((task.template as any[]).find((t) => t.destination === 'local/myid').data, /meta\.zookeeper_id/);
  });

  it('configures each ClickHouse node as one replica of one shard: macros, ZooKeeper, interserver, ON CLUSTER queue, internal_replication', async () => {
    const job = await load();
    const ch = job.group.clickhouse[0];
    assert.equal(ch.count, 4);
    assert.ok((ch.constraint as any[]).some((c) => c.attribute === '${meta.clickhouse_shard}' && c.operator === 'is_set'));
    assert.ok((ch.constraint as any[]).some((c) => c.operator === 'distinct_hosts'));
    assert.equal(ch.volume.clickhouse[0].type, 'host');
    assert.deepEqual(Object.keys(ch.network[0].port).sort(), ['http', 'interserver', 'native']);
    const xml = (ch.task.clickhouse[0].template as any[])[0].data as string;
    assert.match(xml, /<shard>\{\{ env "meta\.clickhouse_shard" \}\}<\/shard>/);
    assert.match(xml, /<replica>\{\{ env "meta\.clickhouse_replica" \}\}<\/replica>/);
    assert.match(xml, /<interserver_http_port>9009<\/interserver_http_port>/);
    assert.match(xml, /<interserver_http_host>/);
    assert.match(xml, /<zookeeper>[\s\S]*var\.zookeeper_hosts[\s\S]*<\/zookeeper>/);
    assert.match(xml, /<distributed_ddl><path>\/clickhouse\/task_queue\/ddl<\/path><\/distributed_ddl>/);
    assert.match(xml, /<remote_servers>\s*<sightline>[\s\S]*var\.clickhouse_shards[\s\S]*<internal_replication>true<\/internal_replication>/);
  });

  it('points Sightline at every replica of the cluster, replicated, with the password from the Nomad variable', async () => {
    const job = await load();
    const task = job.group.sightline[0].task.sightline[0];
    const env = task.template[0];
    assert.equal(env.env, true);
    assert.match(env.data, /^\s*SIGHTLINE_STORE=clickhouse:\/\/sightline@\$\{join\(",", \[for host in flatten\(var\.clickhouse_shards\) : "\$\{host\}:8123"\]\)\}\/\$\{var\.database\}$/m);
    assert.match(env.data, /^\s*SIGHTLINE_CLICKHOUSE_CLUSTER=sightline$/m);
    assert.match(env.data, /^\s*SIGHTLINE_CLICKHOUSE_REPLICATED=true$/m);
    assert.match(env.data, /^\s*SIGHTLINE_STORE_PASSWORD_FILE=/m);
    const password = (task.template as any[]).find((t) => t.destination === 'secrets/clickhouse-password');
    assert.equal(password.perms, '0600');
    assert.doesNotMatch(text, /(?:clickhouse|https?):\/\/[^\s/@:]+:[^\s/@]+@/);
    // The cluster Sightline names is the one the ClickHouse nodes define.
    assert.match((job.group.clickhouse[0].task.clickhouse[0].template as any[])[0].data, /<remote_servers>\s*<sightline>/);
    const { SERVE_FLAGS, envName } = await import('../src/config/index.js');
    const known = new Set(SERVE_FLAGS.map((f) => envName(f.name)));
    for (const m of text.matchAll(/\b(SIGHTLINE_[A-Z_]+)=/g)) assert.ok(known.has(m[1]), `${m[1]} is a serve setting`);
  });
});

/**
 * The template for a traced service (docs/nomad.md): every documented
 * resource attribute set from the Nomad variable, node attribute or job
 * variable the docs name, and the OTLP endpoint from a tailnet name or
 * Consul. test/nomad-diagnosis.test.ts renders it for allocations and sends
 * spans with the SDK.
 */
describe('examples/nomad/otel-service.nomad.hcl', () => {
  // Nomad's runtime environment variables and interpolable node attributes
  // (developer.hashicorp.com/nomad/docs/runtime/environment and .../interpolation).
  const NOMAD_ENV = new Set(['NOMAD_ALLOC_ID', 'NOMAD_SHORT_ALLOC_ID', 'NOMAD_ALLOC_NAME', 'NOMAD_ALLOC_INDEX', 'NOMAD_TASK_NAME', 'NOMAD_GROUP_NAME', 'NOMAD_JOB_ID', 'NOMAD_JOB_NAME', 'NOMAD_JOB_PARENT_ID', 'NOMAD_DC', 'NOMAD_NAMESPACE', 'NOMAD_REGION']);
  const NODE_ATTRIBUTES = new Set(['node.unique.id', 'node.unique.name', 'node.datacenter', 'node.region', 'node.class']);
  const pairs = (value: string) => value.split(',').map((p) => p.split('=') as [string, string]);

  it('sets every documented resource attribute from the documented source, and nothing else', async () => {
    const { NOMAD_RESOURCE_ATTRIBUTES, interpolation, otelServiceTask } = await import('../testkit/nomad.js');
    const task = await otelServiceTask();
    const env = task.env[0];
    const attributes = pairs(env.OTEL_RESOURCE_ATTRIBUTES);
    assert.ok(attributes.every((p) => p.length === 2), 'key=value pairs, no stray = or ,');
    assert.deepEqual(attributes.map(([k]) => k).sort(), Object.keys(NOMAD_RESOURCE_ATTRIBUTES).sort());
    for (const [key, value] of attributes) assert.equal(value, interpolation(NOMAD_RESOURCE_ATTRIBUTES[key]), key);
    for (const source of Object.values(NOMAD_RESOURCE_ATTRIBUTES)) {
      if ('env' in source) assert.ok(NOMAD_ENV.has(source.env), `${source.env} is a Nomad runtime variable`);
      if ('node' in source) assert.ok(NODE_ATTRIBUTES.has(source.node), `${source.node} is a Nomad node attribute`);
    }
    assert.equal(env.OTEL_SERVICE_NAME, '${NOMAD_JOB_NAME}');
    assert.equal(env.OTEL_EXPORTER_OTLP_PROTOCOL, 'http/protobuf');
  });

  it('declares the job variables it interpolates', async () => {
    const text = readFileSync(path.join(REPO_ROOT, 'examples', 'nomad', 'otel-service.nomad.hcl'), 'utf8');
    const doc = (await parse('otel-service.nomad.hcl', text)) as any;
    const used = new Set([...text.matchAll(/\bvar\.([a-z_]+)/g)].map((m) => m[1]));
    assert.deepEqual([...used].sort(), Object.keys(doc.variable).sort());
  });

  it('finds Sightline at a fixed tailnet name or through Consul, and keeps an ingest token in secrets/', async () => {
    const { otelServiceTask } = await import('../testkit/nomad.js');
    const templates = (await otelServiceTask()).template as any[];
    const endpoint = templates.find((t) => t.destination === 'local/otlp.env');
    assert.equal(endpoint.env, true);
    assert.match(endpoint.data, /%\{if var\.sightline_otlp_endpoint != ""\}\s*OTEL_EXPORTER_OTLP_ENDPOINT=\$\{var\.sightline_otlp_endpoint\}\s*%\{else\}/);
    assert.match(endpoint.data, /\{\{- with service "sightline-otlp-http" \}\}\{\{ with index \. 0 \}\}\s*OTEL_EXPORTER_OTLP_ENDPOINT=https:\/\/\{\{ \.Address \}\}:\{\{ \.Port \}\}/);
    // The Consul name is the one Sightline's own job registers its OTLP/HTTP port under.
    const sightline = (await parse('sightline.nomad.hcl', readFileSync(path.join(REPO_ROOT, 'examples', 'nomad', 'sightline.nomad.hcl'), 'utf8'))) as any;
    const otlpHttp = (sightline.job.sightline[0].group.sightline[0].service as any[]).find((s) => s.port === 'otlp_http');
    assert.equal(otlpHttp.name, 'sightline-otlp-http');
    const headers = templates.find((t) => t.destination === 'secrets/otlp-headers.env');
    assert.deepEqual([headers.env, headers.perms], [true, '0600']);
    assert.match(headers.data, /\{\{ with nomadVar "nomad\/jobs\/checkout" \}\}\{\{ if \.sightline_token \}\}OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer \{\{ \.sightline_token \}\}"/);
  });

  it('is what docs/nomad.md documents, attribute by attribute', async () => {
    const { NOMAD_RESOURCE_ATTRIBUTES } = await import('../testkit/nomad.js');
    const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'nomad.md'), 'utf8');
    for (const [key, source] of Object.entries(NOMAD_RESOURCE_ATTRIBUTES)) {
      const from = 'env' in source ? source.env : 'node' in source ? `\${${source.node}}` : `var.${source.jobVar}`;
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${key}\` |`));
      assert.ok(row, `docs/nomad.md has a row for ${key}`);
      assert.ok(row.includes(`\`${from}\``), `${key}: ${row} names ${from}`);
    }
  });
});
