export { loadSloConfig, parseSloConfig, parseSloDuration, SloConfigError, DEFAULT_ALERT_WINDOWS, DEFAULT_DELIVERY, type SloConfig, type SloDefinition, type AlertWindow, type Receiver, type ReceiverFormat, type DeliveryPolicy } from './config.js';
export { burnRate, budgetRemaining, evaluateWindows, windowsOf, formatWindow, type EventCounts, type WindowVerdict } from './budget.js';
export { countEvents, diagnoseBadEvents, type CountsArgs, type DiagnoseArgs, type WindowCounts, type SloDiagnosis, type AttributeFinding, type OperationFinding } from './compute.js';
export { alertmanagerBody, slackBody, backoffMs, ZERO_TIME, type AlertNotice } from './notify.js';
export { SloService, ALERT_NAME, fingerprintOf, winnerOf, keyOf, sloPageUrl, type SloQueries, type SloServiceOptions, type SloConfigChange } from './evaluator.js';
export { countSeries, seriesPlan, slidingSums, defaultSeriesStep, MAX_SERIES_POINTS, MAX_SERIES_BUCKETS, type SeriesArgs, type SeriesPlan, type SeriesQuery, type SloSeries, type WindowSeries } from './series.js';
