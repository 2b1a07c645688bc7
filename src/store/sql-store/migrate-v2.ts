import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ColumnSpec } from '../../model/span-batch.js';
import { ResourceBatchBuilder, SpanBatchBuilder, type AttributeColumns } from '../../model/span-batch.js';
import { RowBinaryReader } from '../../model/row-binary.js';
import { encodeExtras } from '../../model/span-extras.js';
import type { ByteWriter } from '../../model/byte-writer.js';
import { readMeta, readMetaPrefix, writeMeta } from '../meta.js';
import { NS_PER_DAY, NS_PER_HOUR, localName } from '../schema.js';
import { sql, join, ident } from '../sql/sql.js';
import type { StoreContext } from './context.js';
import { dropPartition } from './maintenance.js';
import type { SegmentWriter, WriteOutcome } from './writer.js';

/**
 * Migration from a version-2 (or version-1) store: its spans and resources
 * are copied into the version-3 tables, under the default tenant.
 *
 * - It runs in the background after start, so ingest and queries go on
 *   meanwhile; status() reports progress, and old spans appear as they are
 *   copied.
 * - The copy goes through the same path as a WAL replay (only rows the v3
 *   table lacks are inserted), so it is idempotent: a copy cut short by a
 *   crash runs again at the next start and finishes without duplicates.
 * - Each day of old spans is copied once its row count differs from what
 *   the last copy of that day recorded, so spans that a still-running v2
 *   process wrote after the copy are picked up at the next start.
 * - With several Sightline processes on one ClickHouse, a lock row in
 *   sightline_meta picks one to copy (the earliest live claim); the others
 *   serve without copying.
 * - The old tables stay until retention has emptied them; then they are
 *   dropped.
 *
 * Spans are read back in JS and re-encoded (events, links and the rarely
 * set fields change shape between versions), in chunks of one hour and a
 * band of trace ids, so memory stays bounded whatever the store's size.
 */

/** The version-2 tables, and the column layout of their rows. */
export const V2 = {
  spans: 'spans',
  resources: 'resources',
  traceIndex: 'trace_index',
  spanMetrics: 'span_metrics',
  views: ['trace_index_mv', 'span_metrics_mv'],
} as const;

const attrColumns = (prefix: string): ColumnSpec[] =>
  (
    [
      ['str', 'Array(String)'],
      ['int', 'Array(Int64)'],
      ['float', 'Array(Float64)'],
      ['bool', 'Array(UInt8)'],
      ['other', 'Array(String)'],
    ] as const
  ).flatMap(([t, type]) => [
    { name: `${prefix}_${t}_keys`, type: 'Array(String)' as const },
    { name: `${prefix}_${t}_values`, type },
  ]);

const V2_SPAN_COLUMNS: readonly ColumnSpec[] = [
  { name: 'trace_id', type: 'FixedString(16)' },
  { name: 'span_id', type: 'FixedString(8)' },
  { name: 'parent_span_id', type: 'FixedString(8)' },
  { name: 'trace_state', type: 'String' },
  { name: 'flags', type: 'UInt32' },
  { name: 'name', type: 'String' },
  { name: 'kind', type: 'UInt8' },
  { name: 'start_ns', type: 'UInt64' },
  { name: 'duration_ns', type: 'UInt64' },
  { name: 'status_code', type: 'UInt8' },
  { name: 'status_message', type: 'String' },
  { name: 'service_name', type: 'String' },
  { name: 'resource_id', type: 'FixedString(8)' },
  { name: 'dropped_attributes', type: 'UInt32' },
  { name: 'dropped_events', type: 'UInt32' },
  { name: 'dropped_links', type: 'UInt32' },
  ...attrColumns('attr'),
  { name: 'scope_name', type: 'String' },
  { name: 'scope_version', type: 'String' },
  { name: 'scope_attrs', type: 'String' },
  { name: 'scope_dropped', type: 'UInt32' },
  { name: 'scope_schema_url', type: 'String' },
  { name: 'event_time_ns', type: 'Array(UInt64)' },
  { name: 'event_name', type: 'Array(String)' },
  { name: 'event_attrs', type: 'Array(String)' },
  { name: 'event_dropped', type: 'Array(UInt32)' },
  { name: 'link_trace_id', type: 'Array(FixedString(16))' },
  { name: 'link_span_id', type: 'Array(FixedString(8))' },
  { name: 'link_trace_state', type: 'Array(String)' },
  { name: 'link_attrs', type: 'Array(String)' },
  { name: 'link_dropped', type: 'Array(UInt32)' },
  { name: 'link_flags', type: 'Array(UInt32)' },
];

const V2_RESOURCE_COLUMNS: readonly ColumnSpec[] = [
  { name: 'resource_id', type: 'FixedString(8)' },
  { name: 'service_name', type: 'String' },
  ...attrColumns('res'),
  { name: 'res_dropped', type: 'UInt32' },
  { name: 'res_schema_url', type: 'String' },
];

const ATTR_TYPES = ['str', 'int', 'float', 'bool', 'other'] as const;

/** Spans read per chunk: an hour is split into bands of trace ids until each holds about this many. */
const CHUNK_SPANS = 100_000;
/** How long a copier's lock claim lives without renewal. */
const LEASE_MS = 60_000;
/** How long a claimant waits for other claims before deciding who copies. */
const CLAIM_SETTLE_MS = 3_000;

export interface LegacyCopyStatus {
  state: 'none' | 'waiting' | 'copying' | 'done' | 'failed' | 'another process copies' | 'interrupted';
  days: number;
  daysCopied: number;
  spansCopied: number;
  error?: string;
}

export class LegacyCopy {
  private status_: LegacyCopyStatus = { state: 'none', days: 0, daysCopied: 0, spansCopied: 0 };
  private readonly owner = randomUUID();
  private stopping = false;

  constructor(
    private readonly ctx: StoreContext,
    private readonly writer: SegmentWriter,
    /** Old spans belong to this tenant. */
    private readonly tenant: string,
    /** Where chunk files are written for the insert. */
    private readonly scratchDir: string,
  ) {}

  status(): LegacyCopyStatus {
    return { ...this.status_ };
  }

  /** Stops after the chunk in hand; the next start goes on from the first day not yet recorded as copied. */
  stop(): void {
    this.stopping = true;
  }

  /** Whether this store holds version-2 tables. */
  async present(): Promise<boolean> {
    const out = await this.ctx.engine.query(sql`SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ${V2.spans}`, 'TabSeparated');
    return out.toString().trim() !== '0';
  }

  /** Copies what needs copying; never throws (the status says how it ended). */
  async run(): Promise<void> {
    try {
      if (!(await this.present())) return;
      this.status_.state = 'waiting';
      if (!this.ctx.engine.exclusive && !(await this.claim())) {
        this.status_.state = 'another process copies';
        return;
      }
      this.status_.state = 'copying';
      const renew = this.ctx.engine.exclusive ? null : setInterval(() => void this.renew().catch(() => undefined), LEASE_MS / 4);
      try {
        await this.copy();
        if (this.stopping) {
          this.status_.state = 'interrupted';
          return;
        }
        await this.dropEmptyTables();
      } finally {
        if (renew) clearInterval(renew);
        if (!this.ctx.engine.exclusive) await writeMeta(this.ctx.engine, this.lockKey(), `${Date.now()}|0`).catch(() => undefined);
      }
      this.status_.state = 'done';
    } catch (e) {
      this.status_.state = 'failed';
      this.status_.error = (e as Error).message;
    } finally {
      rmSync(this.scratchDir, { recursive: true, force: true });
    }
  }

  private lockKey(): string {
    return `lock:legacy-copy:${this.owner}`;
  }

  /** Claims the copy; true when this process holds the earliest live claim. */
  private async claim(): Promise<boolean> {
    const claimedAt = Date.now();
    await writeMeta(this.ctx.engine, this.lockKey(), `${claimedAt}|${claimedAt + LEASE_MS}`);
    await new Promise((r) => setTimeout(r, CLAIM_SETTLE_MS));
    const now = Date.now();
    let winner: { at: number; owner: string } | null = null;
    for (const [key, value] of await readMetaPrefix(this.ctx.engine, 'lock:legacy-copy:')) {
      const [at, expires] = value.split('|').map(Number);
      if (!(expires > now)) continue;
      const owner = key.slice('lock:legacy-copy:'.length);
      if (!winner || at < winner.at || (at === winner.at && owner < winner.owner)) winner = { at, owner };
    }
    return winner?.owner === this.owner;
  }

  private async renew(): Promise<void> {
    const claimed = await readMeta(this.ctx.engine, this.lockKey());
    const at = claimed ? Number(claimed.split('|')[0]) : Date.now();
    await writeMeta(this.ctx.engine, this.lockKey(), `${at}|${Date.now() + LEASE_MS}`);
  }

  /** Rows per day of the old spans table, over every shard (one replica each). */
  private async legacyDays(): Promise<Map<number, number>> {
    const { layout } = this.ctx;
    const days = new Map<number, number>();
    for (const replicas of await this.ctx.shards()) {
      const res = await this.ctx.onShard(replicas, (node) =>
        this.ctx.jsonOn<[string, string]>(
          node,
          sql`SELECT partition, toString(sum(rows)) FROM system.parts WHERE database = currentDatabase() AND active AND table = ${localName(V2.spans, layout)} GROUP BY partition`,
        ),
      );
      for (const [partition, rows] of res.data) {
        const day = Number(partition);
        if (Number.isInteger(day)) days.set(day, (days.get(day) ?? 0) + Number(rows));
      }
    }
    return days;
  }

  private async copy(): Promise<void> {
    const days = await this.legacyDays();
    const done = await readMetaPrefix(this.ctx.engine, 'legacy-copied:');
    const todo = [...days].filter(([day, rows]) => done.get(`legacy-copied:${day}`) !== String(rows)).sort((a, b) => a[0] - b[0]);
    this.status_.days = todo.length;
    if (todo.length === 0) return;
    mkdirSync(this.scratchDir, { recursive: true });
    const resources = await this.legacyResources();
    for (const [day, rows] of todo) {
      await this.copyDay(day, resources);
      if (this.stopping) return;
      await writeMeta(this.ctx.engine, `legacy-copied:${day}`, String(rows));
      this.status_.daysCopied++;
    }
    await writeMeta(this.ctx.engine, 'legacy-copied', new Date().toISOString());
  }

  /** Old resource rows by id (hex). */
  private async legacyResources(): Promise<Map<string, unknown[]>> {
    const buf = await this.ctx.rowBinary(sql`SELECT ${join(V2_RESOURCE_COLUMNS.map((c) => ident(c.name)))} FROM ${ident(V2.resources)} LIMIT 1 BY resource_id`);
    const r = new RowBinaryReader(buf);
    const out = new Map<string, unknown[]>();
    while (!r.done) {
      const row = r.row(V2_RESOURCE_COLUMNS);
      out.set((row[0] as Buffer).toString('hex'), row);
    }
    return out;
  }

  private async copyDay(day: number, resources: Map<string, unknown[]>): Promise<void> {
    const dayStart = BigInt(day) * NS_PER_DAY;
    const hours = await this.ctx.json<[string, string]>(
      sql`SELECT toString(intDiv(start_ns, ${NS_PER_HOUR})) AS h, toString(count()) FROM ${ident(V2.spans)} WHERE intDiv(start_ns, ${NS_PER_DAY}) = ${day} GROUP BY h ORDER BY h`,
    );
    // (resource, scope) rows written for this day: each day's spans get theirs, as ingest does.
    const written = new Set<string>();
    for (const [hour, count] of hours.data) {
      const from = BigInt(hour) * NS_PER_HOUR;
      const bands = Math.max(1, Math.ceil(Number(count) / CHUNK_SPANS));
      for (let band = 0; band < bands; band++) {
        if (this.stopping) return;
        const lo = idAt(band, bands);
        const hi = band + 1 < bands ? idAt(band + 1, bands) : null;
        const idRange = sql`${lo ? sql` AND trace_id >= ${lo}` : sql``}${hi ? sql` AND trace_id < ${hi}` : sql``}`;
        const buf = await this.ctx.rowBinary(
          sql`SELECT ${join(V2_SPAN_COLUMNS.map((c) => ident(c.name)))} FROM ${ident(V2.spans)} WHERE start_ns >= ${from} AND start_ns < ${from + NS_PER_HOUR}${idRange}`,
        );
        const copied = await this.copyChunk(buf, resources, written, dayStart);
        this.status_.spansCopied += copied;
      }
    }
  }

  /** Re-encodes one chunk of old rows and stores it: new (resource, scope) rows first, then the spans. */
  private async copyChunk(buf: Buffer, resources: Map<string, unknown[]>, written: Set<string>, dayStart: bigint): Promise<number> {
    const spans = new SpanBatchBuilder();
    const rows = new ResourceBatchBuilder();
    const r = new RowBinaryReader(buf);
    const col = Object.fromEntries(V2_SPAN_COLUMNS.map((c, i) => [c.name, i])) as Record<string, number>;
    while (!r.done) {
      const row = r.row(V2_SPAN_COLUMNS);
      const get = <T>(name: string) => row[col[name]] as T;
      const oldId = get<Buffer>('resource_id');
      const scopeFields = [get<string>('scope_name'), get<string>('scope_version'), get<string>('scope_attrs'), String(get<number>('scope_dropped')), get<string>('scope_schema_url')];
      // The new row id: the old resource id and the scope, hashed.
      const id = createHash('md5').update(oldId).update(JSON.stringify(scopeFields)).digest().subarray(0, 8);
      const idHex = id.toString('hex');
      if (!written.has(idHex)) {
        written.add(idHex);
        writeResourceRow(rows, id, dayStart, get<string>('service_name'), resources.get(oldId.toString('hex')), scopeFields);
      }
      spans.traceId.data.bytes(get<Buffer>('trace_id'), 0, 16);
      spans.spanId.data.bytes(get<Buffer>('span_id'), 0, 8);
      spans.parentSpanId.data.bytes(get<Buffer>('parent_span_id'), 0, 8);
      spans.flags.data.u32(get<number>('flags'));
      spans.name.data.string(get<string>('name'));
      spans.kind.data.u8(get<number>('kind'));
      spans.startNs.data.u64big(get<bigint>('start_ns'));
      spans.durationNs.data.u64big(get<bigint>('duration_ns'));
      spans.statusCode.data.u8(get<number>('status_code'));
      spans.statusMessage.data.string(get<string>('status_message'));
      spans.serviceName.data.string(get<string>('service_name'));
      spans.resourceId.data.bytes(id, 0, 8);
      writeAttributes(spans.attrs, row, col, 'attr');
      const eventTimes = get<bigint[]>('event_time_ns');
      const eventNames = get<string[]>('event_name');
      const eventAttrs = get<string[]>('event_attrs');
      for (let i = 0; i < eventTimes.length; i++) {
        spans.events.data(0).u64big(eventTimes[i]);
        spans.events.data(1).string(eventNames[i]);
        spans.events.data(2).string(eventAttrs[i]);
      }
      spans.events.count += eventTimes.length;
      const linkTraces = get<Buffer[]>('link_trace_id');
      const linkSpans = get<Buffer[]>('link_span_id');
      const linkAttrs = get<string[]>('link_attrs');
      for (let i = 0; i < linkTraces.length; i++) {
        spans.links.data(0).bytes(linkTraces[i], 0, 16);
        spans.links.data(1).bytes(linkSpans[i], 0, 8);
        spans.links.data(2).string(linkAttrs[i]);
      }
      spans.links.count += linkTraces.length;
      const extras = encodeExtras({
        traceState: get('trace_state'),
        droppedAttributes: get('dropped_attributes'),
        droppedEvents: get('dropped_events'),
        droppedLinks: get('dropped_links'),
        eventDropped: get('event_dropped'),
        linkTraceState: get('link_trace_state'),
        linkDropped: get('link_dropped'),
        linkFlags: get('link_flags'),
      });
      spans.extras.data.varint(extras.length);
      spans.extras.data.bytes(extras, 0, extras.length);
      spans.endRow();
    }
    if (spans.rows === 0) return 0;
    spans.fillTenant(this.tenant);
    rows.fillTenant(this.tenant);
    const file = path.join(this.scratchDir, `chunk-${this.owner}`);
    if (rows.rows > 0) {
      writeFileSync(`${file}.resources`, rows.toBuffer());
      check(await this.writer.writeResources(`${file}.resources`));
    }
    writeFileSync(file, spans.toBuffer());
    check(await this.writer.writeSpans(file, { replay: true }));
    return spans.rows;
  }

  /** Drops the old tables' days that end at or before `cutoffNs` (old spans are the default tenant's). */
  async dropExpired(cutoffNs: bigint): Promise<{ table: string; day: number }[]> {
    const { engine, layout } = this.ctx;
    const dropped: { table: string; day: number }[] = [];
    if (!(await this.present())) return dropped;
    // Once per shard: on a replicated table a drop reaches the other replicas.
    for (const replicas of await this.ctx.shards()) {
      await this.ctx.onShard(replicas, async (node) => {
        for (const table of [V2.spans, V2.traceIndex, V2.resources, V2.spanMetrics]) {
          const local = localName(table, layout);
          const parts = await this.ctx.jsonOn<[string]>(node, sql`SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() AND active AND table = ${local}`);
          for (const [partition] of parts.data) {
            const day = Number(partition);
            // span_metrics is partitioned by day of minutes (minute / 1440): the same day number.
            if (!Number.isInteger(day) || BigInt(day + 1) * NS_PER_DAY > cutoffNs) continue;
            if (await dropPartition(() => engine.execOn(node, sql`ALTER TABLE ${ident(local)} DROP PARTITION ${day}`))) dropped.push({ table, day });
          }
        }
      });
    }
    await this.dropEmptyTables();
    return dropped;
  }

  /** Drops the old tables once retention has emptied them (and they hold nothing left to copy). */
  private async dropEmptyTables(): Promise<void> {
    const { engine, layout } = this.ctx;
    if ((await this.legacyDays()).size > 0) return;
    const tables = [...V2.views, V2.spans, V2.resources, V2.traceIndex, V2.spanMetrics];
    for (let node = 0; node < engine.nodes; node++) {
      for (const t of tables) {
        await dropPartition(() => engine.execOn(node, sql`DROP TABLE IF EXISTS ${ident(t)}`));
        if (layout.cluster && !V2.views.includes(t as never)) await dropPartition(() => engine.execOn(node, sql`DROP TABLE IF EXISTS ${ident(localName(t, layout))}`));
      }
    }
  }
}

function check(outcome: WriteOutcome): void {
  if (!outcome.ok) throw outcome.error;
}

/** The trace id at `band / bands` of the id space (first two bytes), or null for the start. */
export function idAt(band: number, bands: number): Buffer | null {
  if (band === 0) return null;
  const id = Buffer.alloc(16);
  id.writeUInt16BE(Math.floor((band * 0x10000) / bands), 0);
  return id;
}

function writeAttributes(target: AttributeColumns, row: unknown[], col: Record<string, number>, prefix: string): void {
  target.groups().forEach((group, g) => {
    const t = ATTR_TYPES[g];
    const keys = row[col[`${prefix}_${t}_keys`]] as string[];
    const values = row[col[`${prefix}_${t}_values`]] as unknown[];
    for (let i = 0; i < keys.length; i++) {
      group.data(0).string(keys[i]);
      writeValue(group.data(1), t, values[i]);
    }
    group.count += keys.length;
  });
}

function writeValue(w: ByteWriter, t: (typeof ATTR_TYPES)[number], v: unknown): void {
  switch (t) {
    case 'int':
      w.u64big(v as bigint);
      return;
    case 'float':
      w.f64(v as number);
      return;
    case 'bool':
      w.u8(v as number);
      return;
    default:
      w.string(v as string);
  }
}

function writeResourceRow(out: ResourceBatchBuilder, id: Buffer, seenNs: bigint, serviceName: string, old: unknown[] | undefined, scope: string[]): void {
  out.resourceId.data.bytes(id, 0, 8);
  out.seenNs.data.u64big(seenNs);
  out.serviceName.data.string(serviceName);
  if (old) {
    const col = Object.fromEntries(V2_RESOURCE_COLUMNS.map((c, i) => [c.name, i])) as Record<string, number>;
    writeAttributes(out.attrs, old, col, 'res');
    out.dropped.data.u32(old[col.res_dropped] as number);
    out.schemaUrl.data.string(old[col.res_schema_url] as string);
  } else {
    // The old store answered a span whose resource row was missing with
    // service.name alone; so does the copy.
    out.attrs.str.data(0).string('service.name');
    out.attrs.str.data(1).string(serviceName);
    out.attrs.str.count++;
    out.dropped.data.u32(0);
    out.schemaUrl.data.string('');
  }
  out.scopeName.data.string(scope[0]);
  out.scopeVersion.data.string(scope[1]);
  out.scopeAttrs.data.string(scope[2]);
  out.scopeDropped.data.u32(Number(scope[3]));
  out.scopeSchemaUrl.data.string(scope[4]);
  out.endRow();
}
