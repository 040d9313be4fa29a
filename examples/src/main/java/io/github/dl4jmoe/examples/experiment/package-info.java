/**
 * The {@code experiment} command: one subcommand per claim of the papers, each training small character language
 * models on the bundled text (or {@code --text}) and writing CSV files, PNG charts and a {@code report.md} table.
 */
package io.github.dl4jmoe.examples.experiment;
