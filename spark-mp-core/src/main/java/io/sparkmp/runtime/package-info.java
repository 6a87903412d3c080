/** Runs pipeline stages: per-rank stage workers, their action dispatch, and an in-process pipeline. Internal. *
 * <p><b>Public API</b>: {@link io.sparkmp.runtime.NonFinitePolicy} and {@link io.sparkmp.runtime.ActionEvent}
 * (a measured timeline event); the rest is {@link io.sparkmp.Internal}.
 */
package io.sparkmp.runtime;
