'use strict';
// `arelu bench` in its quick mode: the structure of what it reports (never
// the timings: those belong to bench/RESULTS.md, not to tests).
const { expect } = require('chai');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const arelu = require('..');

const root = path.join(__dirname, '..');

/**
 * A strict XML well-formedness check (no DTD support needed for our SVG):
 * returns the root element and every element name; throws on unbalanced or
 * misnested tags, unquoted or duplicate attributes, bad entities, stray '<'.
 */
function parseXml(text) {
  let i = 0;
  const stack = [];
  const names = [];
  let root = null;
  const nameRe = /[A-Za-z_:][\w.:-]*/y;
  const fail = (msg) => { throw new Error(`XML: ${msg} at offset ${i}`); };
  const checkText = (t) => {
    if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(t)) fail('bad entity');
  };
  if (text.startsWith('<?xml')) { i = text.indexOf('?>') + 2; if (i < 2) fail('unterminated declaration'); }
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = lt < 0 ? text.slice(i) : text.slice(i, lt);
    if (chunk.includes('>')) fail("stray '>'");
    checkText(chunk);
    if (stack.length === 0 && chunk.trim() !== '') fail('text outside the root element');
    if (lt < 0) break;
    i = lt;
    if (text.startsWith('<!--', i)) { const e = text.indexOf('-->', i); if (e < 0) fail('unterminated comment'); i = e + 3; continue; }
    if (text.startsWith('</', i)) {
      nameRe.lastIndex = i + 2;
      const m = nameRe.exec(text); if (!m) fail('bad closing tag');
      i = nameRe.lastIndex; while (/\s/.test(text[i])) i++;
      if (text[i] !== '>') fail('bad closing tag');
      i++;
      if (stack.pop() !== m[0]) fail(`mismatched </${m[0]}>`);
      continue;
    }
    nameRe.lastIndex = i + 1;
    const m = nameRe.exec(text); if (!m) fail('bad tag name');
    if (root === null) { if (stack.length) fail('?'); root = m[0]; } else if (stack.length === 0) fail('second root element');
    names.push(m[0]);
    i = nameRe.lastIndex;
    const attrs = new Set();
    for (;;) {
      const ws = /\s*/y; ws.lastIndex = i; ws.exec(text); i = ws.lastIndex;
      if (text.startsWith('/>', i)) { i += 2; break; }
      if (text[i] === '>') { i++; stack.push(m[0]); break; }
      nameRe.lastIndex = i;
      const a = nameRe.exec(text); if (!a) fail(`bad attribute in <${m[0]}>`);
      if (attrs.has(a[0])) fail(`duplicate attribute ${a[0]}`);
      attrs.add(a[0]);
      i = nameRe.lastIndex;
      if (text[i] !== '=') fail(`attribute ${a[0]} without a value`);
      const q = text[i + 1];
      if (q !== '"' && q !== "'") fail(`unquoted attribute ${a[0]}`);
      const end = text.indexOf(q, i + 2); if (end < 0) fail('unterminated attribute');
      const v = text.slice(i + 2, end);
      if (v.includes('<')) fail("'<' in attribute");
      checkText(v);
      i = end + 1;
    }
  }
  if (stack.length) fail(`unclosed <${stack[stack.length - 1]}>`);
  if (root === null) fail('no root element');
  return { root, names };
}

describe('arelu bench (bench/bench.js)', function () {
  this.timeout(120000);
  let dir, run, stdout, stderr, svg;
  const info = arelu.info();

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arelu-bench-'));
    const r = spawnSync(process.execPath, [path.join(root, 'bench', 'bench.js'), '--quick',
      '--json', path.join(dir, 'out', 'run.json'), '--svg', path.join(dir, 'out', 'run.svg')], { encoding: 'utf8' });
    stdout = r.stdout; stderr = r.stderr;
    if (r.status !== 0) throw new Error(`bench exited with ${r.status}:\n${r.stderr}`);
    run = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'run.json'), 'utf8'));
    svg = fs.readFileSync(path.join(dir, 'out', 'run.svg'), 'utf8');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('should describe the machine it ran on', () => {
    expect(run.schema).to.equal('arelu-bench/1');
    expect(run.machine.cpuModel).to.be.a('string').and.not.equal('');
    expect(run.machine.isa).to.equal(info.isa);
    expect(run.machine.isasSupported).to.deep.equal(info.isasSupported);
    expect(run.machine.threads).to.equal(info.threads);
    expect(run.machine.cuda.available).to.equal(arelu.cuda.isAvailable());
    expect(run.machine.gpus).to.be.an('array').with.lengthOf(info.cuda.devices.length);
    expect(run.options.quick).to.equal(true);
  });

  it('should time every row at every size, forward and backward', () => {
    const ids = run.rows.map((r) => r.id);
    expect(new Set(ids).size).to.equal(ids.length);
    const want = ['copy-set', 'copy-parallel', 'arelu-cpu-auto', 'arelu-cpu-auto-1t', 'js-loop',
      ...info.isasSupported.map((isa) => `arelu-cpu-${isa}`)];
    let tfjsInstalled = true;
    try { require.resolve('@tensorflow/tfjs'); } catch { tfjsInstalled = false; }
    if (tfjsInstalled) want.push('tfjs-cpu');
    if (arelu.cuda.isAvailable()) want.push('copy-device', 'arelu-cuda-device', 'arelu-cuda-host');
    expect(ids).to.include.members(want);
    for (const r of run.rows) {
      const ops = r.kind === 'copy' ? ['copy'] : ['forward', 'backward'];
      for (const n of run.options.sizes) {
        if (r.maxN && n > r.maxN) continue;
        for (const op of ops) {
          const m = run.measurements.filter((x) => x.row === r.id && x.op === op && x.n === n);
          expect(m, `${r.id} ${op} ${n}`).to.have.lengthOf(1);
        }
      }
    }
    for (const m of run.measurements) {
      expect(ids).to.include(m.row);
      expect(m.bytes).to.equal((m.op === 'backward' ? 12 : 8) * m.n);
      expect(m.medianMs).to.be.a('number').above(0);
      expect(m.minMs).to.be.at.most(m.medianMs);
      expect(m.maxMs).to.be.at.least(m.medianMs);
      expect(m.samples).to.be.at.least(3).and.equal(m.samplesMs.length);
      expect(m.batch).to.be.at.least(1);
      expect(m.gbps).to.be.closeTo(m.bytes / (m.medianMs * 1e6), m.gbps * 1e-9);
      expect(m.ofCopy).to.be.a('number').above(0);
      if (m.op !== 'copy' && m.row !== 'js-loop' && m.row.startsWith('arelu-cpu')) expect(m.speedupVsJs).to.be.a('number').above(0);
    }
  });

  it('should report the SPEC ratios and the call overhead', () => {
    const nMax = Math.max(...run.options.sizes);
    for (const op of ['forward', 'backward'])
      for (const copyRow of ['copy-set', 'copy-parallel']) {
        const s = run.spec.find((x) => x.backend === 'cpu' && x.op === op && x.copyRow === copyRow);
        expect(s, `${op} vs ${copyRow}`).to.exist;
        const a = run.measurements.find((m) => m.row === 'arelu-cpu-auto' && m.op === op && m.n === nMax);
        const c = run.measurements.find((m) => m.row === copyRow && m.n === nMax);
        expect(s.ratioFromMedians).to.be.closeTo(a.medianMs / ((op === 'backward' ? 1.5 : 1) * c.medianMs), 1e-12);
        expect(s.ratio).to.be.a('number').above(0);
        expect(s.ratio).to.be.within(s.ratioRange[0], s.ratioRange[1]);
        expect(s.rounds).to.be.at.least(3);
        expect(s.pass).to.equal(s.ratio <= 1.25);
      }
    for (const op of ['forward', 'backward']) {
      const o = run.callOverhead[op];
      expect(o.callMs1K).to.be.above(0);
      expect(o.overheadMs).to.be.closeTo(o.callMs1K - o.workMs1K, 1e-12);
    }
    expect(run.callOverhead.method).to.match(/intercept/);
    expect(stdout).to.match(/== forward/).and.match(/== backward/).and.match(/== summary/);
    expect(stdout).to.match(/call overhead \(sync, 1K elements\)/);
    expect(stderr).to.match(/measurements in/);
  });

  it('should report the cache-resident ratios (16K-1M) for 1 thread and all threads', () => {
    const sizes = run.options.sizes.filter((n) => n >= 16384 && n <= 1 << 20);
    expect(sizes).to.not.be.empty;
    const threads = [...new Set([1, info.threads])];
    expect(run.cacheRatios).to.have.lengthOf(sizes.length * threads.length * 2);
    for (const n of sizes)
      for (const t of threads)
        for (const op of ['forward', 'backward']) {
          const c = run.cacheRatios.find((x) => x.n === n && x.threads === t && x.op === op && x.layout === null);
          expect(c, `${op} ${n} ${t}t`).to.exist;
          expect(c.copyRow).to.equal('copy-set');
          expect(c.row).to.equal(t === 1 ? 'arelu-cpu-auto-1t' : 'arelu-cpu-auto');
          expect(c.ratio).to.be.a('number').above(0).and.within(c.ratioRange[0], c.ratioRange[1]);
          const target = op === 'backward' ? (n < 65536 ? 2.0 : 1.5) : (n < 65536 ? null : 1.25);
          expect(c.target).to.equal(target);
          expect(c.pass).to.equal(target === null ? null : c.ratio <= target);
        }
    expect(stdout).to.match(/cache-resident SPEC ratios vs TypedArray\.set/);
  });

  it('should say why there are no CUDA rows when no GPU is usable', function () {
    if (arelu.cuda.isAvailable()) this.skip();
    expect(run.absent).to.deep.include({ backend: 'cuda', reason: info.cuda.reason });
    expect(stdout).to.include(`CUDA: no rows: ${info.cuda.reason}`);
  });

  it('should write an SVG chart with one line per row and a legend', () => {
    const { root: r, names } = parseXml(svg);
    expect(r).to.equal('svg');
    const lines = names.filter((n) => n === 'polyline').length;
    const shown = run.rows.filter((x) => run.measurements.some((m) => m.row === x.id));
    // Two panels (forward, backward): every row has a line in each.
    expect(lines).to.equal(2 * shown.length);
    expect(names.filter((n) => n === 'path').length).to.equal(shown.length); // legend keys
    for (const x of shown) expect(svg).to.include(x.label.replace(/&/g, '&amp;'));
  });

  it('should reject a malformed SVG (the checker can fail)', () => {
    expect(() => parseXml('<svg><g></svg>')).to.throw(/mismatched/);
    expect(() => parseXml('<svg a=1/>')).to.throw(/unquoted/);
  });

  it('should print its usage and reject unknown options through `arelu bench`', () => {
    const cli = path.join(root, 'dist', 'cli.js');
    const h = spawnSync(process.execPath, [cli, 'bench', '--help'], { encoding: 'utf8' });
    expect(h.status).to.equal(0);
    expect(h.stdout).to.match(/--per-channel/).and.match(/--json FILE/);
    const bad = spawnSync(process.execPath, [cli, 'bench', '--frobnicate'], { encoding: 'utf8' });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/unknown option '--frobnicate'/);
  });

  it('should run per-channel NCHW and NHWC rows with --per-channel', () => {
    const f = path.join(dir, 'pc.json');
    const r = spawnSync(process.execPath, [path.join(root, 'bench', 'bench.js'), '--quick', '--no-tfjs', '--sizes', '4K', '--per-channel', '--json', f], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    const pc = JSON.parse(fs.readFileSync(f, 'utf8'));
    expect(pc.options.perChannel).to.deep.equal(['nchw', 'nhwc']);
    const ids = pc.rows.map((x) => x.id);
    expect(ids).to.include.members(['arelu-cpu-auto-nchw', 'arelu-cpu-auto-nhwc', 'js-loop-nchw', 'js-loop-nhwc']);
    expect(ids).to.not.include('tfjs-cpu-nchw');
    expect(pc.absent).to.deep.include({ backend: 'tfjs', reason: 'skipped (--no-tfjs)' });
  });
});
