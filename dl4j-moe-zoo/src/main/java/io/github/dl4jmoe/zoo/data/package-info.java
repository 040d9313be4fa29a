/** Data for the zoo models: bundled public-domain text, character vocabularies and language-model iterators. */
package io.github.dl4jmoe.zoo.data;
