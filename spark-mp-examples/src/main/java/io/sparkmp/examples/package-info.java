/** Runnable examples: the spark-submit training job and the generator of its bundled sample files. */
package io.sparkmp.examples;
