/**
 * What the Jupyter notebooks of {@code examples/notebooks} call besides the library: {@link
 * io.github.dl4jmoe.examples.notebook.Charts}, which shows an XChart chart as a notebook image. The notebooks
 * themselves, and the runner that executes them in the tests, do not live here.
 */
package io.github.dl4jmoe.examples.notebook;
