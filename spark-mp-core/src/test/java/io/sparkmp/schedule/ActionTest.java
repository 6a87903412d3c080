package io.sparkmp.schedule;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

class ActionTest {

    @ParameterizedTest
    @EnumSource(ActionType.class)
    void everyTypeRoundTripsThroughText(ActionType type) {
        Action a = type.perMicroBatch() ? Action.of(12, type, 34) : Action.of(12, type);
        String text = a.toString();
        String expected = type.perMicroBatch() ? "12" + type.code() + "34" : "12" + type.code();
        assertEquals(expected, text);
        assertEquals(a, Action.parse(text));
    }

    @Test
    void knownFormsParseToTheirParts() {
        assertEquals(new Action(1, ActionType.FORWARD, 3), Action.parse("1F3"));
        assertEquals(new Action(0, ActionType.SEND_F, 2), Action.parse("0SEND_F2"));
        assertEquals(new Action(3, ActionType.RECV_B, 10), Action.parse("3RECV_B10"));
        assertEquals(new Action(2, ActionType.STEP, Action.NO_MICRO_BATCH), Action.parse("2STEP"));
        assertEquals(new Action(0, ActionType.BACKWARD, 0), Action.parse(" 0B0 "));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
        "F3      | not an action: 'F3'",
        "1X3     | unknown action type 'X' in '1X3'",
        "1F      | action '1F' needs a micro-batch index",
        "2STEP1  | action '2STEP1' takes no micro-batch index",
        "1f3     | not an action: '1f3'",
        "-1F3    | not an action: '-1F3'",
        "\"\"      | not an action: ''",
    })
    void badTextIsRejectedWithItsReason(String text, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Action.parse(text));
        assertTrue(e.getMessage().startsWith(message), e.getMessage());
    }

    @Test
    void nullTextAndBadValuesAreRejected() {
        assertEquals("action text must not be null",
                assertThrows(IllegalArgumentException.class, () -> Action.parse(null)).getMessage());
        assertEquals("stage must be >= 0, found -1",
                assertThrows(IllegalArgumentException.class, () -> Action.of(-1, ActionType.FORWARD, 0)).getMessage());
        assertEquals("BACKWARD needs a micro-batch >= 0, found -1",
                assertThrows(IllegalArgumentException.class, () -> Action.of(0, ActionType.BACKWARD)).getMessage());
    }
}
