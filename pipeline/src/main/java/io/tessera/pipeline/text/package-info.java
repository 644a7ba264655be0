/**
 * Tokenizers read from Hugging Face {@code tokenizer.json} files: GPT-2's byte-level BPE ({@link Gpt2Tokenizer}, also from
 * the classic {@code encoder.json} + {@code vocab.bpe} pair) and LLaMA's SentencePiece-style BPE with byte fallback
 * ({@link SentencePieceBpeTokenizer}). {@link TokenizerJson#load} picks the one a file describes.
 */
package io.tessera.pipeline.text;
