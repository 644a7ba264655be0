package io.tessera.ffi;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.stream.Stream;

/**
 * A native library found lazily, the first time one of its symbols is needed, and never at class-load
 * time. Locations are tried in order: files bundled as classpath resources (extracted once into a
 * per-version cache folder and verified by SHA-256 on every load), then names and paths on the system.
 * A {@link Location.Configured} location whose system property is set replaces all the others.
 * If all fail, every use throws {@link NativeLibraryUnavailableException} listing each place tried.
 * Before the first library of the process loads, the registered {@link NativeLoadHook}s run.
 */
public final class NativeLibrary {

    /** Where a library may be found. */
    public sealed interface Location {
        /**
         * Library files packed as classpath resources under {@code resourceDir}: {@code fileName} plus the
         * {@code companions} it needs (found beside it through its RUNPATH {@code $ORIGIN}).
         * {@code version} names this build of the files and keys the cache folder.
         */
        record Bundled(String resourceDir, String fileName, List<String> companions, String version) implements Location {}

        /** A name the dynamic linker resolves on the system search path (LD_LIBRARY_PATH, ld.so.cache). */
        record SystemName(String name) implements Location {}

        /** An absolute file path. */
        record SystemFile(Path path) implements Location {}

        /**
         * The file named by a system property (e.g. {@code -Dtessera.cuda.driver=/path/libcuda.so.1}, how the
         * tests select the emulated CUDA driver). When the property is set it is the only location tried, so
         * a wrong path fails loudly instead of falling back to another library; when unset it is skipped.
         */
        record Configured(String property) implements Location {}
    }

    private static final String CHECKSUM_FILE = "SHA256SUMS";

    private final String name;
    private final List<Location> locations;
    private volatile Loaded loaded;

    private record Loaded(SymbolLookup lookup, String origin, NativeLibraryUnavailableException failure) {}

    private NativeLibrary(String name, List<Location> locations) {
        this.name = name;
        this.locations = List.copyOf(locations);
    }

    /** @param name shown in messages, e.g. "libtessera_cpu.so" */
    public static NativeLibrary of(String name, List<Location> locations) {
        return new NativeLibrary(name, locations);
    }

    public String name() {
        return name;
    }

    /** The library's symbols; loads it on first use. */
    public SymbolLookup lookup() {
        Loaded result = load();
        if (result.failure != null) {
            throw result.failure.copy();
        }
        return result.lookup;
    }

    public boolean isAvailable() {
        return load().failure == null;
    }

    /** Where the library was loaded from, or empty if it could not be loaded. */
    public Optional<String> origin() {
        return Optional.ofNullable(load().origin);
    }

    /** Why the library could not be loaded, or empty if it was. */
    public Optional<String> unavailableReason() {
        NativeLibraryUnavailableException failure = load().failure;
        return failure == null ? Optional.empty() : Optional.of(failure.getMessage());
    }

    public Optional<MemorySegment> find(String symbol) {
        return isAvailable() ? lookup().find(symbol) : Optional.empty();
    }

    /**
     * A downcall handle for {@code symbol}. If the library or the symbol is missing, the handle has the
     * same type but throws {@link NativeLibraryUnavailableException} when invoked, so binding classes can
     * create their handles in static initialisers without ever failing there.
     */
    public MethodHandle downcall(String symbol, FunctionDescriptor descriptor, Linker.Option... options) {
        Linker linker = Linker.nativeLinker();
        Loaded result = load();
        NativeLibraryUnavailableException failure = result.failure;
        if (failure == null) {
            Optional<MemorySegment> address = result.lookup.find(symbol);
            if (address.isPresent()) {
                return linker.downcallHandle(address.get(), descriptor, options);
            }
            failure = new NativeLibraryUnavailableException(
                    "symbol " + symbol + " is not exported by " + name + " (loaded from " + result.origin + ")");
        }
        MethodType type = descriptor.toMethodType();
        MethodHandle thrower = THROW_UNAVAILABLE.bindTo(failure).asType(MethodType.methodType(type.returnType()));
        return MethodHandles.dropArguments(thrower, 0, type.parameterList());
    }

    private static final MethodHandle THROW_UNAVAILABLE;

    static {
        try {
            THROW_UNAVAILABLE = MethodHandles.lookup().findStatic(NativeLibrary.class, "throwUnavailable",
                    MethodType.methodType(Object.class, NativeLibraryUnavailableException.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** A fresh exception per failed call, so its stack trace points at the caller. */
    private static Object throwUnavailable(NativeLibraryUnavailableException failure) {
        throw failure.copy();
    }

    private Loaded load() {
        Loaded result = loaded;
        if (result == null) {
            LoadHooks.runOnce(); // outside this library's lock: a hook may load another library
            synchronized (this) {
                result = loaded;
                if (result == null) {
                    result = tryLocations();
                    loaded = result;
                }
            }
        }
        return result;
    }

    /** The registered {@link NativeLoadHook}s, run once per process before the first library loads. */
    private static final class LoadHooks {
        private static boolean done;
        private static boolean running;

        static synchronized void runOnce() {
            if (done || running) { // running: a hook's own binding call is loading a library on this thread
                return;
            }
            running = true;
            try {
                for (NativeLoadHook hook : ServiceLoader.load(NativeLoadHook.class, NativeLibrary.class.getClassLoader())) {
                    hook.beforeFirstLoad();
                }
                done = true; // not when a hook failed: the next load tries again rather than go on without it
            } finally {
                running = false;
            }
        }
    }

    private Loaded tryLocations() {
        List<String> attempts = new ArrayList<>();
        for (Location location : effectiveLocations()) {
            switch (location) {
                case Location.Bundled bundled -> {
                    try {
                        Optional<Path> file = extract(bundled);
                        if (file.isEmpty()) {
                            attempts.add("classpath resource " + bundled.resourceDir() + "/" + bundled.fileName()
                                    + ": not on the classpath");
                        } else {
                            Path path = file.get();
                            return new Loaded(SymbolLookup.libraryLookup(path, Arena.global()), path.toString(), null);
                        }
                    } catch (IOException | UncheckedIOException | IllegalArgumentException e) {
                        attempts.add("classpath resource " + bundled.resourceDir() + "/" + bundled.fileName() + ": " + e.getMessage());
                    }
                }
                case Location.SystemName system -> {
                    try {
                        return new Loaded(SymbolLookup.libraryLookup(system.name(), Arena.global()),
                                system.name() + " (system library path)", null);
                    } catch (IllegalArgumentException e) {
                        attempts.add("system library path, name " + system.name() + ": " + e.getMessage());
                    }
                }
                case Location.SystemFile file -> {
                    Optional<Loaded> result = loadFile(file.path(), file.path().toString(), attempts);
                    if (result.isPresent()) {
                        return result.get();
                    }
                }
                case Location.Configured configured -> {
                    String path = System.getProperty(configured.property());
                    Optional<Loaded> result = loadFile(Path.of(path), "-D" + configured.property() + "=" + path, attempts);
                    if (result.isPresent()) {
                        return result.get();
                    }
                }
            }
        }
        return new Loaded(null, null, new NativeLibraryUnavailableException(name, attempts));
    }

    /** The first Configured location whose property is set, alone; otherwise the rest, in order. */
    private List<Location> effectiveLocations() {
        for (Location location : locations) {
            if (location instanceof Location.Configured configured && isSet(configured.property())) {
                return List.of(location);
            }
        }
        return locations.stream().filter(location -> !(location instanceof Location.Configured)).toList();
    }

    private static boolean isSet(String property) {
        String value = System.getProperty(property);
        return value != null && !value.isBlank();
    }

    private static Optional<Loaded> loadFile(Path path, String label, List<String> attempts) {
        if (!Files.isRegularFile(path)) {
            attempts.add(label + ": no such file");
            return Optional.empty();
        }
        try {
            return Optional.of(new Loaded(SymbolLookup.libraryLookup(path, Arena.global()), path.toString(), null));
        } catch (IllegalArgumentException e) {
            attempts.add(label + ": " + e.getMessage());
            return Optional.empty();
        }
    }

    // ---- extraction of bundled files -------------------------------------------------------------

    /** The per-user folder that holds extracted libraries: -Dtessera.cache.dir, $XDG_CACHE_HOME/tessera, ~/.cache/tessera. */
    public static Path cacheRoot() {
        String configured = System.getProperty("tessera.cache.dir");
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) {
            return Path.of(xdg, "tessera");
        }
        return Path.of(System.getProperty("user.home"), ".cache", "tessera");
    }

    /** Parses a SHA256SUMS resource (sha256sum's format) in {@code resourceDir}; empty if there is none. */
    public static Map<String, String> bundledChecksums(String resourceDir) {
        try (InputStream in = resource(resourceDir + "/" + CHECKSUM_FILE)) {
            if (in == null) {
                return Map.of();
            }
            return parseChecksums(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + resourceDir + "/" + CHECKSUM_FILE, e);
        }
    }

    private static Optional<Path> extract(Location.Bundled bundled) throws IOException {
        List<String> files = new ArrayList<>(bundled.companions());
        files.add(bundled.fileName());
        if (NativeLibrary.class.getClassLoader().getResource(bundled.resourceDir() + "/" + bundled.fileName()) == null) {
            return Optional.empty();
        }
        Map<String, String> expected = bundledChecksums(bundled.resourceDir());
        String folderName = bundled.fileName().replaceFirst("\\.so.*$", "") + "-" + bundled.version();
        Path root = cacheRoot();
        Path folder = root.resolve(folderName);
        if (Files.isDirectory(folder) && cachedFilesIntact(folder, files, expected)) {
            return Optional.of(folder.resolve(bundled.fileName()));
        }
        Files.createDirectories(root);
        Path staging = Files.createTempDirectory(root, folderName + ".tmp-");
        try {
            Map<String, String> written = new LinkedHashMap<>();
            for (String file : files) {
                written.put(file, copyResource(bundled.resourceDir() + "/" + file, staging.resolve(file), expected.get(file)));
            }
            StringBuilder sums = new StringBuilder();
            written.forEach((file, sha) -> sums.append(sha).append("  ").append(file).append('\n'));
            Files.writeString(staging.resolve(CHECKSUM_FILE), sums);
            deleteRecursively(folder); // a damaged earlier extraction
            try {
                Files.move(staging, folder, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException | DirectoryNotEmptyException | AtomicMoveNotSupportedException raced) {
                // another process extracted the same version at the same moment; use theirs if it is good
                if (!cachedFilesIntact(folder, files, expected)) {
                    throw new IOException("extraction into " + folder + " raced with another process and left damaged files", raced);
                }
            }
        } finally {
            deleteRecursively(staging);
        }
        return Optional.of(folder.resolve(bundled.fileName()));
    }

    private static boolean cachedFilesIntact(Path folder, List<String> files, Map<String, String> expected) throws IOException {
        Path sumsFile = folder.resolve(CHECKSUM_FILE);
        if (!Files.isRegularFile(sumsFile)) {
            return false;
        }
        Map<String, String> recorded = parseChecksums(Files.readString(sumsFile));
        for (String file : files) {
            String sha = recorded.get(file);
            Path path = folder.resolve(file);
            if (sha == null || (expected.containsKey(file) && !expected.get(file).equals(sha)) || !Files.isRegularFile(path)) {
                return false;
            }
            try (InputStream in = Files.newInputStream(path)) {
                if (!sha.equals(sha256(in))) {
                    return false;
                }
            }
        }
        return true;
    }

    private static String copyResource(String resourcePath, Path target, String expectedSha) throws IOException {
        try (InputStream raw = resource(resourcePath)) {
            if (raw == null) {
                throw new IOException("resource " + resourcePath + " is missing from the classpath");
            }
            MessageDigest digest = newSha256();
            try (DigestInputStream in = new DigestInputStream(raw, digest); OutputStream out = Files.newOutputStream(target)) {
                in.transferTo(out);
            }
            String actual = HexFormat.of().formatHex(digest.digest());
            if (expectedSha != null && !expectedSha.equals(actual)) {
                throw new IOException("resource " + resourcePath + " is corrupt: SHA-256 " + actual + ", expected " + expectedSha);
            }
            return actual;
        }
    }

    private static InputStream resource(String path) {
        return NativeLibrary.class.getClassLoader().getResourceAsStream(path);
    }

    private static Map<String, String> parseChecksums(String text) {
        Map<String, String> sums = new LinkedHashMap<>();
        for (String line : text.split("\n")) {
            String[] parts = line.trim().split("\\s+\\*?", 2);
            if (parts.length == 2) {
                sums.put(parts[1], parts[0]);
            }
        }
        return sums;
    }

    private static String sha256(InputStream in) throws IOException {
        MessageDigest digest = newSha256();
        byte[] buffer = new byte[1 << 16];
        for (int n; (n = in.read(buffer)) > 0; ) {
            digest.update(buffer, 0, n);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    private static void deleteRecursively(Path path) throws IOException {
        if (!Files.exists(path)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(path)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
