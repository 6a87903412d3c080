package io.sparkmp.report;

import java.util.Locale;

/** Escaping and number formatting for the report's HTML and SVG text. */
final class Html {

    private Html() {
    }

    /** {@code text} safe inside element content and quoted attribute values; null prints as empty. */
    static String escape(String text) {
        if (text == null) {
            return "";
        }
        StringBuilder b = new StringBuilder(text.length() + 16);
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }

    /** A coordinate: two decimals, '.' as separator whatever the default locale. */
    static String px(double v) {
        return String.format(Locale.ROOT, "%.2f", v);
    }

    /** A value with {@code digits} decimals, or "n/a" when not finite. */
    static String num(double v, int digits) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%." + digits + "f", v) : "n/a";
    }

    /** A fraction as a percentage with one decimal, or "n/a". */
    static String percent(double fraction) {
        return Double.isFinite(fraction) ? String.format(Locale.ROOT, "%.1f%%", 100 * fraction) : "n/a";
    }
}
