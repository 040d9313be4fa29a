package io.github.dl4jmoe.zoo;

import io.github.dl4jmoe.runtime.BaseMoeLayer;

/** Checks a zoo model builder's arguments, with the message format of the layers' config errors. */
final class ZooArguments {

    private final String model;

    ZooArguments(String model) {
        this.model = model;
    }

    /** Throws "Model: field must ..., got value (fix)" unless {@code ok}. */
    void require(boolean ok, String field, Object value, String requirement, String fix) {
        if (!ok) {
            // one message format for layer and model arguments; builders throw IllegalArgumentException
            throw new IllegalArgumentException(
                    BaseMoeLayer.invalid(model, field, value, requirement, fix).getMessage());
        }
    }
}
