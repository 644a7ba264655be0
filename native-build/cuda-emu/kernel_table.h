// Turns a host-built kernel into a table entry the launcher can call with CUDA's kernelParams (an
// array of pointers, one to each argument's value): the template deduces the kernel's parameter types
// and unpacks the array accordingly. Used by the table gen_kernels.sh generates.
#ifndef TESSERA_CUDA_EMU_KERNEL_TABLE_H
#define TESSERA_CUDA_EMU_KERNEL_TABLE_H

#include <type_traits>
#include <utility>

#include "emu.h"

namespace ts_emu {

template <auto F>
struct Trampoline;

template <typename... Args, void (*F)(Args...)>
struct Trampoline<F> {
    static void call(void **params) { unpack(params, std::index_sequence_for<Args...>{}); }
    template <size_t... I>
    static void unpack(void **params, std::index_sequence<I...>) {
        F(*static_cast<std::remove_cv_t<Args> *>(params[I])...);
    }
    static constexpr int arity = sizeof...(Args);
};

}  // namespace ts_emu

#define TS_EMU_KERNEL(name) {#name, &ts_emu::Trampoline<&name>::call, ts_emu::Trampoline<&name>::arity}

#endif
