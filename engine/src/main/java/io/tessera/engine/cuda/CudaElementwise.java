package io.tessera.engine.cuda;

import io.tessera.engine.Ops;
import io.tessera.engine.Tensor;
import io.tessera.ffi.CudaDriver;

/** copy, fill, unary, binary, compare and where: kernels/cuda/copy.cu and elementwise.cu over strided views. */
final class CudaElementwise {
    private final CudaContext context;

    CudaElementwise(CudaContext context) {
        this.context = context;
    }

    void copy(Tensor src, Tensor dst) {
        long source = address("copy", src);
        long target = address("copy", dst);
        if (dst.numel() == 0) {
            return;
        }
        if (src.dtype() == dst.dtype() && src.isContiguous() && dst.isContiguous()) {
            context.makeCurrent();
            CudaDriver.check(CudaDriver.cuMemcpyDtoDAsync_v2(target, source, dst.numel() * dst.dtype().byteSize(), context.stream()),
                    "cuMemcpyDtoDAsync_v2");
            return;
        }
        context.launch("ts_copy_strided").i32(src.dtype().code()).i32(dst.dtype().code())
                .struct(StridedArgs.BYTES, s -> StridedArgs.write(s, dst.shape(), src.strides(), dst.strides()))
                .ptr(source).ptr(target).overItems(dst.numel());
    }

    void fill(Tensor dst, double value) {
        long target = address("fill", dst);
        if (dst.numel() > 0) {
            context.launch("ts_fill").i32(dst.dtype().code()).i64(dst.numel()).f64(value).ptr(target).overItems(dst.numel());
        }
    }

    void unary(Ops.Unary op, float alpha, Tensor x, Tensor y) {
        String name = "unary " + op;
        long in = address(name, x);
        long out = address(name, y);
        if (y.numel() > 0) {
            context.launch("ts_unary_f32").i32(op.code).f32(alpha)
                    .struct(StridedArgs.BYTES, s -> StridedArgs.write(s, y.shape(), x.strides(), y.strides()))
                    .ptr(in).ptr(out).overItems(y.numel());
        }
    }

    void binary(Ops.Binary op, Tensor a, Tensor b, Tensor y) {
        twoInputs("ts_binary_f32", "binary " + op, op.code, a, b, y);
    }

    void compare(Ops.Compare op, Tensor a, Tensor b, Tensor y) {
        twoInputs("ts_compare_f32", "compare " + op, op.code, a, b, y);
    }

    private void twoInputs(String kernel, String name, int code, Tensor a, Tensor b, Tensor y) {
        long left = address(name, a);
        long right = address(name, b);
        long out = address(name, y);
        if (y.numel() > 0) {
            context.launch(kernel).i32(code)
                    .struct(StridedArgs.BYTES, s -> StridedArgs.write(s, y.shape(), a.strides(), b.strides(), y.strides()))
                    .ptr(left).ptr(right).ptr(out).overItems(y.numel());
        }
    }

    void where(Tensor cond, Tensor a, Tensor b, Tensor y) {
        long c = address("where", cond);
        long left = address("where", a);
        long right = address("where", b);
        long out = address("where", y);
        if (y.numel() > 0) {
            context.launch("ts_where_f32")
                    .struct(StridedArgs.BYTES, s -> StridedArgs.write(s, y.shape(), cond.strides(), a.strides(), b.strides(), y.strides()))
                    .ptr(c).ptr(left).ptr(right).ptr(out).overItems(y.numel());
        }
    }

    private long address(String op, Tensor t) {
        return DeviceTensors.address(context, op, t);
    }
}
