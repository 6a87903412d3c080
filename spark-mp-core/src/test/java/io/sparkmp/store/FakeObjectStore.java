package io.sparkmp.store;

import java.net.URI;

import org.apache.hadoop.fs.RawLocalFileSystem;

/**
 * Local files under an {@code s3a://bucket} URI, so the object-store commit path (no rename, commit
 * marker) runs against real files: {@code s3a://bucket/x/y} is the local {@code /x/y}.
 */
public final class FakeObjectStore extends RawLocalFileSystem {

    static final URI ROOT = URI.create("s3a://bucket/");

    /** A Hadoop configuration whose {@code s3a://} scheme is this file system (uncached). */
    static org.apache.hadoop.conf.Configuration configuration() {
        org.apache.hadoop.conf.Configuration c = new org.apache.hadoop.conf.Configuration();
        c.set("fs.s3a.impl", FakeObjectStore.class.getName());
        c.setBoolean("fs.s3a.impl.disable.cache", true);
        return c;
    }

    @Override
    public URI getUri() {
        return ROOT;
    }

    @Override
    public String getScheme() {
        return "s3a";
    }
}
