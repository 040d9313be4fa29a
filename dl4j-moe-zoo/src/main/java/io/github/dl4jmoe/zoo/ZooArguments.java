package io.github.dl4jmoe.zoo;

/** Checks a zoo model builder's arguments, with the message format of the layers' config errors. */
final class ZooArguments {

    private final String model;

    ZooArguments(String model) {
        this.model = model;
    }

    /** Throws "Model: field must ..., got value (fix)" unless {@code ok}. */
    void require(boolean ok, String field, Object value, String requirement, String fix) {
        if (!ok) {
            throw new IllegalArgumentException(model + ": " + field + " " + requirement + ", got " + value + " (" + fix + ")");
        }
    }
}
