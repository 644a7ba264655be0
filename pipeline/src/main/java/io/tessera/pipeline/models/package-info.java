/**
 * Decoder-only transformers from Hugging Face checkpoints: {@link io.tessera.pipeline.models.HfConfig} reads
 * {@code config.json} (GPT-2, LLaMA, Mistral, Qwen2), {@link io.tessera.pipeline.models.HfCheckpoint} loads and
 * saves model directories (single-file or sharded safetensors, memory-mapped), {@link io.tessera.pipeline.models.CausalLm}
 * is the model built from the engine's nn modules (so autograd, {@code stateDict} and {@code Module.transform} work on
 * it), with a KV-cached incremental forward ({@link io.tessera.pipeline.models.DecoderCache}) and
 * {@link io.tessera.pipeline.models.Generator} decoding. The float64 PyTorch reference they are tested against is
 * {@code pipeline/src/test/python/hf_reference.py}.
 */
package io.tessera.pipeline.models;
