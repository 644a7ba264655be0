package io.tessera.peers;

import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.ClientAuth;
import java.nio.file.Path;
import javax.net.ssl.SSLException;

/**
 * Mutual TLS between peers: every server, registry and client holds a certificate (PEM chain and PKCS#8 key)
 * signed by the one trusted CA, and refuses a peer whose certificate is not. With {@code null} in its place, calls
 * go in plain text (the shared token still applies).
 */
public record PeerTls(Path certificateChain, Path privateKey, Path trustedCa) {
    /** Serves over TLS, requiring a client certificate signed by the trusted CA. */
    void secure(NettyServerBuilder server) {
        try {
            server.sslContext(GrpcSslContexts.forServer(certificateChain.toFile(), privateKey.toFile())
                    .trustManager(trustedCa.toFile()).clientAuth(ClientAuth.REQUIRE).build());
        } catch (SSLException | IllegalArgumentException e) {
            throw new IllegalArgumentException("TLS: cannot use certificate " + certificateChain + ", key " + privateKey + ", CA "
                    + trustedCa + ": " + e.getMessage(), e);
        }
    }

    /** A channel to {@code address} through {@code tls}, or in plain text when it is null. */
    static NettyChannelBuilder channel(String address, PeerTls tls) {
        NettyChannelBuilder builder = NettyChannelBuilder.forTarget(address);
        if (tls == null) {
            return builder.usePlaintext();
        }
        try {
            return builder.sslContext(GrpcSslContexts.forClient().trustManager(tls.trustedCa().toFile())
                    .keyManager(tls.certificateChain().toFile(), tls.privateKey().toFile()).build());
        } catch (SSLException | IllegalArgumentException e) {
            throw new IllegalArgumentException("TLS: cannot use certificate " + tls.certificateChain() + ", key " + tls.privateKey()
                    + ", CA " + tls.trustedCa() + ": " + e.getMessage(), e);
        }
    }
}
