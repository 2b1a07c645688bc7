CREATE TABLE IF NOT EXISTS `sightline_meta` (
  key String,
  value String,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY key;

CREATE TABLE IF NOT EXISTS `spans_v3` (
  `tenant` LowCardinality(String) CODEC(ZSTD(3)),
  `trace_id` FixedString(16) CODEC(ZSTD(3)),
  `span_id` FixedString(8) CODEC(ZSTD(3)),
  `parent_span_id` FixedString(8) CODEC(ZSTD(3)),
  `flags` UInt32 CODEC(ZSTD(3)),
  `name` LowCardinality(String) CODEC(ZSTD(3)),
  `kind` UInt8 CODEC(ZSTD(3)),
  `start_ns` UInt64 CODEC(Delta, ZSTD(3)),
  `duration_ns` UInt64 CODEC(Delta, ZSTD(3)),
  `status_code` UInt8 CODEC(ZSTD(3)),
  `status_message` String CODEC(ZSTD(3)),
  `service_name` LowCardinality(String) CODEC(ZSTD(3)),
  `resource_id` FixedString(8) CODEC(ZSTD(3)),
  `attr_str_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `attr_str_values` Array(String) CODEC(ZSTD(6)) SETTINGS (min_compress_block_size = 65536, max_compress_block_size = 1048576),
  `attr_int_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `attr_int_values` Array(Int64) CODEC(ZSTD(3)),
  `attr_float_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `attr_float_values` Array(Float64) CODEC(ZSTD(3)),
  `attr_bool_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `attr_bool_values` Array(UInt8) CODEC(ZSTD(3)),
  `attr_other_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `attr_other_values` Array(String) CODEC(ZSTD(3)),
  `event_time_ns` Array(UInt64) CODEC(ZSTD(3)),
  `event_name` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `event_attrs` Array(String) CODEC(ZSTD(3)),
  `link_trace_id` Array(FixedString(16)) CODEC(ZSTD(3)),
  `link_span_id` Array(FixedString(8)) CODEC(ZSTD(3)),
  `link_attrs` Array(String) CODEC(ZSTD(3)),
  `extras` String CODEC(ZSTD(3)),
  INDEX `attr_str_values_bloom` `attr_str_values` TYPE bloom_filter(0.025) GRANULARITY 1,
  INDEX `attr_int_values_bloom` `attr_int_values` TYPE bloom_filter(0.025) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY (tenant, intDiv(`start_ns`, 86400000000000))
ORDER BY (tenant, service_name, intDiv(start_ns, 3600000000000), trace_id)
SETTINGS index_granularity = 2048, min_compress_block_size = 4096, max_compress_block_size = 65536, min_bytes_for_wide_part = 134217728, fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS `resources_v3` (
  `tenant` LowCardinality(String) CODEC(ZSTD(3)),
  `resource_id` FixedString(8) CODEC(ZSTD(3)),
  `seen_ns` UInt64 CODEC(ZSTD(3)),
  `service_name` LowCardinality(String) CODEC(ZSTD(3)),
  `res_str_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `res_str_values` Array(String) CODEC(ZSTD(3)),
  `res_int_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `res_int_values` Array(Int64) CODEC(ZSTD(3)),
  `res_float_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `res_float_values` Array(Float64) CODEC(ZSTD(3)),
  `res_bool_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `res_bool_values` Array(UInt8) CODEC(ZSTD(3)),
  `res_other_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `res_other_values` Array(String) CODEC(ZSTD(3)),
  `res_dropped` UInt32 CODEC(ZSTD(3)),
  `res_schema_url` LowCardinality(String) CODEC(ZSTD(3)),
  `scope_name` LowCardinality(String) CODEC(ZSTD(3)),
  `scope_version` LowCardinality(String) CODEC(ZSTD(3)),
  `scope_attrs` String CODEC(ZSTD(3)),
  `scope_dropped` UInt32 CODEC(ZSTD(3)),
  `scope_schema_url` LowCardinality(String) CODEC(ZSTD(3))
) ENGINE = ReplacingMergeTree
PARTITION BY (tenant, intDiv(`seen_ns`, 86400000000000))
ORDER BY (tenant, resource_id)
SETTINGS index_granularity = 1024, min_bytes_for_wide_part = 134217728, fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS `trace_index_v3` (
  tenant LowCardinality(String) CODEC(ZSTD(1)),
  trace_id FixedString(16) CODEC(ZSTD(1)),
  start_min UInt64 CODEC(ZSTD(1)),
  start_max UInt64 CODEC(ZSTD(1)),
  end_max UInt64 CODEC(ZSTD(1)),
  services Array(LowCardinality(String)) CODEC(ZSTD(1)),
  has_root UInt8 CODEC(ZSTD(1)),
  root_service LowCardinality(String) CODEC(ZSTD(1)),
  root_name LowCardinality(String) CODEC(ZSTD(1))
) ENGINE = MergeTree
PARTITION BY (tenant, intDiv(`start_min`, 86400000000000))
ORDER BY (tenant, trace_id)
SETTINGS index_granularity = 1024, min_bytes_for_wide_part = 134217728, fsync_after_insert = 1, fsync_part_directory = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS `trace_index_v3_mv` TO `trace_index_v3` AS
SELECT
  tenant,
  trace_id,
  min(start_ns) AS start_min,
  max(start_ns) AS start_max,
  max(start_ns + duration_ns) AS end_max,
  groupUniqArray(service_name) AS services,
  max(parent_span_id = unhex('0000000000000000')) AS has_root,
  anyIf(service_name, parent_span_id = unhex('0000000000000000')) AS root_service,
  anyIf(name, parent_span_id = unhex('0000000000000000')) AS root_name
FROM `spans_v3`
GROUP BY tenant, trace_id;

CREATE TABLE IF NOT EXISTS `span_metrics_v3` (
  tenant LowCardinality(String),
  minute UInt32,
  service_name LowCardinality(String),
  name LowCardinality(String),
  kind UInt8,
  status_code UInt8,
  spans AggregateFunction(count),
  duration_sum AggregateFunction(sum, UInt64),
  duration_min AggregateFunction(min, UInt64),
  duration_max AggregateFunction(max, UInt64),
  duration_digest AggregateFunction(quantileTDigest, UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY (tenant, intDiv(minute, 1440))
ORDER BY (tenant, minute, service_name, name, kind, status_code)
SETTINGS index_granularity = 1024, min_bytes_for_wide_part = 134217728, fsync_after_insert = 1, fsync_part_directory = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS `span_metrics_v3_mv` TO `span_metrics_v3` AS
SELECT
  tenant,
  toUInt32(intDiv(start_ns, 60000000000)) AS minute,
  service_name,
  name,
  kind,
  status_code,
  countState() AS spans,
  sumState(duration_ns) AS duration_sum,
  minState(duration_ns) AS duration_min,
  maxState(duration_ns) AS duration_max,
  quantileTDigestState(duration_ns) AS duration_digest
FROM `spans_v3`
GROUP BY tenant, minute, service_name, name, kind, status_code;

CREATE TABLE IF NOT EXISTS `audit_v1` (
  chain String,
  seq UInt64,
  time_ms UInt64,
  prev String,
  hash String,
  identity String,
  tenants Array(String),
  remote String,
  action String,
  detail String,
  status UInt16,
  results Int64
) ENGINE = MergeTree
PARTITION BY intDiv(time_ms, 2592000000)
ORDER BY (chain, seq)
SETTINGS index_granularity = 8192, min_bytes_for_wide_part = 134217728, fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS `logs_v3` (
  `tenant` LowCardinality(String) CODEC(ZSTD(3)),
  `log_id` FixedString(8) CODEC(ZSTD(3)),
  `time_ns` UInt64 CODEC(Delta, ZSTD(3)),
  `observed_ns` UInt64 CODEC(Delta, ZSTD(3)),
  `severity_number` UInt8 CODEC(ZSTD(3)),
  `severity_text` LowCardinality(String) CODEC(ZSTD(3)),
  `body` String CODEC(ZSTD(6)) SETTINGS (min_compress_block_size = 65536, max_compress_block_size = 1048576),
  `body_kind` UInt8 CODEC(ZSTD(3)),
  `trace_id` FixedString(16) CODEC(ZSTD(3)),
  `span_id` FixedString(8) CODEC(ZSTD(3)),
  `flags` UInt32 CODEC(ZSTD(3)),
  `event_name` LowCardinality(String) CODEC(ZSTD(3)),
  `service_name` LowCardinality(String) CODEC(ZSTD(3)),
  `attr_str_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `attr_str_values` Array(String) CODEC(ZSTD(6)) SETTINGS (min_compress_block_size = 65536, max_compress_block_size = 1048576),
  `attr_int_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `attr_int_values` Array(Int64) CODEC(ZSTD(3)),
  `attr_float_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `attr_float_values` Array(Float64) CODEC(ZSTD(3)),
  `attr_bool_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `attr_bool_values` Array(UInt8) CODEC(ZSTD(3)),
  `attr_other_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `attr_other_values` Array(String) CODEC(ZSTD(3)),
  `dropped_attrs` UInt32 CODEC(ZSTD(3)),
  `res_str_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `res_str_values` Array(String) CODEC(ZSTD(3)),
  `res_int_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `res_int_values` Array(Int64) CODEC(ZSTD(3)),
  `res_float_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `res_float_values` Array(Float64) CODEC(ZSTD(3)),
  `res_bool_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `res_bool_values` Array(UInt8) CODEC(ZSTD(3)),
  `res_other_keys` Array(LowCardinality(String)) CODEC(ZSTD(3)),
  `res_other_values` Array(String) CODEC(ZSTD(3)),
  `scope_name` LowCardinality(String) CODEC(ZSTD(3)),
  `scope_version` LowCardinality(String) CODEC(ZSTD(3)),
  `scope_attrs` String CODEC(ZSTD(3)),
  INDEX trace_id_bloom trace_id TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY (tenant, intDiv(`time_ns`, 86400000000000))
ORDER BY (tenant, intDiv(time_ns, 3600000000000), service_name, time_ns)
SETTINGS index_granularity = 8192, min_bytes_for_wide_part = 134217728, fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS `slo_events_v1` (
  `tenant` String,
  `slo` String,
  `event_id` String,
  `status` String,
  `alert_start_ms` UInt64,
  `time_ms` UInt64,
  `body` String
) ENGINE = ReplacingMergeTree
ORDER BY (`tenant`, `slo`, `event_id`)
SETTINGS index_granularity = 1024, min_bytes_for_wide_part = 134217728, fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS `slo_deliveries_v1` (
  `tenant` String,
  `slo` String,
  `event_id` String,
  `receiver` String,
  `state` String,
  `attempts` UInt32,
  `next_ms` UInt64,
  `time_ms` UInt64,
  `version` UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (`tenant`, `slo`, `event_id`, `receiver`)
SETTINGS index_granularity = 1024, min_bytes_for_wide_part = 134217728, fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS `slo_attempts_v1` (
  `tenant` String,
  `slo` String,
  `event_id` String,
  `receiver` String,
  `attempt` UInt32,
  `time_ms` UInt64,
  `status_code` UInt16,
  `error` String
) ENGINE = MergeTree
ORDER BY (`tenant`, `slo`, `time_ms`)
SETTINGS index_granularity = 1024, min_bytes_for_wide_part = 134217728, fsync_after_insert = 1, fsync_part_directory = 1;

CREATE TABLE IF NOT EXISTS `slo_leases_v1` (
  `tenant` String,
  `slo` String,
  `term` UInt64,
  `owner` String,
  `expires_ms` UInt64,
  `written_ms` UInt64
) ENGINE = MergeTree
ORDER BY (`tenant`, `slo`, `term`)
SETTINGS index_granularity = 1024, min_bytes_for_wide_part = 134217728, fsync_after_insert = 1, fsync_part_directory = 1;
