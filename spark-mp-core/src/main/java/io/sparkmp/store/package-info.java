/**
 * Per-layer model store on any Hadoop FileSystem: one file per layer, a manifest written last. Internal, except
 * {@link io.sparkmp.store.StoreExport} (store to DL4J zip, command line).
 */
package io.sparkmp.store;
