import { ColumnRedactor, type SpanNumbers, type SpanRedactor } from './columns.js';
import { NO_REDACTION, type CompiledRuleSet, type RedactionRules, type RuleId, type RuleKind } from './compile.js';
import { RuleCounter, ValueRedactor } from './values.js';

/** Redaction as /api/sightline/status reports it. */
export interface RedactionStats {
  /** Some tenant's spans are redacted. */
  enabled: boolean;
  ruleSets: RuleSetStats[];
  /** Tenants whose redaction the config turns off. */
  off: string[];
}

export interface RuleSetStats {
  /** `default`, or a tenant id. */
  name: string;
  /** The tenants it applies to; `*` for the default: every tenant without its own. */
  tenants: string[];
  rules: { rule: string; kind: RuleKind; values: number; spans: number }[];
}

/**
 * Which rules apply to which tenant, swapped whole when the config file is
 * re-read (SIGHUP): a request takes its tenant's redactor once, at its
 * start, and keeps it. Counters are kept by rule set and rule name across
 * swaps, so a reload does not reset what the status reports.
 */
export class RedactionPolicy {
  private defaultRedactor: SpanRedactor | null = null;
  private tenants = new Map<string, SpanRedactor | null>();
  private rules: RedactionRules = NO_REDACTION;
  private readonly counters = new Map<string, RuleCounter>();
  private readonly numbers: SpanNumbers = { next: 0 };

  constructor(rules: RedactionRules = NO_REDACTION) {
    this.replace(rules);
  }

  /** The tenant's redactor, or null when its spans are stored as sent (and cost nothing more). */
  forTenant(tenant: string): SpanRedactor | null {
    const own = this.tenants.get(tenant);
    return own === undefined ? this.defaultRedactor : own;
  }

  get enabled(): boolean {
    return this.defaultRedactor !== null || [...this.tenants.values()].some((r) => r !== null);
  }

  /** Puts new rules in force for the requests that start from now on. */
  replace(rules: RedactionRules): void {
    const redactor = (set: CompiledRuleSet | null) => (set ? new ColumnRedactor(new ValueRedactor(set, (rule) => this.counter(set.name, rule)), this.numbers) : null);
    this.defaultRedactor = redactor(rules.defaultSet);
    this.tenants = new Map([...rules.tenants].map(([tenant, set]) => [tenant, redactor(set)]));
    this.rules = rules;
  }

  stats(): RedactionStats {
    const sets: RuleSetStats[] = [];
    const describe = (set: CompiledRuleSet, tenants: string[]): RuleSetStats => {
      const ids: RuleId[] = [...set.drop, ...set.hash, ...set.masks, ...(set.sql ? [set.sql] : [])];
      return {
        name: set.name,
        tenants,
        rules: ids.map((id) => {
          const c = this.counter(set.name, id);
          return { rule: id.name, kind: id.kind, values: c.values, spans: c.spans };
        }),
      };
    };
    if (this.rules.defaultSet) sets.push(describe(this.rules.defaultSet, ['*']));
    const off: string[] = [];
    for (const [tenant, set] of this.rules.tenants) {
      if (set) sets.push(describe(set, [tenant]));
      else off.push(tenant);
    }
    return { enabled: this.enabled, ruleSets: sets, off };
  }

  private counter(ruleSet: string, rule: RuleId): RuleCounter {
    const key = `${ruleSet}\u0000${rule.kind}\u0000${rule.name}`;
    let c = this.counters.get(key);
    if (!c) {
      c = new RuleCounter(ruleSet, rule.kind, rule.name);
      this.counters.set(key, c);
    }
    return c;
  }
}
