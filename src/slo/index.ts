export { loadSloConfig, parseSloConfig, parseSloDuration, SloConfigError, DEFAULT_ALERT_WINDOWS, DEFAULT_DELIVERY, type SloConfig, type SloDefinition, type AlertWindow, type Receiver, type ReceiverFormat, type DeliveryPolicy } from './config.js';
export { burnRate, budgetRemaining, evaluateWindows, windowsOf, formatWindow, type EventCounts, type WindowVerdict } from './budget.js';
export { countEvents, diagnoseBadEvents, type CountsArgs, type DiagnoseArgs, type WindowCounts, type SloDiagnosis, type AttributeFinding, type OperationFinding } from './compute.js';
export { alertmanagerBody, slackBody, backoffMs, ZERO_TIME, type AlertNotice } from './notify.js';
export { SloService, ALERT_NAME, fingerprintOf, winnerOf, keyOf, type SloQueries, type SloServiceOptions } from './evaluator.js';
