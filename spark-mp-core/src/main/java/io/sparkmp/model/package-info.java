/** DL4J models as pipeline stages: slicing, per-layer parameters, deterministic init and dropout. Internal. *
 * <p>No public API: every public type here is {@link io.sparkmp.Internal}.
 */
package io.sparkmp.model;
