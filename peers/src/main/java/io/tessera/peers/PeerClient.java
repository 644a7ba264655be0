package io.tessera.peers;

import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.tessera.engine.Device;
import io.tessera.engine.Tensor;
import io.tessera.engine.TensorScope;
import io.tessera.engine.autograd.GradMode;
import io.tessera.peers.wire.Encoding;
import io.tessera.peers.wire.Open;
import io.tessera.peers.wire.PeerGrpc;
import io.tessera.peers.wire.Ping;
import io.tessera.peers.wire.Step;
import io.tessera.peers.wire.WireTensor;
import io.tessera.pipeline.models.CausalLm;
import io.tessera.pipeline.models.Sampler;
import io.tessera.sparse.Patch;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * Generation through a chain of peers. The client runs the embedding and the head of its own copy of the model
 * (memory-mapped: the blocks' pages are never read) and streams hidden states through servers found in the
 * registry, one session per hop. Each hop's inputs are kept; when a server fails or stalls, another server of that
 * span gets a new session and the whole history, step by step as it was first sent, so its KV cache and the
 * output are exactly those the failed server would have produced.
 */
public final class PeerClient implements AutoCloseable {
    /** Pings every 200 ms, stalled after 1 s of silence, a step's deadline 60 s. */
    static final HopSession.Timing DEFAULT_TIMING = new HopSession.Timing(Duration.ofMillis(200), Duration.ofSeconds(1),
            Duration.ofSeconds(60));

    /** Settings of a client; the defaults detect a frozen peer within about 1.2 s. */
    public static final class Config {
        String token;
        Encoding encoding = Encoding.BLOCKWISE_INT8;
        HopSession.Timing timing = DEFAULT_TIMING;
        long prefillChunkBytes = 1 << 20;
        int maxMessageBytes = 64 << 20;
        int flowControlWindow = 1 << 20;
        int maxFailovers = 8;
        PeerTls tls;
        String modelName = "";

        public Config token(String token) {
            this.token = token;
            return this;
        }

        /** Mutual TLS to every server (null: plain text). */
        public Config tls(PeerTls tls) {
            this.tls = tls;
            return this;
        }

        /** How hidden states travel (both ways, recorded per session); default blockwise 8-bit. */
        public Config encoding(Encoding encoding) {
            this.encoding = encoding;
            return this;
        }

        /** Ping period, silence after which a peer counts as stalled, and the deadline of one step. */
        public Config timing(Duration pingInterval, Duration stallTimeout, Duration stepDeadline) {
            this.timing = new HopSession.Timing(pingInterval, stallTimeout, stepDeadline);
            return this;
        }

        /** The largest prefill message: a longer prompt goes in chunks of at most this many bytes (default 1 MiB). */
        public Config prefillChunkBytes(long bytes) {
            this.prefillChunkBytes = bytes;
            return this;
        }

        /** The HTTP/2 flow-control window per stream: about bandwidth x round trip (default 1 MiB). */
        public Config flowControlWindow(int bytes) {
            this.flowControlWindow = bytes;
            return this;
        }

        /** Only servers announcing this model name (default: the empty name). */
        public Config modelName(String name) {
            this.modelName = name;
            return this;
        }
    }

    /** A replaced server: when the failure was noticed, how many steps were replayed, and how long recovery took. */
    public record Failover(int from, int to, String failed, String replacement, String reason, long detectedAtNanos,
            int replayedSteps, long recoveryNanos) {}

    /** The new ids; {@code logits[i]} is the row that decided {@code ids[i]}; activation bytes sent to a hop per new token. */
    public record Generation(long[] ids, float[][] logits, double bytesPerTokenPerHop) {}

    /** Called before each decoding step with the servers in use (tests inject faults here). */
    public interface StepListener {
        void beforeStep(int step, List<PeerInfo> chain);
    }

    private final Registry registry;
    private final CausalLm local;
    private final Config config;
    private final Map<String, ManagedChannel> channels = new ConcurrentHashMap<>();
    private final List<Failover> failovers = new CopyOnWriteArrayList<>();

    /** A client of the servers {@code registry} lists, using {@code local} (which the caller owns) for embedding and head. */
    public PeerClient(Registry registry, CausalLm local, Config config) {
        this.registry = registry;
        this.local = local;
        this.config = config;
    }

    /** Every failover so far. */
    public List<Failover> failovers() {
        return List.copyOf(failovers);
    }

    /** Greedy generation of {@code newTokens} tokens (no EOS stop), without a patch. */
    public Generation generate(long[] prompt, int newTokens) {
        return generate(prompt, newTokens, Sampler.greedy(), new long[0], null, null);
    }

    /**
     * Generates up to {@code maxNewTokens} tokens after {@code prompt}, stopping after any of {@code eosIds}.
     *
     * @param patchFile the bytes of a sparse patch file applied for this generation only (each server patches its span,
     *                  this client the embeddings and head), or null
     * @param listener  called before each step, or null
     */
    public Generation generate(long[] prompt, int maxNewTokens, Sampler sampler, long[] eosIds, byte[] patchFile,
            StepListener listener) {
        if (prompt.length == 0 || maxNewTokens < 0) {
            throw new IllegalArgumentException("need a non-empty prompt and maxNewTokens >= 0, got " + prompt.length + " and "
                    + maxNewTokens);
        }
        Patch patch = patchFile == null ? null : SessionPatches.parse(patchFile);
        CausalLm model = patch == null ? local : new SessionPatches(local).patched(patch, block -> block < 0);
        try (Chain chain = new Chain(prompt.length + maxNewTokens, patchFile)) {
            return decode(model, chain, prompt, maxNewTokens, sampler, eosIds, listener);
        } finally {
            if (model != local) {
                model.close();
            }
        }
    }

    private Generation decode(CausalLm model, Chain chain, long[] prompt, int maxNewTokens, Sampler sampler, long[] eosIds,
            StepListener listener) {
        long[] sequence = Arrays.copyOf(prompt, prompt.length + maxNewTokens);
        List<float[]> rows = new ArrayList<>();
        long chunk = Math.max(1, config.prefillChunkBytes / (model.config().hiddenSize() * Float.BYTES));
        int length = prompt.length;
        int past = 0;
        for (int step = 0; step < maxNewTokens; step++) {
            if (listener != null) {
                listener.beforeStep(step, chain.servers());
            }
            float[] logits = chain.forward(model, sequence, past, length, chunk);
            past = length;
            rows.add(logits);
            sequence[length] = sampler.next(logits);
            length++;
            if (contains(eosIds, sequence[length - 1])) {
                break;
            }
        }
        int produced = length - prompt.length;
        double perTokenPerHop = produced == 0 ? 0 : (double) chain.bytes / produced / chain.hops.size();
        return new Generation(Arrays.copyOfRange(sequence, prompt.length, length), rows.toArray(float[][]::new), perTokenPerHop);
    }

    private static boolean contains(long[] ids, long id) {
        return Arrays.stream(ids).anyMatch(x -> x == id);
    }

    /** The hops of one generation, each with its session and the inputs it was sent. */
    private final class Chain implements AutoCloseable {
        private final List<Hop> hops = new ArrayList<>();
        private final Set<String> excluded = new HashSet<>();
        private final long capacity;
        private final byte[] patchFile;
        private long bytes;

        Chain(long capacity, byte[] patchFile) {
            this.capacity = capacity;
            this.patchFile = patchFile;
            try {
                List<PeerInfo> servers = candidates();
                Map<String, Double> costs = new HashMap<>();
                servers.forEach(s -> costs.put(s.id(), cost(s))); // one probe per server, however long its span
                for (ChainPlanner.Hop planned : ChainPlanner.plan(servers, local.config().layers(), s -> costs.get(s.id()))) {
                    hops.add(new Hop(planned.from(), planned.to(), open(planned.server(), planned.from(), planned.to())));
                }
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        List<PeerInfo> servers() {
            return hops.stream().map(h -> h.session.server()).toList();
        }

        /**
         * The logits [vocab] of the last of positions past .. length - 1 of {@code sequence}, sent through every
         * hop in chunks of at most {@code chunk} positions; a hop gets all chunks at once, so it computes one while
         * the next is in transit.
         */
        float[] forward(CausalLm model, long[] sequence, int past, int length, long chunk) {
            List<Long> pasts = new ArrayList<>();
            List<WireTensor> wires = new ArrayList<>();
            for (int p = past; p < length; p += (int) chunk) {
                int end = (int) Math.min(length, p + chunk);
                try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
                    Tensor hidden = model.embed(Tensor.of(Arrays.copyOfRange(sequence, p, end), 1, end - p), p);
                    wires.add(WireTensors.encode(hidden, config.encoding));
                }
                pasts.add((long) p);
            }
            for (Hop hop : hops) {
                bytes += wires.stream().mapToLong(WireTensors::payloadBytes).sum();
                wires = hop.forward(pasts, wires);
            }
            try (GradMode off = GradMode.noGrad(); TensorScope scope = TensorScope.open()) {
                Tensor hidden = WireTensors.decode(wires.getLast(), model.config().hiddenSize());
                Tensor last = hidden.slice(1, hidden.dim(1) - 1, hidden.dim(1)); // the head only where the logits are used
                Device device = model.device();
                return model.head(device.equals(Device.CPU) ? last : last.to(device)).to(Device.CPU).toFloatArray();
            }
        }

        private List<PeerInfo> candidates() {
            return registry.servers().stream().filter(s -> s.model().equals(config.modelName) && !excluded.contains(s.id())).toList();
        }

        /** Round trip plus a step's compute: the planner's and the failover's measure of a server. */
        private double cost(PeerInfo server) {
            long start = System.nanoTime();
            try {
                PeerGrpc.newBlockingStub(channelTo(server.address())).withDeadlineAfter(1, TimeUnit.SECONDS)
                        .probe(Ping.getDefaultInstance());
            } catch (StatusRuntimeException e) {
                return Double.MAX_VALUE / 1e6; // unreachable now: any other chain first
            }
            return (System.nanoTime() - start) / 1e9 + 1 / server.throughput();
        }

        private HopSession open(PeerInfo server, int from, int to) {
            Open.Builder open = Open.newBuilder().setFrom(from).setTo(to).setBatch(1).setCapacity(capacity)
                    .setEncoding(config.encoding);
            if (patchFile != null) {
                open.setPatch(ByteString.copyFrom(patchFile));
            }
            // pipelined: the first steps follow the Open at once, and a refusal fails them (then failover, as for any failure)
            return HopSession.start(server, PeerGrpc.newStub(channelTo(server.address())), open.build(), config.timing);
        }

        @Override
        public void close() {
            hops.forEach(h -> h.session.close());
        }

        /** Blocks from .. to - 1: the session running them and every step it was sent. */
        private final class Hop {
            final int from;
            final int to;
            HopSession session;
            final List<Step> history = new ArrayList<>();

            Hop(int from, int to, HopSession session) {
                this.from = from;
                this.to = to;
                this.session = session;
            }

            /** The outputs of chunks at positions {@code pasts}, after their inputs joined the history. */
            List<WireTensor> forward(List<Long> pasts, List<WireTensor> inputs) {
                List<Step> steps = new ArrayList<>();
                for (int i = 0; i < inputs.size(); i++) {
                    steps.add(Step.newBuilder().setId(history.size()).setPast(pasts.get(i)).setHidden(inputs.get(i)).build());
                    history.add(steps.getLast());
                }
                try {
                    return session.run(steps);
                } catch (PeerException e) {
                    List<WireTensor> replayed = failover(e);
                    return replayed.subList(replayed.size() - steps.size(), replayed.size());
                }
            }

            /** Replays the history on another server of this span; returns the results of every step of it. */
            private List<WireTensor> failover(PeerException failure) {
                long detected = System.nanoTime();
                PeerException last = failure;
                PeerInfo failed = session.server();
                String firstFailed = failed.address();
                session.cancel();
                for (int attempt = 0; attempt < config.maxFailovers; attempt++) {
                    excluded.add(failed.id());
                    PeerInfo replacement = cheapest(candidates().stream().filter(s -> s.covers(from, to)).toList());
                    if (replacement == null) {
                        throw new PeerException("no other server serves blocks " + from + ":" + to + " after " + last.getMessage(), last);
                    }
                    HopSession fresh = null;
                    try {
                        fresh = open(replacement, from, to);
                        List<WireTensor> out = fresh.run(history);
                        session = fresh;
                        failovers.add(new Failover(from, to, firstFailed, replacement.address(), last.getMessage(), detected,
                                history.size(), System.nanoTime() - detected));
                        return out;
                    } catch (PeerException e) {
                        if (fresh != null) {
                            fresh.cancel();
                        }
                        last = e;
                        failed = replacement;
                    }
                }
                throw new PeerException("blocks " + from + ":" + to + ": gave up after " + config.maxFailovers + " failovers", last);
            }
        }

        private PeerInfo cheapest(List<PeerInfo> servers) {
            PeerInfo best = null;
            double bestCost = Double.POSITIVE_INFINITY;
            for (PeerInfo s : servers) {
                double c = cost(s);
                if (c < bestCost) {
                    best = s;
                    bestCost = c;
                }
            }
            return best;
        }
    }

    /**
     * The channel to {@code address}, shared by every session there. Its callbacks run on the transport's threads
     * (HopSession's only queue a message for the waiting step), saving a hand-off per message.
     */
    ManagedChannel channelTo(String address) {
        return channels.computeIfAbsent(address, a -> PeerTls.channel(a, config.tls)
                .maxInboundMessageSize(config.maxMessageBytes).flowControlWindow(config.flowControlWindow)
                .directExecutor().intercept(TokenAuth.client(config.token)).build());
    }

    @Override
    public void close() {
        channels.values().forEach(ManagedChannel::shutdownNow);
        channels.clear();
    }
}
