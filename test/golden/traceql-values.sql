-- duration
text: toString(duration_ns)
number: toFloat64(duration_ns)

-- .bytes
text: concat(if(has(`attr_str_keys`, 'bytes'), `attr_str_values`[indexOf(`attr_str_keys`, 'bytes')], ''), if(has(`attr_int_keys`, 'bytes'), toString(`attr_int_values`[indexOf(`attr_int_keys`, 'bytes')]), ''), if(has(`attr_float_keys`, 'bytes'), toString(`attr_float_values`[indexOf(`attr_float_keys`, 'bytes')]), ''), if(has(`attr_bool_keys`, 'bytes'), if(`attr_bool_values`[indexOf(`attr_bool_keys`, 'bytes')] = 1, 'true', 'false'), ''))
number: if(has(`attr_int_keys`, 'bytes'), toFloat64(`attr_int_values`[indexOf(`attr_int_keys`, 'bytes')]), if(has(`attr_float_keys`, 'bytes'), `attr_float_values`[indexOf(`attr_float_keys`, 'bytes')], nan))

-- span.size
text: concat(if(has(`attr_str_keys`, 'size'), `attr_str_values`[indexOf(`attr_str_keys`, 'size')], ''), if(has(`attr_int_keys`, 'size'), toString(`attr_int_values`[indexOf(`attr_int_keys`, 'size')]), ''), if(has(`attr_float_keys`, 'size'), toString(`attr_float_values`[indexOf(`attr_float_keys`, 'size')]), ''), if(has(`attr_bool_keys`, 'size'), if(`attr_bool_values`[indexOf(`attr_bool_keys`, 'size')] = 1, 'true', 'false'), ''))
number: if(has(`attr_int_keys`, 'size'), toFloat64(`attr_int_values`[indexOf(`attr_int_keys`, 'size')]), if(has(`attr_float_keys`, 'size'), `attr_float_values`[indexOf(`attr_float_keys`, 'size')], nan))

-- name
text: toString(name)
number: (not a number)

-- status
text: ['unset', 'ok', 'error'][status_code + 1]
number: (not a number)

-- resource.service.name
text: toString(service_name)
number: nan

-- .tenant.id
text: concat(if(has(`attr_str_keys`, 'tenant.id'), `attr_str_values`[indexOf(`attr_str_keys`, 'tenant.id')], ''), if(has(`attr_int_keys`, 'tenant.id'), toString(`attr_int_values`[indexOf(`attr_int_keys`, 'tenant.id')]), ''), if(has(`attr_float_keys`, 'tenant.id'), toString(`attr_float_values`[indexOf(`attr_float_keys`, 'tenant.id')]), ''), if(has(`attr_bool_keys`, 'tenant.id'), if(`attr_bool_values`[indexOf(`attr_bool_keys`, 'tenant.id')] = 1, 'true', 'false'), ''))
number: if(has(`attr_int_keys`, 'tenant.id'), toFloat64(`attr_int_values`[indexOf(`attr_int_keys`, 'tenant.id')]), if(has(`attr_float_keys`, 'tenant.id'), `attr_float_values`[indexOf(`attr_float_keys`, 'tenant.id')], nan))
