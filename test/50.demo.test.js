'use strict';
// `arelu demo` (bench/demo.js): the MNIST experiment runs end to end in --quick
// mode and writes the documented JSON and SVG.
const { expect } = require('chai');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const demo = path.join(root, 'bench', 'demo.js');
const cli = path.join(root, 'dist', 'cli.js');

describe('arelu demo', function () {
  this.timeout(180000);
  let dir, out, json, run;

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arelu-demo-'));
    json = path.join(dir, 'demo.json');
    out = path.join(dir, 'demo.svg');
    run = spawnSync(process.execPath, [demo, '--quick', '--no-progress', '--json', json, '--svg', out], { cwd: root, encoding: 'utf8' });
  });
  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('should run --quick to the end and print the accuracy table', function () {
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/activation\s+lr\s+seeds\s+epoch 1\s+ms\/epoch/);
    expect(run.stdout).to.match(/^AReLU\s+0\.01\s+1\s+\d+\.\d%/m);
    expect(run.stdout).to.match(/^ReLU\s+0\.001\s+1\s+\d+\.\d%/m);
    expect(run.stdout).to.match(/AReLU op \d+ ms, AReLU in tfjs ops \d+ ms/);
  });

  it('should write { results: [{ act, lr, seeds, acc, epochMs }] } for every activation and lr', function () {
    const r = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(r.results).to.have.length(4);
    const keys = r.results.map((e) => `${e.act}@${e.lr}`).sort();
    expect(keys).to.deep.equal(['AReLU@0.001', 'AReLU@0.01', 'ReLU@0.001', 'ReLU@0.01']);
    for (const e of r.results) {
      expect(e.seeds).to.equal(1);
      expect(e.acc).to.be.an('array').with.length(1);
      for (const a of e.acc) expect(a).to.be.a('number').within(0, 1);
      expect(e.epochMs).to.be.a('number').above(0);
      expect(e.perSeed).to.have.length(1);
    }
    // AReLU runs report their learned parameters: three layers of (alpha, beta), moved by training.
    const ar = r.results.find((e) => e.act === 'AReLU' && e.lr === 0.01).perSeed[0].params;
    expect(ar).to.have.length(3);
    expect(ar.some(([a, b]) => Math.abs(a - 0.9) > 1e-6 || Math.abs(b - 2) > 1e-6)).to.equal(true);
    expect(r.timing.op.epochMs).to.be.above(0);
    expect(r.timing.composite.epochMs).to.be.above(0);
    expect(r.config).to.include({ batch: 128, epochs: 1, quick: true });
    expect(r.config.data).to.match(/128 train, 200 test/);
    expect(r.environment.backend).to.equal('cpu');
  });

  it('should give the same training with the native op and with AReLU in tfjs ops', function () {
    // Same seed, data and lr: the two AReLU implementations must agree after an epoch.
    const r = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(Math.abs(r.timing.op.acc[0] - r.timing.composite.acc[0])).to.be.at.most(0.02);
  });

  it('should write an SVG with one curve per activation and lr', function () {
    const s = fs.readFileSync(out, 'utf8');
    expect(s.startsWith('<svg')).to.equal(true);
    expect(s.match(/<polyline /g)).to.have.length(4);
  });

  it('should be reachable as `arelu demo` and reject unknown options', function () {
    const help = spawnSync(process.execPath, [cli, 'demo', '--help'], { cwd: root, encoding: 'utf8' });
    expect(help.status).to.equal(0);
    expect(help.stdout).to.match(/Usage: arelu demo/);
    const bad = spawnSync(process.execPath, [demo, '--lr', 'fast'], { cwd: root, encoding: 'utf8' });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/--lr/);
  });
});
