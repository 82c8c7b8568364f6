#!/usr/bin/env node
'use strict';
/**
 * Provisions the native part of the `@tensorflow/tfjs-node` devDependency from
 * the `tensorflow-cpu` wheel of the machine's Python package index, for the
 * tests and benchmarks of the tensorflow backend (SPEC §6, issue 10).
 *
 * tfjs-node's own install script downloads libtensorflow from a host that
 * build environments like ours cannot reach (and npm 11 does not run it). So:
 *   1. `python3 -m pip download --no-deps tensorflow-cpu==2.21.0` (cached);
 *   2. its libtensorflow_cc.so.2 and libtensorflow_framework.so.2 go into
 *      tfjs-node's deps/lib with the link names its build and loader ask for,
 *      its C headers (tensorflow/c/..., ctstring) into deps/include;
 *   3. tfjs-node's binding is built from source with node-pre-gyp driving
 *      node-gyp against the running Node's own headers (--nodedir).
 * A user's own `npm install @tensorflow/tfjs-node` downloads libtensorflow as usual.
 *
 * Idempotent: when tfjs-node already loads with the `tensorflow` backend it
 * only says so. When provisioning is impossible it prints why and exits 0, so
 * the tensorflow half of the tests skips with that reason (written to
 * <tfjs-node>/deps/arelu-provision.json, which the tests read).
 *
 * Usage: node scripts/provision-tfjs-node.js [--force]
 * Env:   ARELU_TF_WHEEL_DIR  where the wheel is kept (default node_modules/.cache/arelu-tf-wheel)
 *        ARELU_TF_WHEEL      a wheel file to use instead of downloading one
 *        ARELU_TFJS_NODE_REQUIRED=1  exit 1 instead of 0 when it cannot provision
 *                            (for a CI that must run the tensorflow-backend tests)
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const cp = require('child_process');

const TF_VERSION = '2.21.0';
const ROOT = path.resolve(__dirname, '..');
const force = process.argv.includes('--force');

function log(msg) { process.stdout.write(`provision-tfjs-node: ${msg}\n`); }

/** Ends the script without failing the caller (npm test, CI): tests skip with the reason. */
function giveUp(reason, tfnodeDir) {
  log(`not provisioned: ${reason}`);
  if (tfnodeDir) writeStatus(tfnodeDir, { ok: false, reason });
  process.exit(process.env.ARELU_TFJS_NODE_REQUIRED === '1' ? 1 : 0);
}

function writeStatus(tfnodeDir, status) {
  try {
    fs.mkdirSync(path.join(tfnodeDir, 'deps'), { recursive: true });
    fs.writeFileSync(path.join(tfnodeDir, 'deps', 'arelu-provision.json'),
      JSON.stringify({ ...status, tensorflow: TF_VERSION, date: new Date().toISOString() }, null, 2) + '\n');
  } catch { /* the status file is only informative */ }
}

function run(cmd, args, opts = {}) {
  const r = cp.spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  return { ok: r.status === 0, out: `${r.stdout || ''}${r.stderr || ''}`, error: r.error };
}

function tail(s, n = 15) {
  const lines = s.trim().split('\n');
  const errs = lines.filter((l) => /error:/.test(l)).slice(0, 3);  // a compiler's first errors say more than the last lines
  return [...errs, ...lines.slice(-n)].join('\n');
}

/** Loads tfjs-node in a child process: returns null when it works, else the reason. */
function probe(tfnodeDir) {
  const code = `const tf = require(${JSON.stringify(tfnodeDir)}); ` +
    'if (tf.getBackend() !== "tensorflow") throw new Error("backend is " + tf.getBackend()); ' +
    'const s = tf.sum(tf.tensor([1, 2, 3])).dataSync()[0]; if (s !== 6) throw new Error("1+2+3 = " + s);';
  const r = run(process.execPath, ['-e', code], { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
  return r.ok ? null : tail(r.out, 4);
}

function main() {
  let tfnodeDir;
  try {
    tfnodeDir = path.dirname(require.resolve('@tensorflow/tfjs-node/package.json', { paths: [ROOT] }));
  } catch {
    giveUp('@tensorflow/tfjs-node is not installed (it is a devDependency: run npm ci)');
  }
  const version = require(path.join(tfnodeDir, 'package.json')).version;

  if (!force && probe(tfnodeDir) === null) {
    log(`@tensorflow/tfjs-node ${version} already loads with the tensorflow backend`);
    writeStatus(tfnodeDir, { ok: true, reason: 'already provisioned' });
    return;
  }
  if (process.platform !== 'linux')
    giveUp(`provisioning from the tensorflow-cpu wheel is done on Linux only (this is ${process.platform})`, tfnodeDir);
  if (process.arch !== 'x64')
    giveUp(`provisioning from the tensorflow-cpu wheel is done on x64 only (this is ${process.arch})`, tfnodeDir);

  // 1. The wheel.
  let wheel = process.env.ARELU_TF_WHEEL;
  const wheelDir = process.env.ARELU_TF_WHEEL_DIR || path.join(ROOT, 'node_modules', '.cache', 'arelu-tf-wheel');
  const findWheel = () => fs.existsSync(wheelDir) &&
    fs.readdirSync(wheelDir).filter((f) => f.startsWith(`tensorflow_cpu-${TF_VERSION}-`) && f.endsWith('.whl'))
      .map((f) => path.join(wheelDir, f))[0];
  if (!wheel) wheel = findWheel();
  if (!wheel) {
    fs.mkdirSync(wheelDir, { recursive: true });
    log(`downloading tensorflow-cpu==${TF_VERSION} with pip into ${wheelDir}`);
    const py = ['python3', 'python'].find((p) => run(p, ['-m', 'pip', '--version']).ok);
    if (!py) giveUp('no python3 with pip to download the tensorflow-cpu wheel', tfnodeDir);
    const r = run(py, ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', `tensorflow-cpu==${TF_VERSION}`, '-d', wheelDir]);
    wheel = findWheel();
    if (!r.ok || !wheel) giveUp(`pip could not download tensorflow-cpu==${TF_VERSION}:\n${tail(r.out, 6)}`, tfnodeDir);
  }
  if (!fs.existsSync(wheel)) giveUp(`ARELU_TF_WHEEL=${wheel} does not exist`, tfnodeDir);

  // 2. deps/lib and deps/include from the wheel (only the files needed).
  const depsLib = path.join(tfnodeDir, 'deps', 'lib');
  const depsInc = path.join(tfnodeDir, 'deps', 'include');
  const libs = ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2'];
  const stamp = path.join(tfnodeDir, 'deps', 'arelu-wheel.txt');  // written last: the unpacking finished
  const haveDeps = !force && libs.every((l) => fs.existsSync(path.join(depsLib, l))) &&
    fs.existsSync(path.join(depsInc, 'tensorflow', 'c', 'c_api.h')) &&
    fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === path.basename(wheel);
  if (!haveDeps) {
    log(`unpacking ${path.basename(wheel)} into ${path.relative(ROOT, path.join(tfnodeDir, 'deps'))}`);
    fs.rmSync(path.join(tfnodeDir, 'deps'), { recursive: true, force: true });
    fs.mkdirSync(depsLib, { recursive: true });
    fs.mkdirSync(depsInc, { recursive: true });
    // Python's zipfile (pip implies Python; `unzip` may be absent).
    // The headers tfjs-node's binding includes (tensorflow/c/{c_api,eager/c_api}.h,
    // ctstring_internal.h), tensorflow/c/{ops,kernels}.h, and everything they
    // include from the wheel's include tree (xla/tsl, ctstring...), transitively.
    const extract = `
import sys, zipfile, os, re, shutil
whl, lib, inc = sys.argv[1:4]
z = zipfile.ZipFile(whl)
names = set(z.namelist())
libs = ['tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2']
pre = 'tensorflow/include/'
todo = ['tensorflow/c/c_api.h', 'tensorflow/c/eager/c_api.h', 'tensorflow/c/ops.h', 'tensorflow/c/kernels.h', 'tensorflow/core/platform/ctstring_internal.h']
seen = set()
while todo:
    h = todo.pop()
    if h in seen or pre + h not in names: continue
    seen.add(h)
    todo += re.findall(r'#include\\s+"([^"]+)"', z.read(pre + h).decode('utf-8', 'replace'))
for name, dst in [(l, os.path.join(lib, os.path.basename(l))) for l in libs] + [(pre + h, os.path.join(inc, h)) for h in seen]:
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with z.open(name) as src, open(dst, 'wb') as out: shutil.copyfileobj(src, out, 1 << 20)
print(len(seen))
`;
    const py = ['python3', 'python'].find((p) => run(p, ['--version']).ok);
    if (!py) giveUp('no python3 to unpack the tensorflow-cpu wheel', tfnodeDir);
    const r = run(py, ['-c', extract, wheel, depsLib, depsInc]);
    if (!r.ok || !libs.every((l) => fs.existsSync(path.join(depsLib, l))))
      giveUp(`could not unpack ${wheel}:\n${tail(r.out, 6)}`, tfnodeDir);
    // The names tfjs-node's build links (-ltensorflow -ltensorflow_framework) and the
    // one its install script checks (libtensorflow.so.2.9.1).
    for (const [name, target] of [['libtensorflow.so', 'libtensorflow_cc.so.2'],
      ['libtensorflow.so.2', 'libtensorflow_cc.so.2'],
      ['libtensorflow.so.2.9.1', 'libtensorflow_cc.so.2'],
      ['libtensorflow_framework.so', 'libtensorflow_framework.so.2']])
      fs.symlinkSync(target, path.join(depsLib, name));
    fs.writeFileSync(stamp, path.basename(wheel));
  }

  // 3. The binding, from source, against this Node's headers.
  const nodedir = path.resolve(path.dirname(process.execPath), '..');
  if (!fs.existsSync(path.join(nodedir, 'include', 'node', 'node_api.h')))
    giveUp(`this Node's headers are not in ${nodedir}/include/node (needed to build tfjs-node's binding offline)`, tfnodeDir);
  const candidates = [
    () => require.resolve('node-gyp/bin/node-gyp.js', { paths: [ROOT, tfnodeDir] }),
    () => path.join(path.dirname(require.resolve('npm/package.json', { paths: [path.join(nodedir, 'lib', 'node_modules')] })), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    () => path.join(nodedir, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  let nodeGyp = process.env.npm_config_node_gyp && fs.existsSync(process.env.npm_config_node_gyp) ? process.env.npm_config_node_gyp : undefined;
  for (const c of candidates) {
    if (nodeGyp) break;
    try { const p = c(); if (fs.existsSync(p)) nodeGyp = p; } catch { /* next */ }
  }
  const env = { ...process.env, npm_config_nodedir: nodedir, JOBS: '2' };
  let nodeGypCmd = nodeGyp ? [process.execPath, nodeGyp] : null;
  if (!nodeGypCmd) {
    // Fetch node-gyp from the npm registry (npx caches it).
    const r = run('npx', ['--yes', 'node-gyp@11', '--version']);
    if (!r.ok) giveUp(`no node-gyp found (in node_modules, beside npm, or with npx):\n${tail(r.out, 4)}`, tfnodeDir);
    nodeGypCmd = ['npx', '--yes', 'node-gyp@11'];
  }
  if (nodeGyp) env.npm_config_node_gyp = nodeGyp;
  let preGyp;
  try {
    preGyp = require.resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp', { paths: [tfnodeDir] });
  } catch {
    giveUp('@mapbox/node-pre-gyp (a dependency of tfjs-node) is missing', tfnodeDir);
  }
  log(`building tfjs-node's binding from source (node-pre-gyp + ${nodeGyp ? nodeGyp : 'npx node-gyp@11'}, --nodedir=${nodedir}); about 2 minutes`);
  const t0 = Date.now();
  const args = nodeGyp
    ? [preGyp, 'install', '--build-from-source', `--nodedir=${nodedir}`, '--jobs=2']
    : null;
  let r;
  if (args) {
    r = run(process.execPath, args, { cwd: tfnodeDir, env });
  } else {
    // node-pre-gyp only knows node-gyp by path; with npx, drive node-gyp directly
    // with the variables node-pre-gyp would pass.
    const napi = process.versions.napi >= 8 ? 8 : Number(process.versions.napi);
    r = run(nodeGypCmd[0], [...nodeGypCmd.slice(1), 'rebuild', `--nodedir=${nodedir}`, '--jobs=2',
      '--module_name=tfjs_binding', `--module_path=${path.join(tfnodeDir, 'lib', `napi-v${napi}`)}`, `--napi_build_version=${napi}`],
    { cwd: tfnodeDir, env });
  }
  if (!r.ok) giveUp(`building tfjs-node's binding failed:\n${tail(r.out, 12)}`, tfnodeDir);
  log(`built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  const why = probe(tfnodeDir);
  if (why !== null) giveUp(`tfjs-node still does not load with the tensorflow backend:\n${why}`, tfnodeDir);
  writeStatus(tfnodeDir, { ok: true, reason: `built from ${path.basename(wheel)}` });
  log(`@tensorflow/tfjs-node ${version} loads with the tensorflow backend (TensorFlow ${TF_VERSION} from the wheel)`);
}

main();
