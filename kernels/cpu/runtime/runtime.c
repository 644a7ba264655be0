/* Library-level entry points: version, OpenMP thread control, and an empty call for measuring
 * the cost of a Java->native downcall. */
#include <omp.h>

#include "runtime.h"

TS_EXPORT int ts_abi_version(void) { return 1; }

TS_EXPORT void ts_noop(void) {}

TS_EXPORT int ts_omp_max_threads(void) { return omp_get_max_threads(); }

TS_EXPORT void ts_omp_set_threads(int n) { omp_set_num_threads(n); }
