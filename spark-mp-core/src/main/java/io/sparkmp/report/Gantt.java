package io.sparkmp.report;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * One SVG Gantt chart: a row per device, a block per action, idle time left as the row's background.
 * Every chart of a page is drawn at the same milliseconds-per-pixel so measured and predicted compare
 * by eye.
 */
final class Gantt {

    /** One action placed on a row, in milliseconds from the chart's origin. */
    record Bar(int row, String kind, int stage, int microBatch, double startMs, double endMs) {
    }

    static final double LABEL_WIDTH = 72;
    static final double PLOT_WIDTH = 900;
    static final double ROW_HEIGHT = 20;
    static final double ROW_GAP = 4;
    static final double AXIS_HEIGHT = 28;
    /** Zero-length actions (e.g. a simulated STEP of no cost) still show as a sliver with a title. */
    static final double MIN_BAR_WIDTH = 0.75;

    private Gantt() {
    }

    /**
     * The chart's SVG.
     *
     * @param chart value of {@code data-chart}
     * @param step value of {@code data-step}, or null for none
     * @param rowLabel label prefix of each row ("rank", "device")
     * @param axisMs the time span the plot width stands for, the same for every chart of the page
     */
    static String svg(String chart, String step, String rowLabel, int rows, List<Bar> bars, double axisMs,
                      KindColours colours) {
        double span = axisMs > 0 ? axisMs : 1;
        double pxPerMs = PLOT_WIDTH / span;
        double height = rows * (ROW_HEIGHT + ROW_GAP) + AXIS_HEIGHT;
        double width = LABEL_WIDTH + PLOT_WIDTH + 16;
        StringBuilder b = new StringBuilder();
        b.append("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"gantt\" data-chart=\"").append(Html.escape(chart))
                .append('"');
        if (step != null) {
            b.append(" data-step=\"").append(Html.escape(step)).append('"');
        }
        b.append(" width=\"").append(Html.px(width)).append("\" height=\"").append(Html.px(height))
                .append("\" viewBox=\"0 0 ").append(Html.px(width)).append(' ').append(Html.px(height)).append("\">\n");
        List<List<Bar>> byRow = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            byRow.add(new ArrayList<>());
        }
        for (Bar bar : bars) {
            byRow.get(bar.row()).add(bar);
        }
        for (int r = 0; r < rows; r++) {
            double y = r * (ROW_HEIGHT + ROW_GAP);
            b.append("<g data-row=\"rank-").append(r).append("\" transform=\"translate(0,").append(Html.px(y))
                    .append(")\">");
            b.append("<text class=\"rl\" x=\"0\" y=\"").append(Html.px(ROW_HEIGHT - 6)).append("\">")
                    .append(Html.escape(rowLabel)).append(' ').append(r).append("</text>");
            b.append("<rect class=\"bg\" x=\"").append(Html.px(LABEL_WIDTH)).append("\" y=\"0\" width=\"")
                    .append(Html.px(PLOT_WIDTH)).append("\" height=\"").append(Html.px(ROW_HEIGHT)).append("\"/>");
            // Longer actions first, so an action nested in another (a WAIT inside a RECV) is drawn on top.
            List<Bar> row = new ArrayList<>(byRow.get(r));
            row.sort(Comparator.comparingDouble((Bar x) -> x.startMs() - x.endMs()).thenComparingDouble(Bar::startMs));
            for (Bar bar : row) {
                double x = LABEL_WIDTH + bar.startMs() * pxPerMs;
                double w = Math.max(MIN_BAR_WIDTH, (bar.endMs() - bar.startMs()) * pxPerMs);
                b.append("\n<rect data-kind=\"").append(Html.escape(bar.kind())).append("\" data-mb=\"")
                        .append(bar.microBatch()).append("\" x=\"").append(Html.px(x)).append("\" y=\"0\" width=\"")
                        .append(Html.px(w)).append("\" height=\"").append(Html.px(ROW_HEIGHT)).append("\" fill=\"")
                        .append(colours.of(bar.kind())).append("\"><title>").append(Html.escape(describe(bar)))
                        .append("</title></rect>");
            }
            b.append("</g>\n");
        }
        axis(b, rows * (ROW_HEIGHT + ROW_GAP), span, pxPerMs);
        b.append("</svg>\n");
        return b.toString();
    }

    /** The hover text: kind, stage, micro-batch, duration and start in ms. */
    static String describe(Bar bar) {
        StringBuilder t = new StringBuilder(bar.kind());
        if (bar.stage() >= 0) {
            t.append(" stage ").append(bar.stage());
        }
        if (bar.microBatch() >= 0) {
            t.append(" micro-batch ").append(bar.microBatch());
        }
        t.append(": ").append(Html.num(bar.endMs() - bar.startMs(), 3)).append(" ms (at ")
                .append(Html.num(bar.startMs(), 3)).append(" ms)");
        return t.toString();
    }

    private static void axis(StringBuilder b, double top, double span, double pxPerMs) {
        double tick = niceTick(span / 8);
        b.append("<g class=\"axis\" transform=\"translate(0,").append(Html.px(top)).append(")\">");
        b.append("<line x1=\"").append(Html.px(LABEL_WIDTH)).append("\" y1=\"0\" x2=\"")
                .append(Html.px(LABEL_WIDTH + PLOT_WIDTH)).append("\" y2=\"0\"/>");
        int digits = tick >= 1 ? 0 : (int) Math.ceil(-Math.log10(tick));
        for (int i = 0; i * tick <= span * (1 + 1e-9); i++) {
            double x = LABEL_WIDTH + i * tick * pxPerMs;
            b.append("<line x1=\"").append(Html.px(x)).append("\" y1=\"0\" x2=\"").append(Html.px(x))
                    .append("\" y2=\"4\"/><text x=\"").append(Html.px(x)).append("\" y=\"16\">")
                    .append(Html.num(i * tick, digits)).append("</text>");
        }
        b.append("<text class=\"unit\" x=\"0\" y=\"16\">ms</text></g>\n");
    }

    /** 1, 2 or 5 times a power of ten, at least {@code raw}. */
    static double niceTick(double raw) {
        if (!(raw > 0)) {
            return 1;
        }
        double p = Math.pow(10, Math.floor(Math.log10(raw)));
        for (double m : new double[] {1, 2, 5, 10}) {
            if (m * p >= raw * (1 - 1e-9)) {
                return m * p;
            }
        }
        return 10 * p;
    }
}
