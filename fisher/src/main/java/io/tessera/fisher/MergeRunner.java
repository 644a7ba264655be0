package io.tessera.fisher;

import io.tessera.engine.DType;
import io.tessera.engine.NonFinite;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.io.AtomicFiles;
import io.tessera.engine.io.InputFiles;
import io.tessera.engine.io.Safetensors;
import io.tessera.engine.io.SafetensorsFile;
import io.tessera.engine.io.StoredModel;
import io.tessera.sparse.ModelDigest;
import io.tessera.sparse.Patch;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.ToDoubleFunction;

/**
 * Runs a {@link MergeConfig}: checks the output can be written, every input file exists and every patch
 * was made against the base, memory-maps the inputs (zero-copy, so inputs need not fit in RAM), checks that
 * they are compatible (all mismatches at once) and finite (a NaN or infinity in any input is refused,
 * naming the file and tensor), and merges tensor by tensor straight into the output file (written
 * atomically: it appears only if every tensor merged), so only one merged tensor is in memory at a time.
 * (TIES with {@code scope: model} first counts what each model keeps over the whole model, which holds one
 * model's task-vector magnitudes at a time; a coefficient search keeps each candidate it scores in memory.)
 *
 * <p>Models and the base are read through a {@link StoredModel.Reader}: a stored form other than plain (int8 codes
 * with scales) is decoded to float one tensor at a time, and when every model and the base share one such form and no
 * output dtype is asked for, the result is written back in it (each row quantized afresh); inputs in mixed forms give
 * a float result.
 */
public final class MergeRunner {
    private MergeRunner() {}

    /** Runs a config without a {@code search} block. */
    public static void run(MergeConfig config) throws IOException {
        run(config, null);
    }

    /** {@link #run(MergeConfig, ToDoubleFunction, StoredModel.Reader)} reading every model plainly. */
    public static CoefficientSearch.Table run(MergeConfig config, ToDoubleFunction<Map<String, Tensor>> evaluation) throws IOException {
        return run(config, evaluation, StoredModel.PLAIN);
    }

    /** How far the write of the merged file is: called as each of its {@code total} stored tensors is produced. */
    @FunctionalInterface
    public interface Progress {
        Progress NONE = (done, total) -> {};

        void tensorMerged(long done, long total);
    }

    /** {@link #run(MergeConfig, ToDoubleFunction, StoredModel.Reader, Progress)} with no progress reports. */
    public static CoefficientSearch.Table run(MergeConfig config, ToDoubleFunction<Map<String, Tensor>> evaluation,
                                              StoredModel.Reader reader) throws IOException {
        return run(config, evaluation, reader, Progress.NONE);
    }

    /**
     * Runs a config; with a {@code search} block, merges with every candidate weight vector, scores each
     * with {@code evaluation} (higher is better), writes the best, and returns the table (else null). Models and the
     * base are read through {@code reader}; {@code progress} hears of each tensor of the file written.
     */
    public static CoefficientSearch.Table run(MergeConfig config, ToDoubleFunction<Map<String, Tensor>> evaluation,
                                              StoredModel.Reader reader, Progress progress) throws IOException {
        if (config.search() != null && evaluation == null) {
            throw new IllegalArgumentException("merge: the config has a 'search' block, which needs an evaluation on held-out data");
        }
        AtomicFiles.requireWritable(config.out());
        List<Path> inputs = new ArrayList<>();
        inputs.add(config.base());
        for (MergeConfig.ModelEntry entry : config.models()) {
            inputs.addAll(Arrays.asList(entry.path(), entry.patch(), entry.fisher(), entry.gram()));
        }
        List<String> unreadable = inputs.stream().filter(Objects::nonNull).map(InputFiles::problem).filter(Objects::nonNull).toList();
        if (!unreadable.isEmpty()) {
            throw new IllegalArgumentException("merge: " + String.join("; ", unreadable));
        }
        // the files are opened before the scope, so they stay mapped until the finally block, not the scope, closes them
        List<SafetensorsFile> open = new ArrayList<>();
        List<StoredModel> stored = new ArrayList<>(); // the base (if any) and the model files, in that order
        try {
            Map<String, Tensor> base = config.base() == null ? null : read(config.base(), open, reader, stored);
            boolean anyPatch = config.models().stream().anyMatch(e -> e.patch() != null);
            if (anyPatch && !stored.get(0).form().isEmpty()) {
                throw new IllegalArgumentException("merge: patches cannot be merged over the base " + config.base() + ", stored as "
                        + stored.get(0).form() + "; apply each first (tessera apply) and merge the patched models");
            }
            Patch[] patches = loadPatches(config);
            List<Map<String, Tensor>> models = new ArrayList<>();
            List<Map<String, Tensor>> fishers = new ArrayList<>();
            List<Map<String, Tensor>> grams = new ArrayList<>();
            double[] weights = new double[config.models().size()];
            for (int i = 0; i < weights.length; i++) {
                MergeConfig.ModelEntry entry = config.models().get(i);
                models.add(entry.path() == null ? null : read(entry.path(), open, reader, stored)); // patches: in the scope below
                if (entry.fisher() != null) {
                    fishers.add(read(entry.fisher(), open));
                }
                if (entry.gram() != null) {
                    grams.add(read(entry.gram(), open));
                }
                weights[i] = entry.weight();
            }
            MergeConfig.Parameters p = config.parameters();
            StoredModel form = outputForm(config, stored);
            try (TensorScope scope = TensorScope.open()) {
                for (int i = 0; i < patches.length; i++) {
                    if (patches[i] != null) {
                        models.set(i, patches[i].apply(base));
                    }
                }
                requireFinite(config, base, models, fishers, grams);
                carriedFishers(config, patches, base, fishers); // after the check: a patch's Fisher was checked when loaded
                Function<double[], Merge.PerTensor> plan = w -> switch (config.method()) {
                    case FISHER -> Merge.fisherWeightedPerTensor(models, fishers, w, p.fisherFloor(), p.normalizeFisher());
                    case AVERAGE -> Merge.averagePerTensor(models, w);
                    case TASK_ARITHMETIC -> Merge.taskArithmeticPerTensor(base, models, w);
                    case TIES -> Merge.tiesPerTensor(base, models, p.density(), p.lambda(), p.scope());
                    case DARE -> Merge.darePerTensor(base, models, p.drop(), w, p.seed());
                    case REGMEAN -> {
                        Grams.check(models, grams, config.models().stream().map(e -> e.gram().toString()).toList());
                        yield Merge.regMeanPerTensor(models, grams, p.alpha());
                    }
                };
                Map<String, Tensor> reference = base != null ? base : models.get(0); // names, dtypes and shapes of the result
                CoefficientSearch.Table table = config.search() == null ? null : CoefficientSearch.search(
                        config.search().candidates(models.size()), w -> Merge.materialize(reference.keySet(), plan.apply(w)), evaluation);
                double[] chosen = table == null ? weights : table.best().lambdas();
                Merge.PerTensor merged = plan.apply(chosen);
                // the architecture carries over from the inputs (the base or the first model); their scores and histories do not
                Map<String, String> metadata = new LinkedHashMap<>();
                String architecture = open.get(0).metadata().get("architecture");
                if (architecture != null) {
                    metadata.put("architecture", architecture);
                }
                metadata.put("merge_method", config.method().name().toLowerCase(Locale.ROOT));
                metadata.put("merged_models", String.valueOf(models.size()));
                if (table != null) {
                    metadata.put("merge_weights", Arrays.toString(chosen));
                }
                // one merged tensor in memory at a time: results larger than RAM stream to the file
                List<Map<String, Tensor>> dtypeSources = new ArrayList<>(models); // whose dtypes the output keeps by default
                if (base != null) {
                    dtypeSources.add(base);
                }
                Map<String, Safetensors.Pending> pending = new LinkedHashMap<>();
                for (String name : reference.keySet()) {
                    DType dtype = config.dtype() != null ? config.dtype() : commonDtype(dtypeSources, name);
                    Supplier<Tensor> value = () -> merged.merge(name);
                    if (form != null) {
                        pending.putAll(form.store(name, dtype, value, StoredModel.Rows.FRESH));
                    } else {
                        pending.put(name, new Safetensors.Pending(dtype, reference.get(name).shape(), () -> {
                            Tensor t = value.get();
                            return t.dtype() == dtype ? t : t.to(dtype);
                        }));
                    }
                }
                if (form != null) {
                    metadata.putAll(form.formMetadata());
                }
                Safetensors.writeStreaming(config.out(), reporting(pending, progress), metadata);
                return table;
            }
        } finally {
            stored.forEach(StoredModel::close);
            for (SafetensorsFile file : open) {
                file.close();
            }
        }
    }

    /**
     * The stored model whose form the result takes: the base's (or the first model's) when every model file and the base
     * share one form other than plain and no dtype is asked for, else null (plain).
     * @throws IllegalArgumentException for inputs in two different non-plain forms
     */
    private static StoredModel outputForm(MergeConfig config, List<StoredModel> stored) {
        List<String> forms = stored.stream().map(StoredModel::form).filter(f -> !f.isEmpty()).distinct().toList();
        if (forms.size() > 1) {
            throw new IllegalArgumentException("merge: the inputs are stored in different forms (" + String.join("; ", forms)
                    + "); store them alike, or convert them to float first");
        }
        boolean shared = !forms.isEmpty() && config.dtype() == null && stored.stream().noneMatch(m -> m.form().isEmpty());
        return shared ? stored.get(0) : null;
    }

    /**
     * For a Fisher merge, inserts at each patch entry without a Fisher file the dense Fisher its patch carries,
     * in model order. @throws IllegalArgumentException naming a patch that carries none
     */
    private static void carriedFishers(MergeConfig config, Patch[] patches, Map<String, Tensor> base,
                                       List<Map<String, Tensor>> fishers) {
        if (config.method() != MergeConfig.Method.FISHER) {
            return;
        }
        for (int i = 0; i < patches.length; i++) {
            if (config.models().get(i).fisher() == null) {
                if (!patches[i].hasFisher()) {
                    throw new IllegalArgumentException("merge: " + config.models().get(i).patch() + " carries no Fisher (make it"
                            + " with tessera diff --fisher) and models[" + i + "] gives no 'fisher' file");
                }
                fishers.add(i, patches[i].denseFisher(base));
            }
        }
    }

    /** The same pending tensors, each telling {@code progress} when its values have been produced. */
    private static Map<String, Safetensors.Pending> reporting(Map<String, Safetensors.Pending> pending, Progress progress) {
        long total = pending.size();
        long[] done = {0};
        Map<String, Safetensors.Pending> out = new LinkedHashMap<>();
        pending.forEach((name, p) -> out.put(name, new Safetensors.Pending(p.dtype(), p.shape(), () -> {
            Tensor t = p.values().get();
            progress.tensorMerged(++done[0], total);
            return t;
        })));
        return out;
    }

    /** The dtype every input stores tensor {@code name} in, or f32 if they differ. */
    private static DType commonDtype(List<Map<String, Tensor>> inputs, String name) {
        List<DType> dtypes = inputs.stream().map(m -> m.get(name).dtype()).distinct().toList();
        return dtypes.size() == 1 ? dtypes.get(0) : DType.F32;
    }

    /** Refuses any input holding NaN or infinite values, naming its file and the tensor. */
    private static void requireFinite(MergeConfig config, Map<String, Tensor> base, List<Map<String, Tensor>> models,
                                      List<Map<String, Tensor>> fishers, List<Map<String, Tensor>> grams) {
        if (base != null) {
            NonFinite.requireNone("base " + config.base(), base);
        }
        int fisher = 0;
        int gram = 0;
        for (int i = 0; i < models.size(); i++) {
            MergeConfig.ModelEntry entry = config.models().get(i);
            NonFinite.requireNone(entry.path() != null ? "model " + entry.path() : "model " + config.base() + " patched by "
                    + entry.patch(), models.get(i));
            if (entry.fisher() != null) {
                NonFinite.requireNone("Fisher " + entry.fisher(), fishers.get(fisher++));
            }
            if (entry.gram() != null) {
                NonFinite.requireNone("Gram " + entry.gram(), grams.get(gram++));
            }
        }
    }

    /** Each model's patch (null for a model file), after checking every patch was made against the base, all at once. */
    private static Patch[] loadPatches(MergeConfig config) throws IOException {
        Patch[] patches = new Patch[config.models().size()];
        String baseDigest = null;
        List<String> wrong = new ArrayList<>();
        for (int i = 0; i < patches.length; i++) {
            Path file = config.models().get(i).patch();
            if (file != null) {
                patches[i] = Patch.load(file);
                baseDigest = baseDigest == null ? ModelDigest.of(config.base()) : baseDigest;
                if (!patches[i].baseDigest().equals(baseDigest)) {
                    wrong.add(file + " was made against base " + patches[i].baseDigest());
                }
            }
        }
        if (!wrong.isEmpty()) {
            throw new IllegalArgumentException("merge: " + wrong.size() + " patch(es) do not apply to the base " + config.base()
                    + " (digest " + baseDigest + "):\n  " + String.join("\n  ", wrong));
        }
        return patches;
    }

    private static Map<String, Tensor> read(Path path, List<SafetensorsFile> open) throws IOException {
        SafetensorsFile file = Safetensors.read(path);
        open.add(file);
        return file.tensors();
    }

    /** {@code path} read through {@code reader} as float tensors; the stored model is added to {@code stored}. */
    private static Map<String, Tensor> read(Path path, List<SafetensorsFile> open, StoredModel.Reader reader, List<StoredModel> stored)
            throws IOException {
        SafetensorsFile file = Safetensors.read(path);
        open.add(file);
        StoredModel model = reader.open(file);
        stored.add(model);
        return model.tensors();
    }
}
