/**
 * Sparse fine-tuning and model patches.
 * <ul>
 *   <li>{@link io.tessera.sparse.SparseMask}: a fixed subset of a model's entries (per tensor, sorted indices
 *       or a bitmap), with set operations and a safetensors file format;
 *   <li>{@link io.tessera.sparse.MaskedAdamW} and {@link io.tessera.sparse.MaskedSgd}: optimizers that update
 *       only the masked entries, in an index-list or a dense masked form ({@link io.tessera.sparse.UpdateForm});
 *   <li>{@link io.tessera.sparse.Patch}: the indices and new values of a change to a model, tied to its base
 *       by a {@link io.tessera.sparse.ModelDigest}: diff, apply, revert, compose, and its file format;
 *   <li>{@link io.tessera.sparse.Vetting}: a maintainer's quick report on a contributed patch.
 * </ul>
 */
package io.tessera.sparse;
