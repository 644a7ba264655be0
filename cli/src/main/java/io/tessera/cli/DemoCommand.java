package io.tessera.cli;

import io.tessera.ffi.TesseraCpu;
import java.io.PrintWriter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The end-to-end job. DESIGN.md's full chain (train, Fisher, FISH mask, patches, vet, merge, int8, peers)
 * grows here stage by stage as the modules land; today it runs the stages that exist and says which do not.
 */
@Command(name = "demo", description = "Run the end-to-end demo (the stages built so far).")
final class DemoCommand implements Callable<Integer> {

    @Option(names = "--elements", defaultValue = "16777216", description = "Vector length for the kernel stage (default: ${DEFAULT-VALUE}).")
    long elements;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        if (elements < 0) {
            throw new IllegalArgumentException("--elements must be >= 0, got " + elements);
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println("== stage 1/1: native kernels through FFM (axpy, float64-accumulated sum)");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(ValueLayout.JAVA_FLOAT, Math.max(elements, 1));
            MemorySegment y = arena.allocate(ValueLayout.JAVA_FLOAT, Math.max(elements, 1));
            for (long i = 0; i < elements; i++) {
                x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i % 1000) * 0.001f);
                y.setAtIndex(ValueLayout.JAVA_FLOAT, i, 1f);
            }
            MemorySegment sum = arena.allocate(ValueLayout.JAVA_DOUBLE);
            long start = System.nanoTime();
            check(TesseraCpu.ts_axpy_f32(elements, 2f, x, y), "ts_axpy_f32");
            long axpyNanos = System.nanoTime() - start;
            check(TesseraCpu.ts_sum_f32(elements, y, sum), "ts_sum_f32");
            double expected = 0;
            for (long i = 0; i < elements; i++) {
                expected += 2.0 * x.getAtIndex(ValueLayout.JAVA_FLOAT, i) + 1.0;
            }
            double got = sum.get(ValueLayout.JAVA_DOUBLE, 0);
            out.printf("   n = %,d: sum(2x + y) = %.6f, Java float64 reference %.6f, relative difference %.2e%n",
                    elements, got, expected, expected == 0 ? Math.abs(got) : Math.abs(got - expected) / Math.abs(expected));
            out.printf("   one axpy pass took %.2f ms (a single cold run; for bandwidth figures use scripts/jmh)%n", axpyNanos / 1e6);
        }
        out.println("== not built yet: train MLP on Fashion-MNIST, Fisher, FISH mask, patches, vet, merge, int8, peers (see the open issues)");
        out.flush();
        return 0;
    }

    private static void check(int status, String call) {
        if (status != TesseraCpu.TS_OK) {
            throw new IllegalStateException(call + " returned status " + status);
        }
    }
}
