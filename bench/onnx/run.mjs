// ONNX Runtime baseline for bench_towers: runs the towers exported by
// `baseline_pytorch.py --export-onnx DIR` (same weights as clip.c's run),
// with the inputs and the timing rules of the other two benchmarks.
//
//   node bench/onnx/run.mjs --dir /tmp/clip-bench/onnx --name ViT-B-32 [--batch 1,8,32] [--threads 1,2]
//
// Wall time from performance.now(), CPU time from process.cpuUsage() (user +
// system, all threads). Spinning is off by default (session.intra_op.
// allow_spinning = 0), like OMP_WAIT_POLICY=PASSIVE for PyTorch and the
// sleeping pool of clip.c; --spin turns ONNX Runtime's default back on.
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import ort from 'onnxruntime-node';

// Same 32 caption lengths (tokens incl. start/end) as bench_towers.c.
const CAPTION_LENGTHS = [11, 14, 9, 16, 12, 7, 18, 13, 10, 15, 8, 12, 20, 11, 14, 9,
  13, 17, 10, 12, 5, 15, 11, 19, 14, 9, 13, 16, 12, 10, 6, 14];
const SOT = 49406n, EOT = 49407n;

function parseArgs(argv) {
  const o = { dir: '/tmp/clip-bench/onnx', name: 'ViT-B-32', batch: '1,8,32', threads: '1,2', iters: 5, warmup: 1,
    towers: 'image,text77,textshort', resolution: 224, context: 77, spin: false, tsv: false };
  for (let i = 2; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (key === 'spin' || key === 'tsv') o[key] = true;
    else if (key in o) o[key] = typeof o[key] === 'number' ? Number(argv[++i]) : argv[++i];
    else throw new Error(`unknown option ${argv[i]}`);
  }
  return o;
}

let seed = 0x2545F491n;
function randomId() { // xorshift, ids 1..49000
  seed ^= (seed << 13n) & 0xFFFFFFFFn; seed ^= seed >> 17n; seed ^= (seed << 5n) & 0xFFFFFFFFn;
  return 1n + (seed % 49000n);
}

function tokens(batch, context, kind) {
  const data = new BigInt64Array(batch * context);
  for (let b = 0; b < batch; b++) {
    const n = kind === 'text77' ? context : Math.min(CAPTION_LENGTHS[b % 32], context);
    data[b * context] = SOT;
    for (let l = 1; l < n - 1; l++) data[b * context + l] = randomId();
    data[b * context + n - 1] = EOT;
  }
  return new ort.Tensor('int64', data, [batch, context]);
}

function pixels(batch, R) {
  const data = new Float32Array(batch * 3 * R * R);
  for (let i = 0; i < data.length; i++) data[i] = Math.random() * 4 - 2;
  return new ort.Tensor('float32', data, [batch, 3, R, R]);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(session, feeds, warmup, iters) {
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const wall = [], cpu = [];
  for (let i = 0; i < iters; i++) {
    const c0 = process.cpuUsage(), w0 = performance.now();
    await session.run(feeds);
    const w = (performance.now() - w0) / 1e3, c = process.cpuUsage(c0);
    wall.push(w);
    cpu.push((c.user + c.system) / 1e6);
  }
  return { wmed: median(wall), wmin: Math.min(...wall), wmax: Math.max(...wall), cmed: median(cpu) };
}

async function main() {
  const o = parseArgs(process.argv);
  const batches = o.batch.split(',').map(Number), threadCounts = o.threads.split(',').map(Number);
  const towers = o.towers.split(',');
  console.log(`\n${o.name} (onnxruntime-node ${ort.env.versions.node}, spinning ${o.spin ? 'on' : 'off'})`);
  console.log('  tower     batch thr |   items/s          (min..max) |   wall ms    cpu ms | items/cpu-s');
  const rows = [];
  for (const tower of ['image', 'text77', 'textshort']) {
    if (!towers.includes(tower)) continue;
    const file = path.join(o.dir, `${o.name}-${tower === 'image' ? 'image' : 'text'}.onnx`);
    for (const threads of threadCounts) {
      const t0 = performance.now();
      const session = await ort.InferenceSession.create(file, {
        intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        extra: { session: { intra_op: { allow_spinning: o.spin ? '1' : '0' }, inter_op: { allow_spinning: '0' } } },
      });
      const loadMs = performance.now() - t0;
      for (const batch of batches) {
        const input = tower === 'image' ? { pixels: pixels(batch, o.resolution) }
          : { tokens: tokens(batch, o.context, tower) };
        const s = await measure(session, input, o.warmup, o.iters);
        rows.push({ tower, batch, threads, s, loadMs });
      }
      await session.release();
    }
  }
  const order = { image: 0, text77: 1, textshort: 2 };
  rows.sort((a, b) => order[a.tower] - order[b.tower] || a.batch - b.batch || a.threads - b.threads);
  for (const { tower, batch, threads, s } of rows) {
    const f = (x, w) => x.toFixed(2).padStart(w);
    console.log(`  ${tower.padEnd(9)} ${String(batch).padStart(5)} ${String(threads).padStart(3)} | ` +
      `${f(batch / s.wmed, 9)} (${f(batch / s.wmax, 7)}..${f(batch / s.wmin, 7)}) | ` +
      `${(s.wmed * 1e3).toFixed(1).padStart(9)} ${(s.cmed * 1e3).toFixed(1).padStart(9)} | ${f(batch / s.cmed, 11)}`);
    if (o.tsv) {
      console.log(`RESULT\tonnxruntime\t${o.name}\t${tower}\t${batch}\t${threads}\t${(batch / s.wmed).toFixed(4)}\t` +
        `${(batch / s.cmed).toFixed(4)}`);
    }
  }
  const loads = rows.filter((r) => r.batch === batches[0]).map((r) => `${r.tower}/${r.threads}t ${r.loadMs.toFixed(0)} ms`);
  console.log(`  session creation: ${loads.join(', ')}`);
  console.log(`  peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
}

main().catch((e) => { console.error(e); process.exit(1); });
