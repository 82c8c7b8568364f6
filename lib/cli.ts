#!/usr/bin/env node
/**
 * The `arelu` command: `arelu info`, `arelu bench [...]`, `arelu demo [...]`.
 */
import * as path from 'path';
import { spawnSync } from 'child_process';

const USAGE = `Usage: arelu <command> [options]

Commands:
  info           what runs here: version, CPU ISA and threads, CUDA status and devices,
                 and with tfjs-node installed, the path of AReLU's tfjs kernels
  bench [...]    throughput of forward/backward against memory copy and alternatives
                 (arelu bench --help for options)
  demo [...]     MNIST training demo: AReLU vs ReLU at small learning rates
                 (arelu demo --help for options)`;

function printInfo(json: boolean): number {
  // Loaded lazily so that `arelu --help` works even when the addon does not load.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const arelu = require('./index') as typeof import('./index');
  const i = arelu.info();
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const tfjsNode = (require('./tfjs-tfop') as typeof import('./tfjs-tfop')).tfjsNodeInfo();
  if (json) {
    console.log(JSON.stringify(tfjsNode ? { ...i, tfjsNode } : i, null, 2));
    return 0;
  }
  const lines = [
    `arelu ${i.version}`,
    `  CPU ISA:        ${i.isa} (supported: ${i.isasSupported.join(', ')}; force with ARELU_CPU_ISA)`,
    ...(i.cpuKernels !== i.isa ? [`  CPU kernels:    ${i.cpuKernels} (ARELU_AVX512_BACKWARD=256|512 forces a width)`] : []),
    `  CPU threads:    ${i.threads} (ARELU_NUM_THREADS or setNumThreads; arrays under ${i.serialBelow.forward} (forward) / ${i.serialBelow.backward} (backward) elements stay on the calling thread,`,
    `                  under ${i.idleSerialBelow.forward} / ${i.idleSerialBelow.backward} too unless the pool is awake: its threads poll ${i.spinUs} us after a call, ARELU_SPIN_US)`,
    `  CUDA compiled:  ${i.cuda.compiled ? 'yes' : 'no'}`,
    `  CUDA available: ${i.cuda.available ? 'yes' : `no (${i.cuda.reason})`}`,
  ];
  if (i.cuda.driverVersion !== undefined)
    lines.push(`  CUDA driver:    ${fmtCudaVersion(i.cuda.driverVersion)}${i.cuda.driverRequired ? ` (this build needs ${i.cuda.driverRequired})` : ''}`);
  if (i.cuda.runtimeVersion !== undefined) lines.push(`  CUDA runtime:   ${fmtCudaVersion(i.cuda.runtimeVersion)}`);
  for (const d of i.cuda.devices)
    lines.push(`  GPU ${d.index}:          ${d.name}, sm_${d.computeCapability.replace('.', '')}, ${d.multiProcessorCount} SMs, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB`);
  if (tfjsNode) {
    lines.push(`  tfjs-node:      ${tfjsNode.version}${tfjsNode.error ? ` (does not load: ${tfjsNode.error})` : ''}`);
    for (const [name, p] of Object.entries(tfjsNode.backends ?? {}))
      lines.push(`  tfjs ${(name + ':').padEnd(11)} ${p.path} path (${p.reason})`);
  }
  console.log(lines.join('\n'));
  return 0;
}

function fmtCudaVersion(v: number): string {
  return v > 0 ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : 'none';
}

function runScript(rel: string, args: string[]): number {
  const script = path.join(__dirname, '..', rel);
  const r = spawnSync(process.execPath, [script, ...args], { stdio: 'inherit' });
  return r.status ?? 1;
}

function main(argv: string[]): number {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'info':
      return printInfo(rest.includes('--json'));
    case 'bench':
      return runScript('bench/bench.js', rest);
    case 'demo':
      return runScript('bench/demo.js', rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.log(USAGE);
      return cmd === undefined ? 1 : 0;
    default:
      console.error(`arelu: unknown command '${cmd}'\n\n${USAGE}`);
      return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
