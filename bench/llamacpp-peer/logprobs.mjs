// The next-token log-probabilities llama.cpp gives at every position of a prompt of token ids: what check.py
// compares with Tessera's logits, to show that a GGUF file hf_to_gguf.py wrote computes the model Tessera runs.
//   node logprobs.mjs MODEL.gguf 5,17,3,...     # one JSON line: {"logprobs": [{token: log p} per position]}
// Probabilities at temperature 1 with every sampling filter off (top-k, top-p, min-p), i.e. softmax(logits).
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, idsArg] = process.argv.slice(2);
const ids = idsArg.split(",").map(Number);
const llama = await getLlama({gpu: false, build: "never", maxThreads: 1, logLevel: LlamaLogLevel.warn});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const ctx = await model.createContext({contextSize: ids.length + 16, threads: 1, sequences: 1});
const next = {probabilities: true, options: {temperature: 1, topK: 0, topP: 1, minP: 0}};
const outputs = await ctx.getSequence().controlledEvaluate(ids.map((id) => [id, {generateNext: next}]));
const logprobs = outputs.map((out) => Object.fromEntries([...out.next.probabilities].map(([t, p]) => [t, Math.log(p)])));
console.log(JSON.stringify({logprobs}));
await ctx.dispose();
await model.dispose();
