/** Text bundled as a classpath resource (public-domain Shakespeare) and helpers to read it offline. */
package io.github.dl4jmoe.zoo.data;
