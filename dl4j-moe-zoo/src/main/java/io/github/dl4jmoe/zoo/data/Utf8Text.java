package io.github.dl4jmoe.zoo.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Text read strictly as UTF-8, the one way every reader of this project (the examples, {@link CharacterIterator},
 * Spark's {@code HadoopFiles}) decodes a user's file: bytes that are not UTF-8 are refused with a message naming the
 * file, the offset and the byte, never replaced by U+FFFD (a character model would learn the replacement character).
 */
public final class Utf8Text {

    private Utf8Text() {
    }

    /** The whole file as text. */
    public static String read(Path file) throws IOException {
        return decode(Files.readAllBytes(file), file.toString());
    }

    /**
     * {@code bytes} as text.
     *
     * @param source names the bytes in the message, e.g. the file
     * @throws CharacterCodingException naming the source, the offset and the byte, when the bytes are not UTF-8
     */
    public static String decode(byte[] bytes, String source) throws CharacterCodingException {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate((int) Math.ceil(bytes.length * (double) decoder.maxCharsPerByte()));
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) {
            result = decoder.flush(out);
        }
        if (result.isError()) {
            throw new NotUtf8(source, in.position(), bytes.length > in.position() ? bytes[in.position()] : 0,
                    result.length());
        }
        return out.flip().toString();
    }

    /** A {@link MalformedInputException} whose message says where and what to do. */
    private static final class NotUtf8 extends MalformedInputException {
        private static final long serialVersionUID = 1L;
        private final String message;

        NotUtf8(String source, int offset, byte b, int length) {
            super(length);
            message = String.format("%s is not UTF-8 text: byte 0x%02X at offset %d (convert it to UTF-8, e.g. "
                    + "iconv -f latin1 -t utf-8)", source, b & 0xFF, offset);
        }

        @Override
        public String getMessage() {
            return message;
        }
    }
}
