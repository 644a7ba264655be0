package io.tessera.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code tessera} command: parses arguments and hands each subcommand to the library. */
@Command(name = "tessera", mixinStandardHelpOptions = true, versionProvider = TesseraCommand.Version.class,
        description = "Build ML models like open-source software: sparse patches, Fisher merging, pipelined int8 inference.",
        subcommands = {DoctorCommand.class, TrainCommand.class, FisherCommand.class, MergeCommand.class, QuantizeCommand.class,
                DemoCommand.class, CommandLine.HelpCommand.class})
public final class TesseraCommand {

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The command tree with Tessera's error handling; tests run it in-process. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new TesseraCommand());
        // a user error or a missing native library is a message, not a stack trace
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            commandLine.getErr().println("tessera " + commandLine.getCommandName() + ": " + e.getMessage());
            return 1;
        });
        return cli;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = TesseraCommand.class.getPackage().getImplementationVersion();
            return new String[] {"tessera " + (version == null ? "(development build)" : version)};
        }
    }
}
