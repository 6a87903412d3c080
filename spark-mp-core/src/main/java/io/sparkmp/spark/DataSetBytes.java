package io.sparkmp.spark;

import org.nd4j.linalg.dataset.DataSet;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;

/**
 * DataSet to and from bytes with ND4J's own format. Data crosses Spark's shuffle as {@code byte[]} so it
 * works with any {@code spark.serializer} (Kryo without an ND4J registrator cannot copy off-heap arrays).
 */
final class DataSetBytes {
    private DataSetBytes() {
    }

    static byte[] toBytes(DataSet ds) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ds.save(out);
        return out.toByteArray();
    }

    static DataSet fromBytes(byte[] bytes) {
        DataSet ds = new DataSet();
        ds.load(new ByteArrayInputStream(bytes));
        return ds;
    }
}
