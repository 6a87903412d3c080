package io.sparkmp.transport;

/** A frame on the wire is malformed or breaks a limit: bad magic, unknown type, oversized, truncated. */
@io.sparkmp.Internal
public class FrameException extends TransportException {
    public FrameException(String message) {
        super(message);
    }

    public FrameException(String message, Throwable cause) {
        super(message, cause);
    }
}
