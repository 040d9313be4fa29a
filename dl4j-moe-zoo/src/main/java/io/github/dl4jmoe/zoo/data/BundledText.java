package io.github.dl4jmoe.zoo.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/** Text shipped inside this jar, readable with no network access. */
public enum BundledText {

    /** Karpathy's tiny Shakespeare: about 1.1 MB of plays, public domain. */
    TINY_SHAKESPEARE("tinyshakespeare.txt");

    private final String resource;

    BundledText(String resource) {
        this.resource = resource;
    }

    /** The whole text, UTF-8. */
    public String read() {
        try (InputStream in = BundledText.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("Bundled text '" + resource + "' is missing from the classpath; "
                        + "is dl4j-moe-zoo on it?");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read bundled text '" + resource + "'", e);
        }
    }
}
