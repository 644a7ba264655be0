package io.tessera.engine.cuda;

import io.tessera.engine.DeviceStorage;
import io.tessera.engine.Tensor;

/** Device addresses of tensors handed to a CUDA op, checked to live on the op's device. */
final class DeviceTensors {
    private DeviceTensors() {}

    /** The address of t's first element, or 0 for a null (optional) tensor. */
    static long address(CudaContext context, String op, Tensor t) {
        if (t == null) {
            return 0;
        }
        if (!(t.storage() instanceof DeviceStorage storage) || !storage.device().equals(context.device())) {
            throw new IllegalArgumentException(op + " on " + context.device() + ": tensor " + t.describe() + " is not on "
                    + context.device() + "; move it with to(" + context.device() + ")");
        }
        return storage.address() + t.offset() * t.dtype().byteSize();
    }
}
