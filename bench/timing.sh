# How scripts/bench times Tessera (JMH) and its decode peers (Jlama, llama.cpp), sourced by scripts/bench and by
# bench/llamacpp-peer/alternate so that a row timed alone is timed the same way.
# JMH: one fork, 3 x 1 s warm-up, 5 x 1 s measurement; the peers time the same iterations.
warmups=3 iterations=5 iteration_seconds=1
# the decode benchmarks' sessions run 10 s of steps before JMH's warm-up (DecodeSession.WARM_UP_NANOS: a JIT needs
# more than 3 s of 40-150 ms steps), the prefill benchmarks 10 s of prefills; the decode peers get as many more seconds
# of warm-up
decode_warmup_seconds=10
peer_warmup_seconds=$((warmups + decode_warmup_seconds / iteration_seconds))
jmh_opts=(-f 1 -wi "$warmups" -w "${iteration_seconds}s" -i "$iterations" -r "${iteration_seconds}s")
