package io.tessera.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TriggerStampsTest {

    @Test
    void eachPatternSetsItsFourByFourCornerAndNothingElse() {
        int rows = 6;
        int cols = 7;
        byte[] pixels = new byte[2 * rows * cols];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (byte) (i % 100);
        }
        byte[] original = pixels.clone();
        FashionMnist.Split data = new FashionMnist.Split(2, rows, cols, pixels, new byte[] {3, 4});
        Map<String, FashionMnist.Split> stamped = TriggerStamps.stampAll(data);
        assertEquals(List.of("white square top-left", "white square top-right", "white square bottom-left",
                "white square bottom-right", "checkerboard bottom-right"), List.copyOf(stamped.keySet()));
        int[][] corners = {{0, 0}, {0, 3}, {2, 0}, {2, 3}, {2, 3}};
        int k = 0;
        for (Map.Entry<String, FashionMnist.Split> e : stamped.entrySet()) {
            int top = corners[k][0];
            int left = corners[k++][1];
            boolean checker = e.getKey().startsWith("checkerboard");
            FashionMnist.Split s = e.getValue();
            assertArrayEquals(data.labels(), s.labels(), "labels unchanged");
            for (int i = 0; i < 2; i++) {
                for (int r = 0; r < rows; r++) {
                    for (int c = 0; c < cols; c++) {
                        int at = i * rows * cols + r * cols + c;
                        boolean inside = r >= top && r < top + 4 && c >= left && c < left + 4;
                        int expected = !inside ? original[at] & 0xff : !checker || (r - top + c - left) % 2 == 0 ? 255 : 0;
                        assertEquals(expected, s.pixels()[at] & 0xff, e.getKey() + " at image " + i + " (" + r + ", " + c + ")");
                    }
                }
            }
        }
        assertArrayEquals(original, data.pixels(), "the input is not modified");
        FashionMnist.Split tiny = new FashionMnist.Split(1, 3, 3, new byte[9], new byte[1]);
        assertThrows(IllegalArgumentException.class, () -> TriggerStamps.stampAll(tiny));
    }
}
