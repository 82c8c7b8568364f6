// Charts as self-contained SVG. renderDemoSvg: the accuracy curves of `arelu demo`
// (mean, band and error bars of ± 1 sd over seeds). renderSvg: the throughput-against-size chart of a bench run:
// one panel per operation (forward, backward), log2 size axis, log GB/s
// axis (the rows span four decades: tfjs to memory copy), one line per row
// kind, copy baselines dashed, one shared legend.
'use strict';

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b',
  '#e377c2', '#bcbd22', '#7f7f7f', '#393b79', '#637939', '#843c39', '#7b4173'];

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmtSize(n) {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)}M`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)}K`;
  return String(n);
}

/** Decade bounds of a log axis covering [min, max]. */
function logAxis(min, max) {
  if (!(max > 0)) max = 1;
  if (!(min > 0) || min > max) min = max / 10;
  const lo = Math.floor(Math.log10(min)), hi = Math.ceil(Math.log10(max));
  return { lo, hi: hi > lo ? hi : lo + 1 };
}

function fmtDecade(e) {
  return e >= 0 ? String(10 ** e) : (10 ** e).toFixed(-e);
}

/**
 * @param {object} run the bench result (rows, measurements)
 * @param {{title?: string}} opts
 * @returns {string} SVG document
 */
function renderSvg(run, opts = {}) {
  const ops = ['forward', 'backward'];
  const panelW = 520, panelH = 360, padL = 70, padR = 16, padT = 78, padB = 56, gap = 80;
  const legendW = 300;
  const width = padL + 2 * panelW + gap + padR + legendW;
  const rowsShown = run.rows.filter((r) => run.measurements.some((m) => m.row === r.id));
  const legendH = 24 + rowsShown.length * 20;
  const height = Math.max(padT + panelH + padB + 24, padT + legendH + 20);
  const colour = new Map(rowsShown.map((r, i) => [r.id, PALETTE[i % PALETTE.length]]));

  const sizes = [...new Set(run.measurements.map((m) => m.n))].sort((a, b) => a - b);
  const lx0 = Math.log2(sizes[0] || 1), lx1 = Math.log2(sizes[sizes.length - 1] || 2);
  const span = lx1 - lx0 || 1;
  const finite = run.measurements.map((m) => m.gbps).filter((g) => Number.isFinite(g) && g > 0);
  const { lo, hi } = logAxis(Math.min(...finite), Math.max(...finite));

  const out = [];
  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${padL}" y="22" font-size="16" font-weight="bold">${esc(opts.title || 'arelu bench: throughput against array size')}</text>`);
  if (opts.subtitle) out.push(`<text x="${padL}" y="42" font-size="12" fill="#444">${esc(opts.subtitle)}</text>`);

  ops.forEach((op, pi) => {
    const x0 = padL + pi * (panelW + gap), y0 = padT;
    const X = (n) => x0 + ((Math.log2(n) - lx0) / span) * panelW;
    const Y = (g) => y0 + panelH - ((Math.log10(g) - lo) / (hi - lo)) * panelH;
    out.push(`<g class="panel" data-op="${op}">`);
    out.push(`<rect x="${x0}" y="${y0}" width="${panelW}" height="${panelH}" fill="#fafafa" stroke="#999"/>`);
    // Grid and axis labels.
    for (let e = lo; e <= hi; e++) {
      const y = Y(10 ** e).toFixed(1);
      out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + panelW}" y2="${y}" stroke="#d0d0d0"/>`);
      out.push(`<text x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#333">${fmtDecade(e)}</text>`);
      if (e < hi)
        for (const k of [2, 5]) {
          const ym = Y(k * 10 ** e).toFixed(1);
          out.push(`<line x1="${x0}" y1="${ym}" x2="${x0 + panelW}" y2="${ym}" stroke="#eeeeee"/>`);
        }
    }
    for (const n of sizes) {
      const x = X(n).toFixed(1);
      out.push(`<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + panelH}" stroke="#ececec"/>`);
      out.push(`<text x="${x}" y="${y0 + panelH + 16}" text-anchor="middle" fill="#333">${fmtSize(n)}</text>`);
    }
    out.push(`<text x="${x0 + panelW / 2}" y="${y0 + panelH + 36}" text-anchor="middle">elements (float32), log scale</text>`);
    out.push(`<text x="${x0 - 52}" y="${y0 + panelH / 2}" text-anchor="middle" transform="rotate(-90 ${x0 - 52} ${y0 + panelH / 2})">GB/s (bytes moved / time), log scale</text>`);
    out.push(`<text x="${x0 + panelW / 2}" y="${y0 - 8}" text-anchor="middle" font-weight="bold">${op} (${op === 'forward' ? '8' : '12'} bytes/element; copy: 8 bytes/element)</text>`);
    // One line per row: copy rows appear in both panels.
    for (const r of rowsShown) {
      const ms = run.measurements.filter((m) => m.row === r.id && (m.op === op || m.op === 'copy') && Number.isFinite(m.gbps) && m.gbps > 0)
        .sort((a, b) => a.n - b.n);
      if (!ms.length) continue;
      const pts = ms.map((m) => `${X(m.n).toFixed(1)},${Y(m.gbps).toFixed(1)}`);
      const dash = r.kind === 'copy' ? ' stroke-dasharray="6 4"' : '';
      out.push(`<polyline fill="none" stroke="${colour.get(r.id)}" stroke-width="2"${dash} points="${pts.join(' ')}"><title>${esc(r.label)}</title></polyline>`);
      for (const m of ms)
        out.push(`<circle cx="${X(m.n).toFixed(1)}" cy="${Y(m.gbps).toFixed(1)}" r="2.5" fill="${colour.get(r.id)}"/>`);
    }
    out.push(`</g>`);
  });

  // Legend.
  const lgx = padL + 2 * panelW + gap + padR + 10, lgy = padT;
  out.push(`<g class="legend">`);
  out.push(`<rect x="${lgx - 8}" y="${lgy - 4}" width="${legendW - 10}" height="${legendH}" fill="#ffffff" stroke="#bbb"/>`);
  out.push(`<text x="${lgx}" y="${lgy + 12}" font-weight="bold">rows</text>`);
  rowsShown.forEach((r, i) => {
    const y = lgy + 30 + i * 20;
    const dash = r.kind === 'copy' ? ' stroke-dasharray="6 4"' : '';
    out.push(`<path d="M${lgx} ${y - 4} h26" stroke="${colour.get(r.id)}" stroke-width="3"${dash}/>`);
    out.push(`<text x="${lgx + 34}" y="${y}" dominant-baseline="middle">${esc(r.label)}</text>`);
  });
  out.push(`</g>`);
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}

/**
 * Accuracy curves of an `arelu demo` run: test accuracy against epoch, one
 * curve (the mean over seeds) per activation and learning rate, with a band and
 * error bars of ± one standard deviation over the seeds where there are several.
 *
 * @param {object} out the demo's JSON ({ results: [{ act, lr, seeds, acc[], accStd[], accInit, accInitStd }], environment })
 * @returns {string} SVG document
 */
function renderDemoSvg(out) {
  const W = 640, H = 400, L = 60, R = 170, T = 30, B = 50;
  const E = out.results[0].acc.length;
  const x = (e) => L + (e / Math.max(1, E)) * (W - L - R);
  const y = (a) => T + (1 - Math.min(1, Math.max(0, a))) * (H - T - B);
  const colors = { AReLU: '#d62728', ReLU: '#1f77b4', 'AReLU-composite': '#ff7f0e' };
  const lrs = [...new Set(out.results.map((r) => r.lr))];
  const dashes = ['', '6 4', '2 3', '10 3 2 3'];
  const seeds = out.results[0].seeds;
  const backend = out.environment && out.environment.backend ? `, ${out.environment.backend} backend` : '';
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="18" font-size="14">${esc(`ConvMNIST test accuracy, SGD momentum 0.9 (${seeds > 1 ? `mean ± sd of ${seeds} seeds` : 'one seed'}${backend})`)}</text>`,
  ];
  for (let t = 0; t <= 10; t += 2) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(t / 10)}" y2="${y(t / 10)}" stroke="#ddd"/>`);
    parts.push(`<text x="${L - 8}" y="${y(t / 10) + 4}" text-anchor="end">${t * 10}%</text>`);
  }
  for (let e = 0; e <= E; e++) parts.push(`<text x="${x(e)}" y="${H - B + 18}" text-anchor="middle">${e}</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">epoch</text>`);
  parts.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="black"/><line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="black"/>`);
  out.results.forEach((r, i) => {
    const color = colors[r.act] || '#555';
    const dash = dashes[lrs.indexOf(r.lr) % dashes.length];
    const means = [r.accInit, ...r.acc];
    const sds = [r.accInitStd || 0, ...(r.accStd || r.acc.map(() => 0))];
    if (r.seeds > 1) {
      // the band: mean + sd left to right, then mean - sd back
      const upper = means.map((m, e) => `${x(e).toFixed(1)},${y(m + sds[e]).toFixed(1)}`);
      const lower = means.map((m, e) => `${x(e).toFixed(1)},${y(m - sds[e]).toFixed(1)}`).reverse();
      parts.push(`<polygon class="band" points="${[...upper, ...lower].join(' ')}" fill="${color}" fill-opacity="0.15" stroke="none"/>`);
      means.forEach((m, e) => {
        const cx = x(e).toFixed(1), y0 = y(m - sds[e]).toFixed(1), y1 = y(m + sds[e]).toFixed(1);
        parts.push(`<path class="errbar" d="M${cx} ${y0} V${y1} M${(x(e) - 4).toFixed(1)} ${y0} h8 M${(x(e) - 4).toFixed(1)} ${y1} h8" stroke="${color}" stroke-width="1"/>`);
      });
    }
    const pts = means.map((a, e) => `${x(e).toFixed(1)},${y(a).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    const ly = T + 10 + i * 18;
    parts.push(`<line x1="${W - R + 10}" x2="${W - R + 40}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    parts.push(`<text x="${W - R + 46}" y="${ly + 4}">${esc(`${r.act}, lr ${r.lr}`)}</text>`);
  });
  if (seeds > 1) parts.push(`<text x="${W - R + 10}" y="${T + 14 + out.results.length * 18}" fill="#555">bands, bars: ± 1 sd</text>`);
  parts.push('</svg>', '');
  return parts.join('\n');
}

module.exports = { renderSvg, renderDemoSvg, fmtSize };
