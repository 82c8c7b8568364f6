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
//
// Cross builds: prebuildify passes the target as --arch=<a> and the
// PREBUILD_PLATFORM environment variable. A target other than the host's is
// built with the CMake toolchain file of cmake/ that TOOLCHAINS names
// (linux-arm64: Debian's aarch64-linux-gnu cross gcc; win32-x64: mingw-w64),
// always without CUDA.
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
const TOOLCHAINS = {
  'linux-arm64': 'aarch64-linux-gnu.cmake',
  'win32-x64': 'x86_64-w64-mingw32.cmake',
};
const arch = flags.get('arch') || process.arch;
const platform = process.env.PREBUILD_PLATFORM || process.platform;
const target = `${platform}-${arch}`;
const host = `${process.platform}-${process.arch}`;
let toolchain = null;
if (target !== host) {
  if (!TOOLCHAINS[target] || process.platform !== 'linux')
    fail(`cross-compiling for ${target} on ${host} is not supported (cross targets from linux: ${Object.keys(TOOLCHAINS).join(', ')})`);
  toolchain = path.join(root, 'cmake', TOOLCHAINS[target]);
}

let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
} catch {
  fail('cmake-js is not installed (it is a devDependency: run npm install in the project first)');
}
const config = flags.has('debug') ? 'Debug' : 'Release';
const args = [cmakeJs, command === 'rebuild' ? 'compile' : 'build', '--directory', root,
  '--out', path.join(process.cwd(), 'build'), '--config', config];
if (toolchain) args.push('--arch', arch, `--CDCMAKE_TOOLCHAIN_FILE=${toolchain}`, '--CDARELU_CUDA=OFF');
else if (process.env.ARELU_CUDA) args.push(`--CDARELU_CUDA=${process.env.ARELU_CUDA}`);
if (process.env.ARELU_BUILD_JOBS) args.push('--parallel', process.env.ARELU_BUILD_JOBS);
console.error(`cmake-js-as-node-gyp: node ${args.join(' ')}`);
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
if (r.error) fail(r.error.message);
process.exit(r.status === null ? 1 : r.status);
