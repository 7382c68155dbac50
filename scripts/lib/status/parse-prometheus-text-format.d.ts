// Types of parse-prometheus-text-format 1.1.1, which ships none: its README's output shape
// (https://github.com/yunyu/parse-prometheus-text-format#example). Values stay strings as the text
// has them ("NaN", "+Inf" included).
declare module "parse-prometheus-text-format" {
    namespace parsePrometheusTextFormat {
        interface Sample {
            readonly value?: string;
            readonly labels?: Readonly<Record<string, string>>;
            /** Histograms: upper bound -> cumulative count. */
            readonly buckets?: Readonly<Record<string, string>>;
            /** Summaries: quantile -> value. */
            readonly quantiles?: Readonly<Record<string, string>>;
            readonly count?: string;
            readonly sum?: string;
        }
        interface MetricFamily {
            readonly name: string;
            readonly help: string;
            readonly type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
            readonly metrics: readonly Sample[];
        }
    }
    function parsePrometheusTextFormat(text: string): parsePrometheusTextFormat.MetricFamily[];
    export = parsePrometheusTextFormat;
}
