/* The sizes and field offsets of the structs Java lays out, as this compiler sees them: the list each
 * struct's header gives (tessera/ts_abi.h), for the Java test of its layouts. */
#include <string.h>

#include "tessera/ts_reduce_math.h"
#include "tessera/ts_strided.h"
#include "ts_cpu.h"

typedef struct {
    const char *name; /* "type" for its size, "type.field" for a field's offset */
    int64_t bytes;
} ts_layout_entry;

#define TS_SIZE_ENTRY(type, bytes) {#type, (int64_t)sizeof(type)},
#define TS_OFFSET_ENTRY(type, field, offset) {#type "." #field, (int64_t)offsetof(type, field)},

static const ts_layout_entry ts_layouts[] = {
    TS_STRIDED_LAYOUT(TS_SIZE_ENTRY, TS_OFFSET_ENTRY)
    TS_RACC_LAYOUT(TS_SIZE_ENTRY, TS_OFFSET_ENTRY)
};

int TS_FN(ts_struct_layout)(const char *name, int64_t *bytes) {
    for (size_t i = 0; i < sizeof ts_layouts / sizeof ts_layouts[0]; i++) {
        if (strcmp(ts_layouts[i].name, name) == 0) {
            *bytes = ts_layouts[i].bytes;
            return TS_OK;
        }
    }
    return TS_ERR_UNKNOWN;
}
