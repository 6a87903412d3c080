package io.sparkmp.store;

import java.net.URI;

import org.apache.hadoop.fs.RawLocalFileSystem;

/**
 * Local files under an {@code s3a://bucket} URI, so the object-store commit path (no rename, commit
 * marker) runs against real files: {@code s3a://bucket/x/y} is the local {@code /x/y}.
 */
public final class FakeObjectStore extends RawLocalFileSystem {

    static final URI ROOT = URI.create("s3a://bucket/");

    @Override
    public URI getUri() {
        return ROOT;
    }

    @Override
    public String getScheme() {
        return "s3a";
    }
}
