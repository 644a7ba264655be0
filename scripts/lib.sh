# Sourced by every Tessera script: finds a JDK 25 and points JAVA_HOME at it.
# Order: JAVA_HOME if it is a JDK 22+ (FFM is final since 22; the build targets 25, Maven's enforcer checks),
# then /usr/lib/jvm/*25*. Stops with a clear message if neither exists.

tessera_java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 \
    | sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p'
}

tessera_find_jdk() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/javac" ]; then
    local major
    major=$(tessera_java_major "$JAVA_HOME")
    if [ -n "$major" ] && [ "$major" -ge 22 ]; then
      return 0
    fi
  fi
  local candidate
  for candidate in /usr/lib/jvm/*25*; do
    if [ -x "$candidate/bin/javac" ]; then
      export JAVA_HOME="$candidate"
      return 0
    fi
  done
  echo "tessera: no JDK 25 found. JAVA_HOME=${JAVA_HOME:-<unset>} is not a JDK 22+, and /usr/lib/jvm has no *25* JDK." >&2
  echo "tessera: install one (e.g. Temurin 25) and set JAVA_HOME to it." >&2
  return 1
}

TESSERA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tessera_find_jdk || exit 1
export PATH="$JAVA_HOME/bin:$PATH"
# Maven in batch mode with quiet transfer logs; the wrapper pins Maven 3.9.x independent of the machine's.
TESSERA_MVN=("$TESSERA_ROOT/mvnw" -B -ntp)

# The CUDA kernels' cost model on the emulated driver next to the CPU's measured time (jmh's EmulatorCostModel; a
# model, not a measurement). Needs jmh/target/benchmarks.jar and the emulated driver built. Argument: elements per op.
tessera_emu_cost() {
  local emu="$TESSERA_ROOT/kernels/target/cuda-emu/libtessera_cuda_emu.so"
  [ -f "$emu" ] || { echo "tessera: $emu is missing (native-build/ builds it when g++ exists)" >&2; return 1; }
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Dtessera.cuda.driver="$emu" -Dtessera.cublas="$emu" \
    -Dtessera.cublaslt="$emu" -cp "$TESSERA_ROOT/jmh/target/benchmarks.jar" io.tessera.jmh.EmulatorCostModel "$@"
}
