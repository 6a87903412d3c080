package io.sparkmp.transport;

import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link HostSync} for a device backend (CUDA), through ND4J's {@link AffinityManager}: {@code ensureLocation(HOST)}
 * copies device to host when the device copy is newer (and allocates a lazily allocated host buffer),
 * {@code tagLocation(HOST)} records a host write so ND4J copies host to device before the next kernel reads it,
 * and {@code unsafeSetDevice} gives a transport thread the task's device.
 */
final class AffinityHostSync implements HostSync {
    private final AffinityManager manager;
    private final int device;

    AffinityHostSync(AffinityManager manager, int device) {
        this.manager = manager;
        this.device = device;
    }

    @Override
    public void beforeHostRead(INDArray a) {
        if (!a.isEmpty()) {
            manager.ensureLocation(a, AffinityManager.Location.HOST);
        }
    }

    @Override
    public void beforeHostWrite(INDArray a) {
        // A pooled array's device copy may be newer than its host copy; the payload replaces both.
        if (!a.isEmpty()) {
            manager.ensureLocation(a, AffinityManager.Location.HOST);
        }
    }

    @Override
    public void afterHostWrite(INDArray a) {
        if (!a.isEmpty()) {
            manager.tagLocation(a, AffinityManager.Location.HOST);
        }
    }

    @Override
    public void enterDevice() {
        Integer current = manager.getDeviceForCurrentThread();
        if (current == null || current != device) {
            manager.unsafeSetDevice(device);
        }
    }

    int device() {
        return device;
    }

    @Override
    public String toString() {
        return "AffinityHostSync(device " + device + ")";
    }
}
