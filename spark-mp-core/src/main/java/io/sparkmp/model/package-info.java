/** DL4J models as pipeline stages: slicing, per-layer parameters, deterministic init and dropout. Internal. */
package io.sparkmp.model;
