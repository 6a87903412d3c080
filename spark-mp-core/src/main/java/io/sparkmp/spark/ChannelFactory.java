package io.sparkmp.spark;

import io.sparkmp.transport.TensorChannel;

import java.io.Serializable;
import java.net.InetSocketAddress;
import java.util.Map;

/** Opens a rank's tensor channel: the seam between the task body and the transport. */
interface ChannelFactory extends Serializable {

    /** Starts this rank's channel server on {@code bindHost} (an ephemeral port); nothing connected yet. */
    Endpoint open(JobSpec spec, int rank, String bindHost);

    /** A channel server that is listening but not yet connected to its peers. */
    interface Endpoint extends AutoCloseable {
        /** Where peers reach this rank. */
        InetSocketAddress localAddress();

        /** Connects to the peers (every rank's address, this one included) and returns the channel. */
        TensorChannel connect(Map<Integer, InetSocketAddress> peers);

        /** Closes the server (and the channel, if connected); never throws. */
        @Override
        void close();
    }
}
