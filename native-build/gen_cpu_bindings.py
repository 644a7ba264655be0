#!/usr/bin/env python3
"""Regenerates the kernel part of ffi's TesseraCpu.java and ffi/jextract/tessera_cpu.args from
kernels/cpu/kernels.def, in the shape jextract emits (jextract itself is not installable here).
Run after adding a kernel to kernels.def:  python3 native-build/gen_cpu_bindings.py"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEF = ROOT / "kernels/cpu/kernels.def"
JAVA = ROOT / "ffi/src/main/java/io/tessera/ffi/TesseraCpu.java"
ARGS = ROOT / "ffi/jextract/tessera_cpu.args"
BEGIN = "    // ---- generated from kernels/cpu/kernels.def by native-build/gen_cpu_bindings.py: do not edit ----\n"
END = "    // ---- end of generated bindings ----\n"
# functions of runtime/*.c, bound by hand above the generated part
RUNTIME = ["ts_abi_version", "ts_noop", "ts_isa_supported", "ts_isa_select", "ts_isa_active",
           "ts_omp_max_threads", "ts_omp_set_threads", "ts_pool_cover"]

TYPES = {  # C type -> (layout, Java type)
    "int": ("JAVA_INT", "int"), "int64_t": ("JAVA_LONG", "long"), "uint64_t": ("JAVA_LONG", "long"),
    "float": ("JAVA_FLOAT", "float"), "double": ("JAVA_DOUBLE", "double"),
}


def parse_kernels():
    pattern = re.compile(r"^TS_KERNEL\((\w+),\s*\((.*?)\),\s*\((.*?)\)\)\s*$")
    for line in DEF.read_text().splitlines():
        match = pattern.match(line)
        if match:
            name, params = match.group(1), match.group(2)
            parsed = []
            for param in params.split(","):
                param = param.strip()
                pname = re.findall(r"\w+$", param)[0]
                ctype = param[: -len(pname)].strip()
                layout, jtype = ("ADDRESS", "MemorySegment") if "*" in ctype else TYPES[ctype]
                parsed.append((layout, jtype, pname))
            yield name, params, parsed


def binding(name, params, parsed):
    layouts = ", ".join(["JAVA_INT"] + [p[0] for p in parsed])
    jparams = ", ".join(f"{p[1]} {p[2]}" for p in parsed)
    jargs = ", ".join(p[2] for p in parsed)
    return f"""
    private static final class {name} {{
        static final MethodHandle HANDLE = LIBRARY.downcall("{name}", FunctionDescriptor.of({layouts}));
    }}

    /** int {name}({params}) */
    public static int {name}({jparams}) {{
        try {{
            return (int) {name}.HANDLE.invokeExact({jargs});
        }} catch (Throwable t) {{
            throw Downcalls.rethrow(t);
        }}
    }}
"""


def main():
    kernels = list(parse_kernels())
    java = JAVA.read_text()
    head, rest = java.split(BEGIN) if BEGIN in java else (java.rstrip()[:-1], END + "}\n")
    tail = rest.split(END, 1)[1]
    JAVA.write_text(head + BEGIN + "".join(binding(*k) for k in kernels) + END + tail)
    args = ARGS.read_text().splitlines()
    keep = [line for line in args if not line.startswith("--include-function")]
    ARGS.write_text("\n".join(keep + [f"--include-function {n}" for n in RUNTIME + [k[0] for k in kernels]]) + "\n")


if __name__ == "__main__":
    main()
