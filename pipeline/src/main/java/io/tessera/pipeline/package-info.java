/** Quantized layers, transformer inference, peers. (Not built yet: see the open issues.) */
package io.tessera.pipeline;
