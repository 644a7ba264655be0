/**
 * Tokenizers read from Hugging Face {@code tokenizer.json} files: byte-level BPE ({@link ByteLevelBpeTokenizer}: GPT-2's,
 * also from the classic {@code encoder.json} + {@code vocab.bpe} pair, and the Split-regex kind of Qwen2 and LLaMA-3) and
 * LLaMA's (1 and 2) SentencePiece-style BPE with byte fallback ({@link SentencePieceBpeTokenizer}). {@link
 * TokenizerJson#load} picks the one a file describes.
 */
package io.tessera.pipeline.text;
