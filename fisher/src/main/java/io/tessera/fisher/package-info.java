/** Diagonal Fisher accumulation, FISH masks, model merging. (Not built yet: see the open issues.) */
package io.tessera.fisher;
