/**
 * Command-line pieces shared by the programs of the examples module and of dl4j-moe-spark: the picocli mixin
 * {@link io.github.dl4jmoe.cli.ModelOptions} (the options of a new {@code MoETransformerLM}),
 * {@link io.github.dl4jmoe.cli.FileOptions} (files named by options, read or loaded with usage errors) and
 * {@link io.github.dl4jmoe.cli.CommandLines} (how a program reports every error: one line, exit code 2 or 1). This
 * module depends only on the zoo and picocli. The programs themselves do not live here, nor anything that would bring
 * their dependencies along (progress bars, charts, ParallelWrapper, Spark).
 */
package io.github.dl4jmoe.cli;
