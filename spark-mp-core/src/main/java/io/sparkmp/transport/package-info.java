/**
 * Moves ND4J tensors between pipeline tasks over direct, mutually authenticated (optionally TLS) sockets.
 *
 * <p>Entry points: {@link io.sparkmp.transport.TransportConfig} (settings, one builder),
 * {@link io.sparkmp.transport.SocketTensorChannel} (the {@link io.sparkmp.transport.TensorChannel} over
 * sockets) and {@link io.sparkmp.transport.KryoRegistration} (its wire classes for any Kryo; Spark's
 * {@code spark.kryo.registrator} is {@link io.sparkmp.spark.SparkMpKryoRegistrator}, which calls it).
 * Frames are a Kryo-encoded header followed by the tensor's raw bytes; knows tensors and sockets, not Spark:
 * no class of this package imports Spark.
 *
 * <p><b>Public API</b>: none; everything here is {@link io.sparkmp.Internal}.
 */
package io.sparkmp.transport;
