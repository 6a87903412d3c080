/** Runs pipeline stages: per-rank stage workers, their action dispatch, and an in-process pipeline. Internal. */
package io.sparkmp.runtime;
