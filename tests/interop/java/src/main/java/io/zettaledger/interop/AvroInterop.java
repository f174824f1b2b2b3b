package io.zettaledger.interop;

import java.io.File;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.SchemaParser;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.avro.message.BinaryMessageEncoder;

/**
 * What Apache avro for Java makes of Zettaledger's schemas, as a Java producer would use it.
 *
 * <p>Reads every .avsc in the directory given as the only argument, then prints, one line each,
 * tab-separated:
 *
 * <pre>
 * avro         version
 * canonical    RecordName  SchemaNormalization.toParsingForm(schema)
 * fingerprint  RecordName  SchemaNormalization.parsingFingerprint64(schema), 16 hex digits
 * event        RecordName  one event, single-object encoded by BinaryMessageEncoder, in hex
 * </pre>
 *
 * <p>The events hold the values of tests/unit/samples.py (SAMPLES and a batch of all four).
 */
public final class AvroInterop {
  private static final long T_2025_01_01 = 1_735_689_600_000L;

  private AvroInterop() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: AvroInterop SCHEMA_DIR");
      System.exit(2);
    }
    Map<String, Schema> schemas = parseAll(new File(args[0]));
    String version = Schema.class.getPackage().getImplementationVersion();
    System.out.println("avro\t" + (version == null ? "unknown" : version));
    for (Schema schema : schemas.values()) {
      System.out.println("canonical\t" + schema.getName() + "\t" + SchemaNormalization.toParsingForm(schema));
      System.out.println(
          "fingerprint\t" + schema.getName() + "\t" + String.format("%016x", SchemaNormalization.parsingFingerprint64(schema)));
    }
    Map<String, GenericRecord> events = new LinkedHashMap<>();
    events.put("DataCreated", dataCreated(schemas.get("DataCreated")));
    events.put("TokenUsage", tokenUsage(schemas.get("TokenUsage")));
    events.put("DatasetRegistered", datasetRegistered(schemas.get("DatasetRegistered")));
    events.put("CollectionRun", collectionRun(schemas.get("CollectionRun")));
    events.put("EventBatch", batch(schemas.get("EventBatch"), events));
    HexFormat hex = HexFormat.of();
    for (Map.Entry<String, GenericRecord> e : events.entrySet()) {
      BinaryMessageEncoder<GenericRecord> encoder = new BinaryMessageEncoder<>(GenericData.get(), schemas.get(e.getKey()));
      ByteBuffer buffer = encoder.encode(e.getValue());
      byte[] bytes = new byte[buffer.remaining()];
      buffer.get(bytes);
      System.out.println("event\t" + e.getKey() + "\t" + hex.formatHex(bytes));
    }
  }

  /**
   * One parser for all files, as a producer would: EventBatch names the four event records, which
   * SchemaParser (Avro 1.12) resolves once every file is parsed, whatever the order.
   */
  private static Map<String, Schema> parseAll(File dir) throws Exception {
    File[] files = dir.listFiles((d, name) -> name.endsWith(".avsc"));
    if (files == null || files.length == 0) {
      throw new IllegalArgumentException("no .avsc files in " + dir);
    }
    Arrays.sort(files);
    SchemaParser parser = new SchemaParser();
    List<SchemaParser.ParseResult> results = new ArrayList<>();
    for (File f : files) {
      results.add(parser.parse(f));
    }
    Map<String, Schema> resolved = new LinkedHashMap<>();
    for (Schema schema : parser.getParsedNamedSchemas()) {
      resolved.put(schema.getFullName(), schema);
    }
    Map<String, Schema> parsed = new LinkedHashMap<>();
    for (SchemaParser.ParseResult result : results) {
      Schema schema = resolved.get(result.mainSchema().getFullName());
      parsed.put(schema.getName(), schema);
    }
    return parsed;
  }

  private static GenericData.EnumSymbol symbol(Schema record, String field, String value) {
    return new GenericData.EnumSymbol(record.getField(field).schema(), value);
  }

  private static GenericRecord dataCreated(Schema s) {
    return new GenericRecordBuilder(s)
        .set("event_id", "0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6c01")
        .set("event_time", T_2025_01_01)
        .set("producer_id", "unit")
        .set("source", symbol(s, "source", "AI"))
        .set("region", "CN-GD")
        .set("organization", "org-1")
        .set("dataset_id", "ds-child")
        .set("bytes", Long.MAX_VALUE)
        .set("records", 42L)
        .set("parent_dataset_ids", List.of("ds-parent"))
        .build();
  }

  private static GenericRecord tokenUsage(Schema s) {
    return new GenericRecordBuilder(s)
        .set("event_id", "0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6c02")
        .set("event_time", T_2025_01_01)
        .set("producer_id", "unit")
        .set("model", "m-1")
        .set("provider", "p-1")
        .set("region", "CN-BJ")
        .set("input_tokens", 700L)
        .set("output_tokens", 300L)
        .build();
  }

  private static GenericRecord datasetRegistered(Schema s) {
    return new GenericRecordBuilder(s)
        .set("event_id", "0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6c03")
        .set("event_time", T_2025_01_01)
        .set("producer_id", "unit")
        .set("dataset_id", "ds-child")
        .set("owner", "org-1")
        .set("region", "CN-SH")
        .set("bytes", 1_000_000_000_000_000L)
        .set("quality_grade", symbol(s, "quality_grade", "HIGH"))
        .set("registration_id", "REG-1")
        .set("parent_dataset_ids", List.of("ds-parent"))
        .build();
  }

  private static GenericRecord collectionRun(Schema s) {
    return new GenericRecordBuilder(s)
        .set("event_id", "0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6c04")
        .set("event_time", T_2025_01_01)
        .set("producer_id", "unit")
        .set("pipeline_id", "robot-1")
        .set("region", "CN-ZJ")
        .set("dataset_id", "ds-robot")
        .set("attempted_captures", 100L)
        .set("usable_captures", 95L)
        .set("attempted_bytes", 1000L)
        .set("usable_bytes", 950L)
        .build();
  }

  private static GenericRecord batch(Schema s, Map<String, GenericRecord> events) {
    return new GenericRecordBuilder(s)
        .set("batch_id", "0b0c4f8e-2a55-4b8e-9f44-5a3a3f8d6cff")
        .set("producer_id", "unit")
        .set("sent_at", T_2025_01_01)
        .set("data_created", List.of(events.get("DataCreated")))
        .set("token_usage", List.of(events.get("TokenUsage")))
        .set("datasets_registered", List.of(events.get("DatasetRegistered")))
        .set("collection_runs", List.of(events.get("CollectionRun")))
        .build();
  }
}
