#!/usr/bin/env node
// ort_bench.js: ONNX Runtime (CPU, onnxruntime-node) on an ONNX model, the
// same-run reference for siamese_pg's graph engine (speed and correctness).
//
//   (cd bench/ort && npm ci --ignore-scripts)      # once; never run the
//                                                   # install script (CUDA)
//   node bench/ort/ort_bench.js MODEL.onnx [--batch 1] [--threads 1]
//        [--seconds 5] [--runs 5] [--size S]
//     warm-up, then --runs timed runs of --seconds/--runs each (at least one
//     inference per run); prints the best run as "images/s: X" (wall clock),
//     the median, "cpu images/s: X" (per second of the process's CPU time,
//     best run) and the peak RSS of the process.
//   node bench/ort/ort_bench.js MODEL.onnx --dump INPUT.f32 OUTPUT.f32
//     runs INPUT.f32 (raw little-endian float32, NCHW, batch = size / (3*S*S))
//     once and writes the first output as raw little-endian float32.
//
// S (input height = width) comes from --size, else from MODEL.siamese.json
// next to the model (written by tools/onnx/export_torchvision.py), else the
// model's input metadata, else 224.  Graph optimisation level "all",
// sequential execution, inter-op threads 1.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));

function usage(msg) {
  if (msg) console.error('ort_bench.js: ' + msg);
  console.error('usage: node ort_bench.js MODEL.onnx [--batch N] [--threads T] [--seconds S] ' +
    '[--runs R] [--size PX] [--dump INPUT.f32 OUTPUT.f32]');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { batch: 1, threads: 1, seconds: 5, runs: 5, size: 0, dump: null, model: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) usage(`${k} needs a positive number`);
      return v;
    };
    if (k === '--batch') a.batch = num();
    else if (k === '--threads') a.threads = num();
    else if (k === '--seconds') a.seconds = num();
    else if (k === '--runs') a.runs = num();
    else if (k === '--size') a.size = num();
    else if (k === '--dump') {
      if (i + 2 >= argv.length) usage('--dump needs INPUT.f32 OUTPUT.f32');
      a.dump = [argv[++i], argv[++i]];
    } else if (k === '-h' || k === '--help') usage();
    else if (k.startsWith('--')) usage(`unknown option ${k}`);
    else if (!a.model) a.model = k;
    else usage(`unexpected argument ${k}`);
  }
  if (!a.model) usage('no model');
  return a;
}

function inputSize(a, session) {
  if (a.size) return a.size;
  const side = a.model.replace(/\.onnx$/, '') + '.siamese.json';
  if (fs.existsSync(side)) {
    const cfg = JSON.parse(fs.readFileSync(side, 'utf8'));
    if (cfg.input && cfg.input.height) return cfg.input.height;
  }
  const meta = session.inputMetadata && session.inputMetadata[0];
  if (meta && meta.shape && typeof meta.shape[2] === 'number') return meta.shape[2];
  return 224;
}

function peakRssMB() {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(a.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const loadS = Number(process.hrtime.bigint() - t0) / 1e9;
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];
  const S = inputSize(a, session);
  const per = 3 * S * S;

  if (a.dump) {
    const buf = fs.readFileSync(a.dump[0]);
    if (buf.length % (4 * per) !== 0) {
      console.error(`${a.dump[0]}: ${buf.length} bytes is not a multiple of 3x${S}x${S} float32`);
      process.exit(1);
    }
    const n = buf.length / (4 * per);
    const data = new Float32Array(n * per);
    for (let i = 0; i < data.length; i++) data[i] = buf.readFloatLE(4 * i);
    const out = (await session.run({ [inName]: new ort.Tensor('float32', data, [n, 3, S, S]) }))[outName];
    const ob = Buffer.alloc(4 * out.data.length);
    for (let i = 0; i < out.data.length; i++) ob.writeFloatLE(out.data[i], 4 * i);
    fs.writeFileSync(a.dump[1], ob);
    console.log(`ort ${onnxruntimeVersion()} ${path.basename(a.model)} input ${inName} [${n},3,${S},${S}] ` +
      `-> output ${outName} [${out.dims.join(',')}] written to ${a.dump[1]}`);
    return;
  }

  // fixed pseudo-random input (the values do not change the timing)
  const data = new Float32Array(a.batch * per);
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = (s / 4294967296) * 4 - 2;
  }
  const feeds = { [inName]: new ort.Tensor('float32', data, [a.batch, 3, S, S]) };

  // warm-up: at least 2 runs and ~10% of the time budget
  const warmUntil = performance.now() + Math.max(200, a.seconds * 100);
  let warm = 0;
  while (warm < 2 || performance.now() < warmUntil) { await session.run(feeds); warm++; }

  const per_run_ms = (a.seconds * 1000) / a.runs;
  const rates = [];
  const cpuRates = [];
  for (let r = 0; r < a.runs; r++) {
    let iters = 0;
    const c0 = process.cpuUsage();
    const start = performance.now();
    let now = start;
    while (iters === 0 || now - start < per_run_ms) {
      await session.run(feeds);
      iters++;
      now = performance.now();
    }
    const c = process.cpuUsage(c0);
    rates.push((iters * a.batch) / ((now - start) / 1000));
    cpuRates.push((iters * a.batch) / ((c.user + c.system) / 1e6));
  }
  const sorted = [...rates].sort((x, y) => x - y);
  const best = sorted[sorted.length - 1];
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(`ort ${onnxruntimeVersion()} ${path.basename(a.model)} batch=${a.batch} threads=${a.threads} ` +
    `size=${S} load=${loadS.toFixed(2)}s runs=${rates.map((x) => x.toFixed(2)).join(',')}`);
  console.log(`median images/s: ${median.toFixed(2)}`);
  // per second of this process's CPU time (all its threads): with one
  // thread, a figure that other load on the machine disturbs far less
  console.log(`cpu images/s: ${Math.max(...cpuRates).toFixed(2)}`);
  console.log(`peak RSS MB: ${peakRssMB().toFixed(0)}`);
  console.log(`images/s: ${best.toFixed(2)}`);
}

function onnxruntimeVersion() {
  return 'onnxruntime-node ' + (ort.env.versions && ort.env.versions.node || '?');
}

main().catch((e) => { console.error('ort_bench.js: ' + (e && e.stack || e)); process.exit(1); });
