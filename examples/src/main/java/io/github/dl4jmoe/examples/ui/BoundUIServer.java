package io.github.dl4jmoe.examples.ui;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import org.deeplearning4j.ui.VertxUIServer;

/**
 * DL4J's UI server ({@link VertxUIServer}, every module it loads) listening on one host and port.
 *
 * <p>Why: M2.1's {@code VertxUIServer.start} calls Vert.x's {@code HttpServer.listen(port, handler)}, which binds
 * {@code "0.0.0.0"} (every interface: the model is shown to the whole network), and offers no host setting
 * ({@code BoundUIServerTest.stockServerListensOnEveryInterface} shows it). This subclass hands the verticle a
 * {@code Vertx} whose HTTP server turns that call into {@code listen(port, host, handler)}; everything else is
 * DL4J's code unchanged.
 */
final class BoundUIServer extends VertxUIServer {

    private static final String LISTEN = "listen";

    private final String host;
    private final int port;

    /**
     * @param host address to listen on, e.g. "127.0.0.1"
     * @param port TCP port; 0 picks a free one ({@link #getPort()} tells which)
     */
    BoundUIServer(String host, int port) {
        this.host = host;
        this.port = port;
    }

    @Override
    public void init(Vertx vertx, Context context) {
        super.init(proxy(Vertx.class, vertx, (method, args) -> isCreateHttpServer(method)
                ? boundServer(vertx.createHttpServer()) : null), context);
    }

    private static boolean isCreateHttpServer(Method method) {
        return method.getName().equals("createHttpServer") && method.getParameterCount() == 0;
    }

    /** {@code server} whose {@code listen(int, handler)} listens on {@link #host} instead of every interface. */
    private HttpServer boundServer(HttpServer server) {
        return proxy(HttpServer.class, server, (method, args) -> {
            if (method.getName().equals(LISTEN) && method.getParameterCount() == 2
                    && method.getParameterTypes()[0] == int.class) {
                @SuppressWarnings("unchecked")
                Handler<AsyncResult<HttpServer>> handler = (Handler<AsyncResult<HttpServer>>) args[1];
                server.listen(port, host, handler);
                return server;
            }
            return null;
        });
    }

    /** What an intercepted call returns; null: not intercepted, call the target. */
    private interface Interceptor {
        Object intercept(Method method, Object[] args);
    }

    /**
     * A proxy of {@code type} that calls {@code target} unless {@code interceptor} answers; a fluent method returning
     * the target returns the proxy, so chained calls stay intercepted.
     */
    private static <T> T proxy(Class<T> type, T target, Interceptor interceptor) {
        Object proxy = Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[]{type}, (self, method, args) -> {
            Object answer = interceptor.intercept(method, args);
            Object result;
            try {
                result = answer != null ? answer : method.invoke(target, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
            return result == target ? self : result;
        });
        return type.cast(proxy);
    }

    /** The address the server listens on. */
    String host() {
        return host;
    }
}
