/**
 * Per-layer model store on any Hadoop FileSystem: one file per layer, a manifest written last. Internal, except
 * {@link io.sparkmp.store.StoreExport} (store to DL4J zip, command line).
 *
 * <p><b>Public API</b>: {@link io.sparkmp.store.ModelStore}, {@link io.sparkmp.store.StoreManifest},
 * {@link io.sparkmp.store.StoreExport} and
 * {@link io.sparkmp.store.LayerEntry}; the rest is {@link io.sparkmp.Internal}.
 */
package io.sparkmp.store;
