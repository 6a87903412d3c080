/** Per-layer model store on any Hadoop FileSystem: one file per layer, a manifest written last. */
package io.sparkmp.store;
