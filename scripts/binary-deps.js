'use strict';
// What a prebuilt binary asks of the system that loads it, read from the file
// itself (no binutils needed): for ELF (linux), the machine, the section names,
// the needed libraries and the symbol versions it requires (.gnu.version_r,
// e.g. GLIBC_2.17 from libc.so.6); for PE (win32), the machine, the section
// names and the DLLs it imports. Used by scripts/prebuild.js (report) and
// test/80.prebuilds.test.js (the glibc floor must not rise).
//
//   node scripts/binary-deps.js FILE...   prints a JSON summary per file
const fs = require('fs');

const SHT_DYNAMIC = 6;
const SHT_GNU_VERNEED = 0x6ffffffe;
const DT_NEEDED = 1;
const ELF_MACHINES = { 0x3e: 'x64', 0xb7: 'arm64', 0x03: 'ia32', 0x28: 'arm' };
const PE_MACHINES = { 0x8664: 'x64', 0xaa64: 'arm64', 0x14c: 'ia32' };

function cstr(buf, off) {
  let end = off;
  while (end < buf.length && buf[end] !== 0) end++;
  return buf.toString('latin1', off, end);
}

function elfInfo(buf) {
  if (buf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error('only 64-bit little-endian ELF is read');
  const machine = buf.readUInt16LE(18);
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const shstrndx = buf.readUInt16LE(0x3e);
  const sec = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    sec.push({
      nameOff: buf.readUInt32LE(o), type: buf.readUInt32LE(o + 4),
      offset: Number(buf.readBigUInt64LE(o + 0x18)), size: Number(buf.readBigUInt64LE(o + 0x20)),
      link: buf.readUInt32LE(o + 0x28), info: buf.readUInt32LE(o + 0x2c),
    });
  }
  for (const s of sec) s.name = cstr(buf, sec[shstrndx].offset + s.nameOff);
  const versions = [];
  const needed = [];
  for (const s of sec) {
    if (s.type === SHT_GNU_VERNEED) {
      const strtab = sec[s.link].offset;
      let off = s.offset;
      for (let n = 0; n < s.info; n++) {
        const cnt = buf.readUInt16LE(off + 2);
        const file = cstr(buf, strtab + buf.readUInt32LE(off + 4));
        let aux = off + buf.readUInt32LE(off + 8);
        for (let k = 0; k < cnt; k++) {
          versions.push({ file, name: cstr(buf, strtab + buf.readUInt32LE(aux + 8)) });
          aux += buf.readUInt32LE(aux + 12);
        }
        const next = buf.readUInt32LE(off + 12);
        if (next === 0) break;
        off += next;
      }
    } else if (s.type === SHT_DYNAMIC) {
      const strtab = sec[s.link].offset;
      for (let o = s.offset; o + 16 <= s.offset + s.size; o += 16) {
        const tag = Number(buf.readBigInt64LE(o));
        if (tag === 0) break;
        if (tag === DT_NEEDED) needed.push(cstr(buf, strtab + Number(buf.readBigUInt64LE(o + 8))));
      }
    }
  }
  return { format: 'elf', arch: ELF_MACHINES[machine] || `machine ${machine}`, sections: sec.map((s) => s.name).filter(Boolean), needed, versions };
}

function peInfo(buf) {
  if (buf.readUInt16LE(0) !== 0x5a4d) throw new Error('not a PE file');
  const pe = buf.readUInt32LE(0x3c);
  if (buf.readUInt32LE(pe) !== 0x00004550) throw new Error('no PE signature');
  const machine = buf.readUInt16LE(pe + 4);
  const nsec = buf.readUInt16LE(pe + 6);
  const optSize = buf.readUInt16LE(pe + 20);
  const opt = pe + 24;
  if (buf.readUInt16LE(opt) !== 0x20b) throw new Error('only PE32+ is read');
  const importRva = buf.readUInt32LE(opt + 112 + 8); // data directory 1 (imports) of PE32+
  const sections = [];
  for (let i = 0; i < nsec; i++) {
    const o = opt + optSize + i * 40;
    sections.push({
      name: buf.toString('latin1', o, o + 8).replace(/\0+$/, ''),
      vsize: buf.readUInt32LE(o + 8), va: buf.readUInt32LE(o + 12), raw: buf.readUInt32LE(o + 20),
    });
  }
  const at = (rva) => {
    const s = sections.find((x) => rva >= x.va && rva < x.va + Math.max(x.vsize, 1));
    if (!s) throw new Error(`RVA ${rva} outside every section`);
    return rva - s.va + s.raw;
  };
  const imports = [];
  if (importRva) {
    for (let d = at(importRva); ; d += 20) {
      const nameRva = buf.readUInt32LE(d + 12);
      if (nameRva === 0) break;
      imports.push(cstr(buf, at(nameRva)));
    }
  }
  return { format: 'pe', arch: PE_MACHINES[machine] || `machine ${machine}`, sections: sections.map((s) => s.name), imports };
}

function binaryInfo(file) {
  const buf = fs.readFileSync(file);
  return buf.readUInt16LE(0) === 0x5a4d ? peInfo(buf) : elfInfo(buf);
}

/** The highest version of `prefix` (e.g. 'GLIBC_') a versions list asks for, as [major, minor], or null. */
function maxVersion(versions, prefix) {
  let best = null;
  for (const v of versions) {
    if (!v.name.startsWith(prefix)) continue;
    const m = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(v.name.slice(prefix.length));
    if (!m) continue;
    const n = [Number(m[1]), Number(m[2]), Number(m[3] || 0)];
    if (!best || n[0] > best[0] || (n[0] === best[0] && (n[1] > best[1] || (n[1] === best[1] && n[2] > best[2])))) best = n;
  }
  return best;
}

module.exports = { elfInfo, peInfo, binaryInfo, maxVersion };

if (require.main === module) {
  for (const f of process.argv.slice(2)) {
    const info = binaryInfo(f);
    const glibc = info.format === 'elf' ? maxVersion(info.versions, 'GLIBC_') : null;
    console.log(JSON.stringify({
      file: f, arch: info.arch, glibc: glibc && glibc.join('.'),
      versions: info.versions && [...new Set(info.versions.map((v) => v.name))].sort(),
      needed: info.needed, imports: info.imports,
      cuda: info.sections.includes('.nv_fatbin'),
    }));
  }
}
