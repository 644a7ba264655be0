// Device memory: one anonymous mapping per allocation, laid out as
//   [ ... unused ... | data (256-byte aligned start) | canary (< 256 bytes) | PROT_NONE guard page ]
// so a kernel that reads or writes past the end of a buffer faults on the guard page (launch.cpp turns
// the fault into CUDA_ERROR_ILLEGAL_ADDRESS), and one that writes into the alignment slack overwrites the
// canary, which every launch checks afterwards. Reads of the slack go unnoticed. Copies and memsets are
// checked against the bookkeeping before they touch memory.
#include <sys/mman.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>

#include "emu.h"

namespace ts_emu {

const size_t mem_total = size_t{4} << 30;  // per device: a deterministic capacity, so out-of-memory paths can be tested

namespace {

constexpr size_t ALIGN = 256;  // cuMemAlloc's documented alignment
constexpr unsigned char CANARY = 0xA5;

struct Allocation {
    const Context *owner;
    char *mapping;
    size_t mapping_bytes;
    size_t bytes;     // as requested
    size_t reserved;  // bytes rounded up to ALIGN; counts against mem_total
};

std::map<uint64_t, Allocation> live;  // by start address, over all contexts

size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

// The allocation that starts at or below p, or live.end().
std::map<uint64_t, Allocation>::iterator at_or_below(uint64_t p) {
    auto it = live.upper_bound(p);
    return it == live.begin() ? live.end() : std::prev(it);
}

void unmap(const Allocation &a) { munmap(a.mapping, a.mapping_bytes); }

}  // namespace

Result mem_alloc(Context *ctx, uint64_t *dptr, size_t bytes) {
    if (dptr == nullptr || bytes == 0) return INVALID_VALUE;
    const size_t page = page_size();
    const size_t reserved = (bytes + ALIGN - 1) / ALIGN * ALIGN;
    if (reserved < bytes || reserved > mem_total - ctx->used) return OUT_OF_MEMORY;
    const size_t data_pages = (reserved + page - 1) / page * page;
    void *mapping = mmap(nullptr, data_pages + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED) return OUT_OF_MEMORY;
    char *guard = static_cast<char *>(mapping) + data_pages;
    if (mprotect(guard, page, PROT_NONE) != 0) {
        munmap(mapping, data_pages + page);
        return OUT_OF_MEMORY;
    }
    char *start = guard - reserved;
    std::memset(start + bytes, CANARY, reserved - bytes);
    live[reinterpret_cast<uint64_t>(start)] = {ctx, static_cast<char *>(mapping), data_pages + page, bytes, reserved};
    ctx->used += reserved;
    *dptr = reinterpret_cast<uint64_t>(start);
    return SUCCESS;
}

Result mem_free(Context *ctx, uint64_t dptr) {
    auto it = live.find(dptr);
    if (it == live.end() || it->second.owner != ctx) return INVALID_VALUE;
    ctx->used -= it->second.reserved;
    unmap(it->second);
    live.erase(it);
    return SUCCESS;
}

bool mem_valid(const Context *ctx, uint64_t p, size_t bytes) {
    auto it = at_or_below(p);
    return it != live.end() && it->second.owner == ctx && p - it->first <= it->second.bytes &&
           bytes <= it->second.bytes - (p - it->first);
}

bool mem_is_device(uint64_t p) {
    auto it = at_or_below(p);
    return it != live.end() && p - it->first < it->second.bytes;
}

std::string mem_check_canaries() {
    for (const auto &[start, a] : live) {
        const unsigned char *slack = reinterpret_cast<const unsigned char *>(start) + a.bytes;
        for (size_t i = 0; i < a.reserved - a.bytes; i++) {
            if (slack[i] != CANARY) {
                char text[160];
                std::snprintf(text, sizeof text, "wrote offset %zu of the %zu-byte allocation at 0x%" PRIx64, a.bytes + i,
                              a.bytes, start);
                return text;
            }
        }
    }
    return {};
}

std::string mem_describe(uint64_t address) {
    char text[160];
    auto it = at_or_below(address);
    if (it != live.end() && address - it->first < it->second.reserved + page_size()) {
        std::snprintf(text, sizeof text, "offset %" PRIu64 " of the %zu-byte allocation at 0x%" PRIx64, address - it->first,
                      it->second.bytes, it->first);
    } else {
        std::snprintf(text, sizeof text, "not in or just past any device allocation");
    }
    return text;
}

void mem_release_all(Context *ctx) {
    for (auto it = live.begin(); it != live.end();) {
        if (it->second.owner == ctx) {
            unmap(it->second);
            it = live.erase(it);
        } else {
            ++it;
        }
    }
    ctx->used = 0;
}

}  // namespace ts_emu
