package vigie;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.settings.Settings;
import org.opensearch.core.common.transport.TransportAddress;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

/**
 * One OpenSearch node for Vigie's tests, in this JVM, with the modules the Vigie index design needs given as classes.
 *
 * Usage: OpenSearchNode HOME PORT [KEY=VALUE...]. HOME holds data/ and logs/; PORT 0 takes any free loopback port.
 * Extra KEY=VALUE pairs are node settings. Prints "listening http://127.0.0.1:PORT" once the HTTP port is bound,
 * then runs until it gets SIGTERM or its standard input closes (the test process that started it is gone).
 */
public final class OpenSearchNode {

    /** Modules of the OpenSearch distribution the store uses: HTTP, the analyzers, painless scripts, delete-by-query. */
    static final Collection<Class<? extends Plugin>> MODULES = List.of(
        Netty4Plugin.class, CommonAnalysisPlugin.class, PainlessPlugin.class, ReindexPlugin.class);

    static final class VigieNode extends Node {
        VigieNode(Settings settings) {
            super(InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> "vigie-test-node"), MODULES, true);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: OpenSearchNode HOME PORT [KEY=VALUE...]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        Files.createDirectories(home.resolve("config"));
        Settings.Builder settings = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", home.resolve("data").toString())
            .put("path.logs", home.resolve("logs").toString())
            .put("cluster.name", "vigie-test")
            .put("node.name", "vigie-test-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", args[1])
            .put("transport.port", "0")
            .put("http.type", "netty4")
            .put("transport.type", "netty4")
            .put("discovery.type", "single-node")
            .put("cluster.routing.allocation.disk.threshold_enabled", "false");
        for (int i = 2; i < args.length; i++) {
            String[] pair = args[i].split("=", 2);
            settings.put(pair[0], pair.length > 1 ? pair[1] : "");
        }
        Node node = new VigieNode(settings.build());
        Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(node), "vigie-node-stop"));
        node.start();
        TransportAddress address = node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress();
        System.out.println("listening http://" + address.getAddress() + ":" + address.getPort());
        System.out.flush();
        watchParent(System.in);
    }

    /** Exit when standard input closes: a test run that died must not leave a node behind. */
    static void watchParent(InputStream in) {
        try {
            while (in.read() != -1) {
                // ignore input
            }
        } catch (IOException ignored) {
            // parent gone
        }
        System.exit(0);
    }

    static void stop(Node node) {
        try {
            node.close();
            node.awaitClose(30, TimeUnit.SECONDS);
        } catch (IOException | InterruptedException e) {
            System.err.println("stopping the node: " + e);
        }
    }
}
