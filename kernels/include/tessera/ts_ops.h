/* Op and dtype codes shared by the C kernels, the CUDA kernels and the Java enums
 * (io.tessera.engine.Ops.Unary, Ops.Binary, Ops.Compare, Ops.Reduce, DType): the numbers are ABI. */
#ifndef TESSERA_TS_OPS_H
#define TESSERA_TS_OPS_H

#define TS_MAX_DIMS 8

/* dtypes */
enum {
    TS_F32 = 0, TS_BF16 = 1, TS_F16 = 2, TS_I8 = 3, TS_U8 = 4, TS_BOOL = 5, TS_I32 = 6, TS_I64 = 7,
    TS_F64 = 8, TS_I16 = 9, TS_U16 = 10, TS_U32 = 11, TS_U64 = 12
};

/* unary ops; alpha is the scalar operand where one is needed */
enum {
    TS_NEG = 0, TS_EXP = 1, TS_LOG = 2, TS_SQRT = 3, TS_TANH = 4, TS_RELU = 5, TS_GELU_TANH = 6,
    TS_GELU_ERF = 7, TS_SILU = 8, TS_SIGMOID = 9, TS_ABS = 10, TS_RECIPROCAL = 11,
    TS_ADD_SCALAR = 12, TS_MUL_SCALAR = 13, TS_POW_SCALAR = 14, TS_RSUB_SCALAR = 15, TS_RDIV_SCALAR = 16,
    TS_SIN = 17, TS_COS = 18
};

/* binary ops; the *_GRAD ops take (x, upstream gradient) and return the input gradient */
enum {
    TS_ADD = 0, TS_SUB = 1, TS_MUL = 2, TS_DIV = 3, TS_MAXIMUM = 4, TS_MINIMUM = 5, TS_POW = 6,
    TS_RELU_GRAD = 7, TS_GELU_TANH_GRAD = 8, TS_GELU_ERF_GRAD = 9, TS_SILU_GRAD = 10, TS_SIGMOID_GRAD = 11,
    TS_TANH_GRAD = 12
};

enum { TS_EQ = 0, TS_NE = 1, TS_LT = 2, TS_LE = 3, TS_GT = 4, TS_GE = 5 };

/* reductions; SUM accumulates in double; ARGMAX writes int64 (first index of the maximum) */
enum { TS_RSUM = 0, TS_RMAX = 1, TS_RMIN = 2, TS_RARGMAX = 3, TS_RSUMSQ = 4 };

#endif
