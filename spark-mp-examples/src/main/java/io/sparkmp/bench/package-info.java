/** Benchmarks: mains that measure and print (planner, split, transport, throughput); they never assert timings. */
package io.sparkmp.bench;
