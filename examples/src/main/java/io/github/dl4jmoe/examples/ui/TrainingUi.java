package io.github.dl4jmoe.examples.ui;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.github.dl4jmoe.cli.CommandLines;
import io.vertx.core.Vertx;
import org.deeplearning4j.core.storage.StatsStorage;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.ui.VertxUIServer;
import org.deeplearning4j.ui.model.stats.StatsListener;
import org.deeplearning4j.ui.model.storage.FileStatsStorage;
import org.deeplearning4j.ui.model.storage.InMemoryStatsStorage;
import picocli.CommandLine.Model.CommandSpec;

/**
 * DL4J's training UI for one run: its server ({@link VertxUIServer}, with {@link RoutingModule}) listening on one
 * address, a storage (in memory, or a file that DL4J's UI can open again), and the listeners that fill it
 * ({@link StatsListener}, {@link RoutingStorageListener}) under one session id. Closing stops the server and closes
 * the storage.
 */
public final class TrainingUi implements AutoCloseable {

    /** DL4J's UI port. */
    public static final int DEFAULT_PORT = VertxUIServer.DEFAULT_UI_PORT;
    /** The loopback interface: a training UI open to the network shows the model to anyone who can reach it. */
    public static final String DEFAULT_HOST = InetAddress.getLoopbackAddress().getHostAddress();
    /** How long starting the server may take. */
    private static final long START_SECONDS = 60;

    /** The server could not listen on the address and port asked for. */
    public static final class CannotListenException extends IOException {
        private static final long serialVersionUID = 1L;

        CannotListenException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    private final BoundUIServer server;
    private final Vertx vertx;
    private final StatsStorage storage;
    private final String sessionId = UUID.randomUUID().toString();

    private TrainingUi(BoundUIServer server, Vertx vertx, StatsStorage storage) {
        this.server = server;
        this.vertx = vertx;
        this.storage = storage;
    }

    /** How a command names its UI options ({@code --ui-host}, {@code --host}, ...), for its messages. */
    public record OptionNames(String host, String port, String file) {
    }

    /**
     * {@link #start} for a command: prints the URLs under {@code label} and who can reach the UI; a port it cannot
     * listen on and a file that is not a statistics file are usage errors naming the command's options.
     *
     * @param host null for the loopback interface
     */
    public static TrainingUi startFor(CommandSpec spec, OptionNames names, String host, int port, Path file,
                                      String label, PrintStream log) {
        String address = host == null ? DEFAULT_HOST : host;
        TrainingUi ui;
        try {
            ui = start(address, port, file);
        } catch (CannotListenException e) {
            throw CommandLines.usage(spec, names.port() + " " + port + " / " + names.host() + " " + address + ": "
                    + e.getMessage() + " (try another " + names.port() + ", or " + names.port()
                    + " 0 for any free one)");
        } catch (IOException e) {
            throw CommandLines.usage(spec, names.file() + ": " + e.getMessage() + " (pass a new file, or one an "
                    + "earlier train --ui-file wrote)");
        }
        log.printf("%s: %s/train  routing: %s%n", label, ui.url(), ui.routingUrl());
        log.println(host == null
                ? "the UI listens on the loopback interface only (this machine); " + names.host() + " to change"
                : "the UI listens on " + address + ": anyone who can reach that address sees the model");
        return ui;
    }

    /**
     * Starts the server on {@code host:port} with a storage attached.
     *
     * @param port TCP port, 0 for a free one
     * @param file the file storage to write (and append to, if it exists), or null to keep statistics in memory
     * @throws CannotListenException if the server cannot listen there (port in use, unknown address)
     * @throws IOException             if {@code file} is not a statistics file
     */
    public static TrainingUi start(String host, int port, Path file) throws IOException {
        StatsStorage storage = storage(file);
        Vertx vertx = Vertx.vertx();
        BoundUIServer server = new BoundUIServer(host, port);
        CompletableFuture<Void> started = new CompletableFuture<>();
        vertx.deployVerticle(server, done -> {
            if (done.succeeded()) {
                started.complete(null);
            } else {
                started.completeExceptionally(done.cause());
            }
        });
        try {
            started.get(START_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            stop(server, vertx);
            storage.close();
            Throwable cause = e instanceof ExecutionException ? rootCause(e) : e;
            throw new CannotListenException("cannot listen on " + host + ":" + port + " (" + cause.getMessage() + ")",
                    cause);
        } catch (InterruptedException e) {
            stop(server, vertx);
            storage.close();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while starting the training UI", e);
        }
        server.attach(storage);
        return new TrainingUi(server, vertx, storage);
    }

    /** In memory, or DL4J's file storage (MapDB), whose failure to open a foreign file is an unchecked exception. */
    private static StatsStorage storage(Path file) throws IOException {
        if (file == null) {
            return new InMemoryStatsStorage();
        }
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        try {
            return new FileStatsStorage(file.toFile());
        } catch (RuntimeException e) {
            throw new IOException(file + " is not a statistics file written by train --ui-file (" + e + ")", e);
        }
    }

    /**
     * Stops {@code server} and its Vert.x. DL4J keeps the last server constructed as its {@code UIServer} instance;
     * {@code stopInstance} also forgets it, so a later {@code UIServer.getInstance()} starts a new one instead of
     * returning this stopped (or never started) server.
     */
    private static void stop(BoundUIServer server, Vertx vertx) {
        try {
            if (VertxUIServer.getInstance() == server) {
                VertxUIServer.stopInstance();
            }
        } catch (Exception e) {
            // already stopped; closing Vert.x below is all that is left
        } finally {
            vertx.close();
        }
    }

    private static Throwable rootCause(Throwable e) {
        Throwable c = e;
        while (c.getCause() != null && c.getCause() != c) {
            c = c.getCause();
        }
        return c;
    }

    /**
     * The listeners that record a run: DL4J's {@link StatsListener} (score, parameters, memory: the UI's own pages)
     * and the routing records, both every {@code frequency} iterations. Both are DL4J
     * {@code RoutingIterationListener}s: on a network that a {@code ParallelWrapper} trains, each worker thread records
     * through its own clone, under its own worker id.
     */
    public List<TrainingListener> listeners(int frequency) {
        return List.of(new StatsListener(storage, frequency, sessionId),
                new RoutingStorageListener(storage, sessionId, frequency));
    }

    /** The UI's address, e.g. {@code http://127.0.0.1:9000}. */
    public String url() {
        String host = server.host();
        return "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + server.getPort();
    }

    /** The routing page's address. */
    public String routingUrl() {
        return url() + RoutingModule.PAGE_PATH;
    }

    /** The port the server listens on (the one picked, if 0 was asked for). */
    public int port() {
        return server.getPort();
    }

    @Override
    public void close() {
        stop(server, vertx);
        try {
            storage.close();
        } catch (IOException e) {
            throw new UncheckedIOException("closing the training UI's storage", e);
        }
    }
}
