package io.tessera.sparse;

/** How a patch file is stored: plain safetensors, or the whole file as one zstd frame (detected on load by its magic bytes). */
public enum Compression {
    NONE,
    ZSTD
}
