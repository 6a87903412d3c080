/** Spark execution of pipeline-parallel training: driver checks, the barrier job, task body, data routing, progress. */
package io.sparkmp.spark;
