package io.sparkmp.transport;

import org.nd4j.linalg.api.buffer.DataType;

/** Stable wire ids of the ND4J data types the channel carries. Never renumber: ids are on the wire. */
enum WireDataType {
    FLOAT(1, DataType.FLOAT, 4),
    DOUBLE(2, DataType.DOUBLE, 8),
    HALF(3, DataType.HALF, 2),
    BFLOAT16(4, DataType.BFLOAT16, 2),
    INT(5, DataType.INT, 4),
    LONG(6, DataType.LONG, 8),
    SHORT(7, DataType.SHORT, 2),
    BYTE(8, DataType.BYTE, 1),
    UBYTE(9, DataType.UBYTE, 1),
    BOOL(10, DataType.BOOL, 1),
    UINT16(11, DataType.UINT16, 2),
    UINT32(12, DataType.UINT32, 4),
    UINT64(13, DataType.UINT64, 8);

    private static final WireDataType[] BY_ID = new WireDataType[14];

    static {
        for (WireDataType t : values()) {
            BY_ID[t.id] = t;
        }
    }

    final int id;
    final DataType nd4j;
    final int width;

    WireDataType(int id, DataType nd4j, int width) {
        this.id = id;
        this.nd4j = nd4j;
        this.width = width;
    }

    /** @return the type, or {@code null} for an unknown id */
    static WireDataType fromId(int id) {
        return id > 0 && id < BY_ID.length ? BY_ID[id] : null;
    }

    /** @throws IllegalArgumentException for types without a fixed width (UTF8, COMPRESSED, UNKNOWN) */
    static WireDataType of(DataType t) {
        for (WireDataType w : values()) {
            if (w.nd4j == t) {
                return w;
            }
        }
        throw new IllegalArgumentException("data type " + t + " cannot be sent over the tensor channel");
    }
}
