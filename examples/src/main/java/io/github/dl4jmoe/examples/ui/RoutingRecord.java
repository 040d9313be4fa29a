package io.github.dl4jmoe.examples.ui;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;

import io.github.dl4jmoe.stats.ExpertUsage;
import io.github.dl4jmoe.stats.RoutingStatistics;
import io.github.dl4jmoe.stats.RoutingStatsListener.Snapshot;
import org.deeplearning4j.core.storage.Persistable;
import org.nd4j.shade.jackson.databind.ObjectMapper;
import org.nd4j.shade.jackson.databind.node.ObjectNode;

/**
 * One iteration's routing statistics ({@link Snapshot}) as a DL4J storage record, so that an in-memory or file
 * {@code StatsStorage} holds them next to {@code StatsListener}'s records and replays them when a file is reopened.
 * The payload is the JSON the routing page draws:
 * <pre>
 * {"iteration": 40, "epoch": 0,
 *  "moe":  {"block0-ffn": {"tokens": 64, "load": [30, 12, ...], "expertsPerToken": 1.8, "droppedPairs": 0,
 *                          "capacity": 80, "klToUniform": 0.12}},
 *  "peer": {"block1-ffn": {"experts": 16, "usedFraction": 0.94, "klToUniform": 0.31}}}
 * </pre>
 * Encoded as session id, worker id (modified UTF-8), timestamp (long) and the payload's UTF-8 bytes, each length
 * prefixed. A no-argument constructor and {@code decode} are what DL4J's storages use to read records back.
 */
public final class RoutingRecord implements Persistable {

    private static final long serialVersionUID = 1L;

    /** Type id of these records in a {@code StatsStorage}. */
    public static final String TYPE_ID = "DL4JMoeRouting";

    private static final ObjectMapper JSON = new ObjectMapper();

    private String sessionId;
    private String workerId;
    private long timestamp;
    private String json;

    /** For DL4J's storages, which create an empty record and {@code decode} into it. */
    public RoutingRecord() {
    }

    RoutingRecord(String sessionId, String workerId, long timestamp, String json) {
        this.sessionId = sessionId;
        this.workerId = workerId;
        this.timestamp = timestamp;
        this.json = json;
    }

    /** The record of one snapshot of {@code RoutingStatsListener}. */
    public static RoutingRecord of(String sessionId, String workerId, long timestamp, Snapshot snapshot) {
        ObjectNode root = JSON.createObjectNode();
        root.put("iteration", snapshot.iteration());
        root.put("epoch", snapshot.epoch());
        ObjectNode moe = root.putObject("moe");
        for (Map.Entry<String, RoutingStatistics> e : snapshot.moe().entrySet()) {
            RoutingStatistics s = e.getValue();
            ObjectNode layer = moe.putObject(e.getKey());
            layer.put("tokens", s.tokens());
            long[] load = s.load();
            var loads = layer.putArray("load");
            for (long l : load) {
                loads.add(l);
            }
            layer.put("expertsPerToken", s.meanExpertsPerToken());
            layer.put("droppedPairs", s.droppedPairs());
            layer.put("capacity", s.capacity());
            layer.put("klToUniform", s.klToUniform());
        }
        ObjectNode peer = root.putObject("peer");
        for (Map.Entry<String, ExpertUsage> e : snapshot.peer().entrySet()) {
            ExpertUsage u = e.getValue();
            ObjectNode layer = peer.putObject(e.getKey());
            layer.put("experts", u.numExperts());
            layer.put("usedFraction", u.usedFraction());
            layer.put("klToUniform", u.unevenness());
        }
        return new RoutingRecord(sessionId, workerId, timestamp, root.toString());
    }

    /** The payload, a JSON object (see the class comment). */
    public String json() {
        return json;
    }

    @Override
    public String getSessionID() {
        return sessionId;
    }

    @Override
    public String getTypeID() {
        return TYPE_ID;
    }

    @Override
    public String getWorkerID() {
        return workerId;
    }

    @Override
    public long getTimeStamp() {
        return timestamp;
    }

    @Override
    public int encodingLengthBytes() {
        return encode().length;
    }

    @Override
    public byte[] encode() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            encode(bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);      // not thrown by a byte array
        }
        return bytes.toByteArray();
    }

    @Override
    public void encode(ByteBuffer buffer) {
        buffer.put(encode());
    }

    @Override
    public void encode(OutputStream out) throws IOException {
        DataOutputStream data = new DataOutputStream(out);
        data.writeUTF(sessionId);
        data.writeUTF(workerId);
        data.writeLong(timestamp);
        byte[] payload = json.getBytes(StandardCharsets.UTF_8);
        data.writeInt(payload.length);
        data.write(payload);
        data.flush();
    }

    @Override
    public void decode(byte[] bytes) {
        try {
            decode(new ByteArrayInputStream(bytes));
        } catch (IOException e) {
            throw new UncheckedIOException("RoutingRecord: truncated or foreign record (" + bytes.length + " bytes)",
                    e);
        }
    }

    @Override
    public void decode(ByteBuffer buffer) {
        byte[] bytes = new byte[buffer.remaining()];
        buffer.get(bytes);
        decode(bytes);
    }

    @Override
    public void decode(InputStream in) throws IOException {
        DataInputStream data = new DataInputStream(in);
        sessionId = data.readUTF();
        workerId = data.readUTF();
        timestamp = data.readLong();
        byte[] payload = new byte[data.readInt()];
        data.readFully(payload);
        json = new String(payload, StandardCharsets.UTF_8);
    }
}
