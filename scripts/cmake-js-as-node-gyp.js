#!/usr/bin/env node
// Stands in for node-gyp when prebuildify builds the addon (`prebuildify
// --node-gyp scripts/cmake-js-as-node-gyp.js`), so the prebuilt binary comes
// from the one build system of the project, cmake-js + CMakeLists.txt (CPU
// paths always; CUDA kernels with static cudart where nvcc is found).
//
// prebuildify runs `<node-gyp> rebuild --target=<v> --devdir=<dir> --arch=<a>
// --release|--debug` in its working directory and then takes the first
// *.node file of ./build/Release (or ./build/Debug) there. This script runs
// `cmake-js compile` on the project at the root of this package with that
// ./build as its build directory. N-API binaries do not depend on --target;
// the headers come from node-api-headers (package.json `binary.napi_versions`),
// so nothing is downloaded.
'use strict';
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const flags = new Map();
const words = [];
for (const a of argv) {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  if (m) flags.set(m[1], m[2] === undefined ? true : m[2]);
  else words.push(a);
}

function fail(msg) {
  console.error(`cmake-js-as-node-gyp: ${msg}`);
  process.exit(1);
}

const command = words[0];
if (command !== 'rebuild' && command !== 'build')
  fail(`only 'rebuild' and 'build' are supported (prebuildify's calls), got: ${argv.join(' ')}`);
const runtime = flags.get('runtime') || 'node';
if (runtime !== 'node') fail(`runtime '${runtime}' is not supported: arelu ships one N-API binary for Node`);
const arch = flags.get('arch');
if (arch && arch !== process.arch) fail(`cross-compiling (--arch=${arch} on ${process.arch}) is not supported`);

let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
} catch {
  fail('cmake-js is not installed (it is a devDependency: run npm install in the project first)');
}
const config = flags.has('debug') ? 'Debug' : 'Release';
const args = [cmakeJs, command === 'rebuild' ? 'compile' : 'build', '--directory', root,
  '--out', path.join(process.cwd(), 'build'), '--config', config];
if (process.env.ARELU_CUDA) args.push(`--CDARELU_CUDA=${process.env.ARELU_CUDA}`);
if (process.env.ARELU_BUILD_JOBS) args.push('--parallel', process.env.ARELU_BUILD_JOBS);
console.error(`cmake-js-as-node-gyp: node ${args.join(' ')}`);
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
if (r.error) fail(r.error.message);
process.exit(r.status === null ? 1 : r.status);
