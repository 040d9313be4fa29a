package io.github.dl4jmoe.examples.ui;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.net.SocketException;
import java.util.Optional;

import org.deeplearning4j.ui.VertxUIServer;
import org.junit.jupiter.api.Test;

/**
 * The training UI listens on the address asked for, loopback by default; DL4J's stock server listens on every
 * interface, which is why {@link BoundUIServer} exists.
 */
class BoundUIServerTest {

    private static final int CONNECT_MILLIS = 2000;

    /** An up, non-loopback IPv4 address of this machine: what another machine on the network would connect to. */
    private static Optional<InetAddress> networkAddress() throws SocketException {
        return NetworkInterface.networkInterfaces().filter(BoundUIServerTest::isUp)
                .flatMap(NetworkInterface::inetAddresses)
                .filter(a -> a instanceof Inet4Address && !a.isLoopbackAddress()).findFirst();
    }

    private static boolean isUp(NetworkInterface n) {
        try {
            return n.isUp() && !n.isLoopback();
        } catch (SocketException e) {
            return false;
        }
    }

    private static boolean accepts(InetAddress address, int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(address, port), CONNECT_MILLIS);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void stockServerListensOnEveryInterface() throws Exception {
        Optional<InetAddress> network = networkAddress();
        assumeTrue(network.isPresent(), "skipped: this machine has no non-loopback IPv4 address to connect to");
        VertxUIServer stock = VertxUIServer.getInstance(0, false, null);
        try {
            assertTrue(accepts(network.get(), stock.getPort()), "DL4J's server reachable at " + network.get());
        } finally {
            VertxUIServer.stopInstance();
        }
    }

    @Test
    void listensOnLoopbackOnlyByDefault() throws Exception {
        Optional<InetAddress> network = networkAddress();
        assumeTrue(network.isPresent(), "skipped: this machine has no non-loopback IPv4 address to connect to");
        try (TrainingUi ui = TrainingUi.start(TrainingUi.DEFAULT_HOST, 0, null)) {
            assertTrue(accepts(InetAddress.getLoopbackAddress(), ui.port()), "reachable on loopback");
            assertTrue(!accepts(network.get(), ui.port()), "not reachable at " + network.get());
            assertTrue(ui.url().equals("http://127.0.0.1:" + ui.port()), ui.url());
        }
    }

    @Test
    void listensOnTheHostAskedFor() throws Exception {
        Optional<InetAddress> network = networkAddress();
        assumeTrue(network.isPresent(), "skipped: this machine has no non-loopback IPv4 address to connect to");
        try (TrainingUi ui = TrainingUi.start(network.get().getHostAddress(), 0, null)) {
            assertTrue(accepts(network.get(), ui.port()), "reachable at " + network.get());
        }
    }

    @Test
    void aPortInUseIsAnIOExceptionNamingIt() throws Exception {
        try (TrainingUi first = TrainingUi.start(TrainingUi.DEFAULT_HOST, 0, null)) {
            IOException e = assertThrows(IOException.class,
                    () -> TrainingUi.start(TrainingUi.DEFAULT_HOST, first.port(), null));
            assertTrue(e.getMessage().startsWith("cannot listen on 127.0.0.1:" + first.port() + " ("), e.getMessage());
        }
    }
}
