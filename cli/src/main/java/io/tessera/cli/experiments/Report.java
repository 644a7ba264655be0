package io.tessera.cli.experiments;

import io.tessera.engine.io.AtomicFiles;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import javax.imageio.ImageIO;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/** An experiment's outputs: a markdown report and a PNG plot, and the formatting they share. */
final class Report {
    private Report() {}

    /**
     * Writes {@code <name>.png} and then {@code <name>.md} into {@code dir}, each atomically (a temporary file
     * renamed over the target), so a failed run leaves the previous results as they were.
     */
    static void write(Path dir, String name, String markdown, BufferedImage plot) throws IOException {
        Files.createDirectories(dir);
        AtomicFiles.writeStream(dir.resolve(name + ".png"), out -> {
            if (!ImageIO.write(plot, "png", out)) {
                throw new IOException("no PNG writer in this JVM");
            }
        });
        AtomicFiles.writeStream(dir.resolve(name + ".md"), out -> out.write(markdown.getBytes(StandardCharsets.UTF_8)));
    }

    /**
     * The command as typed and with every option's value in effect, so a reader can rerun it exactly:
     * two lines of a markdown code block.
     */
    static String command(CommandSpec spec) {
        String typed = "tessera " + spec.qualifiedName().replaceFirst("^tessera ", "") + " "
                + String.join(" ", spec.commandLine().getParseResult().originalArgs().stream()
                        .dropWhile(a -> !a.equals(spec.name())).skip(1).toList());
        List<String> effective = new ArrayList<>();
        for (OptionSpec option : spec.options()) {
            if (!option.usageHelp() && !option.versionHelp() && !option.longestName().equals("--verbose")) {
                Object value = option.getValue();
                String shown = value instanceof double[] d ? join(d) : value instanceof long[] l ? join(l) : String.valueOf(value);
                effective.add(option.longestName() + " " + shown);
            }
        }
        return "```\n" + typed.strip() + "\n# every option's value in effect:\n# " + String.join(" ", effective) + "\n```\n";
    }

    private static String join(double[] values) {
        return java.util.Arrays.stream(values).mapToObj(v -> java.math.BigDecimal.valueOf(v).stripTrailingZeros().toPlainString())
                .collect(Collectors.joining(","));
    }

    private static String join(long[] values) {
        return java.util.Arrays.stream(values).mapToObj(Long::toString).collect(Collectors.joining(","));
    }

    /** A markdown table; cells must not contain '|'. */
    static String table(List<String> header, List<List<String>> rows) {
        StringBuilder out = new StringBuilder();
        out.append("| ").append(String.join(" | ", header)).append(" |\n|");
        header.forEach(h -> out.append(" --- |"));
        out.append('\n');
        for (List<String> row : rows) {
            if (row.size() != header.size()) {
                throw new IllegalArgumentException("table row " + row + " has " + row.size() + " cells, the header " + header.size());
            }
            out.append("| ").append(String.join(" | ", row)).append(" |\n");
        }
        return out.toString();
    }

    static double mean(double[] values) {
        return java.util.Arrays.stream(values).average().orElseThrow();
    }

    /** The sample standard deviation (n - 1 in the denominator); 0 for one value. */
    static double std(double[] values) {
        if (values.length < 2) {
            return 0;
        }
        double mean = mean(values);
        double squares = java.util.Arrays.stream(values).map(v -> (v - mean) * (v - mean)).sum();
        return Math.sqrt(squares / (values.length - 1));
    }

    /** Accuracies as percentages, "mean ± std" (just the mean for one value). */
    static String percent(double[] accuracies) {
        return accuracies.length == 1 ? String.format(Locale.ROOT, "%.2f", 100 * accuracies[0])
                : String.format(Locale.ROOT, "%.2f ± %.2f", 100 * mean(accuracies), 100 * std(accuracies));
    }

    static String rate(double lr) {
        return String.format(Locale.ROOT, "%.0e", lr).replace("e-0", "e-").replace("e+00", "").replace("e+0", "e");
    }
}
