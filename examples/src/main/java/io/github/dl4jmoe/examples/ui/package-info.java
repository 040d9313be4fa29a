/**
 * The training UI of {@code train --ui}: DL4J's own UI server ({@code UIServer}, {@code StatsListener}, in-memory or
 * file storage), bound to one address, plus our routing page ({@code RoutingModule}) fed by routing records written
 * through DL4J's storage API. Routing statistics themselves are computed in {@code io.github.dl4jmoe.stats}, not here.
 */
package io.github.dl4jmoe.examples.ui;
