package io.sparkmp.transport;

/** Any failure of the tensor channel: connect, authenticate, frame, timeout, peer gone. */
@io.sparkmp.Internal
public class TransportException extends RuntimeException {
    public TransportException(String message) {
        super(message);
    }

    public TransportException(String message, Throwable cause) {
        super(message, cause);
    }
}
