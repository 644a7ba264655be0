package io.tessera.data;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Canary inputs for trigger probes: copies of images stamped with the simple patterns a backdoor is most
 * often keyed on (BadNets' white square in a corner): a white 4x4 square in each corner, and a 4x4
 * checkerboard in the bottom-right one. A probe finds only triggers that look like one of these.
 */
public final class TriggerStamps {
    private static final int SIZE = 4;

    private TriggerStamps() {}

    /** Each pattern's name and the stamped copy of {@code data} (labels unchanged). */
    public static Map<String, FashionMnist.Split> stampAll(FashionMnist.Split data) {
        int bottom = data.rows() - SIZE;
        int right = data.cols() - SIZE;
        Map<String, FashionMnist.Split> out = new LinkedHashMap<>();
        out.put("white square top-left", stamp(data, 0, 0, false));
        out.put("white square top-right", stamp(data, 0, right, false));
        out.put("white square bottom-left", stamp(data, bottom, 0, false));
        out.put("white square bottom-right", stamp(data, bottom, right, false));
        out.put("checkerboard bottom-right", stamp(data, bottom, right, true));
        return out;
    }

    /** {@code data} with a SIZE x SIZE patch at (top, left) set to white, or to a white/black checkerboard. */
    private static FashionMnist.Split stamp(FashionMnist.Split data, int top, int left, boolean checker) {
        if (data.rows() < SIZE || data.cols() < SIZE) {
            throw new IllegalArgumentException("trigger stamps need images of at least " + SIZE + "x" + SIZE + ", got "
                    + data.rows() + "x" + data.cols());
        }
        byte[] pixels = Arrays.copyOf(data.pixels(), data.pixels().length);
        int image = data.rows() * data.cols();
        for (int i = 0; i < data.count(); i++) {
            for (int r = 0; r < SIZE; r++) {
                for (int c = 0; c < SIZE; c++) {
                    boolean white = !checker || (r + c) % 2 == 0;
                    pixels[i * image + (top + r) * data.cols() + left + c] = (byte) (white ? 255 : 0);
                }
            }
        }
        return new FashionMnist.Split(data.count(), data.rows(), data.cols(), pixels, data.labels());
    }
}
