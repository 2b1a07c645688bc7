CREATE TABLE IF NOT EXISTS `sightline_meta` (
  key String,
  value String,
  version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY key;

CREATE TABLE IF NOT EXISTS `spans_v3` (
  `tenant` String,
  `trace_id` FixedString(16),
  `span_id` FixedString(8),
  `parent_span_id` FixedString(8),
  `flags` UInt32,
  `name` String,
  `kind` UInt8,
  `start_ns` UInt64,
  `duration_ns` UInt64,
  `status_code` UInt8,
  `status_message` String,
  `service_name` String,
  `resource_id` FixedString(8),
  `attr_str_keys` Array(String),
  `attr_str_values` Array(String),
  `attr_int_keys` Array(String),
  `attr_int_values` Array(Int64),
  `attr_float_keys` Array(String),
  `attr_float_values` Array(Float64),
  `attr_bool_keys` Array(String),
  `attr_bool_values` Array(UInt8),
  `attr_other_keys` Array(String),
  `attr_other_values` Array(String),
  `event_time_ns` Array(UInt64),
  `event_name` Array(String),
  `event_attrs` Array(String),
  `link_trace_id` Array(FixedString(16)),
  `link_span_id` Array(FixedString(8)),
  `link_attrs` Array(String),
  `extras` String
) ENGINE = MergeTree
PARTITION BY (tenant, intDiv(`start_ns`, 86400000000000))
ORDER BY (tenant, service_name, intDiv(start_ns, 3600000000000), trace_id)
SETTINGS index_granularity = 2048;

CREATE TABLE IF NOT EXISTS `resources_v3` (
  `tenant` String,
  `resource_id` FixedString(8),
  `seen_ns` UInt64,
  `service_name` String,
  `res_str_keys` Array(String),
  `res_str_values` Array(String),
  `res_int_keys` Array(String),
  `res_int_values` Array(Int64),
  `res_float_keys` Array(String),
  `res_float_values` Array(Float64),
  `res_bool_keys` Array(String),
  `res_bool_values` Array(UInt8),
  `res_other_keys` Array(String),
  `res_other_values` Array(String),
  `res_dropped` UInt32,
  `res_schema_url` String,
  `scope_name` String,
  `scope_version` String,
  `scope_attrs` String,
  `scope_dropped` UInt32,
  `scope_schema_url` String
) ENGINE = ReplacingMergeTree
PARTITION BY (tenant, intDiv(`seen_ns`, 86400000000000))
ORDER BY (tenant, resource_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS `trace_index_v3` (
  tenant String,
  trace_id FixedString(16),
  start_min UInt64,
  start_max UInt64,
  end_max UInt64,
  services Array(String),
  has_root UInt8,
  root_service String,
  root_name String
) ENGINE = MergeTree
PARTITION BY (tenant, intDiv(`start_min`, 86400000000000))
ORDER BY (tenant, trace_id)
SETTINGS index_granularity = 1024;

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
  tenant String,
  minute UInt32,
  service_name String,
  name String,
  kind UInt8,
  status_code UInt8,
  spans AggregateFunction(count),
  duration_sum AggregateFunction(sum, UInt64),
  duration_min AggregateFunction(min, UInt64),
  duration_max AggregateFunction(max, UInt64)
) ENGINE = AggregatingMergeTree
PARTITION BY (tenant, intDiv(minute, 1440))
ORDER BY (tenant, minute, service_name, name, kind, status_code)
SETTINGS index_granularity = 1024;

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
  maxState(duration_ns) AS duration_max
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
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS `logs_v3` (
  `tenant` String,
  `log_id` FixedString(8),
  `time_ns` UInt64,
  `observed_ns` UInt64,
  `severity_number` UInt8,
  `severity_text` String,
  `body` String,
  `body_kind` UInt8,
  `trace_id` FixedString(16),
  `span_id` FixedString(8),
  `flags` UInt32,
  `event_name` String,
  `service_name` String,
  `attr_str_keys` Array(String),
  `attr_str_values` Array(String),
  `attr_int_keys` Array(String),
  `attr_int_values` Array(Int64),
  `attr_float_keys` Array(String),
  `attr_float_values` Array(Float64),
  `attr_bool_keys` Array(String),
  `attr_bool_values` Array(UInt8),
  `attr_other_keys` Array(String),
  `attr_other_values` Array(String),
  `dropped_attrs` UInt32,
  `res_str_keys` Array(String),
  `res_str_values` Array(String),
  `res_int_keys` Array(String),
  `res_int_values` Array(Int64),
  `res_float_keys` Array(String),
  `res_float_values` Array(Float64),
  `res_bool_keys` Array(String),
  `res_bool_values` Array(UInt8),
  `res_other_keys` Array(String),
  `res_other_values` Array(String),
  `scope_name` String,
  `scope_version` String,
  `scope_attrs` String
) ENGINE = MergeTree
PARTITION BY (tenant, intDiv(`time_ns`, 86400000000000))
ORDER BY (tenant, intDiv(time_ns, 3600000000000), service_name, time_ns)
SETTINGS index_granularity = 8192;

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
SETTINGS index_granularity = 1024;

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
SETTINGS index_granularity = 1024;

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
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS `slo_leases_v1` (
  `tenant` String,
  `slo` String,
  `term` UInt64,
  `owner` String,
  `expires_ms` UInt64,
  `written_ms` UInt64
) ENGINE = MergeTree
ORDER BY (`tenant`, `slo`, `term`)
SETTINGS index_granularity = 1024;
