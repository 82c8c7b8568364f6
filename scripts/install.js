#!/usr/bin/env node
// The package's `install` script. npm 11 runs it only where the user allows
// this package's scripts, and it must never make such an install fail:
// - in a development clone (lib/*.ts present): `npm run compile`
//   (cmake-js build of the addon, then the TypeScript);
// - in an installed package: nothing when the shipped prebuilt binary (or an
//   earlier local build) loads; else a cmake-js build from the shipped
//   sources (cmake-js from node_modules, or fetched by `npm exec`: it is a
//   devDependency); when that fails, a note with the commands that fix it.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  return r.status === 0;
}

function npm(args) {
  const cli = process.env.npm_execpath;
  return cli ? run(process.execPath, [cli, ...args]) : run(process.platform === 'win32' ? 'npm.cmd' : 'npm', args);
}

/** Loads the binary the way the package does (node-gyp-build from the root); returns the failure or ''. */
function loadError() {
  try {
    require('node-gyp-build')(root);
    return '';
  } catch (e) {
    // The addon loaded but refused the environment (a bad ARELU_CPU_ISA...): the binary is fine.
    if (e && typeof e.code === 'string' && e.code.startsWith('ERR_ARELU_')) return '';
    return String((e && e.message) || e).split('\n')[0];
  }
}

if (fs.existsSync(path.join(root, 'lib', 'index.ts'))) {
  process.exit(npm(['run', 'compile']) ? 0 : 1);
}

const why = loadError();
if (why === '') process.exit(0);

console.error(`arelu: no prebuilt binary loads here (${why}); building the addon from source with cmake-js`);
const compile = ['compile', '--directory', root, '--out', path.join(root, 'build')];
let cmakeJs = null;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root, process.cwd()] });
} catch { /* not installed: fetched below */ }
const built = cmakeJs ? run(process.execPath, [cmakeJs, ...compile]) : npm(['exec', '--yes', '--package=cmake-js@8', '--', 'cmake-js', ...compile]);
if (built && loadError() === '') process.exit(0);
// What installs the compiler and CMake here (prebuilt: linux-x64, linux-arm64
// with glibc >= 2.17, win32-x64; not macOS or musl).
let musl = false;
try {
  musl = process.platform === 'linux' && !process.report.getReport().header.glibcVersionRuntime;
} catch { /* assume glibc */ }
const toolchain = musl ? ['  apk add build-base cmake']
  : process.platform === 'darwin' ? ['  xcode-select --install', '  brew install cmake'] : [];
console.error([
  `arelu: no prebuilt binary for ${process.platform}-${process.arch}${musl ? ' (musl libc)' : ''} loads here (${why}), and the build from source failed.`,
  'arelu is installed but will not load until its addon is built. It needs CMake >= 3.18 and a C++17 compiler (CUDA is optional); then:',
  ...toolchain,
  `  cd ${root} && npx cmake-js@8 compile --out build`,
].join('\n'));
process.exit(0);
