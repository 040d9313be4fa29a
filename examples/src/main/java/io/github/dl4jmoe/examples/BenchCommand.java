package io.github.dl4jmoe.examples;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code bench <layer>}: side-by-side timings in one run (the machine is noisy: read ratios, not absolute times). */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks measured side by side in one run.",
        subcommands = {LanguageModelBench.class, MoeBench.class, PeerBench.class, SoakBench.class,
            CommandLine.HelpCommand.class})
public final class BenchCommand {
}
