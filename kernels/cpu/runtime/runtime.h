/* Internal header of the non-dispatched part of the CPU library. */
#ifndef TESSERA_RUNTIME_H
#define TESSERA_RUNTIME_H

#include "tessera/tessera_cpu.h"

#define TS_EXPORT __attribute__((visibility("default")))
#define TS_ERR_UNSUPPORTED -1

#endif
