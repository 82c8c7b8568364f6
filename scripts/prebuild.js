#!/usr/bin/env node
// `npm run prebuild`: the prebuilt binaries that ship inside the npm package,
// prebuilds/<platform>-<arch>/arelu.napi.node, made by prebuildify driving
// cmake-js (scripts/cmake-js-as-node-gyp.js) and stripped:
//   linux-x64    in the Debian 11 userland of scripts/userland.sh (gcc 10,
//                glibc 2.31), CPU paths + CUDA kernels (static cudart) when the
//                host has nvcc (its toolkit is bind-mounted there);
//   linux-arm64  in the same userland with its aarch64 cross gcc and glibc 2.31
//                sysroot (cmake/aarch64-linux-gnu.cmake);
//   win32-x64    on the host with mingw-w64 (cmake/x86_64-w64-mingw32.cmake).
//
//   node scripts/prebuild.js [TARGET...]   (default: all three; or set
//                                           ARELU_PREBUILD_TARGETS=a,b)
//   TARGET `host`: the host's own target with the host's toolchain, no
//   userland (a local binary: its glibc floor is the host's).
//
// Each target builds in build-prebuild/<target>/ (incremental after the first
// run). The userland is made on first use when this runs as root with
// debootstrap installed (a few minutes, cached in build-userland/).
//
// (There is no `build` script, so npm never runs this as a pre-hook: the
// full development build is `npm run compile`.)
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { binaryInfo, maxVersion } = require('./binary-deps');

const root = path.join(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const ALL = ['linux-x64', 'linux-arm64', 'win32-x64'];
const inUserland = process.argv[2] === '--in-userland';
const argTargets = process.argv.slice(inUserland ? 3 : 2);
const targets = argTargets.length ? argTargets
  : (process.env.ARELU_PREBUILD_TARGETS ? process.env.ARELU_PREBUILD_TARGETS.split(',').map((s) => s.trim()).filter(Boolean) : ALL);

function fail(msg) {
  console.error(`prebuild: ${msg}`);
  process.exit(1);
}

for (const t of targets) if (t !== 'host' && !ALL.includes(t)) fail(`unknown target '${t}' (known: ${ALL.join(', ')}, host)`);

let prebuildify;
try {
  prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
} catch {
  fail('prebuildify is not installed (a devDependency: npm install first)');
}

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** prebuildify for one target, with the current Node and toolchain. */
function prebuildifyTarget(target) {
  const [platform, arch] = target === 'host' ? [process.platform, process.arch] : target.split('-');
  const staging = path.join(root, 'build-prebuild', target === 'host' ? 'host' : target);
  fs.mkdirSync(staging, { recursive: true });
  const env = { ...process.env, PREBUILD_PLATFORM: platform, PREBUILD_ARCH: arch };
  if (target === 'linux-arm64' && process.arch !== 'arm64') env.PREBUILD_STRIP_BIN = 'aarch64-linux-gnu-strip';
  if (target === 'win32-x64' && process.platform !== 'win32') env.PREBUILD_STRIP_BIN = 'x86_64-w64-mingw32-strip';
  const args = [prebuildify, '--napi', '--strip', '--name', `${pkg.name}.napi`, '--cwd', staging, '--out', root,
    '--arch', arch, '--platform', platform, '--node-gyp', path.join(__dirname, 'cmake-js-as-node-gyp.js')];
  console.error(`prebuild: [${target}] node ${args.map((a) => path.relative(root, a) || a).join(' ')}`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root, env });
  if (r.status !== 0) fail(`[${target}] prebuildify failed (${r.status === null ? r.signal : `exit ${r.status}`})`);
  console.error(`prebuild: [${target}] built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

function report(target) {
  const file = path.join(root, 'prebuilds', target, `${pkg.name}.napi.node`);
  if (!fs.existsSync(file)) fail(`${path.relative(root, file)} is missing after the build`);
  const info = binaryInfo(file);
  let what = `${info.arch}`;
  if (info.format === 'elf') {
    const g = maxVersion(info.versions, 'GLIBC_');
    what += `, needs glibc ${g ? `${g[0]}.${g[1]}` : '(none)'}, libraries ${info.needed.join(' ')}`;
    if (info.sections.includes('.nv_fatbin')) what += ', with CUDA kernels';
  } else {
    what += `, imports ${info.imports.join(' ')}`;
  }
  console.error(`prebuild: ${path.relative(root, file)} (${fs.statSync(file).size} bytes; ${what})`);
}

if (inUserland) {
  for (const t of targets) prebuildifyTarget(t);
  process.exit(0);
}

const hostTarget = `${process.platform}-${process.arch}`;
const linuxTargets = targets.filter((t) => t.startsWith('linux-'));
const here = targets.filter((t) => !t.startsWith('linux-'));

if (linuxTargets.length) {
  if (process.platform !== 'linux') fail(`${linuxTargets.join(', ')}: build them on Linux (the Debian 11 userland of scripts/userland.sh)`);
  const userland = path.join(__dirname, 'userland.sh');
  if (typeof process.getuid !== 'function' || process.getuid() !== 0 || !has('debootstrap') || !has('chroot'))
    fail([`${linuxTargets.join(', ')} are built in a Debian 11 userland (glibc 2.31 floor), which needs root and debootstrap:`,
      '  apt-get install -y debootstrap qemu-user-static && scripts/userland.sh setup',
      'or build a local binary for this machine only (its glibc floor is this system\'s): ARELU_PREBUILD_TARGETS=host npm run prebuild'].join('\n'));
  let r = spawnSync('bash', [userland, 'setup'], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) fail('scripts/userland.sh setup failed');
  const cmd = ['node', 'scripts/prebuild.js', '--in-userland', ...linuxTargets].join(' ');
  r = spawnSync('bash', [userland, 'run', cmd], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) fail(`the build in the userland failed (${r.status})`);
}
for (const t of here) {
  if (t === 'win32-x64' && process.platform === 'linux' && !has('x86_64-w64-mingw32-g++-posix'))
    fail('win32-x64 is cross-compiled with mingw-w64: apt-get install -y g++-mingw-w64-x86-64-posix');
  prebuildifyTarget(t);
}
for (const t of targets) report(t === 'host' ? hostTarget : t);
