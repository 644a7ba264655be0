/** Quantized execution and the pipeline of peers; today: blockwise int8 activation compression ({@link BlockwiseInt8}). */
package io.tessera.pipeline;
