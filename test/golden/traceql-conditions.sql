-- { resource.service.name = "x" && duration > 500ms }
(service_name = 'x' AND toInt64(duration_ns) > 500000000)

-- { span.user.id = "u-123" }
(has(`attr_str_values`, 'u-123') AND arrayExists((k, v) -> k = 'user.id' AND v = 'u-123', `attr_str_keys`, `attr_str_values`))

-- { .http.status_code >= 500 || status = error }
(((arrayExists((k, v) -> k = 'http.status_code' AND v >= 500, `attr_int_keys`, `attr_int_values`) OR arrayExists((k, v) -> k = 'http.status_code' AND v >= toFloat64(500), `attr_float_keys`, `attr_float_values`)) OR resource_id GLOBAL IN (SELECT resource_id FROM `resources_v3` WHERE tenant = 'acme' AND (arrayExists((k, v) -> k = 'http.status_code' AND v >= 500, `res_int_keys`, `res_int_values`) OR arrayExists((k, v) -> k = 'http.status_code' AND v >= toFloat64(500), `res_float_keys`, `res_float_values`)))) OR status_code = 2)

-- { name =~ "GET /api/.*" && kind = server }
(match(name, concat('^(?:', 'GET /api/.*', ')$')) AND kind = 2)

-- { .retry = true && .ratio < 0.5 && .missing = nil }
((((has(`attr_bool_values`, 1) AND arrayExists((k, v) -> k = 'retry' AND v = 1, `attr_bool_keys`, `attr_bool_values`)) OR resource_id GLOBAL IN (SELECT resource_id FROM `resources_v3` WHERE tenant = 'acme' AND (has(`res_bool_values`, 1) AND arrayExists((k, v) -> k = 'retry' AND v = 1, `res_bool_keys`, `res_bool_values`)))) AND ((arrayExists((k, v) -> k = 'ratio' AND v < 0.5, `attr_int_keys`, `attr_int_values`) OR arrayExists((k, v) -> k = 'ratio' AND v < toFloat64(0.5), `attr_float_keys`, `attr_float_values`)) OR resource_id GLOBAL IN (SELECT resource_id FROM `resources_v3` WHERE tenant = 'acme' AND (arrayExists((k, v) -> k = 'ratio' AND v < 0.5, `res_int_keys`, `res_int_values`) OR arrayExists((k, v) -> k = 'ratio' AND v < toFloat64(0.5), `res_float_keys`, `res_float_values`))))) AND NOT (((has(`attr_str_keys`, 'missing') OR has(`attr_int_keys`, 'missing') OR has(`attr_float_keys`, 'missing') OR has(`attr_bool_keys`, 'missing') OR has(`attr_other_keys`, 'missing')) OR resource_id GLOBAL IN (SELECT resource_id FROM `resources_v3` WHERE tenant = 'acme' AND (has(`res_str_keys`, 'missing') OR has(`res_int_keys`, 'missing') OR has(`res_float_keys`, 'missing') OR has(`res_bool_keys`, 'missing') OR has(`res_other_keys`, 'missing'))))))

-- { traceDuration > 2s && rootServiceName = "gateway" }
(trace_id GLOBAL IN (SELECT trace_id FROM `trace_index_v3` WHERE tenant = 'acme' AND end_max >= 1700000000000000000 AND start_min < 1700003600000000000 GROUP BY trace_id HAVING toInt64(max(end_max)) - toInt64(min(start_min)) > 2000000000) AND trace_id GLOBAL IN (SELECT trace_id FROM `trace_index_v3` WHERE tenant = 'acme' AND end_max >= 1700000000000000000 AND start_min < 1700003600000000000 GROUP BY trace_id HAVING max(has_root) = 1 AND anyIf(root_service, has_root = 1) = 'gateway'))

-- { event:name = "exception" && event:timeSinceStart > 10ms }
(arrayExists(x -> x = 'exception', event_name) AND arrayExists(t -> toInt64(t) - toInt64(start_ns) > 10000000, event_time_ns))

-- { span:id = "0102030405060708" && trace:id = "0102" }
(span_id = unhex('0102030405060708') AND trace_id = unhex('00000000000000000000000000000102'))

-- { .k = "o'brien \\ \n --" }
((has(`attr_str_values`, 'o\'brien \\ \n --') AND arrayExists((k, v) -> k = 'k' AND v = 'o\'brien \\ \n --', `attr_str_keys`, `attr_str_values`)) OR resource_id GLOBAL IN (SELECT resource_id FROM `resources_v3` WHERE tenant = 'acme' AND (has(`res_str_values`, 'o\'brien \\ \n --') AND arrayExists((k, v) -> k = 'k' AND v = 'o\'brien \\ \n --', `res_str_keys`, `res_str_values`))))
