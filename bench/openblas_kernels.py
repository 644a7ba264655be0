#!/usr/bin/python3
"""Which OpenBLAS kernel set this process gets, whether its products are right, and how fast its sgemm is.

scripts/bench runs this twice: in the machine's environment, and with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
unset. Some machines set both to make an older OpenBLAS choose kernels that work on their processor; where they
force a narrower kernel set than the CPU runs correctly, both Tessera and PyTorch lose half their GEMM rate, and
the peer would not be in its best configuration. The bench drops the two variables for the whole run only when the
unset kernels pass the check below.

The check calls cblas_sgemm and cblas_sgemv of the library Tessera loads (libopenblas.so.0) through ctypes, on
awkward shapes, every transpose and padded leading dimensions, against a float64 reference that never calls BLAS
(numpy.einsum without optimize). Prints one JSON object: core, config, checked (products compared), error (the
first wrong product, or null), sgemm_gflops (best of 5 calls at 2048^3). With --verdict AS_SET UNSET (two such
objects) it prints the bench's decision instead: "drop <why>" or "keep <why>".
"""

import ctypes
import json
import sys
import time

import numpy as np

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
SHAPES = [(1, 1, 1), (1, 37, 5), (7, 13, 5), (17, 1, 129), (129, 257, 67), (128, 2304, 768), (64, 5632, 256), (300, 301, 302)]
PAD = 3  # extra columns in every stored matrix: leading dimensions larger than the row


def stored(rng, rows, cols):
    """A float32 [rows, cols] view inside a [rows, cols + PAD] array (leading dimension cols + PAD)."""
    return rng.standard_normal((rows, cols + PAD), dtype=np.float32)[:, :cols]


def ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def check(lib, rng):
    """Compares every sgemm / sgemv call with the float64 reference; returns (calls compared, first error or None)."""
    f, i = ctypes.c_float, ctypes.c_int
    count = 0
    for m, n, k in SHAPES:
        for ta in (False, True):
            for tb in (False, True):
                a = stored(rng, k, m) if ta else stored(rng, m, k)
                b = stored(rng, n, k) if tb else stored(rng, k, n)
                c = stored(rng, m, n)
                c0 = c.astype(np.float64)
                a64 = (a.T if ta else a).astype(np.float64)
                b64 = (b.T if tb else b).astype(np.float64)
                want = 0.5 * np.einsum("ik,kj->ij", a64, b64, optimize=False) + 0.25 * c0
                lib.cblas_sgemm(ROW_MAJOR, TRANS if ta else NO_TRANS, TRANS if tb else NO_TRANS, i(m), i(n), i(k), f(0.5),
                                ptr(a), i(a.strides[0] // 4), ptr(b), i(b.strides[0] // 4), f(0.25), ptr(c), i(c.strides[0] // 4))
                count += 1
                bad = wrong(c, want, k)
                if bad:
                    return count, f"sgemm m={m} n={n} k={k} transA={ta} transB={tb}: {bad}"
        for ta in (False, True):  # A is m x n as stored; y = op(A) x
            a = stored(rng, m, n)
            x = rng.standard_normal(m if ta else n, dtype=np.float32)
            y = rng.standard_normal(n if ta else m, dtype=np.float32)
            want = 0.5 * np.einsum("ij,j->i", (a.T if ta else a).astype(np.float64), x.astype(np.float64),
                                   optimize=False) + 0.25 * y.astype(np.float64)
            lib.cblas_sgemv(ROW_MAJOR, TRANS if ta else NO_TRANS, i(m), i(n), f(0.5), ptr(a), i(a.strides[0] // 4),
                            ptr(x), i(1), f(0.25), ptr(y), i(1))
            count += 1
            bad = wrong(y, want, m if ta else n)
            if bad:
                return count, f"sgemv m={m} n={n} trans={ta}: {bad}"
    return count, None


def wrong(got, want, k):
    """None if got is within float32 rounding of sums of k products, else what differs."""
    tolerance = 1e-5 * (k + 4) * (np.abs(want).max() + 1.0)
    error = np.abs(got.astype(np.float64) - want).max() if got.size else 0.0
    return None if error <= tolerance else f"max error {error:.3g} > {tolerance:.3g}"


def sgemm_gflops(lib, n=2048):
    a, b, c = (np.ones((n, n), dtype=np.float32) for _ in range(3))
    f, i = ctypes.c_float, ctypes.c_int
    best = float("inf")
    for _ in range(6):  # the first call warms the thread pool and pages
        t = time.perf_counter()
        lib.cblas_sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, i(n), i(n), i(n), f(1), ptr(a), i(n), ptr(b), i(n), f(0), ptr(c), i(n))
        best = min(best, time.perf_counter() - t)
    return 2.0 * n ** 3 / best / 1e9


def verdict(forced, free):
    """'drop <why>' if the kernels without the machine's setting are right and faster, else 'keep <why>'."""
    if free["error"]:
        return f"keep without them, {free['core']} computed a wrong product ({free['error']})"
    if free["sgemm_gflops"] < 1.1 * forced["sgemm_gflops"]:
        return f"keep {free['core']} without them was no faster ({free['sgemm_gflops']} vs {forced['sgemm_gflops']} GFLOP/s)"
    return (f"drop {free['core']} instead of {forced['core']}: it matched a float64 reference on {free['checked']} sgemm/sgemv "
            f"calls and ran sgemm 2048^3 at {free['sgemm_gflops']} vs {forced['sgemm_gflops']} GFLOP/s")


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--verdict":  # two earlier outputs: as set, and unset
        print(verdict(json.loads(sys.argv[2]), json.loads(sys.argv[3])))
        return
    lib = ctypes.CDLL("libopenblas.so.0")
    lib.openblas_get_corename.restype = ctypes.c_char_p
    lib.openblas_get_config.restype = ctypes.c_char_p
    checked, error = check(lib, np.random.default_rng(7))
    print(json.dumps({"core": lib.openblas_get_corename().decode(), "config": lib.openblas_get_config().decode(),
                      "checked": checked, "error": error, "sgemm_gflops": round(sgemm_gflops(lib), 1)}))


if __name__ == "__main__":
    main()
