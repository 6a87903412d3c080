package io.sparkmp.transport;

import java.io.Serializable;
import java.nio.file.Path;

/**
 * TLS key material of a {@link SocketTensorChannel}. The key store holds this task's private key and
 * certificate; the trust store (often the same file when every task shares one self-signed certificate)
 * holds the certificates peers must present. With a trust store both directions are verified (mutual TLS);
 * without one, the JDK's default trust store checks the server only. Passwords never appear in
 * {@link #toString()}. Authentication of the job itself still rests on the HMAC handshake inside TLS.
 * Serializable (paths are strings) so it can travel inside a job description to the executors, which must
 * find the files at those paths.
 *
 * @param keyStore key store file
 * @param keyStorePassword its password
 * @param keyStoreType e.g. {@code PKCS12} (default) or {@code JKS}
 * @param trustStore trust store file, or {@code null}
 * @param trustStorePassword its password, or {@code null}
 */
@io.sparkmp.Internal
public record TlsSettings(String keyStore, char[] keyStorePassword, String keyStoreType, String trustStore,
                          char[] trustStorePassword) implements Serializable {
    public TlsSettings {
        if (keyStore == null || keyStore.isEmpty()) {
            throw new IllegalArgumentException("keyStore must not be empty");
        }
        if (keyStorePassword == null) {
            throw new IllegalArgumentException("keyStorePassword must not be null");
        }
        keyStorePassword = keyStorePassword.clone();
        keyStoreType = keyStoreType == null ? "PKCS12" : keyStoreType;
        trustStorePassword = trustStorePassword == null ? null : trustStorePassword.clone();
        if (trustStore != null && trustStorePassword == null) {
            throw new IllegalArgumentException("trustStorePassword must be given with trustStore " + trustStore);
        }
    }

    /** One PKCS12 file used as both key store and trust store (all tasks share one certificate). */
    public static TlsSettings sharedPkcs12(Path file, char[] password) {
        return new TlsSettings(file.toString(), password, "PKCS12", file.toString(), password);
    }

    @Override
    public char[] keyStorePassword() {
        return keyStorePassword.clone();
    }

    @Override
    public char[] trustStorePassword() {
        return trustStorePassword == null ? null : trustStorePassword.clone();
    }

    @Override
    public String toString() {
        return "TlsSettings[keyStore=" + keyStore + ", keyStoreType=" + keyStoreType + ", trustStore=" + trustStore
                + ", passwords=<hidden>]";
    }
}
