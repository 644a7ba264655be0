package io.tessera.pipeline.text;

import java.util.stream.IntStream;

/** The special tokens a post-processor puts around one sequence (LLaMA's BOS before it); empty for GPT-2. */
record Template(int[] prefix, int[] suffix) {
    static final Template NONE = new Template(new int[0], new int[0]);

    int[] apply(int[] ids) {
        return IntStream.concat(IntStream.concat(IntStream.of(prefix), IntStream.of(ids)), IntStream.of(suffix)).toArray();
    }
}
