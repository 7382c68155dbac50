/**
 * A strict reader of the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), for the tests of
 * GET /metrics. It throws on anything a Prometheus server would refuse or misread: a sample before
 * its family's TYPE, a TYPE given twice, a sample name that belongs to no declared family, a bad
 * metric or label name, a bad escape, an unparsable value, a series given twice, and a histogram
 * whose buckets are not cumulative or whose +Inf bucket is not its _count.
 */
import assert from "node:assert/strict";

export interface Sample {
    readonly name: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly value: number;
}

export interface Family {
    readonly name: string;
    readonly help: string;
    readonly type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
    readonly samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = ["counter", "gauge", "histogram", "summary", "untyped"] as const;

export function parseExposition(text: string): Map<string, Family> {
    assert.ok(text.endsWith("\n"), "the exposition must end with a line feed");
    const families = new Map<string, Family>();
    const helps = new Map<string, string>();
    const seen = new Set<string>();
    const lines = text.slice(0, -1).split("\n");
    lines.forEach((line, i) => {
        const where = `line ${i + 1}: ${JSON.stringify(line.slice(0, 120))}`;
        if (line === "") return;
        if (line.startsWith("#")) {
            const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
            assert.ok(m, `only HELP and TYPE comments are expected, ${where}`);
            const [, kind, name, rest] = m;
            assert.match(name, METRIC_NAME, where);
            if (kind === "HELP") {
                assert.ok(!helps.has(name), `HELP given twice, ${where}`);
                helps.set(name, rest);
                return;
            }
            assert.ok((TYPES as readonly string[]).includes(rest), `unknown type, ${where}`);
            assert.ok(!families.has(name), `TYPE given twice, ${where}`);
            families.set(name, { name, help: helps.get(name) ?? "", type: rest as Family["type"], samples: [] });
            return;
        }
        const sample = parseSample(line, where);
        const family = familyOf(families, sample);
        assert.ok(family, `sample of no declared family (its TYPE must come first), ${where}`);
        const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
        assert.ok(!seen.has(key), `series given twice, ${where}`);
        seen.add(key);
        family.samples.push(sample);
    });
    for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
    return families;
}

function familyOf(families: Map<string, Family>, s: Sample): Family | undefined {
    const exact = families.get(s.name);
    if (exact && exact.type !== "histogram" && exact.type !== "summary") return exact;
    for (const suffix of ["_bucket", "_sum", "_count"]) {
        if (!s.name.endsWith(suffix)) continue;
        const f = families.get(s.name.slice(0, -suffix.length));
        if (f?.type === "histogram" && (suffix !== "_bucket" || "le" in s.labels)) return f;
        if (f?.type === "summary" && suffix !== "_bucket") return f;
    }
    const f = families.get(s.name);
    return f?.type === "summary" && "quantile" in s.labels ? f : undefined;
}

function parseSample(line: string, where: string): Sample {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    assert.ok(m, `not a sample line, ${where}`);
    const [, name, , body, rawValue] = m;
    const labels: Record<string, string> = {};
    let rest = body ?? "";
    while (rest !== "") {
        const lm = /^([^=]+)="((?:[^"\\]|\\.)*)"(,|$)/.exec(rest);
        assert.ok(lm, `bad label set, ${where}`);
        const [all, labelName, escaped] = lm;
        assert.match(labelName, LABEL_NAME, where);
        assert.ok(!(labelName in labels), `label ${labelName} given twice, ${where}`);
        labels[labelName] = escaped.replace(/\\(.)/g, (_e, c: string) => {
            assert.ok(c === "\\" || c === '"' || c === "n", `bad escape \\${c}, ${where}`);
            return c === "n" ? "\n" : c;
        });
        rest = rest.slice(all.length);
    }
    return { name, labels, value: parseValue(rawValue, where) };
}

/**
 * A sample value as Prometheus reads it: Go's strconv.ParseFloat, which takes NaN and (+/-)Inf in
 * any case. prom-client writes NaN as "Nan" (getValueAsString in lib/util.js), e.g. for the event
 * loop lag mean before its first measurement. Plain decimals only otherwise (no hex, no "_").
 */
function parseValue(raw: string, where: string): number {
    const special = /^([+-]?)(inf|infinity|nan)$/i.exec(raw);
    if (special) return special[2].toLowerCase() === "nan" ? NaN : special[1] === "-" ? -Infinity : Infinity;
    assert.match(raw, /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, `bad value, ${where}`);
    return Number(raw);
}

function checkHistogram(f: Family): void {
    const series = new Map<string, Sample[]>();
    for (const s of f.samples) {
        const { le: _le, ...rest } = s.labels;
        const key = JSON.stringify(Object.entries(rest).sort());
        series.set(key, [...(series.get(key) ?? []), s]);
    }
    for (const [key, samples] of series) {
        const buckets = samples.filter((s) => s.name === `${f.name}_bucket`);
        const count = samples.find((s) => s.name === `${f.name}_count`);
        assert.ok(count && samples.some((s) => s.name === `${f.name}_sum`), `${f.name}${key}: _sum and _count are required`);
        const bounds = buckets.map((b) => (b.labels.le === "+Inf" ? Infinity : Number(b.labels.le)));
        assert.ok(bounds.every((b, i) => !Number.isNaN(b) && (i === 0 || b > bounds[i - 1])), `${f.name}${key}: le must increase`);
        assert.equal(bounds.at(-1), Infinity, `${f.name}${key}: the last bucket must be +Inf`);
        assert.ok(buckets.every((b, i) => i === 0 || b.value >= buckets[i - 1].value), `${f.name}${key}: buckets must be cumulative`);
        assert.equal(buckets.at(-1)?.value, count.value, `${f.name}${key}: the +Inf bucket must equal _count`);
    }
}

/** The one sample of `name` whose labels are exactly `labels`; throws if there is none. */
export function sampleValue(families: Map<string, Family>, name: string, labels: Record<string, string>): number {
    const want = JSON.stringify(Object.entries(labels).sort());
    for (const f of families.values()) {
        const s = f.samples.find((x) => x.name === name && JSON.stringify(Object.entries(x.labels).sort()) === want);
        if (s) return s.value;
    }
    throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
}

/** Every sample named `name`, whatever its labels. */
export function samplesNamed(families: Map<string, Family>, name: string): Sample[] {
    return [...families.values()].flatMap((f) => f.samples.filter((s) => s.name === name));
}
