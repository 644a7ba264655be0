/** Tensors, backends, autograd, nn layers, optimizers, safetensors I/O. (Not built yet: see the open issues.) */
package io.tessera.engine;
