package io.tessera.cli;

import io.tessera.engine.DType;
import io.tessera.peers.PeerServer;
import io.tessera.peers.PeerTls;
import io.tessera.peers.Registry;
import io.tessera.peers.TokenAuth;
import io.tessera.pipeline.Bf16Products;
import io.tessera.pipeline.QuantizationConfig;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.HfCheckpoint;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** Serves a span of a model's blocks to inference sessions (tessera generate --registry). */
@Command(name = "serve", description = {"Serve blocks A..B-1 of the model in a Hugging Face directory to inference sessions over"
        + " gRPC, announcing them to a registry; runs until stopped (its registry entry expires 3 s after)."})
final class ServeCommand implements Callable<Integer> {
    private static final Pattern SPAN = Pattern.compile("(\\d{1,9}):(\\d{1,9})");

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "The Hugging Face model directory.")
    Path model;

    @Option(names = "--blocks", required = true, paramLabel = "A:B", description = "The blocks to serve: A to B-1 (0-based).")
    String blocks;

    @Option(names = "--registry", paramLabel = "ADDR", description = "The registry to announce to: host:port of a `tessera"
            + " registry`, or etcd://host:port[,host:port...] of etcd.")
    String registry;

    @Option(names = "--token-file", paramLabel = "F", description = "A file holding the shared token: calls without it are"
            + " refused, and a `tessera registry` is called with it (etcd is not: guard it with its own TLS and users).")
    Path tokenFile;

    @Option(names = "--host", paramLabel = "H", defaultValue = "127.0.0.1", description = "The address to listen on"
            + " (default ${DEFAULT-VALUE}; 0.0.0.0 for every interface).")
    String host;

    @Option(names = "--advertise", paramLabel = "HOST", description = "The host clients reach this server at (default: --host).")
    String advertise;

    @Option(names = "--port", paramLabel = "P", defaultValue = "0", description = "The port (default: any free one).")
    int port;

    @Option(names = "--max-cache-mb", paramLabel = "MB", defaultValue = "1024", description = "KV cache memory for all sessions;"
            + " sessions beyond it are refused (default ${DEFAULT-VALUE}).")
    long maxCacheMb;

    @Option(names = "--kv-cache", paramLabel = "DTYPE", defaultValue = "f32", converter = KvCacheDtype.class,
            description = "How the sessions' KV caches hold keys and values:" + KvCacheDtype.CHOICES + " --max-cache-mb then"
                    + " holds twice the positions.")
    DType kvCache;

    @Option(names = "--int8", description = "Load the span with int8 projections (LLM.int8, outlier threshold 6); a session's"
            + " patch then runs in float on the entries it touches, for that session only.")
    boolean int8;

    @Mixin
    TlsOptions tlsOptions = new TlsOptions();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        Matcher span = SPAN.matcher(blocks);
        if (!span.matches()) {
            throw new ParameterException(spec.commandLine(), "--blocks must be A:B (blocks A to B-1), got '" + blocks + "'");
        }
        int from = Integer.parseInt(span.group(1));
        int to = Integer.parseInt(span.group(2));
        if (host.equals("0.0.0.0") && advertise == null && registry != null) {
            throw new ParameterException(spec.commandLine(), "--host 0.0.0.0 needs --advertise HOST: the address clients reach");
        }
        String token = tokenFile == null ? null : TokenAuth.read(tokenFile);
        PeerTls tls = tlsOptions.tls();
        // BF16 and F16 weights served as stored (HalfLinear), not converted to F32: half the memory and bytes per step
        try (CausalLm lm = int8 ? HfCheckpoint.load(model, QuantizationConfig.defaults()) : HfCheckpoint.load(model, Bf16Products.EXACT);
             Registry announced = registry == null ? null : Registry.connect(registry, token, tls)) {
            PeerServer.Config config = new PeerServer.Config().listen(host, port).advertise(advertise).token(token).tls(tls)
                    .maxCacheBytes(maxCacheMb << 20).kvCache(kvCache);
            if (int8) {
                config.quantizedFrom(model);
            }
            if (announced != null) {
                config.registry(announced, "", Duration.ofSeconds(1));
            }
            try (PeerServer server = PeerServer.start(lm, from, to, config)) {
                PrintWriter out = spec.commandLine().getOut();
                out.printf("serving blocks %d:%d of %s at %s (%.1f decode steps/s measured)%n", from, to, model,
                        server.info().address(), server.info().throughput());
                out.flush();
                Serving.untilInterrupted();
            }
        }
        return 0;
    }
}
