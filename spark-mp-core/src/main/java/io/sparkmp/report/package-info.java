/** Renders what a run measured and what the simulator predicted as a self-contained HTML timeline report. */
package io.sparkmp.report;
