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
// (There is no `build` script, so npm never runs this as a pre-hook: the
// full development build is `npm run compile`.)
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const root = path.join(__dirname, '..');

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
