package io.tessera.cli;

import static io.tessera.cli.CliRunner.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** What every subcommand promises scripts: --help, usage errors as exit code 2, progress only on a terminal. */
class SubcommandContractTest {

    @Test
    void everySubcommandAnswersHelp() {
        for (String sub : TesseraCommand.commandLine().getSubcommands().keySet()) {
            CliRunner.Run r = ok(sub, "--help");
            assertTrue(r.out().contains("Usage: tessera " + sub + " "), sub + ":\n" + r.out());
        }
    }

    @Test
    void usageErrorsAreOneLineWithExitCodeTwo() {
        CliRunner.fails(2, List.of("tessera inspect: Missing required parameter: 'FILE' (see 'tessera inspect --help')"),
                "inspect");
        CliRunner.fails(2, List.of("tessera: Unmatched argument at index 0: 'no-such-command'"), "no-such-command");
    }

    @Test
    void progressIsDrawnOnlyOnATerminal() {
        assertTrue(System.console() == null || !System.console().isTerminal(), "tests run without a terminal");
        CommandLine cli = TesseraCommand.commandLine();
        StringWriter err = new StringWriter();
        cli.setErr(new PrintWriter(err));
        ProgressBar.onStderr(cli.getCommandSpec(), "epoch", 2).update(2, "done");
        assertEquals("", err.toString(), "no carriage returns into a pipe");
        StringWriter terminal = new StringWriter();
        new ProgressBar(new PrintWriter(terminal), "epoch", 2).update(2, "done");
        assertTrue(terminal.toString().startsWith("\repoch [") && terminal.toString().endsWith(System.lineSeparator()),
                terminal.toString());
    }
}
