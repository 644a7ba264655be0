package io.tessera.engine.nn;

import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.InPlace;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Supplier;

/**
 * A layer or model: named parameters and named child modules, so that {@link #stateDict()} names follow
 * PyTorch's dotted convention (e.g. {@code h.0.attn.c_attn.weight}). Parameters live outside any
 * {@link TensorScope}; closing the module frees them and their gradients. A module lives on one device:
 * the CPU, or the one it was built on with {@link #on}.
 */
public abstract class Module implements AutoCloseable {
    private final Map<String, Tensor> parameters = new LinkedHashMap<>();
    private final Map<String, Tensor> buffers = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();

    /** The device parameters and buffers go to while a module is built on this thread (see {@link #on}). */
    private static final ThreadLocal<Device> BUILDING_ON = ThreadLocal.withInitial(() -> Device.CPU);

    /**
     * Builds a module whose parameters and buffers live on {@code device}, as PyTorch's {@code with
     * torch.device(...)}: whatever {@code construct} registers on this thread is put there, e.g.
     * {@code Module.on(Device.cuda(0), () -> new Mlp(1, 784, 256, 10))}. Initial values are drawn as on the
     * CPU, so a seed gives the same model on every device.
     */
    public static <M extends Module> M on(Device device, Supplier<M> construct) {
        Device outer = BUILDING_ON.get();
        BUILDING_ON.set(device);
        try {
            return construct.get();
        } finally {
            BUILDING_ON.set(outer);
        }
    }

    /** Set on a thread while it builds a module with {@link #uninitialised}. */
    private static final ThreadLocal<Boolean> UNINITIALISED = ThreadLocal.withInitial(() -> false);

    /**
     * Builds a module whose F32 parameters are allocated but hold no initial values (whatever the memory held), for
     * a loader that then overwrites or {@linkplain #adoptParameters adopts} every one of them: no initial values
     * are computed, and the pages of a large parameter that is adopted are never touched.
     */
    public static <M extends Module> M uninitialised(Supplier<M> construct) {
        boolean outer = UNINITIALISED.get();
        UNINITIALISED.set(true);
        try {
            return construct.get();
        } finally {
            UNINITIALISED.set(outer);
        }
    }

    /**
     * Registers an F32 parameter of {@code shape}: {@code init}'s result, copied out of a scope that frees its
     * temporaries onto the device the module is built on, or uninitialised memory under {@link #uninitialised}.
     */
    protected final Tensor parameter(String name, long[] shape, Supplier<Tensor> init) {
        if (UNINITIALISED.get()) {
            return register(name, TensorScope.outside(() -> Tensor.empty(BUILDING_ON.get(), DType.F32, shape)));
        }
        return parameter(name, init);
    }

    /**
     * Registers a parameter: {@code init}'s result, copied out of a scope that frees its temporaries onto
     * the device the module is built on.
     */
    protected final Tensor parameter(String name, Supplier<Tensor> init) {
        Device device = BUILDING_ON.get();
        Tensor value;
        try (TensorScope scope = TensorScope.open()) {
            Tensor initial = init.get().detach();
            value = TensorScope.outside(() -> initial.device().equals(device) ? initial.to(initial.dtype()) : initial.to(device));
        }
        return register(name, value);
    }

    private Tensor register(String name, Tensor value) {
        value.requiresGrad(true);
        if (parameters.put(name, value) != null) {
            throw new IllegalStateException("parameter " + name + " registered twice");
        }
        return value;
    }

    /**
     * Registers state that is saved and loaded with the parameters but never trained (PyTorch's buffers,
     * e.g. int8 weights and their scales); the module takes ownership of {@code value}, and moves it to the
     * device the module is built on (closing the original).
     */
    protected final Tensor buffer(String name, Tensor value) {
        Device device = BUILDING_ON.get();
        Tensor placed = value;
        if (!value.device().equals(device)) {
            placed = TensorScope.outside(() -> value.to(device));
            value.close();
        }
        if (parameters.containsKey(name) || buffers.put(name, placed) != null) {
            throw new IllegalStateException("buffer " + name + " registered twice");
        }
        return placed;
    }

    /**
     * This module's parameter {@code name}: the tensor registered, or the one {@link #adoptParameters} put in its
     * place. Modules read their parameters through here at each use rather than keeping their own references.
     */
    protected final Tensor parameter(String name) {
        Tensor t = parameters.get(name);
        if (t == null) {
            throw new IllegalStateException(getClass().getSimpleName() + " has no parameter " + name);
        }
        return t;
    }

    /**
     * Makes {@code state}'s tensors the parameters of those names, in place of the current ones and without a copy
     * (e.g. zero-copy views of a memory-mapped checkpoint: gradients flow to them, but in-place updates of such
     * read-only tensors are refused). Each name must be a parameter with the same shape, dtype and device; every
     * problem is reported at once before anything changes. The module takes ownership of the adopted tensors and
     * closes the ones they replace.
     */
    public final void adoptParameters(Map<String, Tensor> state) {
        Map<String, Tensor> own = namedParameters();
        List<String> problems = new ArrayList<>();
        state.forEach((name, t) -> {
            Tensor current = own.get(name);
            if (current == null) {
                problems.add("not a parameter: " + name);
            } else if (!Arrays.equals(current.shape(), t.shape()) || current.dtype() != t.dtype() || !current.device().equals(t.device())) {
                problems.add(name + " is " + t.describe() + ", the parameter is " + current.describe());
            }
        });
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("cannot adopt parameters into " + getClass().getSimpleName() + ":\n  "
                    + String.join("\n  ", problems));
        }
        adopt("", state);
    }

    private void adopt(String prefix, Map<String, Tensor> state) {
        for (var entry : parameters.entrySet()) {
            Tensor replacement = state.get(prefix + entry.getKey());
            if (replacement != null && replacement != entry.getValue()) {
                Tensor old = entry.getValue();
                replacement.requiresGrad(old.requiresGrad());
                entry.setValue(replacement);
                old.zeroGrad();
                old.close();
            }
        }
        children.forEach((name, m) -> m.adopt(prefix + name + ".", state));
    }

    protected final <M extends Module> M child(String name, M module) {
        if (children.put(name, module) != null) {
            throw new IllegalStateException("child module " + name + " registered twice");
        }
        return module;
    }

    /**
     * The child registered as {@code name}, which may have been swapped by {@link #transform}; modules whose
     * children can be swapped look them up here at each forward instead of keeping their own references.
     */
    protected final <T> T child(String name, Class<T> kind) {
        Module module = children.get(name);
        if (!kind.isInstance(module)) {
            throw new IllegalStateException(getClass().getSimpleName() + "." + name + " is "
                    + (module == null ? "missing" : module.getClass().getSimpleName()) + ", not a " + kind.getSimpleName());
        }
        return kind.cast(module);
    }

    /**
     * Swaps descendants, as PyTorch's module swaps do (e.g. quantization): {@code swap} sees every child with
     * its dotted path, depth first; where it returns another module, that module takes the child's place
     * (the caller owns the old one), otherwise the walk goes into the child.
     */
    public final void transform(BiFunction<String, Module, Module> swap) {
        transform("", swap);
    }

    private void transform(String prefix, BiFunction<String, Module, Module> swap) {
        for (var entry : children.entrySet()) {
            String path = prefix + entry.getKey();
            Module replacement = swap.apply(path, entry.getValue());
            if (replacement != entry.getValue()) {
                entry.setValue(replacement);
            } else {
                replacement.transform(path + ".", swap);
            }
        }
    }

    /** Every parameter, named by its dotted path, in registration order. */
    public final Map<String, Tensor> namedParameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collect("", false, out);
        return Collections.unmodifiableMap(out);
    }

    /**
     * The first tensor of {@link #namedParameters()}, found without building that map (whose names cost more than a
     * decoding step's ops on a small model when it was built on every forward).
     *
     * @throws IllegalStateException if the module has no parameter
     */
    public final Tensor firstParameter() {
        Tensor first = firstParameterOrNull();
        if (first == null) {
            throw new IllegalStateException(getClass().getSimpleName() + " has no parameter");
        }
        return first;
    }

    private Tensor firstParameterOrNull() {
        if (!parameters.isEmpty()) {
            return parameters.values().iterator().next();
        }
        for (Module child : children.values()) {
            Tensor first = child.firstParameterOrNull();
            if (first != null) {
                return first;
            }
        }
        return null;
    }

    private void collect(String prefix, boolean withBuffers, Map<String, Tensor> out) {
        parameters.forEach((name, t) -> out.put(prefix + name, t));
        if (withBuffers) {
            buffers.forEach((name, t) -> out.put(prefix + name, t));
        }
        children.forEach((name, m) -> m.collect(prefix + name + ".", withBuffers, out));
    }

    public final List<Tensor> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    public final long parameterCount() {
        return parameters().stream().mapToLong(Tensor::numel).sum();
    }

    /** The parameters and buffers by name (the tensors themselves, not copies), parameters first per module. */
    public Map<String, Tensor> stateDict() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collect("", true, out);
        return Collections.unmodifiableMap(out);
    }

    /**
     * Copies values into the parameters, converting dtype. With {@code strict}, every missing, unexpected
     * or wrongly shaped name is reported at once in one exception; without it, only shapes must match.
     */
    public void loadStateDict(Map<String, Tensor> state, boolean strict) {
        Map<String, Tensor> own = stateDict();
        List<String> problems = new ArrayList<>();
        for (var entry : own.entrySet()) {
            Tensor source = state.get(entry.getKey());
            if (source == null) {
                if (strict) {
                    problems.add("missing: " + entry.getKey());
                }
            } else if (!Arrays.equals(source.shape(), entry.getValue().shape())) {
                problems.add("shape mismatch for " + entry.getKey() + ": file has " + source.describe()
                        + ", model has " + entry.getValue().describe());
            } else if (source.dtype().isFloatingPoint() != entry.getValue().dtype().isFloatingPoint()) {
                problems.add("dtype mismatch for " + entry.getKey() + ": file has " + source.describe()
                        + ", model has " + entry.getValue().describe());
            }
        }
        if (strict) {
            state.keySet().stream().filter(k -> !own.containsKey(k)).sorted().forEach(k -> problems.add("unexpected: " + k));
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("cannot load state dict into " + getClass().getSimpleName() + ":\n  "
                    + String.join("\n  ", problems));
        }
        own.forEach((name, target) -> {
            Tensor source = state.get(name);
            if (source != null) {
                InPlace.copy(source, target);
            }
        });
    }

    public final void zeroGrad() {
        parameters().forEach(Tensor::zeroGrad);
    }

    /** Frees every parameter, gradient and buffer of this module and its children. */
    @Override
    public void close() {
        zeroGrad();
        stateDict().values().forEach(Tensor::close);
    }
}
