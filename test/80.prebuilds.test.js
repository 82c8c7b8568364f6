'use strict';
// The shipped prebuilt binaries (issue 12) and the loader's message where none
// fits:
// - every prebuilds/<platform>-<arch>/*.node is for that platform and CPU, and
//   asks the system for no more than it may: on Linux glibc 2.17 at most
//   (built against Debian 11's 2.31) and nothing of libstdc++/libgcc_s (both
//   static); on Windows only node.exe, KERNEL32 and msvcrt;
// - ARELU_PREBUILDS_EXPECTED=linux-x64,linux-arm64,win32-x64 (CI) requires
//   those to exist; ARELU_PREBUILD_CUDA=1 requires the CUDA kernels in linux-x64;
// - the results digests that scripts/check-prebuilds.sh wrote for each
//   binary run on its platform's Node (build-prebuild/digest-*.json) equal
//   this machine's (same bits of y, dx, dAlpha, dBeta everywhere, SPEC §1);
// - on macOS, musl and unshipped targets, the load error names the commands
//   that build the addon from source.
const { expect } = require('chai');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { binaryInfo, elfInfo, maxVersion } = require('../scripts/binary-deps');

const root = path.join(__dirname, '..');
const prebuilds = path.join(root, 'prebuilds');
// The documented floor (README, the loader's message): the binaries are
// linked against glibc 2.31 (Debian 11) and, with no libm transcendental in
// the coefficient path, ask for 2.17 at most. Raising it means updating both;
// it can never pass 2.31 without leaving Debian 11 / Ubuntu 20.04 behind.
const GLIBC_FLOOR = [2, 17];
const WIN_IMPORTS = ['kernel32.dll', 'msvcrt.dll', 'node.exe'];

function shipped() {
  if (!fs.existsSync(prebuilds)) return [];
  const out = [];
  for (const dir of fs.readdirSync(prebuilds).sort()) {
    const d = path.join(prebuilds, dir);
    for (const f of fs.readdirSync(d)) if (f.endsWith('.node')) out.push({ target: dir, file: path.join(d, f) });
  }
  return out;
}

describe('prebuilt binaries (issue 12)', function () {
  this.timeout(10 * 60 * 1000);

  it('reads symbol versions, needed libraries and the machine of an ELF file (this Node)', function () {
    if (process.platform !== 'linux') this.skip();
    const info = elfInfo(fs.readFileSync(process.execPath));
    expect(info.arch).to.equal(process.arch);
    expect(info.needed).to.include('libc.so.6');
    const g = maxVersion(info.versions, 'GLIBC_');
    expect(g, 'GLIBC_ versions of node').to.not.equal(null);
    const runtime = process.report.getReport().header.glibcVersionRuntime.split('.').map(Number);
    expect(g[0] * 1000 + g[1]).to.be.at.most(runtime[0] * 1000 + runtime[1]);
    expect(maxVersion([{ name: 'GLIBC_2.9' }, { name: 'GLIBC_2.17' }, { name: 'GLIBC_2.3.4' }, { name: 'GCC_7.0' }], 'GLIBC_'))
      .to.deep.equal([2, 17, 0]);
  });

  it('ships the expected targets (ARELU_PREBUILDS_EXPECTED)', function () {
    const expected = (process.env.ARELU_PREBUILDS_EXPECTED || '').split(',').filter(Boolean);
    if (!expected.length) this.skip();
    expect(shipped().map((s) => s.target)).to.include.members(expected);
  });

  it('every shipped Linux binary needs glibc <= 2.17 and no libstdc++/libgcc_s; every Windows one only node.exe, KERNEL32, msvcrt', function () {
    const all = shipped();
    if (!all.length) this.skip();
    for (const { target, file } of all) {
      const [platform, arch] = target.split('-');
      const info = binaryInfo(file);
      const rel = path.relative(root, file);
      expect(info.arch, `${rel}: machine`).to.equal(arch);
      if (platform === 'linux') {
        expect(info.format, rel).to.equal('elf');
        const g = maxVersion(info.versions, 'GLIBC_');
        expect(g, `${rel}: asks for no GLIBC_ version?`).to.not.equal(null);
        const above = info.versions.filter((v) => {
          const m = /^GLIBC_(\d+)\.(\d+)/.exec(v.name);
          return m && (Number(m[1]) > GLIBC_FLOOR[0] || (Number(m[1]) === GLIBC_FLOOR[0] && Number(m[2]) > GLIBC_FLOOR[1]));
        });
        expect(above.map((v) => v.name), `${rel}: symbol versions above glibc ${GLIBC_FLOOR.join('.')}`).to.deep.equal([]);
        const cxx = info.versions.filter((v) => /^(GLIBCXX|CXXABI|GCC)_/.test(v.name)).map((v) => v.name);
        expect(cxx, `${rel}: libstdc++/libgcc_s versions (they must be linked statically)`).to.deep.equal([]);
        expect(info.needed.filter((n) => /libstdc\+\+|libgcc_s/.test(n)), rel).to.deep.equal([]);
        if (target === 'linux-x64' && process.env.ARELU_PREBUILD_CUDA === '1')
          expect(info.sections, `${rel}: the CUDA kernels (.nv_fatbin)`).to.include('.nv_fatbin');
      } else if (platform === 'win32') {
        expect(info.format, rel).to.equal('pe');
        const imports = info.imports.map((s) => s.toLowerCase());
        expect(imports, `${rel}: imports`).to.include('node.exe');
        expect(imports.filter((d) => !WIN_IMPORTS.includes(d)), `${rel}: DLLs beyond ${WIN_IMPORTS.join(', ')}`).to.deep.equal([]);
      } else {
        throw new Error(`${rel}: unexpected platform ${platform}`);
      }
    }
  });

  it('each binary run on its own platform\'s Node gives the same bits as this machine (build-prebuild/digest-*.json)', function () {
    const dir = path.join(root, 'build-prebuild');
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^digest-.*\.json$/.test(f)) : [];
    if (!files.length) this.skip();
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'results-digest.js')], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    const here = JSON.parse(r.stdout);
    expect(here.digest).to.be.a('string');
    for (const f of files) {
      const other = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      expect(other.digest, `${f}: its ISAs disagree: ${JSON.stringify(other.isas)}`).to.be.a('string');
      expect(other.digest, `${f} (${other.platform}-${other.arch}, ${Object.keys(other.isas).join(' ')}) vs this machine`).to.equal(here.digest);
    }
  });

  describe('the load error names the commands that build from source', function () {
    let pkgDir;
    before(function () {
      // The package without any binary: dist/, package.json and its dependencies.
      pkgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'arelu-nobin-'));
      fs.cpSync(path.join(root, 'dist'), path.join(pkgDir, 'dist'), { recursive: true });
      fs.copyFileSync(path.join(root, 'package.json'), path.join(pkgDir, 'package.json'));
      fs.symlinkSync(path.join(root, 'node_modules'), path.join(pkgDir, 'node_modules'));
    });
    after(() => { if (pkgDir) fs.rmSync(pkgDir, { recursive: true, force: true }); });

    /** Loads the binary-less package as on another system (platform / libc faked before the load). */
    function loadAs(setup) {
      const code = `${setup}; try { require('./dist'); console.log('loaded'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
      const env = { ...process.env };
      delete env.ARELU_NATIVE_PATH;
      const r = spawnSync(process.execPath, ['-e', code], { cwd: pkgDir, env, encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      return JSON.parse(r.stdout);
    }
    const compile = () => `cd ${pkgDir} && npx cmake-js@8 compile --out build`;

    it('macOS: Xcode tools, CMake from Homebrew, then cmake-js', function () {
      const e = loadAs("Object.defineProperty(process, 'platform', { value: 'darwin' })");
      expect(e.code).to.equal('ERR_ARELU_NO_BINARY');
      expect(e.message).to.contain('no prebuilt binary for macOS');
      expect(e.message).to.contain('\n  xcode-select --install\n  brew install cmake\n');
      expect(e.message).to.contain(`\n  ${compile()}\n`);
    });

    it('Alpine (musl): apk packages, then cmake-js', function () {
      const e = loadAs("Object.defineProperty(process, 'platform', { value: 'linux' }); " +
        'process.report.getReport = () => ({ header: {} })');
      expect(e.code).to.equal('ERR_ARELU_NO_BINARY');
      expect(e.message).to.contain('(musl libc)');
      expect(e.message).to.contain('no prebuilt binary for musl (Alpine)');
      expect(e.message).to.contain('\n  apk add build-base cmake\n');
      expect(e.message).to.contain(`\n  ${compile()}\n`);
    });

    it('an unshipped target (linux-riscv64) lists what is prebuilt', function () {
      const e = loadAs("Object.defineProperty(process, 'platform', { value: 'linux' }); Object.defineProperty(process, 'arch', { value: 'riscv64' }); " +
        "process.report.getReport = () => ({ header: { glibcVersionRuntime: '2.36' } })");
      expect(e.code).to.equal('ERR_ARELU_NO_BINARY');
      expect(e.message).to.contain('no prebuilt binary for linux-riscv64 (prebuilt: linux-x64, linux-arm64, win32-x64)');
      expect(e.message).to.contain(`\n  ${compile()}\n`);
    });

    it('a shipped target whose binary does not load: the glibc floor and the build command', function () {
      const e = loadAs("Object.defineProperty(process, 'platform', { value: 'linux' }); Object.defineProperty(process, 'arch', { value: 'arm64' }); " +
        "process.report.getReport = () => ({ header: { glibcVersionRuntime: '2.12' } })");
      expect(e.code).to.equal('ERR_ARELU_NO_BINARY');
      expect(e.message).to.contain('The prebuilt binary for linux-arm64 did not load (it needs glibc 2.17 or newer)');
      expect(e.message).to.contain(`\n  ${compile()}\n`);
    });
  });
});
