package io.tessera.engine;

/**
 * Op codes of the primitive kernels; each number is ABI shared with kernels/include/tessera/ts_ops.h.
 */
public final class Ops {
    private Ops() {}

    public enum Unary {
        NEG(0), EXP(1), LOG(2), SQRT(3), TANH(4), RELU(5), GELU_TANH(6), GELU_ERF(7), SILU(8), SIGMOID(9),
        ABS(10), RECIPROCAL(11), ADD_SCALAR(12), MUL_SCALAR(13), POW_SCALAR(14), RSUB_SCALAR(15),
        RDIV_SCALAR(16), SIN(17), COS(18);

        public final int code;

        Unary(int code) {
            this.code = code;
        }
    }

    /** The *_GRAD ops take (forward input or output, upstream gradient) and give the input gradient. */
    public enum Binary {
        ADD(0), SUB(1), MUL(2), DIV(3), MAXIMUM(4), MINIMUM(5), POW(6), RELU_GRAD(7), GELU_TANH_GRAD(8),
        GELU_ERF_GRAD(9), SILU_GRAD(10), SIGMOID_GRAD(11), TANH_GRAD(12);

        public final int code;

        Binary(int code) {
            this.code = code;
        }
    }

    public enum Compare {
        EQ(0), NE(1), LT(2), LE(3), GT(4), GE(5);

        public final int code;

        Compare(int code) {
            this.code = code;
        }
    }

    /** SUM and SUMSQ accumulate in float64; ARGMAX gives I64 (first index of the maximum; NaN wins). */
    public enum Reduce {
        SUM(0), MAX(1), MIN(2), ARGMAX(3), SUMSQ(4);

        public final int code;

        Reduce(int code) {
            this.code = code;
        }
    }
}
