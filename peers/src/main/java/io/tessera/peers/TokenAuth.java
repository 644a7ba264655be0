package io.tessera.peers;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;

/**
 * A shared token, sent as {@code authorization: Bearer <token>} on every call and compared in constant time.
 * A server or registry built with a token answers a call without it (or with another) UNAUTHENTICATED and runs none
 * of its handler.
 */
public final class TokenAuth {
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private static final String BEARER = "Bearer ";

    private TokenAuth() {}

    /** The token in {@code file} (surrounding whitespace dropped); it must not be empty. */
    public static String read(Path file) throws IOException {
        String token = Files.readString(file, StandardCharsets.UTF_8).strip();
        if (token.isEmpty() || !token.chars().allMatch(c -> c > ' ' && c < 127)) {
            throw new IllegalArgumentException(file + ": the token must be non-empty printable ASCII without spaces");
        }
        return token;
    }

    /** Refuses calls without the token (with {@code token} null: lets every call through). */
    public static ServerInterceptor server(String token) {
        byte[] expected = token == null ? null : (BEARER + token).getBytes(StandardCharsets.US_ASCII);
        return new ServerInterceptor() {
            @Override
            public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
                if (expected != null) {
                    String given = headers.get(AUTHORIZATION);
                    byte[] actual = given == null ? new byte[0] : given.getBytes(StandardCharsets.US_ASCII);
                    if (!MessageDigest.isEqual(expected, actual)) {
                        call.close(Status.UNAUTHENTICATED.withDescription("missing or wrong token"), new Metadata());
                        return new ServerCall.Listener<>() {};
                    }
                }
                return next.startCall(call, headers);
            }
        };
    }

    /** Adds the token to every call (with {@code token} null: adds nothing). */
    public static ClientInterceptor client(String token) {
        return new ClientInterceptor() {
            @Override
            public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
                return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
                    @Override
                    public void start(Listener<R> listener, Metadata headers) {
                        if (token != null) {
                            headers.put(AUTHORIZATION, BEARER + token);
                        }
                        super.start(listener, headers);
                    }
                };
            }
        };
    }
}
