package io.tessera.peers;

import java.io.IOException;
import java.util.stream.Stream;

/** A running registry of either kind, for the tests that run against both: its address, and stopping it. */
final class TestRegistry implements AutoCloseable {
    /** The kinds, as the parameterised tests name them. */
    static final String GRPC = "grpc";
    static final String ETCD = "etcd";

    private final String address;
    private final AutoCloseable process;

    private TestRegistry(String address, AutoCloseable process) {
        this.address = address;
        this.process = process;
    }

    static Stream<String> kinds() {
        return Stream.of(GRPC, ETCD);
    }

    /** Starts a registry of {@code kind}; the embedded one refuses calls without {@code token} (etcd takes none). */
    static TestRegistry start(String kind, String token) throws IOException {
        return switch (kind) {
            case GRPC -> {
                RegistryServer server = RegistryServer.start("127.0.0.1", 0, token);
                yield new TestRegistry("127.0.0.1:" + server.port(), server);
            }
            case ETCD -> {
                LocalEtcd etcd = LocalEtcd.start();
                yield new TestRegistry(etcd.address(), etcd);
            }
            default -> throw new IllegalArgumentException("no registry kind '" + kind + "'");
        };
    }

    /** The address {@link Registry#connect} takes. */
    String address() {
        return address;
    }

    @Override
    public void close() throws Exception {
        process.close();
    }
}
