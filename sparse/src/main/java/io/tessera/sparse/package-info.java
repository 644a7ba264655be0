/** Sparse masks, masked optimizer updates, model patches. (Not built yet: see the open issues.) */
package io.tessera.sparse;
