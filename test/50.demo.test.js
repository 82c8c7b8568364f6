'use strict';
// `arelu demo` (bench/demo.js): the MNIST experiment runs end to end in --quick
// mode and writes the documented JSON and SVG, on tfjs-node's tensorflow backend
// where @tensorflow/tfjs-node loads (the default then) and on the cpu backend.
const { expect } = require('chai');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const demo = path.join(root, 'bench', 'demo.js');
const cli = path.join(root, 'dist', 'cli.js');

// Whether tfjs-node loads here (checked in a child process: loading it in this
// one would register its backend for every later suite).
function tfjsNodeLoads() {
  const r = spawnSync(process.execPath, ['-e', "require('@tensorflow/tfjs-node')"], { cwd: root, encoding: 'utf8' });
  return { ok: r.status === 0, why: (r.stderr || '').split('\n').find((l) => /Error/.test(l)) || `exit ${r.status}` };
}

describe('arelu demo', function () {
  this.timeout(180000);
  let dir, out, json, run, tfjsNode;

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arelu-demo-'));
    json = path.join(dir, 'demo.json');
    out = path.join(dir, 'demo.svg');
    run = spawnSync(process.execPath, [demo, '--quick', '--no-progress', '--json', json, '--svg', out], { cwd: root, encoding: 'utf8' });
    tfjsNode = tfjsNodeLoads();
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
    // The default backend: tfjs-node's where it loads, else the cpu backend and why.
    expect(r.environment.backend).to.equal(tfjsNode.ok ? 'tensorflow' : 'cpu');
    if (tfjsNode.ok) {
      expect(r.environment.tfjsNode.version).to.match(/^4\./);
      expect(r.patchedKernels, 'no cpu replacement kernels on tfjs-node').to.deep.equal([]);
    } else {
      expect(r.environment.tfjsNode).to.include({ used: false });
      expect(r.environment.tfjsNode.why).to.be.a('string').that.is.not.empty;
    }
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

  describe('several seeds on the cpu backend (--backend cpu --seeds 2)', function () {
    let r2, j2, s2;
    before(function () {
      const jf = path.join(dir, 'cpu.json'), sf = path.join(dir, 'cpu.svg');
      r2 = spawnSync(process.execPath, [demo, '--quick', '--backend', 'cpu', '--seeds', '2', '--act', 'AReLU,ReLU', '--lr', '1e-2',
        '--timing-epochs', '0', '--epochs', '2', '--no-progress', '--json', jf, '--svg', sf], { cwd: root, encoding: 'utf8' });
      expect(r2.status, r2.stderr).to.equal(0);
      j2 = JSON.parse(fs.readFileSync(jf, 'utf8'));
      s2 = fs.readFileSync(sf, 'utf8');
    });

    it('should run on the cpu backend with its replacement kernels, even where tfjs-node is installed', function () {
      expect(j2.environment.backend).to.equal('cpu');
      expect(j2.patchedKernels.join(' ')).to.match(/Conv2DBackpropFilter.*MaxPoolGrad/);
    });

    it('should print mean ± sd and keep each seed\'s accuracies, the mean and the spread in the JSON', function () {
      expect(r2.stdout).to.match(/mean ± sd over seeds/);
      expect(r2.stdout).to.match(/^AReLU\s+0\.01\s+2\s+\d+\.\d% ± \d+\.\d\s+\d+\.\d% ± \d+\.\d/m);
      for (const e of j2.results) {
        expect(e).to.include.keys('act', 'lr', 'seeds', 'acc', 'epochMs', 'accStd', 'epochMsStd');
        expect(e.seeds).to.equal(2);
        expect(e.perSeed.map((p) => p.seed)).to.deep.equal([0, 1]);
        for (let k = 0; k < 2; k++) {
          const a = e.perSeed.map((p) => p.acc[k]);
          const m = (a[0] + a[1]) / 2;
          expect(e.acc[k]).to.be.closeTo(m, 1e-12);
          expect(e.accStd[k]).to.be.closeTo(Math.abs(a[0] - a[1]) / Math.SQRT2, 1e-12); // sample sd of two
        }
        expect(e.epochMsStd).to.be.a('number').at.least(0);
      }
      // Different seeds, different initial weights: the runs are not copies of each other.
      const ar = j2.results.find((e) => e.act === 'AReLU');
      expect(ar.perSeed[0].params).to.not.deep.equal(ar.perSeed[1].params);
    });

    it('should draw a band and error bars of ± 1 sd around each mean curve', function () {
      expect(s2.match(/<polyline /g)).to.have.length(2);
      expect(s2.match(/<polygon class="band"/g)).to.have.length(2);
      expect(s2.match(/<path class="errbar"/g)).to.have.length(2 * 3); // epochs 0..2 per curve
      expect(s2).to.match(/mean ± sd of 2 seeds/);
    });
  });

  it('should fail clearly on --backend tensorflow only where tfjs-node does not load', function () {
    if (tfjsNode.ok) {
      // the default run above already ran on it: nothing more to check here but the option's name
      expect(JSON.parse(fs.readFileSync(json, 'utf8')).environment.backend).to.equal('tensorflow');
      return;
    }
    const r = spawnSync(process.execPath, [demo, '--quick', '--backend', 'tensorflow', '--no-progress'], { cwd: root, encoding: 'utf8' });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.match(/--backend tensorflow: @tensorflow\/tfjs-node does not load here/);
  });

  it('should be reachable as `arelu demo` and reject unknown options', function () {
    const help = spawnSync(process.execPath, [cli, 'demo', '--help'], { cwd: root, encoding: 'utf8' });
    expect(help.status).to.equal(0);
    expect(help.stdout).to.match(/Usage: arelu demo/);
    const bad = spawnSync(process.execPath, [demo, '--lr', 'fast'], { cwd: root, encoding: 'utf8' });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.match(/--lr/);
    const badBackend = spawnSync(process.execPath, [demo, '--backend', 'webgl'], { cwd: root, encoding: 'utf8' });
    expect(badBackend.status).to.equal(2);
    expect(badBackend.stderr).to.match(/--backend to be auto, tensorflow or cpu/);
  });
});
