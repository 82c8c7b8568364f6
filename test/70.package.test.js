'use strict';
// The npm package as a user gets it (SPEC §5, issue 6): `npm run prebuild`,
// `npm pack`, then `npm install <tarball> --ignore-scripts` into an empty
// folder (npm 11 runs no dependency scripts by default), and there the
// shipped prebuilt binary must load and compute, from require and import,
// the bin must run, and the shipped .d.ts must type-check a consumer.
// Needs the npm registry (or npm's cache) for node-gyp-build and
// node-addon-api, the package's two dependencies.
const { expect } = require('chai');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const pkg = require('../package.json');
const prebuildDir = path.join('prebuilds', `${process.platform}-${process.arch}`);

/** The environment of a user's shell: no npm lifecycle variables, no arelu overrides. */
function cleanEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    // The prebuild's own settings pass (ARELU_PREBUILD_TARGETS=host builds this
    // machine's binary only, without the Debian 11 userland).
    if (k.startsWith('ARELU_') && !['ARELU_PREBUILD_TARGETS', 'ARELU_USERLAND_DIR', 'ARELU_BUILD_JOBS'].includes(k)) continue;
    if (k.startsWith('npm_') && !['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig'].includes(k)) continue;
    env[k] = v;
  }
  return env;
}

function npmCmd(args, cwd) {
  const cli = process.env.npm_execpath;
  const [cmd, a] = cli && /\.js$/.test(cli) ? [process.execPath, [cli, ...args]] : ['npm', args];
  const r = spawnSync(cmd, a, { cwd, env: cleanEnv(), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function node(args, cwd) {
  const r = spawnSync(process.execPath, args, { cwd, env: cleanEnv(), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

// forward([1, -2, 0, 3]) with alpha 0.5, beta 0: y = x * 1.5 for x > 0, x * 0.5 for x < 0.
const EXPECTED = [1.5, -1, 0, 4.5];
const COMPUTE = "const y = arelu.forward(new Float32Array([1, -2, 0, 3]), { alpha: 0.5, beta: 0 }); " +
  'console.log(JSON.stringify({ y: Array.from(y), isa: arelu.info().isa, version: arelu.info().version }));';

describe('npm package (prebuilt binary, installed with --ignore-scripts)', function () {
  this.timeout(15 * 60 * 1000);
  let tmp, packed, consumer, installed;

  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'arelu-pack-'));
    // Incremental after the first run (its build tree is build-prebuild/).
    npmCmd(['run', 'prebuild'], root);
    packed = JSON.parse(npmCmd(['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], root))[0];
    consumer = path.join(tmp, 'consumer');
    fs.mkdirSync(consumer);
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    npmCmd(['install', path.join(tmp, packed.filename), '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], consumer);
    installed = path.join(consumer, 'node_modules', pkg.name);
  });
  after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

  it('should ship the compiled JS and types, the prebuilt binary, the sources, README and LICENSE', () => {
    const files = packed.files.map((f) => f.path);
    expect(files).to.include.members([
      'package.json', 'LICENSE', 'CMakeLists.txt', 'scripts/install.js', 'bench/bench.js',
      'dist/index.js', 'dist/index.d.ts', 'dist/index.mjs', 'dist/index.d.mts', 'dist/cli.js',
      'dist/tfjs.js', 'dist/tfjs.d.ts', 'dist/tfjs.mjs', 'dist/tfjs.d.mts',
      `${prebuildDir}/${pkg.name}.napi.node`,
      'native/core/arelu_math.h', 'native/addon/addon.cpp',
    ]);
    if (fs.existsSync(path.join(root, 'README.md'))) expect(files).to.include('README.md');
    const unwanted = files.filter((f) => /^(test|build[^/]*|lib|\.ci|node_modules)\//.test(f) ||
      /^bench\/(RESULTS|out\/)|\.tgz$|^scripts\/(prebuild|cmake-js-as-node-gyp)\.js$/.test(f));
    expect(unwanted, 'files that do not belong in the package').to.deep.equal([]);
    expect(packed.size, 'tarball bytes').to.be.below(20 * 1024 * 1024);
  });

  it('should load the prebuilt binary (no build/ in the installed package)', () => {
    expect(fs.existsSync(path.join(installed, 'build'))).to.equal(false);
    const resolved = node(['-p', `require('node-gyp-build').resolve(${JSON.stringify(installed)})`], consumer).trim();
    expect(resolved).to.equal(path.join(installed, prebuildDir, `${pkg.name}.napi.node`));
  });

  it("should compute a forward pass through require('arelu')", () => {
    const out = JSON.parse(node(['-e', `const arelu = require('arelu'); ${COMPUTE}`], consumer));
    expect(out.y).to.deep.equal(EXPECTED);
    expect(out.version).to.equal(pkg.version);
  });

  it("should compute a forward pass through import('arelu'), sharing one module with require", () => {
    const src = `import * as arelu from 'arelu'; import def from 'arelu'; import { createRequire } from 'module';
      const req = createRequire(import.meta.url)('arelu');
      if (def !== req || arelu.forward !== req.forward) throw new Error('import and require differ');
      const tfjs = await import('arelu/tfjs');
      if (typeof tfjs.registerTfjs !== 'function') throw new Error('arelu/tfjs: no registerTfjs');
      ${COMPUTE}`;
    const out = JSON.parse(node(['--input-type=module', '-e', src], consumer));
    expect(out.y).to.deep.equal(EXPECTED);
  });

  it('should run `arelu info` from the bin', () => {
    const out = npmCmd(['exec', '--no', '--', 'arelu', 'info'], consumer);
    expect(out).to.match(new RegExp(`^arelu ${pkg.version.replace(/\./g, '\\.')}`));
    expect(out).to.match(/CPU ISA: +(scalar|avx2|avx512)/).and.match(/CUDA compiled: +(yes|no)/);
  });

  it('should run `arelu bench` from the installed package (the scripts the CLI spawns are shipped)', () => {
    const out = npmCmd(['exec', '--no', '--', 'arelu', 'bench', '--quick', '--no-tfjs', '--sizes', '1K'], consumer);
    expect(out).to.match(/== forward/).and.match(/== summary/);
  });

  it('should type-check a TypeScript consumer against the shipped .d.ts (CommonJS and ESM)', () => {
    const dir = path.join(consumer, 'ts');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'node16', moduleResolution: 'node16', target: 'ES2022', lib: ['ES2022'], strict: true, noEmit: true, types: [] },
      files: ['cjs.ts', 'esm.mts'],
    }));
    fs.writeFileSync(path.join(dir, 'cjs.ts'), `import * as arelu from 'arelu';
const x = new Float32Array([1, -2, 3]);
const y: Float32Array = arelu.forward(x, { alpha: 0.5, beta: 1 }, { out: new Float32Array(3) });
const g = arelu.backward(x, y);
const dAlpha: number = g.dAlpha;
const dx: Float32Array = g.dx;
const pc = arelu.backward(x, y, { alpha: [0.5], beta: [1] }, { shape: [1, 3], channelAxis: 0 });
const dBeta: Float64Array = pc.dBeta;
const info: arelu.Info = arelu.info();
const avail: boolean = arelu.cuda.isAvailable();
async function later(): Promise<Float32Array> { return arelu.forwardAsync(x); }
// @ts-expect-error a string is not an input
arelu.forward('x');
// @ts-expect-error alpha is a number or an array
arelu.forward(x, { alpha: 'big' });
export { dAlpha, dx, dBeta, info, avail, later };
`);
    fs.writeFileSync(path.join(dir, 'esm.mts'), `import arelu, { forward, DeviceBuffer } from 'arelu';
const y: Float32Array = forward(new Float32Array(2));
const z: Float32Array = arelu.forward(y);
function onDevice(b: DeviceBuffer): DeviceBuffer { return forward(b); }
// @ts-expect-error the result of a host call is not a DeviceBuffer
const wrong: DeviceBuffer = forward(new Float32Array(2));
export { z, onDevice, wrong };
`);
    const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
    const r = spawnSync(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).to.equal(0);
    // The check can fail: a type error in the consumer is reported.
    fs.appendFileSync(path.join(dir, 'cjs.ts'), 'const bad: string = arelu.forward(new Float32Array(1));\nexport { bad };\n');
    const bad = spawnSync(process.execPath, [tsc, '-p', dir], { cwd: dir, encoding: 'utf8' });
    expect(bad.status).to.not.equal(0);
    expect(bad.stdout).to.match(/cjs\.ts.*TS2322/);
  });

  it('should link only the C/C++ runtime (no libcudart.so, no libcuda.so)', function () {
    if (process.platform !== 'linux') this.skip();
    const bin = path.join(installed, prebuildDir, `${pkg.name}.napi.node`);
    const r = spawnSync('ldd', [bin], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    const libs = r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter(Boolean).map((l) => path.basename(l));
    expect(r.stdout).to.not.match(/not found/);
    expect(libs.filter((l) => /cuda/i.test(l))).to.deep.equal([]);
    const runtime = /^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|ld-linux-aarch64\.so\.1|lib(c|m|dl|rt|pthread)\.so\.\d+|libstdc\+\+\.so\.6|libgcc_s\.so\.1)$/;
    expect(libs.filter((l) => !runtime.test(l)), `ldd:\n${r.stdout}`).to.deep.equal([]);
  });
});
