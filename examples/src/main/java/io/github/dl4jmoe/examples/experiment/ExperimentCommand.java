package io.github.dl4jmoe.examples.experiment;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The papers' claims at small scale, one subcommand each. */
@Command(name = "experiment", mixinStandardHelpOptions = true,
        description = "Reproduce a paper's claim at small scale: CSV files, PNG charts and report.md in --out.",
        subcommands = {PeerScalingExperiment.class, TopPExperiment.class, UpcyclingExperiment.class,
                BalancingExperiment.class, CommandLine.HelpCommand.class})
public final class ExperimentCommand {
}
