#!/usr/bin/env node
// `npm run prebuild`: the prebuilt binary that ships inside the npm package,
// prebuilds/<platform>-<arch>/arelu.napi.node, made by prebuildify driving
// cmake-js (scripts/cmake-js-as-node-gyp.js) and stripped. One binary holds
// the CPU paths and, where nvcc is found, the CUDA kernels (static cudart).
//
// prebuildify builds in <its cwd>/build and moves the binary out of it; its
// cwd here is build-prebuild/, so the development build in build/ is left
// alone (node-gyp-build prefers build/Release over prebuilds/ anyway).
//
// npm also runs a script named `prebuild` before `build` (a pre-hook): then
// this does nothing, since `npm run build` (and `npm install` in a clone)
// must not build the addon twice.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');

/** The npm script that the nearest npm ancestor process was asked to run, if it can be told. */
function npmScriptOfParent() {
  if (process.platform !== 'linux') return undefined;
  let pid = process.ppid;
  for (let depth = 0; depth < 8 && pid > 1; depth++) {
    let cmd, stat;
    try {
      // npm sets its process title to e.g. "npm run build" (one string).
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0\s]+/).filter(Boolean);
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return undefined;
    }
    const at = cmd.findIndex((a) => /(^|\/)npm(-cli\.js)?$/.test(a));
    if (at >= 0) {
      const rest = cmd.slice(at + 1).filter((a) => !a.startsWith('-'));
      return ['run', 'run-script', 'rum', 'urn'].includes(rest[0]) ? rest[1] : rest[0];
    }
    pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]); // field 4: ppid
  }
  return undefined;
}

if (process.env.npm_lifecycle_event === 'prebuild' && npmScriptOfParent() === 'build') {
  console.error('prebuild: skipped (npm pre-hook of `build`); `npm run prebuild` makes prebuilds/');
  process.exit(0);
}

const pkg = require(path.join(root, 'package.json'));
const staging = path.join(root, 'build-prebuild');
fs.mkdirSync(staging, { recursive: true });
let prebuildify;
try {
  prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
} catch {
  console.error('prebuild: prebuildify is not installed (a devDependency: npm install first)');
  process.exit(1);
}
const args = [prebuildify, '--napi', '--strip', '--name', `${pkg.name}.napi`, '--cwd', staging, '--out', root,
  '--node-gyp', path.join(__dirname, 'cmake-js-as-node-gyp.js')];
console.error(`prebuild: node ${args.join(' ')}`);
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
if (r.status !== 0) process.exit(r.status === null ? 1 : r.status);
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
for (const f of fs.readdirSync(dir))
  console.error(`prebuild: ${path.relative(root, path.join(dir, f))} (${fs.statSync(path.join(dir, f)).size} bytes)`);
