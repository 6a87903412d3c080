package io.sparkmp.examples;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.TreeSet;

/**
 * A text as training data for a character-level language model: lower-cased, every run of white space one space;
 * its vocabulary is its distinct characters in code-point order. Sequence {@code k} is the {@code length} characters
 * from {@code k * stride}, one-hot {@code [vocabulary, length]}, and its labels the same window one character on
 * (the next character at every step), so the model learns to predict each character from those before it.
 */
record CharText(String text, String vocabulary, int length, int stride) implements Serializable {

    /** The bundled text: public-domain excerpts (Dickens, Lincoln, the Declaration and the Constitution's preamble). */
    static final String BUNDLED = "char-lstm-text.txt";

    CharText {
        if (length < 2 || stride < 1) {
            throw new IllegalArgumentException("sequence length must be >= 2 and stride >= 1, found " + length + " and " + stride);
        }
        if (text.length() < length + 1) {
            throw new IllegalArgumentException("the text has " + text.length() + " characters, fewer than one sequence of "
                    + length + " plus the next character");
        }
    }

    /** {@code raw} normalised (lower case, white space runs as one space), cut into sequences of {@code length}. */
    static CharText of(String raw, int length, int stride) {
        String text = raw.toLowerCase(Locale.ROOT).replaceAll("\\s+", " ").strip();
        TreeSet<Character> chars = new TreeSet<>();
        for (char c : text.toCharArray()) {
            chars.add(c);
        }
        StringBuilder vocab = new StringBuilder();
        chars.forEach(vocab::append);
        return new CharText(text, vocab.toString(), length, stride);
    }

    /** The bundled text ({@link #BUNDLED}, read from the jar) or, when {@code file} is not null, that UTF-8 file. */
    static String read(Path file) {
        try {
            if (file != null) {
                return Files.readString(file, StandardCharsets.UTF_8);
            }
            try (InputStream in = CharText.class.getResourceAsStream(BUNDLED)) {
                if (in == null) {
                    throw new IllegalStateException(BUNDLED + " is missing from the classpath");
                }
                return new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("--text " + file + " cannot be read: " + e.getMessage());
        }
    }

    int sequences() {
        return (text.length() - length - 1) / stride + 1;
    }

    int index(char c) {
        int i = vocabulary.indexOf(c);
        if (i < 0) {
            throw new IllegalArgumentException("character `" + c + "` is not in the vocabulary `" + vocabulary + "`");
        }
        return i;
    }

    /** Sequences {@code [first, first + count)}: features and labels {@code [count, vocabulary, length]}, one-hot. */
    DataSet examples(int first, int count) {
        int v = vocabulary.length();
        float[][][] x = new float[count][v][length];
        float[][][] y = new float[count][v][length];
        for (int n = 0; n < count; n++) {
            int start = (first + n) * stride;
            for (int t = 0; t < length; t++) {
                x[n][index(text.charAt(start + t))][t] = 1f;
                y[n][index(text.charAt(start + t + 1))][t] = 1f;
            }
        }
        return new DataSet(Nd4j.createFromArray(x), Nd4j.createFromArray(y));
    }

    /** One character, one-hot, as a single time step {@code [1, vocabulary]} for {@code rnnTimeStep}. */
    INDArray step(char c) {
        INDArray x = Nd4j.zeros(org.nd4j.linalg.api.buffer.DataType.FLOAT, 1, vocabulary.length());
        x.putScalar(0, index(c), 1.0);
        return x;
    }
}
