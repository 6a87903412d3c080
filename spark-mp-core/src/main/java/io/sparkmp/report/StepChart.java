package io.sparkmp.report;

import java.util.List;

/** A small SVG line chart of one value per step; non-finite values leave gaps in the line. */
final class StepChart {

    private static final double WIDTH = 440;
    private static final double HEIGHT = 170;
    private static final double LEFT = 64;
    private static final double RIGHT = 12;
    private static final double TOP = 22;
    private static final double BOTTOM = 26;

    private StepChart() {
    }

    /**
     * @param chart value of {@code data-chart}
     * @param caption the chart's caption (what the value is)
     * @param steps x values
     * @param values y values, one per step, NaN where none
     */
    static String svg(String chart, String caption, List<Long> steps, double[] values, int digits) {
        StringBuilder b = new StringBuilder();
        b.append("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"line\" data-chart=\"").append(Html.escape(chart))
                .append("\" width=\"").append(Html.px(WIDTH)).append("\" height=\"").append(Html.px(HEIGHT))
                .append("\" viewBox=\"0 0 ").append(Html.px(WIDTH)).append(' ').append(Html.px(HEIGHT)).append("\">");
        b.append("<text class=\"cap\" x=\"").append(Html.px(LEFT)).append("\" y=\"14\">").append(Html.escape(caption))
                .append("</text>");
        double lo = Double.POSITIVE_INFINITY;
        double hi = Double.NEGATIVE_INFINITY;
        for (double v : values) {
            if (Double.isFinite(v)) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
        }
        double plotW = WIDTH - LEFT - RIGHT;
        double plotH = HEIGHT - TOP - BOTTOM;
        b.append("<rect class=\"bg\" x=\"").append(Html.px(LEFT)).append("\" y=\"").append(Html.px(TOP))
                .append("\" width=\"").append(Html.px(plotW)).append("\" height=\"").append(Html.px(plotH)).append("\"/>");
        if (lo > hi) {
            b.append("<text class=\"none\" data-empty=\"").append(Html.escape(chart)).append("\" x=\"")
                    .append(Html.px(LEFT + 8)).append("\" y=\"").append(Html.px(TOP + plotH / 2)).append("\">no values</text></svg>\n");
            return b.toString();
        }
        if (hi == lo) {
            double pad = lo == 0 ? 1 : Math.abs(lo) * 0.1;
            lo -= pad;
            hi += pad;
        }
        long first = steps.get(0);
        long last = steps.get(steps.size() - 1);
        double yLo = lo;
        double ySpan = hi - lo;
        java.util.function.LongToDoubleFunction x = s -> last == first ? LEFT + plotW / 2
                : LEFT + plotW * (s - first) / (double) (last - first);
        java.util.function.DoubleUnaryOperator y = v -> TOP + plotH * (1 - (v - yLo) / ySpan);

        StringBuilder d = new StringBuilder();
        boolean pen = false;
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                pen = false;
                continue;
            }
            d.append(pen ? " L" : (d.length() == 0 ? "M" : " M")).append(Html.px(x.applyAsDouble(steps.get(i))))
                    .append(' ').append(Html.px(y.applyAsDouble(values[i])));
            pen = true;
        }
        b.append("<path class=\"series\" d=\"").append(d).append("\"/>");
        for (int i = 0; i < values.length; i++) {
            if (Double.isFinite(values[i])) {
                b.append("<circle class=\"pt\" cx=\"").append(Html.px(x.applyAsDouble(steps.get(i)))).append("\" cy=\"")
                        .append(Html.px(y.applyAsDouble(values[i]))).append("\" r=\"2.5\"><title>step ")
                        .append(steps.get(i)).append(": ").append(Html.num(values[i], digits)).append("</title></circle>");
            }
        }
        b.append("<text class=\"tick\" x=\"").append(Html.px(LEFT - 4)).append("\" y=\"").append(Html.px(TOP + 4))
                .append("\" text-anchor=\"end\">").append(Html.num(hi, digits)).append("</text>");
        b.append("<text class=\"tick\" x=\"").append(Html.px(LEFT - 4)).append("\" y=\"").append(Html.px(TOP + plotH))
                .append("\" text-anchor=\"end\">").append(Html.num(lo, digits)).append("</text>");
        b.append("<text class=\"tick\" x=\"").append(Html.px(LEFT)).append("\" y=\"").append(Html.px(HEIGHT - 8))
                .append("\">step ").append(first).append("</text>");
        if (last != first) {
            b.append("<text class=\"tick\" x=\"").append(Html.px(LEFT + plotW)).append("\" y=\"")
                    .append(Html.px(HEIGHT - 8)).append("\" text-anchor=\"end\">step ").append(last).append("</text>");
        }
        b.append("</svg>\n");
        return b.toString();
    }
}
