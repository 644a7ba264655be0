/**
 * Which parameters matter and how to combine models: diagonal Fisher information ({@link DiagonalFisher}),
 * FISH mask selection by global top-k ({@link TopK}), and Fisher-weighted merging ({@link Merge}).
 */
package io.tessera.fisher;
