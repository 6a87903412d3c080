/**
 * Moves ND4J tensors between pipeline tasks over direct, mutually authenticated (optionally TLS) sockets.
 *
 * <p>Entry points: {@link io.sparkmp.transport.TransportConfig} (settings, one builder),
 * {@link io.sparkmp.transport.SocketTensorChannel} (the {@link io.sparkmp.transport.TensorChannel} over
 * sockets) and {@link io.sparkmp.transport.SparkMpKryoRegistrator} (for {@code spark.kryo.registrator}).
 * Frames are a Kryo-encoded header followed by the tensor's raw bytes; knows tensors and sockets, not Spark
 * (only the registrator touches Spark's serializer API).
 *
 * <p>Internal, except {@link io.sparkmp.transport.SparkMpKryoRegistrator}, which users name in their Spark
 * configuration.
 *
 * <p><b>Public API</b>: {@link io.sparkmp.transport.SparkMpKryoRegistrator} (for {@code spark.kryo.registrator});
 * the rest is {@link io.sparkmp.Internal}.
 */
package io.sparkmp.transport;
