# The GGUF kind llama.cpp runs beside each of Tessera's weight rows (sourced by run and alternate).
declare -A gguf_kind=([f32]=f32 [bf16]=bf16 [int8-all]=q8_0)
