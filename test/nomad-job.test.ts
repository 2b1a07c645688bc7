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
