/**
 * Mocha's spec reporter plus one closing line, "app: N passed, N failed[, N skipped]", printed
 * after the failure details so it is always the last line of `npm test`.
 */
import Mocha from "mocha";

const { EVENT_RUN_END } = Mocha.Runner.constants;

class SummaryReporter extends Mocha.reporters.Spec {
    constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
        super(runner, options);
        // Registered after Spec's own epilogue handler, so it prints last.
        runner.once(EVENT_RUN_END, () => {
            const s = runner.stats ?? this.stats;
            const skipped = s.pending > 0 ? `, ${s.pending} skipped` : "";
            process.stdout.write(`app: ${s.passes} passed, ${s.failures} failed${skipped}\n`);
        });
    }
}

export = SummaryReporter;
