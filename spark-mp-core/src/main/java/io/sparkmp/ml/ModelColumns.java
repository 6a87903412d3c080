package io.sparkmp.ml;

import org.apache.spark.ml.attribute.AttributeGroup;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.VectorUDT;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

import java.util.Arrays;
import java.util.List;

/** Schema rules of the ML classes: input columns, vector sizes, the output columns they add. */
final class ModelColumns {

    private ModelColumns() {
    }

    /** The field {@code col} of {@code schema}; else an error naming the role and the columns there are. */
    static StructField requireColumn(StructType schema, String col, String role) {
        for (StructField f : schema.fields()) {
            if (f.name().equals(col)) {
                return f;
            }
        }
        throw new IllegalArgumentException(role + " column `" + col + "` not found; columns: "
                + Arrays.toString(schema.fieldNames()));
    }

    /**
     * {@code schema} plus the prediction column (double) and, for classification, the probability column (ML
     * Vector), after checking the features column: an ML Vector (or numeric array) whose size, when the schema's
     * ML attributes tell it (e.g. from VectorAssembler), is the model's input {@code width} (-1: unknown, not checked).
     */
    static StructType outputSchema(StructType schema, String featuresCol, int width,
                                   int numClasses, String predictionCol, String probabilityCol) {
        StructField f = requireColumn(schema, featuresCol, "features");
        DataType t = f.dataType();
        if (!(t instanceof VectorUDT || (t instanceof ArrayType a && a.elementType() instanceof NumericType))) {
            throw new IllegalArgumentException("features column `" + featuresCol + "` must be an ML Vector (or a "
                    + "numeric array), found " + t.simpleString());
        }
        if (t instanceof VectorUDT && width > 0) {
            int size = AttributeGroup.fromStructField(f).size();
            if (size >= 0 && size != width) {
                throw new IllegalArgumentException("features column `" + featuresCol + "` holds vectors of size "
                        + size + ", the model's input expects " + width);
            }
        }
        StructType out = add(schema, predictionCol, DataTypes.DoubleType);
        return numClasses > 0 ? add(out, probabilityCol, new VectorUDT()) : out;
    }

    private static StructType add(StructType schema, String col, DataType type) {
        if (Arrays.asList(schema.fieldNames()).contains(col)) {
            throw new IllegalArgumentException("output column `" + col + "` already exists; columns: "
                    + Arrays.toString(schema.fieldNames()));
        }
        return schema.add(col, type, false);
    }

    /**
     * When the schema does not tell the vector size, checks the first row's (one small job, before training or
     * transform), so a wrong size is named up front rather than inside the barrier job.
     */
    static void requireVectorSize(Dataset<Row> df, String featuresCol, int width) {
        StructField f = requireColumn(df.schema(), featuresCol, "features");
        if (width <= 0 || (f.dataType() instanceof VectorUDT && AttributeGroup.fromStructField(f).size() >= 0)) {
            return; // unknown width, or already checked from the schema
        }
        List<Row> first = df.select(featuresCol).takeAsList(1);
        if (!first.isEmpty() && !first.get(0).isNullAt(0)) {
            Object v = first.get(0).get(0);
            int size = v instanceof Vector vec ? vec.size() : ((scala.collection.Seq<?>) v).size();
            if (size != width) {
                throw new IllegalArgumentException("features column `" + featuresCol + "` holds vectors of size "
                        + size + " (first row), the model's input expects " + width);
            }
        }
    }
}
