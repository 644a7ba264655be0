package io.tessera.cli;

import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.PrintWriter;

/** The {@code --json} reports: non-ASCII characters escaped, so the output is valid UTF-8 whatever the locale's charset. */
final class Json {
    static final JsonMapper MAPPER = JsonMapper.builder().enable(JsonWriteFeature.ESCAPE_NON_ASCII).build();

    private Json() {}

    static void print(PrintWriter out, Object report) throws IOException {
        out.println(MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(report));
        out.flush();
    }
}
