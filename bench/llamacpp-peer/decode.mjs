// Times llama.cpp (node-llama-cpp's prebuilt binaries, which pick their CPU variant at run time, AVX-512 ones
// included) decoding one token at position context - 1, as Tessera's ModelDecodeBenchmark does: prefill
// context - 1 ids, then evaluate one id, its logits and the greedy next token, and erase it again, WARMUP seconds of
// such steps, then ITERATIONS iterations of one second each (JMH's shape); prints one JSON line: each iteration's mean
// step, the best of them, the median step and the CPU features llama.cpp reports.
//   UV_THREADPOOL_SIZE=1 node decode.mjs MODEL.gguf CONTEXT THREADS WARMUP ITERATIONS
// UV_THREADPOOL_SIZE=1: with node's default pool of 4 threads beside llama.cpp's 2, steps on 2 cores were bimodal
// (median 24 ms against 9 ms, GPT-2 F32).
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, contextArg, threadsArg, warmupArg, iterationsArg] = process.argv.slice(2);
const context = Number(contextArg);
const threads = Number(threadsArg);
const warmupMs = Number(warmupArg) * 1000;
const iterations = Number(iterationsArg);
const llama = await getLlama({gpu: false, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.warn});
const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
const ctx = await model.createContext({contextSize: context + 16, batchSize: 512, threads, sequences: 1});
const seq = ctx.getSequence();
const ids = Array.from({length: context - 1}, (_, i) => (i * 7919 + 13) % 1000 + 10);
await seq.evaluateWithoutGeneratingNewTokens(ids);
// The step must ask for the next token: without an output llama.cpp skips the LM head (and the last block's rows
// that feed only it), which made its steps 1.3-1.5x faster than a decoding step can be.
const greedyNext = {generateNext: {token: true, options: {temperature: 0}}};
const step = async () => {
    const s = performance.now();
    const [out] = await seq.controlledEvaluate([[42, greedyNext]]);
    const ms = performance.now() - s;
    if (typeof out?.next?.token !== "number") throw new Error(`no next token from the step: ${JSON.stringify(out)}`);
    await seq.eraseContextTokenRanges([{start: context - 1, end: context}]);
    return ms;
};
/** Steps for ms milliseconds; their times. */
const stepsFor = async (ms) => {
    const times = [];
    const until = performance.now() + ms;
    while (performance.now() < until) times.push(await step());
    return times;
};
await stepsFor(warmupMs);
const steps = [];
const iterationMeans = [];
for (let i = 0; i < iterations; i++) {
    const times = await stepsFor(1000);
    iterationMeans.push(times.reduce((a, b) => a + b, 0) / times.length);
    steps.push(...times);
}
steps.sort((a, b) => a - b);
console.log(JSON.stringify({model: modelPath, context, threads, steps: steps.length, iterationMeansMs: iterationMeans,
    bestMeanMs: Math.min(...iterationMeans), medianMs: steps[steps.length >> 1], systemInfo: llama.systemInfo}));
await ctx.dispose();
await model.dispose();
