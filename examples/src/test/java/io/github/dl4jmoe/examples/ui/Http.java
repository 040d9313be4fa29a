package io.github.dl4jmoe.examples.ui;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** GET requests to the training UI, for tests. */
final class Http {

    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(TIMEOUT).build();
    private static final int OK = 200;

    private Http() {
    }

    /** The response to a GET of {@code url}. */
    static HttpResponse<String> send(String url) throws IOException, InterruptedException {
        return CLIENT.send(HttpRequest.newBuilder(URI.create(url)).timeout(TIMEOUT).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** The body of a GET of {@code url}, which must answer 200. */
    static String get(String url) throws IOException, InterruptedException {
        HttpResponse<String> r = send(url);
        assertEquals(OK, r.statusCode(), url + ": " + r.body());
        return r.body();
    }
}
