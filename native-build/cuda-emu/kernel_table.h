// Turns a host-built kernel into a table entry that binds CUDA's kernelParams (an array of pointers, one
// to each argument's value) to a call: the template deduces the kernel's parameter types and copies the
// values, so the launch can run after the caller has freed them. Used by the table gen_kernels.sh generates.
#ifndef TESSERA_CUDA_EMU_KERNEL_TABLE_H
#define TESSERA_CUDA_EMU_KERNEL_TABLE_H

#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "emu.h"

namespace ts_emu {

template <auto F>
struct Trampoline;

template <typename... Args, void (*F)(Args...)>
struct Trampoline<F> {
    static std::function<void()> bind(void **params) { return copy(params, std::index_sequence_for<Args...>{}); }
    template <size_t... I>
    static std::function<void()> copy(void **params, std::index_sequence<I...>) {
        return [args = std::tuple<std::remove_cv_t<Args>...>(*static_cast<std::remove_cv_t<Args> *>(params[I])...)] {
            std::apply(F, args);
        };
    }
    static constexpr int arity = sizeof...(Args);
};

}  // namespace ts_emu

#define TS_EMU_KERNEL(name) {#name, &ts_emu::Trampoline<&name>::bind, ts_emu::Trampoline<&name>::arity}

#endif
