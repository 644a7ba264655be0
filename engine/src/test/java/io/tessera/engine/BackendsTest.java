package io.tessera.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Device names and the default device: plain Java, no device needed. */
class BackendsTest {

    @Test
    void deviceNamesParseToDevices() {
        assertEquals(Device.cuda(2), Backends.parse("cuda:2"));
        assertEquals(Device.cuda(0), Backends.parse(" CUDA "));
        assertEquals(Device.CPU, Backends.parse("cpu"));
        assertEquals(Device.CPU, Backends.parse("cpu:0"));
        for (String bad : new String[] {"tpu", "cuda:", "cuda:x", "cuda:-1", "cpu:1"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.parse(bad), bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
    }

    @Test
    void theDefaultDeviceComesFromTheSystemProperty() {
        String saved = System.getProperty(Backends.DEVICE_PROPERTY);
        try {
            System.clearProperty(Backends.DEVICE_PROPERTY);
            assertEquals(Device.CPU, Backends.defaultDevice(), "unset");
            System.setProperty(Backends.DEVICE_PROPERTY, " ");
            assertEquals(Device.CPU, Backends.defaultDevice(), "blank");
            System.setProperty(Backends.DEVICE_PROPERTY, "cuda:1");
            assertEquals(Device.cuda(1), Backends.defaultDevice());
            System.setProperty(Backends.DEVICE_PROPERTY, "gpu");
            assertThrows(IllegalArgumentException.class, Backends::defaultDevice);
        } finally {
            if (saved == null) {
                System.clearProperty(Backends.DEVICE_PROPERTY);
            } else {
                System.setProperty(Backends.DEVICE_PROPERTY, saved);
            }
        }
    }
}
