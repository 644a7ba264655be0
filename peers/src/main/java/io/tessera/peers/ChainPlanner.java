package io.tessera.peers;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.ToDoubleFunction;

/** Picks servers whose spans, one after another, cover every block: fewest hops first, then the lowest summed cost. */
final class ChainPlanner {
    /** Blocks {@code from} .. {@code to - 1} run on {@code server} (a server may take over mid-span: from >= its own from). */
    record Hop(PeerInfo server, int from, int to) {}

    private record Best(int hops, double cost, Hop last) {}

    private ChainPlanner() {}

    /** @throws PeerException naming the first block no server reaches */
    static List<Hop> plan(List<PeerInfo> servers, int layers, ToDoubleFunction<PeerInfo> cost) {
        Best[] best = new Best[layers + 1];
        best[0] = new Best(0, 0, null);
        for (int b = 0; b < layers; b++) {
            if (best[b] == null) {
                continue;
            }
            for (PeerInfo s : servers) {
                if (s.from() <= b && b < s.to() && s.to() <= layers) {
                    Best candidate = new Best(best[b].hops() + 1, best[b].cost() + cost.applyAsDouble(s), new Hop(s, b, s.to()));
                    Best current = best[s.to()];
                    if (current == null || candidate.hops() < current.hops()
                            || candidate.hops() == current.hops() && candidate.cost() < current.cost()) {
                        best[s.to()] = candidate;
                    }
                }
            }
        }
        if (best[layers] == null) {
            int reached = 0;
            for (int b = 0; b <= layers; b++) {
                reached = best[b] != null ? b : reached;
            }
            throw new PeerException("no chain of servers covers all " + layers + " blocks: none of the " + servers.size()
                    + " servers listed serves block " + reached + " after a chain from block 0");
        }
        List<Hop> chain = new ArrayList<>();
        for (int b = layers; b > 0; b = best[b].last().from()) {
            chain.add(best[b].last());
        }
        Collections.reverse(chain);
        return chain;
    }
}
