package io.tessera.fisher;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.tessera.engine.DType;
import io.tessera.engine.io.InputFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A merge described in YAML, in the spirit of mergekit's configs:
 * <pre>
 * method: fisher            # fisher | average | task_arithmetic | ties | dare | regmean
 * base: base.safetensors    # needed by task_arithmetic, ties and dare, and by patches
 * models:
 *   - path: alice.safetensors   # or patch: alice.patch, a patch file made against base
 *     weight: 1.0           # weight (fisher, average) or lambda (task_arithmetic, dare)
 *     fisher: alice.fisher.safetensors   # needed by fisher
 *     gram: alice.gram.safetensors       # needed by regmean
 * parameters: {fisher_floor: 1.0e-6, normalize_fisher: false, density: 0.2, scope: tensor, lambda: 1.0, drop: 0.9, seed: 0,
 *              alpha: 0.9}
 * out: merged.safetensors
 * dtype: bf16               # optional: f32 | bf16 | f16 (or float32 | bfloat16 | float16, mergekit's names)
 * search: {grid: 10}        # optional, see below; or {samples: 16, seed: 0, concentration: 1.0}
 * </pre>
 * Models may be stored in f32, bf16 or f16, even mixed: every tensor is merged in f32 ({@link Merge}) and
 * written in {@code dtype}, by default the inputs' dtype of that tensor (base and models; Fisher and Gram
 * files do not count) when they all agree, else f32. TIES ({@code density}, {@code scope}) keeps, of each
 * task vector, exactly k = floor(density * n) entries of largest magnitude, k computed in double as PEFT and
 * mergekit do ({@code int(density * numel)}); n counts the entries of each tensor with {@code scope: tensor}
 * (the default, mergekit's and PEFT's rule; a tensor with density * n < 1 keeps nothing) or of the whole
 * model with {@code scope: model}; ties at the threshold go to the earlier tensor and the lower index
 * ({@link Merge#ties}).
 * <p>
 * A Gram file (written by {@code tessera fisher --grams}) holds, for each Linear weight {@code <name>}
 * [out, in] of the model, the f32 tensor {@code <name>} [in, in]: X^T X summed over that layer's inputs, the
 * names a Fisher file uses too; regmean merges those weights by RegMean with {@code alpha} and averages
 * the rest ({@link Merge#regMean}). A model given as a patch is the base with the patch applied; every
 * patch must record the base's digest; for fisher, a patch without a {@code fisher} file is weighed by the
 * Fisher it carries ({@code tessera diff --fisher}: the contributor's, at the patched entries, 0 elsewhere, so
 * the floor decides there). Relative paths are resolved against the config file's folder.
 * A {@code search} block chooses the models' weights (fisher, average, task_arithmetic, dare) instead of
 * taking them from the entries: each candidate (a grid of {@code grid + 1} points for two models, or
 * {@code samples} seeded Dirichlet draws) is merged and scored by the caller's evaluation on held-out data,
 * and the best is written ({@link CoefficientSearch}, {@link MergeRunner#run(MergeConfig, java.util.function.ToDoubleFunction)}).
 * Every problem is reported at once. The YAML is read strictly: an unknown or repeated key, or a number
 * where an integer belongs ({@code seed: 1.5}), is an error naming the key and the file.
 * <p>
 * mergekit's keys are read too, so a mergekit config runs unchanged for the methods both have:
 * {@code merge_method} (linear = average, task_arithmetic, ties, dare_linear = dare; fisher and regmean
 * are tessera's own; any other mergekit method is refused by name), {@code base_model}, {@code models[].model}
 * with {@code parameters: {weight, density}} per model, top-level {@code parameters} (also {@code weight},
 * {@code density}, mergekit's {@code normalize} and {@code rescale} where they agree with tessera's method, and
 * {@code int8_mask}, a mergekit memory option without effect here) and {@code dtype}. Per-model densities must
 * agree (one density per merge here); for dare, density is the kept fraction, {@code drop = 1 - density}; ties
 * weighs models equally (mergekit's default, normalized). Two differences remain: where a TIES task-vector sum
 * is exactly 0 mergekit elects the positive sign, tessera the negative; and DARE's drops come from tessera's
 * own seeded generator. The output comes from {@code out} or the command line.
 */
public record MergeConfig(Method method, Path base, List<ModelEntry> models, Parameters parameters, Path out, DType dtype,
                          Search search) {

    public enum Method { FISHER, AVERAGE, TASK_ARITHMETIC, TIES, DARE, REGMEAN }

    private static final String METHODS = "fisher, average, task_arithmetic, ties, dare or regmean; mergekit's linear,"
            + " task_arithmetic, ties or dare_linear";

    /** mergekit's names for the methods both have. */
    private static final Map<String, Method> MERGEKIT_NAMES = Map.of("linear", Method.AVERAGE, "dare_linear", Method.DARE);

    /** mergekit's methods without a tessera counterpart: refused by name rather than as unknown. */
    private static final List<String> MERGEKIT_ONLY = List.of("dare_ties", "slerp", "nuslerp", "multislerp", "breadcrumbs",
            "breadcrumbs_ties", "della", "della_linear", "model_stock", "passthrough", "sce", "karcher", "arcee_fusion", "nearswap",
            "lrp");

    /** One model: a safetensors file ({@code path}) or a patch of the base ({@code patch}), the other null. */
    public record ModelEntry(Path path, Path patch, double weight, Path fisher, Path gram) {}

    public record Parameters(double fisherFloor, boolean normalizeFisher, double density, Merge.TrimScope scope, double lambda,
                             double drop, long seed, double alpha) {}

    /** The output dtypes, by the names a config may use. */
    private static final Map<String, DType> DTYPES = Map.of("f32", DType.F32, "float32", DType.F32, "bf16", DType.BF16,
            "bfloat16", DType.BF16, "f16", DType.F16, "float16", DType.F16);

    /** Candidate weights to score: a grid of {@code grid + 1} points for two models, else Dirichlet draws. */
    public record Search(int grid, int samples, long seed, double concentration) {
        public List<double[]> candidates(int models) {
            return grid > 0 ? CoefficientSearch.grid(grid) : CoefficientSearch.dirichlet(models, samples, seed, concentration);
        }
    }

    /** The YAML document as written (tessera's keys and mergekit's); converted to a checked MergeConfig by {@link #load}. */
    private record Document(String method, @JsonProperty("merge_method") String mergeMethod, String base,
                            @JsonProperty("base_model") String baseModel, List<DocumentModel> models, DocumentParameters parameters,
                            String out, String dtype, DocumentSearch search) {}

    private record DocumentSearch(Integer grid, Integer samples, Long seed, Double concentration) {}

    private record DocumentModel(String path, String model, String patch, Double weight, String fisher, String gram,
                                 ModelParameters parameters) {}

    /** mergekit's per-model parameters. */
    private record ModelParameters(Double weight, Double density) {}

    private record DocumentParameters(@JsonProperty("fisher_floor") Double fisherFloor,
                                      @JsonProperty("normalize_fisher") Boolean normalizeFisher, Double density, String scope,
                                      Double lambda, Double drop, Long seed, Double alpha, Double weight, Boolean normalize,
                                      Boolean rescale, @JsonProperty("int8_mask") Boolean int8Mask) {}

    /**
     * A config from the command line's flags ({@code tessera merge --method ...}), checked exactly as the same
     * YAML would be: {@code method} in the YAML's spelling, {@code models} files or patches of the base
     * ({@code patches} says which), {@code weights} null for 1 each, {@code fishers} null or one per model,
     * {@code density} for ties, or for dare the kept fraction; null for defaults.
     */
    public static MergeConfig of(String method, Path base, List<Path> models, boolean[] patches, List<Path> fishers,
                                 double[] weights, Double density, Long seed, String dtype, Path out) {
        List<DocumentModel> entries = new ArrayList<>();
        for (int i = 0; i < models.size(); i++) {
            String file = models.get(i).toString();
            entries.add(new DocumentModel(patches[i] ? null : file, null, patches[i] ? file : null,
                    weights == null ? null : weights[i], fishers == null || fishers.get(i) == null ? null : fishers.get(i).toString(),
                    null, null));
        }
        DocumentParameters parameters = new DocumentParameters(null, null, density, null, null, null, seed, null, null, null, null, null);
        Document doc = new Document(method, null, base == null ? null : base.toString(), null, entries, parameters,
                out == null ? null : out.toString(), dtype, null);
        return check(doc, Path.of("").toAbsolutePath(), "the merge flags", null);
    }

    /** Strict: a repeated key, an unknown key, a float for an integer or a second YAML document is an error. */
    private static final ObjectMapper YAML = YAMLMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
            .build();

    public static MergeConfig load(Path file) throws IOException {
        return load(file, null);
    }

    /** Reads a config; {@code out}, when not null, is the output (the command line's {@code -o}) and the YAML's own is ignored. */
    public static MergeConfig load(Path file, Path out) throws IOException {
        InputFiles.requireFile(file);
        String text = Files.readString(file);
        Document doc;
        try {
            doc = YAML.readValue(text, Document.class);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + ": " + explain(e), e);
        }
        if (doc == null) {
            throw new IllegalArgumentException(file + ": the merge config is empty");
        }
        return check(doc, file.toAbsolutePath().getParent(), file.toString(), out);
    }

    /** Checks a document, reporting every problem at once; relative paths resolve against {@code dir}. */
    private static MergeConfig check(Document doc, Path dir, String source, Path outOverride) {
        List<String> problems = new ArrayList<>();
        String methodName = either(doc.method(), "method", doc.mergeMethod(), "merge_method", problems);
        String baseName = either(doc.base(), "base", doc.baseModel(), "base_model", problems);
        Method method = method(methodName, problems);
        DocumentParameters p = doc.parameters() == null
                ? new DocumentParameters(null, null, null, null, null, null, null, null, null, null, null, null) : doc.parameters();
        boolean needsBase = method == Method.TASK_ARITHMETIC || method == Method.TIES || method == Method.DARE;
        if (needsBase && baseName == null) {
            problems.add("method " + methodName + " needs 'base' (or 'base_model')");
        }
        boolean patches = doc.models() != null && doc.models().stream().anyMatch(m -> m != null && m.patch() != null);
        if (patches && baseName == null) {
            problems.add("models given as patches need 'base'");
        }
        List<ModelEntry> models = new ArrayList<>();
        List<Double> densities = new ArrayList<>(); // mergekit's per-model densities, which must agree
        if (doc.models() == null || doc.models().isEmpty()) {
            problems.add("'models' lists no models");
        } else {
            for (int i = 0; i < doc.models().size(); i++) {
                DocumentModel m = doc.models().get(i);
                String path = m == null ? null : either(m.path(), "models[" + i + "].path", m.model(), "models[" + i + "].model",
                        problems);
                if (m == null || (path == null) == (m.patch() == null)) {
                    problems.add("models[" + i + "] needs one of 'path' (or 'model') and 'patch'");
                    continue;
                }
                String given = path != null ? path : m.patch();
                if (method == Method.FISHER && m.fisher() == null && m.patch() == null) { // a patch may carry its own
                    problems.add("models[" + i + "] (" + given + ") has no 'fisher', which method fisher needs");
                }
                if (method == Method.REGMEAN && m.gram() == null) {
                    problems.add("models[" + i + "] (" + given + ") has no 'gram', which method regmean needs");
                }
                Double perModel = m.parameters() == null ? null : m.parameters().weight();
                Double weightGiven = either(m.weight(), "models[" + i + "].weight", perModel, "models[" + i + "].parameters.weight",
                        problems);
                double weight = weightGiven != null ? weightGiven : p.weight() != null ? p.weight() : 1.0;
                if (!Double.isFinite(weight)) {
                    problems.add("models[" + i + "] has weight " + weight);
                }
                if (m.parameters() != null && m.parameters().density() != null) {
                    densities.add(m.parameters().density());
                }
                models.add(new ModelEntry(resolve(dir, path), resolve(dir, m.patch()), weight, resolve(dir, m.fisher()),
                        resolve(dir, m.gram())));
            }
        }
        if (doc.out() == null && outOverride == null) {
            problems.add("'out' is missing (or give -o)");
        }
        Search search = search(doc, method, problems);
        Double density = density(p.density(), densities, models.size(), problems);
        mergekitSemantics(method, methodName, p, models, problems);
        if (method == Method.DARE && density != null && p.drop() != null) {
            problems.add("dare takes 'drop' or mergekit's 'density' (= 1 - drop), not both");
        }
        double drop = p.drop() != null ? p.drop() : method == Method.DARE && density != null ? 1 - density : 0.9;
        Merge.TrimScope scope = p.scope() == null ? Merge.TrimScope.TENSOR : switch (p.scope().toLowerCase(Locale.ROOT)) {
            case "model" -> Merge.TrimScope.MODEL;
            case "tensor" -> Merge.TrimScope.TENSOR;
            default -> {
                problems.add("'parameters.scope' must be model or tensor, got '" + p.scope() + "'");
                yield null;
            }
        };
        Parameters parameters = new Parameters(p.fisherFloor() == null ? Merge.DEFAULT_FISHER_FLOOR : p.fisherFloor(),
                p.normalizeFisher() != null && p.normalizeFisher(), density == null ? 0.2 : density, scope,
                p.lambda() == null ? 1.0 : p.lambda(), drop, p.seed() == null ? 0 : p.seed(), p.alpha() == null ? 0.9 : p.alpha());
        DType dtype = doc.dtype() == null ? null : DTYPES.get(doc.dtype().toLowerCase(Locale.ROOT));
        if (doc.dtype() != null && dtype == null) {
            problems.add("'dtype' must be f32, bf16 or f16 (or float32, bfloat16, float16), got '" + doc.dtype() + "'");
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(source + ": " + problems.size() + " problem(s) in the merge config:\n  "
                    + String.join("\n  ", problems));
        }
        return new MergeConfig(method, needsBase || patches ? dir.resolve(baseName) : null, List.copyOf(models), parameters,
                outOverride != null ? outOverride : dir.resolve(doc.out()), dtype, search);
    }

    /** The one of two spellings of a key that is given; both is a problem. */
    private static <T> T either(T a, String aName, T b, String bName, List<String> problems) {
        if (a != null && b != null) {
            problems.add("'" + aName + "' and '" + bName + "' say the same: give one");
        }
        return a != null ? a : b;
    }

    private static Method method(String name, List<String> problems) {
        if (name == null) {
            problems.add("'method' (or 'merge_method') is missing (" + METHODS + ")");
            return null;
        }
        String lower = name.toLowerCase(Locale.ROOT);
        if (MERGEKIT_NAMES.containsKey(lower)) {
            return MERGEKIT_NAMES.get(lower);
        }
        if (MERGEKIT_ONLY.contains(lower)) {
            problems.add("mergekit's method '" + name + "' has no tessera counterpart (" + METHODS + ")");
            return null;
        }
        try {
            return Method.valueOf(lower.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            problems.add("unknown method '" + name + "' (" + METHODS + ")");
            return null;
        }
    }

    /** The merge's one density: the top-level one, or mergekit's per-model ones, which must then all be given and agree. */
    private static Double density(Double topLevel, List<Double> perModel, int models, List<String> problems) {
        if (perModel.isEmpty()) {
            return topLevel;
        }
        if (perModel.size() != models || perModel.stream().distinct().count() > 1) {
            problems.add("per-model densities " + perModel + " differ or are missing for some models: tessera takes one density"
                    + " per merge");
        }
        return perModel.get(0);
    }

    /** mergekit options that would change the result where tessera's method differs: refused rather than ignored. */
    private static void mergekitSemantics(Method method, String name, DocumentParameters p, List<ModelEntry> models,
                                          List<String> problems) {
        if (p.normalize() != null) {
            boolean normalized = method == Method.AVERAGE || method == Method.TIES || method == Method.FISHER;
            if (p.normalize() != normalized) {
                problems.add("'parameters.normalize: " + p.normalize() + "' is not what method " + name + " does here");
            }
        }
        if (p.rescale() != null && p.rescale() != (method == Method.DARE)) {
            problems.add("'parameters.rescale: " + p.rescale() + "' is not what method " + name + " does here");
        }
        if (p.lambda() != null && method != Method.TIES) {
            problems.add("'parameters.lambda' scales ties only here; method " + name + " takes per-model weights");
        }
        if (method == Method.TIES && models.stream().mapToDouble(ModelEntry::weight).distinct().count() > 1) {
            problems.add("ties weighs models equally here; per-model weights " + models.stream().map(ModelEntry::weight).toList()
                    + " are not supported");
        }
    }

    /** A parse or type error as one line naming the key (e.g. {@code models[1].weight}) and its line. */
    private static String explain(JsonProcessingException wrapped) {
        JsonProcessingException e = innermost(wrapped);
        String key = keyPath(e);
        String where = e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ")";
        return switch (e) {
            // no line: Jackson reports an unknown key of a record at the end of the record's mapping
            case UnrecognizedPropertyException unknown -> "unknown key '" + key + "' (known here: " + unknown.getKnownPropertyIds() + ")";
            case InvalidFormatException value -> "'" + key + "' must be " + expected(value.getTargetType()) + ", got " + value.getValue()
                    + where;
            case MismatchedInputException value when !key.isEmpty() -> "'" + key + "' must be " + expected(value.getTargetType()) + where;
            // Jackson has no exception types of their own for these, only the messages
            case MismatchedInputException trailing when trailing.getOriginalMessage().startsWith("Trailing token") ->
                    "holds more than one YAML document" + where;
            case MismatchedInputException _ -> "the merge config must be a mapping of keys" + where;
            default -> e.getOriginalMessage().startsWith("Duplicate field") ? "duplicate key '" + key + "'" + where
                    : "not a valid merge config: " + e.getOriginalMessage().strip().replaceAll("\\s*\\n\\s*", "; ") + where;
        };
    }

    /** Databind wraps a parse error (e.g. a repeated key) in one whose path stops at the enclosing key. */
    private static JsonProcessingException innermost(JsonProcessingException e) {
        return e.getCause() instanceof JsonProcessingException cause ? innermost(cause) : e;
    }

    /** The dotted path of the key an error is about, e.g. {@code parameters.seed} or {@code models[0].path}. */
    private static String keyPath(JsonProcessingException e) {
        List<Object> steps = new ArrayList<>(); // field names and array indices, outermost first
        if (e instanceof JsonMappingException mapping) {
            mapping.getPath().forEach(r -> steps.add(r.getFieldName() != null ? r.getFieldName() : (Object) r.getIndex()));
        } else if (e.getProcessor() instanceof JsonParser parser) { // a parse error: where the parser stopped
            for (JsonStreamContext c = parser.getParsingContext(); c != null && !c.inRoot(); c = c.getParent()) {
                steps.add(0, c.inArray() ? (Object) c.getCurrentIndex() : c.getCurrentName());
            }
        }
        StringBuilder path = new StringBuilder();
        for (Object step : steps) {
            path.append(step instanceof Integer index ? "[" + index + "]" : (path.isEmpty() ? "" : ".") + step);
        }
        return path.toString();
    }

    private static String expected(Class<?> type) {
        if (type == Integer.class || type == Long.class) {
            return "an integer";
        }
        if (type == Double.class) {
            return "a number";
        }
        if (type == Boolean.class) {
            return "true or false";
        }
        return type == String.class ? "a string" : List.class.isAssignableFrom(type) ? "a list" : "a mapping of keys";
    }

    private static Search search(Document doc, Method method, List<String> problems) {
        DocumentSearch s = doc.search();
        if (s == null) {
            return null;
        }
        int models = doc.models() == null ? 0 : doc.models().size();
        if ((s.grid() == null) == (s.samples() == null)) {
            problems.add("'search' needs one of 'grid' (two models) and 'samples' (Dirichlet draws)");
        } else if (s.grid() != null && (s.grid() < 1 || models != 2)) {
            problems.add("'search: grid' needs >= 1 steps and exactly 2 models, got " + s.grid() + " and " + models);
        } else if (s.samples() != null && s.samples() < 1) {
            problems.add("'search: samples' must be >= 1, got " + s.samples());
        }
        double concentration = s.concentration() == null ? 1.0 : s.concentration();
        if (!(concentration > 0 && Double.isFinite(concentration))) {
            problems.add("'search: concentration' must be > 0, got " + concentration);
        }
        if (method == Method.TIES || method == Method.REGMEAN) {
            problems.add("'search' chooses per-model weights, which method " + method.name().toLowerCase(Locale.ROOT) + " does not take");
        }
        return new Search(s.grid() == null ? 0 : s.grid(), s.samples() == null ? 0 : s.samples(), s.seed() == null ? 0 : s.seed(),
                concentration);
    }

    private static Path resolve(Path dir, String file) {
        return file == null ? null : dir.resolve(file);
    }
}
