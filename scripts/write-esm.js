// Writes the ESM entry points (dist/*.mjs) as thin wrappers of the CommonJS
// build, so `import` and `require` share one module instance (and one addon).
'use strict';
const fs = require('fs');
const path = require('path');

const dist = path.join(__dirname, '..', 'dist');
for (const name of ['index', 'tfjs']) {
  const cjs = path.join(dist, `${name}.js`);
  if (!fs.existsSync(cjs)) continue;
  let keys;
  try {
    keys = Object.keys(require(cjs)).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k) && k !== 'default');
  } catch (e) {
    // The addon may not be built yet (e.g. compiling TypeScript first): fall
    // back to the names TypeScript declared as exports.
    const src = fs.readFileSync(cjs, 'utf8');
    keys = [...new Set([...src.matchAll(/exports\.([A-Za-z_$][\w$]*)\s*=/g)].map((m) => m[1]))]
      .filter((k) => k !== '__esModule' && k !== 'default');
  }
  const lines = [
    `import m from './${name}.js';`,
    ...keys.map((k) => `export const ${k} = m.${k};`),
    'export default m;',
    '',
  ];
  fs.writeFileSync(path.join(dist, `${name}.mjs`), lines.join('\n'));
  fs.writeFileSync(path.join(dist, `${name}.d.mts`), `export * from './${name}.js';\nimport m from './${name}.js';\nexport default m;\n`);
}
