package io.tessera.sparse;

import io.tessera.engine.DType;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;

/**
 * One trainable parameter's mask in the form its kernel takes, plus the optimizer's state buffers for
 * it: for {@link UpdateForm#INDEXED} an int32/int64 index list and k-long state, for
 * {@link UpdateForm#DENSE} a u8 mask and full-size state, on the parameter's device. Owns that memory
 * (outside any scope).
 */
final class MaskedParameter implements AutoCloseable {
    final String name;
    final UpdateForm form;
    final long count;
    final double density;
    /** I32/I64 [k] indices (INDEXED) or U8 [n] 0/1 mask (DENSE). */
    final Tensor selection;
    /** Zeroed f32 buffers, k-long (INDEXED) or n-long (DENSE), e.g. AdamW's m and v. */
    final Tensor[] state;
    /** Set after the first update (SGD initialises its momentum buffer then, as torch does per parameter). */
    boolean updated;

    MaskedParameter(String name, Tensor param, TensorMask mask, UpdateForm form, int stateBuffers) {
        this.name = name;
        this.form = form;
        this.count = mask.count();
        this.density = mask.density();
        long length = form == UpdateForm.INDEXED ? count : param.numel();
        Device device = param.device();
        this.selection = TensorScope.outside(() -> (form == UpdateForm.INDEXED ? indexList(mask) : byteMask(mask)).moveTo(device));
        this.state = new Tensor[stateBuffers];
        for (int b = 0; b < stateBuffers; b++) {
            state[b] = TensorScope.outside(() -> Tensor.zeros(device, length));
        }
    }

    private static Tensor indexList(TensorMask mask) {
        return IndexCodec.encode(mask.indices(), false, TensorMask.indexWidth(mask.numel()));
    }

    /** Written straight into native memory: no n-byte array on the Java heap. */
    private static Tensor byteMask(TensorMask mask) {
        Tensor bytes = Tensor.zeros(DType.U8, mask.numel());
        MemorySegment target = HostTensors.writableBytes(bytes, "mask");
        mask.forEachIndex(i -> target.set(ValueLayout.JAVA_BYTE, i, (byte) 1));
        return bytes;
    }

    @Override
    public void close() {
        selection.close();
        for (Tensor t : state) {
            t.close();
        }
    }

    /** e.g. "0.weight indexed (1003 entries, 0.500%, compact gradient)". */
    String describe(boolean compactGradient) {
        return String.format("%s %s (%d entries, %.3f%%%s)", name, form.name().toLowerCase(Locale.ROOT), count,
                100 * density, compactGradient ? ", compact gradient" : "");
    }
}
