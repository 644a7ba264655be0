package io.tessera.cli.experiments;

import picocli.CommandLine.Command;

/**
 * {@code tessera experiment}: the measurements behind the project's claims, each writing a markdown table
 * and a PNG plot (docs/results/ by default) with the command that produced them. (Its --help and --version
 * come from the tessera command, as every subcommand's do.)
 */
@Command(name = "experiment", description = "Reproduce the project's claims on Fashion-MNIST: tables and plots under docs/results/.",
        subcommands = {FishExperiment.class, MergeExperiment.class})
public final class ExperimentCommand {}
