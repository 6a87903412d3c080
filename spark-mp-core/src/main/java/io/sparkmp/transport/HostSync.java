package io.sparkmp.transport;

import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Keeps an array's host memory and its device copy in step around the transport's direct use of host buffers:
 * a tensor is written to the socket from {@code data().asNio()} and a received one is filled through it, which on
 * a GPU backend bypasses ND4J's own synchronisation. So: before the host side is read it is made current (the
 * device may hold newer values a kernel wrote); after the socket filled it the device copy is marked stale; and
 * receive arrays are allocated on the task's device, whichever thread allocates them. On the CPU backend the
 * host memory is the only copy and {@link #NONE} does nothing.
 */
interface HostSync {
    /** The CPU backend's: nothing to synchronise. */
    HostSync NONE = new HostSync() {
        @Override
        public void beforeHostRead(INDArray a) {
        }

        @Override
        public void beforeHostWrite(INDArray a) {
        }

        @Override
        public void afterHostWrite(INDArray a) {
        }

        @Override
        public void enterDevice() {
        }

        @Override
        public String toString() {
            return "HostSync.NONE (CPU backend)";
        }
    };

    /** Before {@code a}'s host buffer is read: makes it hold {@code a}'s current values. */
    void beforeHostRead(INDArray a);

    /** Before {@code a}'s host buffer is overwritten in full: makes sure it exists on the host. */
    void beforeHostWrite(INDArray a);

    /** After {@code a}'s host buffer was written: the host holds the current values, the device copy is stale. */
    void afterHostWrite(INDArray a);

    /** Binds the calling thread to the task's device, so that arrays it allocates live there. */
    void enterDevice();

    /**
     * The synchronisation for ND4J's backend: {@link #NONE} on CPU, else one through ND4J's affinity manager
     * bound to the calling thread's device (call it on the task thread, after the task's device is bound).
     */
    static HostSync forBackend() {
        if (Nd4j.getEnvironment().isCPU()) {
            return NONE;
        }
        AffinityManager m = Nd4j.getAffinityManager();
        return new AffinityHostSync(m, m.getDeviceForCurrentThread());
    }
}
