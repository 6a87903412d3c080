/** Renders what a run measured and what the simulator predicted as a self-contained HTML timeline report. Internal. *
 * <p>No public API: the report is written through {@link io.sparkmp.spark.TimelineCapture}; every public
 * type here is {@link io.sparkmp.Internal}.
 */
package io.sparkmp.report;
