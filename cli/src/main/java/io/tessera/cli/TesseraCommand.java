package io.tessera.cli;

import io.tessera.cli.experiments.ExperimentCommand;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;

/**
 * The {@code tessera} command: parses arguments and hands each subcommand to the library. Exit codes: 0 done,
 * 1 the command failed (one line "tessera SUB: MESSAGE" on stderr; the stack trace too with --verbose),
 * 2 the arguments are wrong (one line, with a pointer to the subcommand's --help).
 */
@Command(name = "tessera", mixinStandardHelpOptions = true, versionProvider = TesseraCommand.Version.class,
        description = "Build ML models like open-source software: sparse patches, Fisher merging, pipelined int8 inference.",
        subcommands = {DoctorCommand.class, InspectCommand.class, TrainCommand.class, FisherCommand.class, MaskCommand.class,
                FinetuneCommand.class, DiffCommand.class, ApplyCommand.class, RevertCommand.class, MergeCommand.class,
                QuantizeCommand.class, DemoCommand.class, GenerateCommand.class, VetCommand.class, ExperimentCommand.class,
                ServeCommand.class, RegistryCommand.class, CreateModelCommand.class,
                CommandLine.HelpCommand.class})
public final class TesseraCommand {

    @Option(names = "--verbose", scope = ScopeType.INHERIT, description = "On failure, print the stack trace too.")
    boolean verbose;

    public static void main(String[] args) {
        CommandLine cli = commandLine();
        // file names and JSON reach scripts as UTF-8 whatever the locale's charset
        cli.setOut(new PrintWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), true));
        cli.setErr(new PrintWriter(new OutputStreamWriter(System.err, StandardCharsets.UTF_8), true));
        System.exit(cli.execute(args));
    }

    /** The command tree with Tessera's error handling; tests run it in-process. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new TesseraCommand());
        cli.setCaseInsensitiveEnumValuesAllowed(true); // --labels empirical as well as EMPIRICAL
        for (CommandLine sub : cli.getSubcommands().values()) {
            // every subcommand answers --help and --version (the help subcommand has its own --help)
            if (!sub.getCommandSpec().optionsMap().containsKey("--help")) {
                sub.getCommandSpec().mixinStandardHelpOptions(true).versionProvider(new Version());
            }
        }
        // a user error or a missing native library is a message, not a stack trace
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            PrintWriter err = commandLine.getErr();
            err.println("tessera " + commandLine.getCommandName() + ": " + oneLine(e.getMessage() != null ? e.getMessage()
                    : e.getClass().getSimpleName()));
            if (verbose(parseResult)) {
                e.printStackTrace(err);
            }
            err.flush();
            return 1;
        });
        cli.setParameterExceptionHandler((e, args) -> {
            CommandLine commandLine = e.getCommandLine();
            String name = commandLine.getCommandSpec().qualifiedName();
            commandLine.getErr().println(name + ": " + oneLine(e.getMessage()) + " (see '" + name + " --help')");
            commandLine.getErr().flush();
            return commandLine.getCommandSpec().exitCodeOnInvalidInput();
        });
        return cli;
    }

    /** Multi-line library messages ("... (2 problems):\n  a\n  b") as one line, so scripts can read one error per line. */
    static String oneLine(String message) {
        return message.strip().replaceAll(":\\R\\s*", ": ").replaceAll("\\R\\s*", "; ");
    }

    private static boolean verbose(ParseResult parsed) {
        for (ParseResult p = parsed; p != null; p = p.subcommand()) {
            if (p.hasMatchedOption("--verbose")) {
                return true;
            }
        }
        return false;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = TesseraCommand.class.getPackage().getImplementationVersion();
            return new String[] {"tessera " + (version == null ? "(development build)" : version)};
        }
    }
}
