'use strict';
// A mocha reporter for bench/device-check.sh. As each test starts and ends
// it appends a line to a log (`lines=FILE`), and it rewrites a report in the
// shape of mocha's own JSON reporter (`output=FILE`: stats, tests, passes,
// failures, pending) after every test, so a test that hangs or crashes the
// process still leaves every result before it, and names the test it was in.
//   mocha --reporter bench/device-reporter.js \
//     --reporter-option lines=tests.log --reporter-option output=tests.json
const fs = require('fs');
const Mocha = require('mocha');

const { EVENT_TEST_BEGIN, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING, EVENT_RUN_END } = Mocha.Runner.constants;

function clean(test) {
  const err = test.err || {};
  return {
    title: test.title,
    fullTitle: test.fullTitle(),
    file: test.file,
    duration: test.duration,
    err: test.err ? { message: String(err.message), stack: String(err.stack || '') } : {},
  };
}

class DeviceReporter extends Mocha.reporters.Base {
  constructor(runner, options) {
    super(runner, options);
    const opts = (options && (options.reporterOption || options.reporterOptions)) || {};
    const lines = opts.lines, output = opts.output;
    const all = { tests: [], passes: [], failures: [], pending: [] };
    const t0 = Date.now();
    const line = (s) => {
      const text = `[${((Date.now() - t0) / 1000).toFixed(1)}s] ${s}\n`;
      if (lines) fs.appendFileSync(lines, text);
      else process.stdout.write(text);
    };
    const write = (done) => {
      if (!output) return;
      const stats = { ...this.stats, done };
      const tmp = `${output}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify({ stats, ...all }, null, 2));
      fs.renameSync(tmp, output);
    };
    write(false);
    runner.on(EVENT_TEST_BEGIN, (t) => line(`start ${t.fullTitle()}`));
    runner.on(EVENT_TEST_PASS, (t) => {
      all.tests.push(clean(t));
      all.passes.push(clean(t));
      line(`ok    ${t.fullTitle()} (${t.duration} ms)`);
      write(false);
    });
    runner.on(EVENT_TEST_FAIL, (t, err) => {
      t.err = err;
      all.tests.push(clean(t));
      all.failures.push(clean(t));
      line(`FAIL  ${t.fullTitle()}: ${String(err && err.message).split('\n')[0]}`);
      write(false);
    });
    runner.on(EVENT_TEST_PENDING, (t) => {
      all.tests.push(clean(t));
      all.pending.push(clean(t));
      line(`skip  ${t.fullTitle()}`);
      write(false);
    });
    runner.once(EVENT_RUN_END, () => {
      line(`end: ${this.stats.passes} passed, ${this.stats.failures} failed, ${this.stats.pending} pending`);
      write(true);
    });
  }
}

module.exports = DeviceReporter;
