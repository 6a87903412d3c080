package io.sparkmp.plan;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * JSON form of a {@link ModelProfile}. Hand-written because the plan package takes no dependencies; it
 * reads any JSON of objects, arrays, strings, numbers, booleans and null, and maps the known fields.
 */
final class ProfileJson {

    private ProfileJson() {
    }

    static String write(ModelProfile p) {
        StringBuilder sb = new StringBuilder(256 + 400 * p.layerCount());
        sb.append("{\"cacheKey\":").append(quote(p.cacheKey()))
                .append(",\"dataType\":").append(quote(p.dataType()))
                .append(",\"updater\":").append(quote(p.updater()))
                .append(",\"timeSource\":").append(quote(p.timeSource().name()))
                .append(",\"sampleMicroBatch\":").append(p.sampleMicroBatch())
                .append(",\"inputBytesPerExample\":").append(p.inputBytesPerExample())
                .append(",\"layers\":[");
        for (int i = 0; i < p.layerCount(); i++) {
            LayerProfile l = p.layer(i);
            sb.append(i == 0 ? "\n" : ",\n");
            sb.append("{\"name\":").append(quote(l.name()))
                    .append(",\"type\":").append(quote(l.type()))
                    .append(",\"parameters\":").append(l.parameters())
                    .append(",\"parameterBytes\":").append(l.parameterBytes())
                    .append(",\"gradientBytes\":").append(l.gradientBytes())
                    .append(",\"updaterBytes\":").append(l.updaterBytes())
                    .append(",\"outputBytesPerExample\":").append(l.outputBytesPerExample())
                    .append(",\"keptBytesPerExample\":").append(l.keptBytesPerExample())
                    .append(",\"workingBytesPerExample\":").append(l.workingBytesPerExample())
                    .append(",\"forwardFlopsPerExample\":").append(l.forwardFlopsPerExample())
                    .append(",\"forwardSecondsFixed\":").append(l.forwardSecondsFixed())
                    .append(",\"forwardSecondsPerExample\":").append(l.forwardSecondsPerExample())
                    .append(",\"backwardSecondsFixed\":").append(l.backwardSecondsFixed())
                    .append(",\"backwardSecondsPerExample\":").append(l.backwardSecondsPerExample())
                    .append('}');
        }
        sb.append(']');
        if (p.isGraph()) {
            sb.append(",\"cuts\":[");
            for (int k = 0; k < p.cuts().size(); k++) {
                CutProfile c = p.cuts().get(k);
                sb.append(k == 0 ? "\n" : ",\n").append("{\"bytesPerExample\":").append(c.bytesPerExample())
                        .append(",\"tensors\":[");
                for (int t = 0; t < c.tensors().size(); t++) {
                    sb.append(t == 0 ? "" : ",").append(quote(c.tensors().get(t)));
                }
                sb.append("]}");
            }
            sb.append(']');
        }
        return sb.append("}\n").toString();
    }

    static ModelProfile read(String json) {
        if (json == null) {
            throw new IllegalArgumentException("profile JSON must not be null");
        }
        Object root = new Parser(json).document();
        Map<String, Object> o = object(root, "profile");
        List<LayerProfile> layers = new ArrayList<>();
        for (Object e : list(o.get("layers"), "layers")) {
            Map<String, Object> l = object(e, "layer");
            layers.add(new LayerProfile(string(l, "name"), string(l, "type"), longOf(l, "parameters"),
                    longOf(l, "parameterBytes"), longOf(l, "gradientBytes"), longOf(l, "updaterBytes"),
                    longOf(l, "outputBytesPerExample"), longOf(l, "keptBytesPerExample"),
                    longOf(l, "workingBytesPerExample"), doubleOf(l, "forwardFlopsPerExample"),
                    doubleOf(l, "forwardSecondsFixed"), doubleOf(l, "forwardSecondsPerExample"),
                    doubleOf(l, "backwardSecondsFixed"), doubleOf(l, "backwardSecondsPerExample")));
        }
        List<CutProfile> cuts = new ArrayList<>();
        if (o.containsKey("cuts")) {
            for (Object e : list(o.get("cuts"), "cuts")) {
                Map<String, Object> c = object(e, "cut");
                List<String> tensors = new ArrayList<>();
                for (Object t : list(c.get("tensors"), "tensors")) {
                    if (!(t instanceof String name)) {
                        throw new IllegalArgumentException("a cut's tensors must be strings, found " + t);
                    }
                    tensors.add(name);
                }
                cuts.add(new CutProfile(tensors, longOf(c, "bytesPerExample")));
            }
        }
        return new ModelProfile(layers, longOf(o, "inputBytesPerExample"), string(o, "dataType"),
                string(o, "updater"), ModelProfile.TimeSource.valueOf(string(o, "timeSource")),
                (int) longOf(o, "sampleMicroBatch"), string(o, "cacheKey"), cuts);
    }

    private static String quote(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(Object o, String what) {
        if (!(o instanceof Map)) {
            throw new IllegalArgumentException(what + " must be a JSON object, found " + o);
        }
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object o, String what) {
        if (!(o instanceof List)) {
            throw new IllegalArgumentException(what + " must be a JSON array, found " + o);
        }
        return (List<Object>) o;
    }

    private static Object field(Map<String, Object> o, String key) {
        if (!o.containsKey(key)) {
            throw new IllegalArgumentException("profile JSON lacks field '" + key + "'");
        }
        return o.get(key);
    }

    private static String string(Map<String, Object> o, String key) {
        Object v = field(o, key);
        if (!(v instanceof String s)) {
            throw new IllegalArgumentException("field '" + key + "' must be a string, found " + v);
        }
        return s;
    }

    private static long longOf(Map<String, Object> o, String key) {
        Object v = field(o, key);
        if (v instanceof Num n) {
            try {
                return Long.parseLong(n.text());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("field '" + key + "' must be an integer, found " + n.text());
            }
        }
        throw new IllegalArgumentException("field '" + key + "' must be a number, found " + v);
    }

    private static double doubleOf(Map<String, Object> o, String key) {
        Object v = field(o, key);
        if (v instanceof Num n) {
            return Double.parseDouble(n.text());
        }
        throw new IllegalArgumentException("field '" + key + "' must be a number, found " + v);
    }

    /** A number kept as its text, so longs and doubles both read back exactly. */
    private record Num(String text) {
    }

    private static final class Parser {
        private final String s;
        private int pos;

        Parser(String s) {
            this.s = s;
        }

        Object document() {
            Object v = value();
            skipWs();
            if (pos != s.length()) {
                throw error("trailing text");
            }
            return v;
        }

        private Object value() {
            skipWs();
            if (pos >= s.length()) {
                throw error("unexpected end");
            }
            char c = s.charAt(pos);
            if (c == '{') {
                return obj();
            }
            if (c == '[') {
                return arr();
            }
            if (c == '"') {
                return str();
            }
            if (s.startsWith("true", pos)) {
                pos += 4;
                return Boolean.TRUE;
            }
            if (s.startsWith("false", pos)) {
                pos += 5;
                return Boolean.FALSE;
            }
            if (s.startsWith("null", pos)) {
                pos += 4;
                return null;
            }
            int start = pos;
            while (pos < s.length() && "+-0123456789.eE".indexOf(s.charAt(pos)) >= 0) {
                pos++;
            }
            if (start == pos) {
                throw error("unexpected character '" + c + "'");
            }
            return new Num(s.substring(start, pos));
        }

        private Map<String, Object> obj() {
            Map<String, Object> m = new LinkedHashMap<>();
            pos++;
            skipWs();
            if (peek() == '}') {
                pos++;
                return m;
            }
            while (true) {
                skipWs();
                if (peek() != '"') {
                    throw error("expected a field name");
                }
                String k = str();
                skipWs();
                expect(':');
                m.put(k, value());
                skipWs();
                char c = next();
                if (c == '}') {
                    return m;
                }
                if (c != ',') {
                    throw error("expected ',' or '}'");
                }
            }
        }

        private List<Object> arr() {
            List<Object> l = new ArrayList<>();
            pos++;
            skipWs();
            if (peek() == ']') {
                pos++;
                return l;
            }
            while (true) {
                l.add(value());
                skipWs();
                char c = next();
                if (c == ']') {
                    return l;
                }
                if (c != ',') {
                    throw error("expected ',' or ']'");
                }
            }
        }

        private String str() {
            expect('"');
            StringBuilder sb = new StringBuilder();
            while (true) {
                char c = next();
                if (c == '"') {
                    return sb.toString();
                }
                if (c == '\\') {
                    char e = next();
                    switch (e) {
                        case 'n' -> sb.append('\n');
                        case 'r' -> sb.append('\r');
                        case 't' -> sb.append('\t');
                        case 'b' -> sb.append('\b');
                        case 'f' -> sb.append('\f');
                        case 'u' -> {
                            if (pos + 4 > s.length()) {
                                throw error("short \\u escape");
                            }
                            sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
                            pos += 4;
                        }
                        default -> sb.append(e);
                    }
                } else {
                    sb.append(c);
                }
            }
        }

        private void skipWs() {
            while (pos < s.length() && Character.isWhitespace(s.charAt(pos))) {
                pos++;
            }
        }

        private char peek() {
            if (pos >= s.length()) {
                throw error("unexpected end");
            }
            return s.charAt(pos);
        }

        private char next() {
            char c = peek();
            pos++;
            return c;
        }

        private void expect(char c) {
            if (next() != c) {
                pos--;
                throw error("expected '" + c + "'");
            }
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException("malformed profile JSON at character " + pos + ": " + what);
        }
    }
}
