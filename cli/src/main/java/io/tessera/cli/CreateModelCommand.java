package io.tessera.cli;

import io.tessera.engine.DType;
import io.tessera.engine.io.InputFiles;
import io.tessera.pipeline.HalfWeights;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.HfCheckpointWriter;
import io.tessera.pipeline.models.HfConfig;
import io.tessera.pipeline.models.ModelConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * Writes a model of any supported config with seeded random weights, in the layout Hugging Face writes: what tests,
 * benchmarks and demos run on here, where no pretrained weights can be downloaded.
 */
@Command(name = "create-model", description = {"Write a Hugging Face model directory with seeded random weights.",
    "The shape comes from a config.json (GPT-2, LLaMA, Mistral, Qwen2) or a named preset; the same seed gives the same bytes."})
final class CreateModelCommand implements Callable<Integer> {

    @ArgGroup(multiplicity = "1")
    Shape shape;

    static final class Shape {
        @Option(names = "--config", paramLabel = "FILE", description = "A Hugging Face config.json.")
        Path config;

        @Option(names = "--preset", paramLabel = "NAME", description = "gpt2-small (124M) or tinyllama (TinyLlama-1.1B's shape).")
        String preset;
    }

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "DIR", description = "The new model directory (must not"
            + " exist; written whole or not at all).")
    Path out;

    @Option(names = "--dtype", defaultValue = "f32", paramLabel = "T", description = "f32, bf16 or f16: the dtype of the weight matrices"
            + " and embeddings (norms stay f32); default ${DEFAULT-VALUE}.")
    String dtype;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "S", description = "Seed of the weights (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--shards", defaultValue = "1", paramLabel = "N", description = "Number of safetensors files (more than one:"
            + " with model.safetensors.index.json); default ${DEFAULT-VALUE}.")
    int shards;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (!List.of("f32", "bf16", "f16").contains(dtype)) {
            throw new ParameterException(spec.commandLine(), "--dtype must be f32, bf16 or f16, got '" + dtype + "'");
        }
        if (shape.config != null) {
            InputFiles.requireFile(shape.config);
        }
        ModelConfig config;
        try {
            config = shape.config != null ? HfConfig.read(shape.config) : ModelConfig.preset(shape.preset);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        PrintWriter out = spec.commandLine().getOut();
        long start = System.nanoTime();
        try (CausalLm model = CausalLm.create(config, seed)) {
            if (!dtype.equals("f32")) {
                HalfWeights.convert(model, dtype.equals("bf16") ? DType.BF16 : DType.F16, true);
            }
            // a 1.1B model takes tens of seconds to write: on a terminal, say what is being written before it starts
            PrintWriter status = ProgressBar.terminalStderr(spec);
            if (status != null) {
                long bytes = model.stateDict().values().stream().mapToLong(t -> t.numel() * t.dtype().byteSize()).sum();
                status.printf("writing %,d parameters (%s) to %s%n", model.parameterCount(),
                        bytes >= 1e9 ? String.format("%.2f GB", bytes / 1e9) : String.format("%.1f MB", bytes / 1e6), this.out);
                status.flush();
            }
            HfCheckpointWriter.saveNew(model, this.out, shards);
        }
        out.printf("wrote %s: %s, %d layers, hidden %d, vocab %d, %s weights, seed %d, in %.1f s%n", this.out, config.modelType(),
                config.layers(), config.hiddenSize(), config.vocabSize(), dtype, seed, (System.nanoTime() - start) / 1e9);
        out.flush();
        return 0;
    }
}
