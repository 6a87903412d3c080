/** Renders what a run measured and what the simulator predicted as a self-contained HTML timeline report. Internal. */
package io.sparkmp.report;
