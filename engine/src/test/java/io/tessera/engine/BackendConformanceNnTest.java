package io.tessera.engine;

import static io.tessera.engine.BackendConformanceTest.assertValues;
import static io.tessera.engine.ConformanceTargets.ACCUMULATED;
import static io.tessera.engine.ConformanceTargets.EXACT;
import static io.tessera.engine.ConformanceTargets.GEMM;
import static io.tessera.engine.ConformanceTargets.SOLVE;
import static io.tessera.engine.ConformanceTargets.TRANSCENDENTAL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.UnaryOperator;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Backend contract's nn primitives, optimizer steps, random draws, Fisher and int8 kernels on every
 * device of {@link ConformanceTargets}, against float64 references (see {@link BackendConformanceTest}).
 * Row shapes: none, one, and primes, so block-per-row kernels see rows shorter and longer than a block.
 */
class BackendConformanceNnTest {
    // the last crosses the kernels' parallel threshold (32768 elements): rows split over threads
    private static final long[][] ROWS = {{0, 5}, {1, 1}, {3, 7}, {5, 131}, {2, 1031}, {37, 1031}};

    static List<ConformanceTargets> targets() {
        return ConformanceTargets.all();
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers({"softmax", "softmaxBackward"})
    void softmaxAndBackward(ConformanceTargets t) {
        t.run(() -> forEachRows((rows, cols) -> {
            for (boolean log : new boolean[] {false, true}) {
                Ref x = Ref.random(new SplittableRandom(cols), -5, 5, rows, cols).rounded();
                Ref gy = Ref.random(new SplittableRandom(cols + 1), -1, 1, rows, cols).rounded();
                Ref soft = x.rows(r -> NnOpsTest.softmaxRow(r, log));
                Tensor y = t.empty(DType.F32, rows, cols);
                t.backend().softmax(t.on(x), y, log);
                assertValues("softmax log=" + log, soft, y, TRANSCENDENTAL);
                double[] gx = new double[x.size()];
                for (int r = 0; r < rows; r++) {
                    int from = r * (int) cols;
                    double[] row = Arrays.copyOfRange(x.data(), from, from + (int) cols);
                    double[] gyRow = Arrays.copyOfRange(gy.data(), from, from + (int) cols);
                    double[] gxRow = vectorJacobianByFiniteDifferences(row, gyRow, v -> NnOpsTest.softmaxRow(v, log));
                    System.arraycopy(gxRow, 0, gx, from, (int) cols);
                }
                Tensor g = t.empty(DType.F32, rows, cols);
                t.backend().softmaxBackward(y, t.on(gy), g, log);
                assertValues("softmaxBackward log=" + log, new Ref(x.shape(), gx), g, TRANSCENDENTAL);
            }
        }));
    }

    /**
     * RoPE against the rotate-half formula in float64, forward and inverse, for rows none, one and a prime, 1 and 3
     * heads, head dims 2, 6 and 64, positions anywhere in the tables (random tables: the kernel reads both halves);
     * the inverse undoes the forward when the tables' halves are equal (cos^2 + sin^2 = 1), as RoPE's are; positions
     * outside the tables and odd head dims are refused.
     */
    @ParameterizedTest
    @MethodSource("targets")
    @Covers({"rope"})
    void ropeForwardAndInverse(ConformanceTargets t) {
        t.run(() -> {
            long positions = 17;
            for (long rows : new long[] {0, 1, 7, 300}) { // 300 x 3 x 64: rows split over threads
                for (long heads : new long[] {1, 3}) {
                    for (long d : new long[] {2, 6, 64}) {
                        SplittableRandom rng = new SplittableRandom(rows * 100 + heads * 10 + d);
                        Ref x = Ref.random(rng, -2, 2, rows, heads, d).rounded();
                        Ref cos = Ref.random(rng, -1, 1, positions, d).rounded();
                        Ref sin = Ref.random(rng, -1, 1, positions, d).rounded();
                        long[] pos = rng.longs(rows, 0, positions).toArray();
                        Tensor p = t.on(Tensor.of(pos, rows));
                        for (boolean inverse : new boolean[] {false, true}) {
                            double sign = inverse ? -1 : 1;
                            double[] y = new double[x.size()];
                            long half = d / 2;
                            for (int r = 0; r < rows; r++) {
                                for (int h = 0; h < heads; h++) {
                                    for (int i = 0; i < half; i++) {
                                        int at = (int) ((r * heads + h) * d);
                                        int row = (int) (pos[r] * d);
                                        double x1 = x.data()[at + i];
                                        double x2 = x.data()[(int) (at + i + half)];
                                        y[at + i] = x1 * cos.data()[row + i] - sign * x2 * sin.data()[row + i];
                                        y[(int) (at + i + half)] = x2 * cos.data()[(int) (row + i + half)]
                                                + sign * x1 * sin.data()[(int) (row + i + half)];
                                    }
                                }
                            }
                            Tensor out = t.empty(DType.F32, rows, heads, d);
                            t.backend().rope(t.on(x), t.on(cos), t.on(sin), p, inverse, out);
                            assertValues("rope inverse=" + inverse + " " + rows + "x" + heads + "x" + d, new Ref(x.shape(), y), out,
                                    TRANSCENDENTAL);
                        }
                    }
                }
            }
            // equal halves, as RoPE's tables: the inverse undoes the forward
            long d = 8;
            double[] c = new double[(int) (positions * d)];
            double[] sn = new double[c.length];
            for (int q = 0; q < positions; q++) {
                for (int i = 0; i < d / 2; i++) {
                    double angle = q * Math.pow(10000, -2.0 * i / d);
                    c[(int) (q * d + i)] = c[(int) (q * d + i + d / 2)] = Math.cos(angle);
                    sn[(int) (q * d + i)] = sn[(int) (q * d + i + d / 2)] = Math.sin(angle);
                }
            }
            Ref x = Ref.random(new SplittableRandom(3), -2, 2, 5, 2, d).rounded();
            Tensor cosT = t.on(new Ref(new long[] {positions, d}, c).rounded());
            Tensor sinT = t.on(new Ref(new long[] {positions, d}, sn).rounded());
            Tensor p = t.on(Tensor.of(new long[] {0, 16, 3, 3, 9}, 5));
            Tensor there = t.empty(DType.F32, 5, 2, d);
            Tensor back = t.empty(DType.F32, 5, 2, d);
            t.backend().rope(t.on(x), cosT, sinT, p, false, there);
            t.backend().rope(there, cosT, sinT, p, true, back);
            assertValues("rope then its inverse", x, back, TRANSCENDENTAL);
            // and the inverse of gy is the forward rotation's vector-Jacobian product (its gradient)
            Ref gy = Ref.random(new SplittableRandom(4), -1, 1, 5, 2, d).rounded();
            long[] at = {0, 16, 3, 3, 9};
            double[] expected = vectorJacobianByFiniteDifferences(x.data().clone(), gy.data(), v -> {
                double[] y = new double[v.length];
                for (int r = 0; r < 5; r++) {
                    for (int h = 0; h < 2; h++) {
                        for (int i = 0; i < d / 2; i++) {
                            int o = (int) ((r * 2 + h) * d);
                            int row = (int) (at[r] * d);
                            y[o + i] = v[o + i] * c[row + i] - v[(int) (o + i + d / 2)] * sn[row + i];
                            y[(int) (o + i + d / 2)] = v[(int) (o + i + d / 2)] * c[row + i] + v[o + i] * sn[row + i];
                        }
                    }
                }
                return y;
            });
            Tensor gx = t.empty(DType.F32, 5, 2, d);
            t.backend().rope(t.on(gy), cosT, sinT, p, true, gx);
            assertValues("rope's gradient", new Ref(x.shape(), expected), gx, 1e-4);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> t.backend().rope(t.on(x), cosT, sinT, t.on(Tensor.of(new long[] {0, 1, 17, 2, 3}, 5)), false, there));
            assertTrue(e.getMessage().contains("pos[2] = 17 is outside [0, 17)"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> t.backend().rope(t.empty(DType.F32, 5, 2, 7),
                    t.empty(DType.F32, 17, 7), t.empty(DType.F32, 17, 7), p, false, t.empty(DType.F32, 5, 2, 7)));
            assertTrue(e.getMessage().contains("even head dim"), e.getMessage());
        });
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers({"layerNorm", "layerNormBackward", "rmsNorm", "rmsNormBackward"})
    void layerNormAndRmsNormWithTheirGradients(ConformanceTargets t) {
        t.run(() -> forEachRows((rows, cols) -> {
            Ref x = Ref.random(new SplittableRandom(cols), -2, 3, rows, cols).rounded();
            Ref w = Ref.random(new SplittableRandom(cols + 1), 0.5, 1.5, cols).rounded();
            Ref b = Ref.random(new SplittableRandom(cols + 2), -1, 1, cols).rounded();
            Ref gy = Ref.random(new SplittableRandom(cols + 3), -1, 1, rows, cols).rounded();
            float eps = 1e-5f;
            for (boolean rms : new boolean[] {false, true}) {
                double[] mean = new double[(int) rows];
                double[] rstd = new double[(int) rows];
                double[] y = new double[x.size()];
                double[] gx = new double[x.size()];
                double[] gw = new double[(int) cols];
                double[] gb = new double[(int) cols];
                for (int r = 0; r < rows; r++) {
                    double mu = 0;
                    double ss = 0;
                    for (int j = 0; j < cols; j++) {
                        mu += x.data()[r * (int) cols + j] / cols;
                    }
                    mu = rms ? 0 : mu;
                    for (int j = 0; j < cols; j++) {
                        double d = x.data()[r * (int) cols + j] - mu;
                        ss += d * d / cols;
                    }
                    mean[r] = mu;
                    rstd[r] = 1 / Math.sqrt(ss + eps);
                    double mg = 0;
                    double mgx = 0;
                    for (int j = 0; j < cols; j++) {
                        int i = r * (int) cols + j;
                        double xhat = (x.data()[i] - mu) * rstd[r];
                        y[i] = xhat * w.data()[j] + (rms ? 0 : b.data()[j]);
                        double g = gy.data()[i] * w.data()[j];
                        mg += g / cols;
                        mgx += g * xhat / cols;
                        gw[j] += gy.data()[i] * xhat;
                        gb[j] += gy.data()[i];
                    }
                    for (int j = 0; j < cols; j++) {
                        int i = r * (int) cols + j;
                        double xhat = (x.data()[i] - mu) * rstd[r];
                        gx[i] = rstd[r] * (gy.data()[i] * w.data()[j] - (rms ? 0 : mg) - xhat * mgx);
                    }
                }
                Tensor dx = t.on(x);
                Tensor dw = t.on(w);
                Tensor out = t.empty(DType.F32, rows, cols);
                Tensor dm = t.empty(DType.F32, rows);
                Tensor dr = t.empty(DType.F32, rows);
                Tensor dgx = t.empty(DType.F32, rows, cols);
                Tensor dgw = t.empty(DType.F32, cols);
                Tensor dgb = t.empty(DType.F32, cols);
                String name = rms ? "rmsNorm" : "layerNorm";
                if (rms) {
                    t.backend().rmsNorm(dx, dw, eps, out, dr);
                    t.backend().rmsNormBackward(dx, dw, dr, t.on(gy), dgx, dgw);
                } else {
                    t.backend().layerNorm(dx, dw, t.on(b), eps, out, dm, dr);
                    assertValues(name + " mean", new Ref(new long[] {rows}, mean), dm, ACCUMULATED);
                    t.backend().layerNormBackward(dx, dw, dm, dr, t.on(gy), dgx, dgw, dgb);
                    assertValues(name + " gb", new Ref(new long[] {cols}, gb), dgb, TRANSCENDENTAL);
                }
                assertValues(name + " rstd", new Ref(new long[] {rows}, rstd), dr, ACCUMULATED);
                assertValues(name, new Ref(x.shape(), y), out, TRANSCENDENTAL);
                assertValues(name + " gx", new Ref(x.shape(), gx), dgx, 1e-4);
                assertValues(name + " gw", new Ref(new long[] {cols}, gw), dgw, TRANSCENDENTAL);
            }
        }));
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers({"crossEntropy", "crossEntropyBackward"})
    void crossEntropyAndBackwardWithI32AndI64Labels(ConformanceTargets t) {
        t.run(() -> forEachRows((rows, cols) -> {
            Ref logits = Ref.random(new SplittableRandom(cols), -4, 4, rows, cols).rounded();
            Ref gloss = Ref.random(new SplittableRandom(cols + 1), 0.5, 1.5, rows).rounded();
            long[] labels = new long[(int) rows];
            double[] loss = new double[(int) rows];
            double[] lse = new double[(int) rows];
            double[] grad = new double[logits.size()];
            for (int r = 0; r < rows; r++) {
                labels[r] = (r * 7L + 3) % cols;
                double m = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < cols; j++) {
                    m = Math.max(m, logits.data()[r * (int) cols + j]);
                }
                double s = 0;
                for (int j = 0; j < cols; j++) {
                    s += Math.exp(logits.data()[r * (int) cols + j] - m);
                }
                lse[r] = m + Math.log(s);
                loss[r] = lse[r] - logits.data()[r * (int) cols + (int) labels[r]];
                for (int j = 0; j < cols; j++) {
                    int i = r * (int) cols + j;
                    grad[i] = (Math.exp(logits.data()[i] - lse[r]) - (j == labels[r] ? 1 : 0)) * gloss.data()[r];
                }
            }
            for (DType labelType : new DType[] {DType.I32, DType.I64}) {
                Tensor dl = t.on(Tensor.of(labels, rows).to(labelType));
                Tensor l = t.empty(DType.F32, rows);
                Tensor e = t.empty(DType.F32, rows);
                t.backend().crossEntropy(t.on(logits), dl, l, e);
                assertValues("crossEntropy loss " + labelType, new Ref(new long[] {rows}, loss), l, TRANSCENDENTAL);
                assertValues("crossEntropy lse " + labelType, new Ref(new long[] {rows}, lse), e, TRANSCENDENTAL);
                Tensor g = t.empty(DType.F32, rows, cols);
                t.backend().crossEntropyBackward(t.on(logits), dl, e, t.on(gloss), g);
                assertValues("crossEntropyBackward " + labelType, new Ref(logits.shape(), grad), g, TRANSCENDENTAL);
            }
        }));
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers({"embedding", "embeddingBackward"})
    void embeddingGathersAndItsBackwardAddsDuplicatesInOrder(ConformanceTargets t) {
        t.run(() -> {
            long vocab = 11;
            long dim = 37;
            Ref weight = Ref.random(new SplittableRandom(1), -1, 1, vocab, dim).rounded();
            long[] idx = {3, 0, 10, 3, 3, 7, 0};
            Ref gout = Ref.random(new SplittableRandom(2), -1, 1, idx.length, dim).rounded();
            double[] gathered = new double[idx.length * (int) dim];
            double[] gw = new double[weight.size()];
            Arrays.fill(gw, 0.5);
            for (int i = 0; i < idx.length; i++) {
                for (int c = 0; c < dim; c++) {
                    gathered[i * (int) dim + c] = weight.data()[(int) idx[i] * (int) dim + c];
                    gw[(int) idx[i] * (int) dim + c] += gout.data()[i * (int) dim + c];
                }
            }
            for (DType indexType : new DType[] {DType.I32, DType.I64}) {
                Tensor di = t.on(Tensor.of(idx, idx.length).to(indexType));
                Tensor out = t.empty(DType.F32, idx.length, dim);
                t.backend().embedding(t.on(weight), di, out);
                assertValues("embedding " + indexType, new Ref(new long[] {idx.length, dim}, gathered), out, EXACT);
                Tensor g = t.empty(DType.F32, vocab, dim);
                t.backend().fill(g, 0.5);
                t.backend().embeddingBackward(t.on(gout), di, g);
                assertValues("embeddingBackward " + indexType, new Ref(weight.shape(), gw), g, ACCUMULATED);
            }
        });
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers("causalMask")
    void causalMaskSetsTheFuture(ConformanceTargets t) {
        t.run(() -> {
            for (long past : new long[] {0, 2, -1}) {
                Ref x = Ref.random(new SplittableRandom(past + 5), -1, 1, 3, 5, 7).rounded();
                double[] masked = x.data().clone();
                for (int b = 0; b < 3; b++) {
                    for (int i = 0; i < 5; i++) {
                        for (int j = 0; j < 7; j++) {
                            if (j > i + past) {
                                masked[(b * 5 + i) * 7 + j] = Double.NEGATIVE_INFINITY;
                            }
                        }
                    }
                }
                Tensor dx = t.on(x);
                t.backend().causalMask(dx, past, Float.NEGATIVE_INFINITY);
                assertValues("causalMask past=" + past, new Ref(x.shape(), masked), dx, EXACT);
            }
        });
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers("causalAttention")
    void causalAttentionMatchesSoftmaxOfScaledScoresOverVisibleKeys(ConformanceTargets t) {
        // batch, heads, queries, earlier keys, head dim: none, one, primes, decode over 1, 2 and 129 keys, 7 queries
        // over 7 keys, head dims of real models (64, 80), and one too wide for a CUDA block's shared memory (6200,
        // where CUDA takes Backend's composite), and more (batch, head) pairs than the CUDA grid has blocks (3550), so
        // blocks take a second one; 67 queries over 137 keys of head dim 128 for the CPU's full and partial tiles; 6 and
        // 8 heads for groups of 3 and 4, 4 heads of 6200 for groups on CUDA's composite (each case also runs with k and v
        // of fewer heads: grouped-query attention, and with F16 caches: a half-precision KV cache, against the reference
        // on the same values rounded to F16)
        long[][] cases = {{1, 1, 1, 0, 1}, {2, 3, 5, 0, 13}, {1, 2, 7, 4, 4}, {1, 2, 0, 3, 5}, {2, 1, 3, 2, 1}, {1, 2, 37, 11, 64},
            {3, 2, 1, 0, 64}, {2, 3, 1, 1, 3}, {1, 3, 1, 128, 80}, {3, 2, 1, 128, 1}, {3, 1, 7, 0, 3}, {2, 3, 7, 0, 80},
            {1, 1, 1, 1, 6200}, {50, 71, 1, 1, 3}, {2, 3, 67, 70, 128}, {1, 6, 5, 3, 16}, {2, 8, 1, 40, 64},
            {1, 4, 2, 1, 6200}};
        t.run(() -> {
            for (long[] c : cases) {
                long batch = c[0];
                long heads = c[1];
                long tq = c[2];
                long tk = tq + c[3];
                long d = c[4];
                SplittableRandom rng = new SplittableRandom(tk * 31 + d);
                float scale = (float) (1 / Math.sqrt(d));
                long[] yShape = {batch, tq, heads, d};

                // q from a [batch, tq, 3, heads, d] block and k, v from a [batch, tk, 2, heads, d] one, as the layer slices them
                Ref qkv = Ref.random(rng, -2, 2, batch, tq, 3, heads, d).rounded();
                Ref kv = Ref.random(rng, -2, 2, batch, tk, 2, heads, d).rounded();
                Tensor qkvOn = t.on(qkv);
                Tensor kvOn = t.on(kv);
                Tensor y = t.empty(DType.F32, batch, tq, heads, d);
                t.backend().causalAttention(qkvOn.slice(2, 1, 2).squeeze(2).transpose(1, 2), kvOn.slice(2, 0, 1).squeeze(2).transpose(1, 2),
                        kvOn.slice(2, 1, 2).squeeze(2).transpose(1, 2), scale, y);
                assertValues("causalAttention " + Arrays.toString(c), new Ref(yShape, attention(c, scale,
                        (b, h, i, e) -> qkv.data()[(int) ((((b * tq + i) * 3 + 1) * heads + h) * d + e)],
                        (b, h, j, e) -> kv.data()[(int) ((((b * tk + j) * 2) * heads + h) * d + e)],
                        (b, h, j, e) -> kv.data()[(int) ((((b * tk + j) * 2 + 1) * heads + h) * d + e)])), y, TRANSCENDENTAL);

                // contiguous q; k and v positions 2 .. 2 + tk of [batch, heads, tk + 5, d] caches
                long capacity = tk + 5;
                Ref q = Ref.random(rng, -2, 2, batch, heads, tq, d).rounded();
                Ref kCache = Ref.random(rng, -2, 2, batch, heads, capacity, d).rounded();
                Ref vCache = Ref.random(rng, -2, 2, batch, heads, capacity, d).rounded();
                Tensor yCache = t.empty(DType.F32, batch, tq, heads, d);
                t.backend().causalAttention(t.on(q), t.on(kCache).slice(2, 2, 2 + tk), t.on(vCache).slice(2, 2, 2 + tk), scale, yCache);
                assertValues("causalAttention over a cache slice " + Arrays.toString(c), new Ref(yShape, attention(c, scale,
                        (b, h, i, e) -> q.data()[(int) (((b * heads + h) * tq + i) * d + e)],
                        (b, h, j, e) -> kCache.data()[(int) (((b * heads + h) * capacity + 2 + j) * d + e)],
                        (b, h, j, e) -> vCache.data()[(int) (((b * heads + h) * capacity + 2 + j) * d + e)])), yCache, TRANSCENDENTAL);

                // every head against the keys and values of head 0, broadcast at stride 0 (grouped-query attention)
                Tensor yShared = t.empty(DType.F32, batch, tq, heads, d);
                t.backend().causalAttention(t.on(q), t.on(kCache).slice(1, 0, 1).slice(2, 2, 2 + tk).expand(batch, heads, tk, d),
                        t.on(vCache).slice(1, 0, 1).slice(2, 2, 2 + tk).expand(batch, heads, tk, d), scale, yShared);
                assertValues("causalAttention over keys shared by every head " + Arrays.toString(c), new Ref(yShape, attention(c, scale,
                        (b, h, i, e) -> q.data()[(int) (((b * heads + h) * tq + i) * d + e)],
                        (b, h, j, e) -> kCache.data()[(int) ((b * heads * capacity + 2 + j) * d + e)],
                        (b, h, j, e) -> vCache.data()[(int) ((b * heads * capacity + 2 + j) * d + e)])), yShared, TRANSCENDENTAL);

                // grouped-query attention: the first heads / group heads of the caches, query head h on head h / group
                long group = heads;
                for (long g = heads / 2; g >= 2; g--) {
                    if (heads % g == 0) {
                        group = g;
                        break;
                    }
                }
                long g = group;
                Tensor yGrouped = t.empty(DType.F32, batch, tq, heads, d);
                t.backend().causalAttention(t.on(q), t.on(kCache).slice(1, 0, heads / g).slice(2, 2, 2 + tk),
                        t.on(vCache).slice(1, 0, heads / g).slice(2, 2, 2 + tk), scale, yGrouped);
                assertValues("causalAttention, groups of " + g + " query heads " + Arrays.toString(c), new Ref(yShape, attention(c, scale,
                        (b, h, i, e) -> q.data()[(int) (((b * heads + h) * tq + i) * d + e)],
                        (b, h, j, e) -> kCache.data()[(int) (((b * heads + h / g) * capacity + 2 + j) * d + e)],
                        (b, h, j, e) -> vCache.data()[(int) (((b * heads + h / g) * capacity + 2 + j) * d + e)])), yGrouped,
                        TRANSCENDENTAL);

                // the same caches held in F16, whole and grouped
                Tensor kHalf = t.on(kCache).to(DType.F16);
                Tensor vHalf = t.on(vCache).to(DType.F16);
                for (long kvHeads : new long[] {heads, heads / g}) {
                    Tensor yHalf = t.empty(DType.F32, batch, tq, heads, d);
                    long share = heads / kvHeads;
                    t.backend().causalAttention(t.on(q), kHalf.slice(1, 0, kvHeads).slice(2, 2, 2 + tk),
                            vHalf.slice(1, 0, kvHeads).slice(2, 2, 2 + tk), scale, yHalf);
                    assertValues("causalAttention over F16 caches, " + kvHeads + " key heads " + Arrays.toString(c),
                            new Ref(yShape, attention(c, scale,
                                    (b, h, i, e) -> q.data()[(int) (((b * heads + h) * tq + i) * d + e)],
                                    (b, h, j, e) -> half(kCache.data()[(int) (((b * heads + h / share) * capacity + 2 + j) * d + e)]),
                                    (b, h, j, e) -> half(vCache.data()[(int) (((b * heads + h / share) * capacity + 2 + j) * d + e)]))),
                            yHalf, TRANSCENDENTAL);
                }
            }
        });
    }

    /** x rounded to F16 (nearest even) by the JDK, as an F16 cache holds it. */
    private static double half(double x) {
        return Float.float16ToFloat(Float.floatToFloat16((float) x));
    }

    /** Element (batch, head, position, e) of an attention operand in the reference's view. */
    private interface AttentionOperand {
        double at(long b, long h, long t, long e);
    }

    /** {@link NnOpsTest#attentionReference} on operands read through their views, laid out [batch, tq, heads, d]. */
    private static double[] attention(long[] c, float scale, AttentionOperand q, AttentionOperand k, AttentionOperand v) {
        long tk = c[2] + c[3];
        return NnOpsTest.attentionReference(gathered(q, c[0], c[1], c[2], c[4]), gathered(k, c[0], c[1], tk, c[4]),
                gathered(v, c[0], c[1], tk, c[4]), scale).data();
    }

    /** The operand as a contiguous [batch, heads, t, d] float64 array. */
    private static Ref gathered(AttentionOperand x, long batch, long heads, long t, long d) {
        double[] out = new double[(int) (batch * heads * t * d)];
        int next = 0;
        for (long b = 0; b < batch; b++) {
            for (long h = 0; h < heads; h++) {
                for (long i = 0; i < t; i++) {
                    for (long e = 0; e < d; e++) {
                        out[next++] = x.at(b, h, i, e);
                    }
                }
            }
        }
        return new Ref(new long[] {batch, heads, t, d}, out);
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers({"adamw", "sgd"})
    void adamwAndSgdStepsFollowPyTorchsFormulas(ConformanceTargets t) {
        t.run(() -> {
            // sizes around the CUDA kernels' four elements a lane, and p off the 16-byte boundary their vector accesses need
            for (int n : new int[] {0, 1, 7, 1031}) {
                for (int offset : new int[] {0, 1}) {
                    adamwAndSgdSteps(t, n, offset);
                }
            }
        });
    }

    private static void adamwAndSgdSteps(ConformanceTargets t, int n, int offset) {
        String what = "[" + n + "] at offset " + offset + ": ";
        Ref p = Ref.random(new SplittableRandom(1), -1, 1, n).rounded();
        Ref g = Ref.random(new SplittableRandom(2), -1, 1, n).rounded();
        Ref m = Ref.random(new SplittableRandom(3), -0.1, 0.1, n).rounded();
        Ref v = Ref.random(new SplittableRandom(4), 0, 0.1, n).rounded();
        float lr = 1e-2f;
        float b1 = 0.9f;
        float b2 = 0.999f;
        float eps = 1e-8f;
        float wd = 0.01f;
        float bc1 = 1 - (float) Math.pow(b1, 3);
        float bc2 = 1 - (float) Math.pow(b2, 3);
        double[] pe = new double[n];
        double[] me = new double[n];
        for (int i = 0; i < n; i++) {
            double pi = p.data()[i] * (1 - (double) lr * wd);
            me[i] = b1 * m.data()[i] + (1 - (double) b1) * g.data()[i];
            double vi = b2 * v.data()[i] + (1 - (double) b2) * g.data()[i] * g.data()[i];
            pe[i] = pi - lr / (double) bc1 * me[i] / (Math.sqrt(vi) / Math.sqrt(bc2) + eps);
        }
        Tensor dp = t.on(p, offset);
        Tensor dm = t.on(m);
        t.backend().adamw(dp, t.on(g), dm, t.on(v), lr, b1, b2, eps, wd, bc1, bc2);
        assertValues(what + "adamw p", new Ref(p.shape(), pe), dp, ACCUMULATED);
        assertValues(what + "adamw m", new Ref(p.shape(), me), dm, ACCUMULATED);

        float momentum = 0.9f;
        float dampening = 0.1f;
        for (boolean nesterov : new boolean[] {false, true}) {
            double[] se = new double[n];
            double[] be = new double[n];
            for (int i = 0; i < n; i++) {
                double d = g.data()[i] + wd * p.data()[i];
                be[i] = momentum * m.data()[i] + (1 - dampening) * d;
                se[i] = p.data()[i] - lr * (nesterov ? d + momentum * be[i] : be[i]);
            }
            Tensor sp = t.on(p, offset);
            Tensor buf = t.on(m);
            t.backend().sgd(sp, t.on(g), buf, lr, momentum, dampening, wd, nesterov, false);
            assertValues(what + "sgd nesterov=" + nesterov, new Ref(p.shape(), se), sp, ACCUMULATED);
            assertValues(what + "sgd buffer nesterov=" + nesterov, new Ref(p.shape(), be), buf, ACCUMULATED);
        }
        Tensor plain = t.on(p, offset);
        t.backend().sgd(plain, t.on(g), null, lr, 0, 0, 0, false, true);
        assertValues(what + "sgd plain", Ref.zip(p, g, (pi, gi) -> pi - lr * gi), plain, ACCUMULATED);
    }

    /** Philox draws: the CPU backend's numbers, bit for bit, for odd sizes and offsets. */
    @ParameterizedTest
    @MethodSource("targets")
    @Covers("random")
    void randomDrawsAreTheCpuBackendsBits(ConformanceTargets t) {
        t.run(() -> {
            for (boolean normal : new boolean[] {false, true}) {
                for (long n : new long[] {0, 1, 7, 1031}) {
                    Tensor expected = Tensor.empty(DType.F32, n);
                    CpuBackend.INSTANCE.random(expected, 42, 5, normal);
                    Tensor y = t.empty(DType.F32, n);
                    t.backend().random(y, 42, 5, normal);
                    assertArrayEquals(expected.toFloatArray(), y.toFloatArray(), "normal=" + normal + " n=" + n);
                }
            }
        });
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers("kahanAccumulate")
    void kahanAccumulationKeepsTheLowBits(ConformanceTargets t) {
        // 131 = 4 * 32 + 3: CUDA's vector body and its tail; x one element into its buffer: the element-by-element path
        t.run(() -> {
            for (int offset : new int[] {0, 1}) {
                int n = 131;
                Ref x = Ref.random(new SplittableRandom(1), 1e-4, 2e-4, n).rounded();
                Tensor sum = t.empty(DType.F32, n);
                Tensor comp = t.empty(DType.F32, n);
                t.backend().fill(sum, 1000);
                t.backend().fill(comp, 0);
                Tensor dx = t.on(x, offset);
                int steps = 50;
                for (int s = 0; s < steps; s++) {
                    t.backend().kahanAccumulate(dx, s % 2 == 1, sum, comp);
                }
                // the compensated total sum - comp keeps the increments that float sums of ~1000 would round away
                float[] sums = sum.toFloatArray();
                float[] comps = comp.toFloatArray();
                for (int i = 0; i < n; i++) {
                    double v = x.data()[i];
                    double expected = 1000 + steps / 2.0 * (v + (double) (float) (v * v));
                    assertEquals(expected, (double) sums[i] - comps[i], 1e-9 * expected,
                            "kahan on " + t + "[" + i + "] at offset " + offset);
                }
            }
        });
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers("radixHistogram")
    void radixHistogramCountsKeysUnderAPrefix(ConformanceTargets t) {
        // random scores, and with a run of equal ones (whole warps in one bin: CUDA adds those once per warp)
        t.run(() -> {
            for (boolean run : new boolean[] {false, true}) {
                Ref x = Ref.random(new SplittableRandom(1), 0, 4, 1031).rounded();
                if (run) {
                    Arrays.fill(x.data(), 70, 450, 2.5);
                }
                x.data()[7] = Double.NaN; // invalid scores are counted, not binned
                x.data()[500] = -1.5;
                x.data()[1030] = Double.POSITIVE_INFINITY;
                int prefixBits = 2;
                long prefix = 1; // keys 0x40000000..0x7fffffff: values from 2 up
                long[] expected = new long[1 << 8];
                long[] got = new long[1 << 8];
                got[3] = 5; // the op adds to what is there
                expected[3] = 5;
                for (double v : x.data()) {
                    int key = Float.floatToRawIntBits((float) v);
                    if (v >= 0 && v < Double.POSITIVE_INFINITY && key >>> (32 - prefixBits) == prefix) {
                        expected[(key >>> 22) & 0xff]++;
                    }
                }
                assertEquals(3, t.backend().radixHistogram(t.on(x), prefix, prefixBits, 22, 8, got));
                assertArrayEquals(expected, got, run ? "with a run of 2.5" : "random");
            }
        });
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers("fisherMerge")
    void fisherMergeWeighsByFisherInformation(ConformanceTargets t) {
        t.run(() -> {
            for (int models : new int[] {1, 2, 3}) {
                int n = 131;
                Tensor[] thetas = new Tensor[models];
                Tensor[] fishers = new Tensor[models];
                Ref[] th = new Ref[models];
                Ref[] fi = new Ref[models];
                float[] weights = new float[models];
                float[] scales = new float[models];
                for (int m = 0; m < models; m++) {
                    th[m] = Ref.random(new SplittableRandom(m), -1, 1, n).rounded();
                    fi[m] = Ref.random(new SplittableRandom(m + 10), 0, 1, n).rounded();
                    fi[m].data()[7 * m] = Double.NaN; // a corrupt Fisher value makes its parameter NaN, not floored
                    thetas[m] = t.on(th[m]);
                    fishers[m] = t.on(fi[m]);
                    weights[m] = 1 + m;
                    scales[m] = 0.5f * (m + 1);
                }
                float floor = 1e-3f;
                double[] expected = new double[n];
                for (int i = 0; i < n; i++) {
                    double num = 0;
                    double den = 0;
                    for (int m = 0; m < models; m++) {
                        double d = weights[m] * Math.max((double) (scales[m] * (float) fi[m].data()[i]), floor);
                        num += d * th[m].data()[i];
                        den += d;
                    }
                    expected[i] = num / den;
                }
                Tensor out = t.empty(DType.F32, n);
                t.backend().fisherMerge(thetas, fishers, weights, scales, floor, out);
                assertValues("fisherMerge models=" + models, new Ref(new long[] {n}, expected), out, ACCUMULATED);
            }
        });
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers({"quantizeBlockwise", "dequantizeBlockwise"})
    void blockwiseQuantizationRoundTripsWithinHalfAStep(ConformanceTargets t) {
        t.run(() -> {
            // blocks CUDA reads four values a thread at a time (64) and one at a time (6), x aligned and not
            for (int[] c : new int[][] {{0, 64, 0}, {1, 64, 0}, {100, 64, 0}, {1031, 64, 0}, {1031, 64, 1}, {100, 6, 0}, {7, 6, 2}}) {
                int n = c[0];
                int block = c[1];
                Ref x = Ref.random(new SplittableRandom(n), -3, 3, n).rounded();
                int blocks = (n + block - 1) / block;
                double[] scales = new double[blocks];
                double[] codes = new double[n];
                for (int b = 0; b < blocks; b++) {
                    float absmax = 0;
                    for (int i = b * block; i < Math.min(n, (b + 1) * block); i++) {
                        absmax = Math.max(absmax, Math.abs((float) x.data()[i]));
                    }
                    float scale = absmax / 127f;
                    scales[b] = scale;
                    for (int i = b * block; i < Math.min(n, (b + 1) * block); i++) {
                        codes[i] = scale > 0 ? Math.clamp(Math.rint((float) x.data()[i] / scale), -127, 127) : 0;
                    }
                }
                Tensor q = t.empty(DType.I8, n);
                Tensor s = t.empty(DType.F32, blocks);
                t.backend().quantizeBlockwise(t.on(x, c[2]), block, q, s);
                String what = Arrays.toString(c) + " (n, block, offset): ";
                assertValues(what + "quantizeBlockwise scales", new Ref(new long[] {blocks}, scales), s, EXACT);
                assertValues(what + "quantizeBlockwise codes", new Ref(new long[] {n}, codes), q, EXACT);
                Tensor y = t.empty(DType.F32, n);
                t.backend().dequantizeBlockwise(q, s, block, y);
                double[] back = new double[n];
                for (int i = 0; i < n; i++) {
                    back[i] = (float) codes[i] * (float) scales[i / block];
                }
                assertValues(what + "dequantizeBlockwise", new Ref(new long[] {n}, back), y, EXACT);
            }
            Tensor bad = t.on(Tensor.of(new float[] {1, Float.NaN, 2}, 3));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> t.backend().quantizeBlockwise(bad, 2, t.empty(DType.I8, 3), t.empty(DType.F32, 2)));
            assertTrue(e.getMessage().contains("NaN"), e.getMessage());
        });
    }

    /**
     * m, k, n: empty, one, odd sizes, up to 16 rows big enough for the CPU's thread pool, and beyond 16 rows: the F32
     * fallback, or on CPUs with AMX-BF16 (k a multiple of 32, output-major; from 9 rows) its tiles, x split into three
     * BF16 pieces.
     */
    @ParameterizedTest
    @MethodSource("targets")
    @Covers("matmulHalfWeight")
    void bf16WeightsAreUsedAsStored(ConformanceTargets t) {
        t.run(() -> halfWeightProducts(t, DType.BF16, false));
    }

    /**
     * The same shapes with F16 weights (gemv.c and gemm_panels.c widen them with vcvtph2ps where the CPU has F16C),
     * a tenth of them F16 subnormals.
     */
    @ParameterizedTest
    @MethodSource("targets")
    @Covers("matmulHalfWeight")
    void f16WeightsAreUsedAsStored(ConformanceTargets t) {
        t.run(() -> halfWeightProducts(t, DType.F16, false));
    }

    /**
     * The same shapes (and one of an odd k past gemm_panels.c's 512-input block) with x not representable in BF16: the
     * product is that of x rounded to BF16 (to nearest even), on vdpbf16ps beyond 16 rows on CPUs that have it.
     */
    @ParameterizedTest
    @MethodSource("targets")
    @Covers("matmulBf16Rounded")
    void bf16RoundedProductsRoundTheActivations(ConformanceTargets t) {
        t.run(() -> halfWeightProducts(t, DType.BF16, true));
    }

    private static void halfWeightProducts(ConformanceTargets t, DType weightType, boolean rounded) {
        int[][] shapes = {{0, 3, 5}, {1, 1, 1}, {2, 7, 0}, {3, 13, 11}, {1, 263, 1031}, {8, 131, 257}, {11, 17, 9},
            {9, 64, 16}, {12, 32, 37}, {70, 96, 21}, {17, 128, 64}, {29, 1031, 101},
            // k a multiple of 32 up to 16 rows (gemv.c's split BF16 sums), in passes of 4, 2 and 1 rows of x
            {4, 64, 37}, {5, 32, 9}, {6, 256, 301}, {7, 96, 19}, {16, 64, 37}, {14, 256, 301},
            // one row against rows of up to 1024 inputs (twelve W rows side by side, then four), and just past them
            {1, 96, 29}, {1, 1024, 25}, {1, 1056, 13}};
        for (int[] s : shapes) {
            for (boolean inputMajor : new boolean[] {false, true}) {
                Ref x = Ref.random(new SplittableRandom(s[0] + s[1]), -1, 1, s[0], s[1]);
                x = rounded ? x : x.rounded();
                Ref w = Ref.random(new SplittableRandom(s[2]), -1, 1, s[2], s[1]) // [n, k]
                        .map(v -> weightType == DType.BF16 ? bf16((float) v) : f16(Math.abs(v) < 0.1 ? v * 1e-4 : v));
                Ref stored = inputMajor ? w.transposeRef() : w;
                Tensor y = t.empty(DType.F32, s[0], s[2]);
                Tensor storedHalf = t.on(stored).to(weightType);
                String what = (rounded ? "matmulBf16Rounded " : "matmulHalfWeight " + weightType + " ") + Arrays.toString(s)
                        + (inputMajor ? " input-major" : "");
                if (rounded) {
                    t.backend().matmulBf16Rounded(t.on(x), storedHalf, inputMajor, y);
                    assertValues(what, Ref.matmul(x.map(v -> bf16Nearest((float) v)), w.transposeRef()), y, GEMM);
                } else {
                    t.backend().matmulHalfWeight(t.on(x), storedHalf, inputMajor, y);
                    assertValues(what, Ref.matmul(x, w.transposeRef()), y, GEMM);
                }
            }
        }
    }

    /** Finite v rounded to the nearest bfloat16 value, ties to even: torch.tensor(v).to(torch.bfloat16). */
    private static double bf16Nearest(float v) {
        int bits = Float.floatToRawIntBits(v);
        return Float.intBitsToFloat((bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000);
    }

    /** v rounded to the nearest IEEE half (exact in F32 and F16 alike), by the JDK's conversion. */
    private static double f16(double v) {
        return Float.float16ToFloat(Float.floatToFloat16((float) v));
    }

    /** v rounded to a bfloat16 value (exact in F32 and BF16 alike). */
    private static double bf16(float v) {
        return Float.intBitsToFloat(Float.floatToRawIntBits(v) & 0xffff0000);
    }

    @ParameterizedTest
    @MethodSource("targets")
    @Covers({"outlierColumns", "quantizeRows", "matmulQ8", "matmulQ8Outliers"})
    void int8LinearKernels(ConformanceTargets t) {
        // m, k, n: a small case, then decoding-sized ones (one to eight rows) large enough for the CPU's thread pool
        // and k a multiple of 4: CUDA quantizes those rows four values a thread at a time; {40, 1028, 3}, 41k values,
        // has its rows quantized in parallel; the last two are single rows (the CPU's VNNI tier runs one row on its own
        // kernel, 128 codes at a time in two sums, then 64 at a time masked): 1031 columns, a tail after the pairs, and
        // 256, none
        int[][] shapes = {{5, 37, 7}, {1, 131, 1031}, {3, 257, 263}, {8, 61, 2053}, {4, 64, 9}, {3, 132, 5}, {40, 1028, 3},
            {1, 1031, 67}, {1, 256, 9}};
        t.run(() -> {
            for (int[] shape : shapes) {
                int8LinearKernels(t, shape[0], shape[1], shape[2]);
            }
        });
    }

    /** quantizeRows's reference: per row, scale = max |x| / 127 over the columns not flagged, codes rounded to even. */
    private static void quantizedRows(double[] xd, double[] flagRef, int m, int k, double[] codes, double[] scales) {
        for (int r = 0; r < m; r++) {
            float absmax = 0;
            for (int c = 0; c < k; c++) {
                absmax = flagRef[c] != 0 ? absmax : Math.max(absmax, Math.abs((float) xd[r * k + c]));
            }
            float scale = absmax / 127f;
            scales[r] = scale;
            for (int c = 0; c < k; c++) {
                codes[r * k + c] = flagRef[c] != 0 ? 0 : Math.clamp(Math.rint((float) xd[r * k + c] / scale), -127, 127);
            }
        }
    }

    private static void int8LinearKernels(ConformanceTargets t, int m, int k, int n) {
        Ref x = Ref.random(new SplittableRandom(1), -1, 1, m, k).rounded();
        double[] xd = x.data().clone();
        xd[2] = 9; // an outlier in column 2
        xd[(m - 1) * k + 11] = -8; // and in column 11 (of the last row)
        Ref xo = new Ref(x.shape(), xd);
        Tensor flags = t.empty(DType.U8, k);
        assertEquals(2, t.backend().outlierColumns(t.on(xo), 6f, flags));
        double[] flagRef = new double[k];
        flagRef[2] = 1;
        flagRef[11] = 1;
        assertValues("outlierColumns", new Ref(new long[] {k}, flagRef), flags, EXACT);

        Tensor xq = t.empty(DType.I8, m, k);
        Tensor xs = t.empty(DType.F32, m);
        t.backend().quantizeRows(t.on(xo), flags, xq, xs);
        double[] codes = new double[m * k];
        double[] scales = new double[m];
        quantizedRows(xd, flagRef, m, k, codes, scales);
        assertValues("quantizeRows scales", new Ref(new long[] {m}, scales), xs, EXACT);
        assertValues("quantizeRows codes", new Ref(new long[] {m, k}, codes), xq, EXACT);

        // a BF16 or F16 x (a checkpoint's weight quantized as it is read), with and without excluded columns
        for (DType half : new DType[] {DType.BF16, DType.F16}) {
            Ref xh = xo.map(v -> half == DType.BF16 ? bf16((float) v) : Float.float16ToFloat(Float.floatToFloat16((float) v)));
            double[] halfCodes = new double[m * k];
            double[] halfScales = new double[m];
            for (boolean exclude : new boolean[] {true, false}) {
                Tensor hq = t.empty(DType.I8, m, k);
                Tensor hs = t.empty(DType.F32, m);
                t.backend().quantizeRows(t.on(xh).to(half), exclude ? flags : null, hq, hs);
                quantizedRows(xh.data(), exclude ? flagRef : new double[k], m, k, halfCodes, halfScales);
                String what = "quantizeRows of " + half + ", exclude " + exclude;
                assertValues(what + ": scales", new Ref(new long[] {m}, halfScales), hs, EXACT);
                assertValues(what + ": codes", new Ref(new long[] {m, k}, halfCodes), hq, EXACT);
            }
        }

        byte[] wCodes = new byte[n * k];
        new SplittableRandom(3).nextBytes(wCodes);
        for (int i = 0; i < wCodes.length; i++) {
            wCodes[i] = (byte) Math.max(-127, wCodes[i]);
        }
        Ref ws = Ref.random(new SplittableRandom(4), 0.001, 0.01, n).rounded();
        Ref bias = Ref.random(new SplittableRandom(5), -1, 1, n).rounded();
        Tensor wq = t.on(Tensor.ofBytes(wCodes, DType.I8, n, k));
        Tensor y = t.empty(DType.F32, m, n);
        t.backend().matmulQ8(xq, xs, wq, t.on(ws), t.on(bias), y);
        double[] expected = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                long dot = 0;
                for (int c = 0; c < k; c++) {
                    dot += (long) codes[i * k + c] * wCodes[j * k + c];
                }
                expected[i * n + j] = dot * scales[i] * ws.data()[j] + bias.data()[j];
            }
        }
        assertValues("matmulQ8", new Ref(new long[] {m, n}, expected), y, ACCUMULATED);

        Tensor columns = t.on(Tensor.of(new long[] {2, 11}, 2));
        t.backend().matmulQ8Outliers(t.on(xo), columns, wq, t.on(ws), y);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                for (int c : new int[] {2, 11}) {
                    expected[i * n + j] += xd[i * k + c] * wCodes[j * k + c] * ws.data()[j];
                }
            }
        }
        assertValues("matmulQ8Outliers", new Ref(new long[] {m, n}, expected), y, ACCUMULATED);
    }

    /**
     * The int8 GEMM on random codes at shapes whose n and k are multiples of 4 (on CUDA: cuBLASLt's int32 GEMM, then the
     * scaling kernel) and shapes that are not, and from a row slice whose codes start off a 16-byte boundary (on CUDA:
     * the one-kernel fallback), with and without bias, against exact int sums scaled in float64.
     */
    @ParameterizedTest
    @MethodSource("targets")
    @Covers("matmulQ8")
    void int8GemmAtShapesForCublasLtAndForItsFallback(ConformanceTargets t) {
        t.run(() -> {
            // {9, 16, 64} and the two after it: more than 8 rows and k % 64 == 0, which CPUs with AMX run on AMX tiles
            // (n % 16 channels left); the last three have no columns (y = bias) on each row-count path
            int[][] mnk = {{1, 4, 4}, {3, 8, 36}, {13, 12, 64}, {5, 7, 37}, {2, 4, 6}, {0, 4, 8}, {7, 1, 1}, {4, 16, 36},
                {9, 16, 64}, {17, 37, 128}, {70, 48, 192}, {1, 5, 0}, {3, 6, 0}, {17, 9, 0},
                // up to 64 rows on the pool's tiles (from 2^16 multiply-adds), then the VNNI panels (no AMX)
                {33, 48, 256}, {64, 20, 68}, {65, 24, 64}};
            int seed = 0;
            for (int[] s : mnk) {
                int m = s[0];
                int n = s[1];
                int k = s[2];
                SplittableRandom rng = new SplittableRandom(++seed);
                byte[] x = codes(rng, (m + 1) * k);
                byte[] w = codes(rng, n * k);
                Ref xs = Ref.random(rng, 0.001, 0.01, m).rounded();
                Ref ws = Ref.random(rng, 0.001, 0.01, n).rounded();
                Ref bias = Ref.random(rng, -1, 1, n).rounded();
                Tensor all = t.on(Tensor.ofBytes(x, DType.I8, m + 1, k));
                Tensor wq = t.on(Tensor.ofBytes(w, DType.I8, n, k));
                // rows 0..m-1 from the start of the buffer, and rows 1..m, k bytes in
                for (int first : new int[] {0, 1}) {
                    for (boolean withBias : new boolean[] {true, false}) {
                        Tensor y = t.empty(DType.F32, m, n);
                        t.backend().matmulQ8(all.slice(0, first, first + m), t.on(xs), wq, t.on(ws), withBias ? t.on(bias) : null, y);
                        double[] expected = new double[m * n];
                        for (int i = 0; i < m; i++) {
                            for (int j = 0; j < n; j++) {
                                long dot = 0;
                                for (int c = 0; c < k; c++) {
                                    dot += (long) x[(first + i) * k + c] * w[j * k + c];
                                }
                                expected[i * n + j] = dot * xs.data()[i] * ws.data()[j] + (withBias ? bias.data()[j] : 0);
                            }
                        }
                        assertValues("matmulQ8 " + Arrays.toString(s) + " from row " + first + (withBias ? " with bias" : ""),
                                new Ref(new long[] {m, n}, expected), y, ACCUMULATED);
                    }
                }
            }
        });
    }

    /** Random int8 codes in [-127, 127] (the quantizers never make -128). */
    private static byte[] codes(SplittableRandom rng, int count) {
        byte[] codes = new byte[count];
        for (int i = 0; i < count; i++) {
            codes[i] = (byte) rng.nextInt(-127, 128);
        }
        return codes;
    }

    /**
     * Scores with ties (multiples of 1/8), and in some runs invalid ones (NaN, infinities, negatives; -0 is
     * a valid 0), against a plain loop; thresholds that occur, quotas of 0, 3 and unlimited, room for all
     * hits or half of them, written into views with an offset (as TopK passes). 20011 elements span many
     * CUDA blocks, each several block-widths long.
     */
    @ParameterizedTest
    @MethodSource("targets")
    @Covers("selectAbove")
    void selectAboveKeepsIndexOrderTheEqualQuotaAndTheRoom(ConformanceTargets t) {
        t.run(() -> {
            SplittableRandom rng = new SplittableRandom(13);
            float[] invalid = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -1f, -0f};
            for (int n : new int[] {1, 2, 17, 64, 20_011}) {
                for (boolean withInvalid : new boolean[] {false, true}) {
                    float[] v = new float[n];
                    for (int i = 0; i < n; i++) {
                        v[i] = withInvalid && rng.nextInt(8) == 0 ? invalid[rng.nextInt(invalid.length)] : rng.nextInt(17) / 8f;
                    }
                    Tensor x = t.on(Tensor.of(v, n));
                    // a threshold that occurs, and 0, whose key negative scores share without being ties
                    for (float at : new float[] {v[rng.nextInt(n)], 0f}) {
                        int threshold = Float.isFinite(at) && at > 0 ? Float.floatToRawIntBits(at) : 0;
                        for (long quota : new long[] {0, 3, Long.MAX_VALUE}) {
                            checkSelectAbove(t, v, x, threshold, quota);
                        }
                    }
                }
            }
        });
    }

    private static void checkSelectAbove(ConformanceTargets t, float[] v, Tensor x, int threshold, long quota) {
        int n = v.length;
        long[] idx = new long[n];
        long[] keys = new long[n];
        int qualifying = 0;
        long equal = 0;
        long invalid = 0;
        for (int i = 0; i < n; i++) {
            boolean valid = v[i] >= 0 && Float.isFinite(v[i]); // -0 >= 0 too
            int key = valid ? Float.floatToRawIntBits(v[i] == 0 ? 0f : v[i]) : 0;
            invalid += valid ? 0 : 1;
            if (valid && (Integer.compareUnsigned(key, threshold) > 0 || (key == threshold && equal++ < quota))) {
                idx[qualifying] = i;
                keys[qualifying++] = key;
            }
        }
        for (int room : new int[] {qualifying, qualifying / 2}) {
            Tensor indicesOut = t.empty(DType.I64, room + 2);
            Tensor keysOut = t.empty(DType.I32, room + 2);
            Tensor indices = indicesOut.slice(0, 2, room + 2);
            Tensor keyView = keysOut.slice(0, 2, room + 2);
            String what = "selectAbove n=" + n + " threshold=" + Float.intBitsToFloat(threshold) + " quota=" + quota + " room=" + room;
            assertEquals(new Backend.Selected(room, qualifying, invalid), t.backend().selectAbove(x, threshold, quota, indices, keyView),
                    what);
            assertValues(what + " indices", longs(Arrays.copyOf(idx, room)), indices, EXACT);
            assertValues(what + " keys", longs(Arrays.copyOf(keys, room)), keyView.to(DType.I64), EXACT);
        }
    }

    private static Ref longs(long[] values) {
        return new Ref(new long[] {values.length}, Arrays.stream(values).asDoubleStream().toArray());
    }

    /**
     * a = m m^T / n + I (condition number below 3) and b random, against a float64 Cholesky factorisation and
     * solve of the same float values: b becomes x, a's upper triangle U with a = U^T U, its strict lower
     * triangle unchanged (as LAPACK's sposv). A matrix that is not positive definite is refused by name.
     */
    @ParameterizedTest
    @MethodSource("targets")
    @Covers("solvePositiveDefinite")
    void solvePositiveDefiniteMatchesAFloat64Cholesky(ConformanceTargets t) {
        t.run(() -> {
            for (int n : new int[] {1, 2, 17, 64}) {
                for (int k : new int[] {1, 3}) {
                    Ref m = Ref.random(new SplittableRandom(n), -1, 1, n, n);
                    Ref a = Ref.zip(Ref.matmul(m, m.transposeRef()), Ref.identity(n), (p, q) -> p / n + q).rounded();
                    Ref b = Ref.random(new SplittableRandom(n + k), -1, 1, n, k).rounded();
                    double[] u = choleskyUpper(a, n);
                    double[] x = b.data().clone();
                    for (int c = 0; c < k; c++) { // U^T y = b, then U x = y
                        for (int i = 0; i < n; i++) {
                            double s = x[i * k + c];
                            for (int r = 0; r < i; r++) {
                                s -= u[r * n + i] * x[r * k + c];
                            }
                            x[i * k + c] = s / u[i * n + i];
                        }
                        for (int i = n - 1; i >= 0; i--) {
                            double s = x[i * k + c];
                            for (int r = i + 1; r < n; r++) {
                                s -= u[i * n + r] * x[r * k + c];
                            }
                            x[i * k + c] = s / u[i * n + i];
                        }
                    }
                    double[] factor = a.data().clone();
                    for (int i = 0; i < n; i++) {
                        System.arraycopy(u, i * n + i, factor, i * n + i, n - i);
                    }
                    Tensor da = t.on(a);
                    Tensor db = t.on(b);
                    t.backend().solvePositiveDefinite(da, db);
                    String what = "solvePositiveDefinite n=" + n + " k=" + k;
                    assertValues(what + " x", new Ref(b.shape(), x), db, SOLVE);
                    assertValues(what + " factor", new Ref(a.shape(), factor), da, SOLVE);
                }
            }
            Tensor indefinite = t.on(Tensor.of(new float[] {1, 2, 2, 1}, 2, 2));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> t.backend().solvePositiveDefinite(indefinite, t.on(Tensor.of(new float[] {1, 1}, 2, 1))));
            assertTrue(e.getMessage().contains("solvePositiveDefinite") && e.getMessage().contains("not positive definite")
                    && e.getMessage().contains("leading minor 2"), e.getMessage());
        });
    }

    /** U with a = U^T U, row-major, zero below the diagonal. */
    private static double[] choleskyUpper(Ref a, int n) {
        double[] u = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = i; j < n; j++) {
                double s = a.data()[i * n + j];
                for (int r = 0; r < i; r++) {
                    s -= u[r * n + i] * u[r * n + j];
                }
                u[i * n + j] = i == j ? Math.sqrt(s) : s / u[i * n + i];
            }
        }
        return u;
    }

    /** gy^T J_f(x), with the Jacobian from central differences of f: d/dx_j of sum_i gy_i f(x)_i. */
    private static double[] vectorJacobianByFiniteDifferences(double[] x, double[] gy, UnaryOperator<double[]> f) {
        double[] out = new double[x.length];
        double h = 1e-5;
        for (int j = 0; j < x.length; j++) {
            double saved = x[j];
            x[j] = saved + h;
            double plus = dot(gy, f.apply(x));
            x[j] = saved - h;
            double minus = dot(gy, f.apply(x));
            x[j] = saved;
            out[j] = (plus - minus) / (2 * h);
        }
        return out;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    private static void forEachRows(RowsBody body) {
        for (long[] shape : ROWS) {
            body.run(shape[0], shape[1]);
        }
    }

    private interface RowsBody {
        void run(long rows, long cols);
    }

}
