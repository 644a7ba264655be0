// Times llama.cpp (node-llama-cpp's prebuilt binaries, which pick their CPU variant at run time, AVX-512 ones
// included) decoding one token at position context - 1, as Tessera's ModelDecodeBenchmark does: prefill
// context - 1 ids, then for 5 s evaluate one id and erase it again; prints one JSON line (median, p10, best).
//   UV_THREADPOOL_SIZE=1 node decode.mjs MODEL.gguf CONTEXT [THREADS]
// UV_THREADPOOL_SIZE=1: with node's default pool of 4 threads beside llama.cpp's 2, steps on 2 cores were bimodal
// (median 24 ms against 9 ms, GPT-2 F32).
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, contextArg, threadsArg] = process.argv.slice(2);
const context = Number(contextArg);
const threads = Number(threadsArg ?? 2);
const llama = await getLlama({gpu: false, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.warn});
const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
const ctx = await model.createContext({contextSize: context + 16, batchSize: 512, threads, sequences: 1});
const seq = ctx.getSequence();
const ids = Array.from({length: context - 1}, (_, i) => (i * 7919 + 13) % 1000 + 10);
let t0 = performance.now();
await seq.evaluateWithoutGeneratingNewTokens(ids);
const prefillMs = performance.now() - t0;
const step = async () => {
    const s = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens([42]);
    const ms = performance.now() - s;
    await seq.eraseContextTokenRanges([{start: context - 1, end: context}]);
    return ms;
};
for (let i = 0; i < 5; i++) await step(); // warm up
const times = [];
const until = performance.now() + 5000;
while (performance.now() < until) times.push(await step());
times.sort((a, b) => a - b);
console.log(JSON.stringify({model: modelPath, context, threads, steps: times.length, prefillMs,
    medianMs: times[times.length >> 1], bestMs: times[0], p10: times[Math.floor(times.length * 0.1)], p25: times[Math.floor(times.length * 0.25)], p75: times[Math.floor(times.length * 0.75)]}));
await ctx.dispose();
await model.dispose();
