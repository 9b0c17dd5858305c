import Foundation
import Synchronization
import Testing

@testable import JobQueueTesting
@testable import Postgres

/// True when `text` (nil counts as false) has no line breaks.
private func connectionTestIsOneLine(_ text: String?) -> Bool {
    guard let text else { return false }
    return !text.contains { $0.isNewline }
}

// Tests of Connection, PostgresValue, Row, PostgresError and ConnectionPool against a real
// PostgreSQL (LEDGERSYNC_TEST_DATABASE_URL; scripts/test.sh starts one). Every test gets a
// database of its own, cloned from an empty template, and drops it also when it fails.

/// Runs `body` with a fresh database and drops it afterwards, also when `body` throws.
private func withConnectionTestDatabase<T>(_ body: (TestDatabase) async throws -> T) async throws -> T {
    let database = try await TestDatabase.create(migrations: [])
    do {
        let value = try await body(database)
        await database.drop()
        return value
    } catch {
        await database.drop()
        throw error
    }
}

/// Runs `body` with one connection to a fresh database; closes and drops both afterwards.
private func withConnection<T>(_ body: (Connection, TestDatabase) async throws -> T) async throws -> T {
    try await withConnectionTestDatabase { database in
        let connection = try await Connection.connect(url: database.url)
        do {
            let value = try await body(connection, database)
            connection.close()
            return value
        } catch {
            connection.close()
            throw error
        }
    }
}

/// A signal many tasks can wait for; waiting ends when it is opened or the task is cancelled.
private final class PoolTestGate: Sendable {
    private struct State {
        var isOpen = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }
    private let state = Mutex(State())

    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var isOpen: Bool { state.withLock { $0.isOpen } }

    func wait() async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.isOpen || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// Counts borrowers inside the pool at once and remembers the peak.
private final class PoolOccupancy: Sendable {
    private let counts = Mutex((inside: 0, peak: 0))
    func enter() -> Int {
        counts.withLock { counts in
            counts.inside += 1
            counts.peak = max(counts.peak, counts.inside)
            return counts.inside
        }
    }
    func leave() { counts.withLock { $0.inside -= 1 } }
    var peak: Int { counts.withLock { $0.peak } }
}

/// Server-side connection counts seen by borrowers.
private final class PoolCounts: Sendable {
    private let counts = Mutex<[Int]>([])
    func append(_ count: Int) { counts.withLock { $0.append(count) } }
    var values: [Int] { counts.withLock { $0 } }
}

private struct Boom: Error, Equatable {}

private func microseconds(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
}

@Suite("Connection and values against PostgreSQL", .timeLimit(.minutes(3)))
struct ConnectionTests {
    // MARK: - Round trips

    /// `SELECT $1::type` and read it back.
    private func roundTrip<T: PostgresEncodable & PostgresDecodable>(
        _ value: T, _ sqlType: String, on connection: Connection
    ) async throws -> T {
        let rows = try await connection.query("SELECT $1::\(sqlType) AS v", [value]).rows
        #expect(rows.count == 1)
        return try #require(rows.first).decode("v", as: T.self)
    }

    @Test("integers, doubles and booleans round-trip exactly")
    func scalarRoundTrips() async throws {
        try await withConnection { connection, _ in
            for value in [0, 1, -1, 42, Int.max, Int.min] {
                #expect(try await roundTrip(value, "bigint", on: connection) == value)
            }
            for value: Int64 in [0, -7, Int64.max, Int64.min] {
                #expect(try await roundTrip(value, "bigint", on: connection) == value)
            }
            for value: Int32 in [0, 123_456, Int32.max, Int32.min] {
                #expect(try await roundTrip(value, "integer", on: connection) == value)
            }
            for value in [0.0, 0.1, -1.5, Double.pi, 1e300, -2.5e-300, 123_456_789.125, Double.greatestFiniteMagnitude] {
                #expect(try await roundTrip(value, "double precision", on: connection) == value)
            }
            #expect(try await roundTrip(Double.infinity, "double precision", on: connection) == .infinity)
            #expect(try await roundTrip(-Double.infinity, "double precision", on: connection) == -.infinity)
            #expect(try await roundTrip(Double.nan, "double precision", on: connection).isNaN)
            #expect(try await roundTrip(true, "boolean", on: connection) == true)
            #expect(try await roundTrip(false, "boolean", on: connection) == false)
            // The server really got the value, not just something that reads back the same.
            let checks = try await connection.query(
                "SELECT $1::bigint = 9223372036854775807 AS big, $2::boolean IS TRUE AS yes, $3::float8 = 0.1::float8 AS tenth",
                [Int.max, true, 0.1]
            ).rows[0]
            #expect(try checks.decode("big", as: Bool.self))
            #expect(try checks.decode("yes", as: Bool.self))
            #expect(try checks.decode("tenth", as: Bool.self))
        }
    }

    @Test("COPY FROM STDIN: the rows go in and are counted; a bad row fails the whole COPY, named, and the connection goes on")
    func copyIn() async throws {
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TEMP TABLE copied (n integer NOT NULL CHECK (n > 0), t text)")
            // 3 MiB of input, so it crosses the 1 MiB pieces it is sent in.
            let rows = (1...30_000).map { "\($0)\t" + String(repeating: "x", count: 100) + "\n" }.joined()
            #expect(try await connection.copyIn("COPY copied (n, t) FROM STDIN", data: Array(rows.utf8)) == 30_000)
            #expect(try await connection.copyIn("COPY copied (n, t) FROM STDIN", data: Array("40001\t\\N\n40002\ttab\\there\n".utf8)) == 2)
            let tail = try await connection.query("SELECT t FROM copied WHERE n > 40000 ORDER BY n").rows
            #expect(try tail.map { try $0.decodeIfPresent("t", as: String.self) } == [nil, "tab\there"])

            let bad = Array("9\tfine\n0\tbreaks the check\n".utf8)
            let error = await #expect(throws: PostgresError.self) {
                try await connection.copyIn("COPY copied (n, t) FROM STDIN", data: bad)
            }
            #expect(error?.sqlState == "23514", "\(error.map(String.init(describing:)) ?? "")")
            #expect(error?.message.contains("copied") == true)
            // A statement that is not a COPY FROM STDIN: its own error, or its own answer.
            let notCopy = await #expect(throws: PostgresError.self) { try await connection.copyIn("COPY nowhere FROM STDIN", data: []) }
            #expect(notCopy?.sqlState == "42P01")
            #expect(try await connection.copyIn("SELECT 1", data: []) == 1)

            let count = try await connection.query("SELECT count(*)::bigint AS n FROM copied").rows[0].decode("n", as: Int.self)
            #expect(count == 30_002, "the failed COPY left nothing; the connection still answers")
            #expect(connection.isReusable)
        }
    }

    @Test("binary COPY: every type CopyBinaryWriter writes reads back as the text form of the same value would")
    func copyInBinary() async throws {
        try await withConnection { connection, _ in
            try await connection.execute(
                "CREATE TEMP TABLE typed (a int2, b int4, c int8, t text, j jsonb, ts timestamptz, check_ts timestamptz)")
            let dates = [
                Date(timeIntervalSince1970: 2_000_000_000.123456),
                Date(timeIntervalSince1970: -0.5), // before 1970: the microseconds count down
                Date(timeIntervalSince1970: 946_684_799.999_999_7), // rounds up across 2000-01-01
                Date(timeIntervalSince1970: 0),
            ]
            let texts: [String?] = ["tab\there\nline \\N é 日本 🎉", nil, "", "NULL"]
            let json = [#"{"a": [1, 2.5, "x\ty"]}"#, "{}", #"{"n": 12345678901234567890.5}"#, "[null]"]
            let bigints: [Int64] = [.min, .max, 0, -1]
            var writer = CopyBinaryWriter()
            writer.header()
            for index in dates.indices {
                writer.row(fields: 7)
                writer.int2(index == 0 ? .min : .max)
                writer.int4(index == 0 ? .min : .max)
                writer.int8(bigints[index])
                writer.text(texts[index])
                writer.jsonb(json[index])
                writer.timestamptz(microseconds: try #require(CopyBinaryWriter.microseconds(dates[index])))
                writer.null()
            }
            writer.trailer()
            // Written in 7-byte pieces: rows and fields cross the pieces.
            let bytes = writer.bytes
            var offset = 0
            let copied = try await connection.copyIn("COPY typed FROM STDIN WITH (FORMAT binary)") { piece in
                piece += bytes[offset..<min(offset + 7, bytes.count)]
                offset += 7
                return offset < bytes.count
            }
            #expect(copied == dates.count)
            // The same instants through the text form (Date.postgresText, a bound parameter).
            for (index, date) in dates.enumerated() {
                try await connection.query("UPDATE typed SET check_ts = $1 WHERE c = $2", [date, bigints[index]])
            }
            let rows = try await connection.query(
                "SELECT a, b, c, t, j::text AS j, ts = check_ts AS same_time, ts FROM typed ORDER BY c, a"
            ).rows
            #expect(try rows.map { try $0.decode("a", as: Int.self) } == [Int(Int16.min), Int(Int16.max), Int(Int16.max), Int(Int16.max)])
            #expect(try rows[0].decode("b", as: Int.self) == Int(Int32.min) && rows[1].decode("b", as: Int.self) == Int(Int32.max))
            #expect(try rows.map { try $0.decode("c", as: Int64.self) } == [.min, -1, 0, .max])
            #expect(try rows[0].decodeIfPresent("t", as: String.self) == texts[0])
            #expect(try rows[0].decode("j", as: String.self) == #"{"a": [1, 2.5, "x\ty"]}"#)
            for row in rows { #expect(try row.decode("same_time", as: Bool.self), "\(row)") }
            let times = try await connection.query("SELECT ts::text AS ts FROM typed ORDER BY ts").rows.map {
                try $0.decode("ts", as: String.self)
            }
            #expect(
                times == ["1969-12-31 23:59:59.5+00", "1970-01-01 00:00:00+00", "2000-01-01 00:00:00+00", "2033-05-18 03:33:20.123456+00"])
            #expect(CopyBinaryWriter.microseconds(Date(timeIntervalSince1970: 1e300)) == nil)
        }
    }

    @Test("COPY whose producer throws: the COPY is rolled back, the producer's error comes out, the connection goes on")
    func copyInProducerThrows() async throws {
        struct Stop: Error {}
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TEMP TABLE copied (n integer)")
            // Two rows, then the error.
            func producer() -> (inout [UInt8]) throws -> Bool {
                var pieces = 0
                return { piece in
                    pieces += 1
                    guard pieces < 3 else { throw Stop() }
                    piece += Array("\(pieces)\n".utf8)
                    return true
                }
            }
            await #expect(throws: Stop.self) { try await connection.copyIn("COPY copied FROM STDIN", produce: producer()) }
            let count = try await connection.query("SELECT count(*)::bigint AS n FROM copied").rows[0].decode("n", as: Int.self)
            #expect(count == 0, "the rows sent before the error were rolled back")
            #expect(connection.isReusable)
        }
    }

    @Test("strings keep quotes, backslashes, unicode and newlines byte for byte")
    func stringRoundTrips() async throws {
        let values = [
            "",
            "plain",
            "it's a \"quoted\" 'string'",
            #"back\slash \\ double \n not-a-newline"#,
            "line one\nline two\r\nline three\ttabbed",
            "unicode: ünïcødé, 日本語, emoji 🎉👩‍👩‍👧, RTL שלום",
            "e\u{301} decomposed vs \u{E9} precomposed",
            "  leading and trailing spaces  ",
            "$1 and $2 are not parameters here",
            "NULL",
        ]
        try await withConnection { connection, _ in
            for value in values {
                let back = try await roundTrip(value, "text", on: connection)
                // Swift's == ignores Unicode normalisation; compare the bytes.
                #expect(Array(back.utf8) == Array(value.utf8), "\(value.debugDescription) came back as \(back.debugDescription)")
                let length = try await connection.query("SELECT octet_length($1::text) AS n", [value]).rows[0]
                #expect(try length.decode("n", as: Int.self) == value.utf8.count)
            }
        }
    }

    @Test("timestamps round-trip to the microsecond, also before 1970")
    func dateRoundTrips() async throws {
        // (date, how the server must see it)
        let cases: [(Date, String)] = [
            (Date(timeIntervalSince1970: 1_790_000_000.123456), "2026-09-21 14:13:20.123456"),
            (Date(timeIntervalSince1970: 0), "1970-01-01 00:00:00.000000"),
            (Date(timeIntervalSince1970: 0.000001), "1970-01-01 00:00:00.000001"),
            (Date(timeIntervalSince1970: 1_600_000_000.5), "2020-09-13 12:26:40.500000"),
            (Date(timeIntervalSince1970: -14_182_940 + 0.654321), "1969-07-20 20:17:40.654321"),
            (Date(timeIntervalSince1970: -0.5), "1969-12-31 23:59:59.500000"),
            (Date(timeIntervalSince1970: -2_208_988_800.000001), "1899-12-31 23:59:59.999999"),
            // Rounds up into the next second.
            (Date(timeIntervalSince1970: 1.99999999), "1970-01-01 00:00:02.000000"),
        ]
        try await withConnection { connection, _ in
            for (date, expected) in cases {
                let row = try await connection.query(
                    "SELECT $1::timestamptz AS v, to_char($1::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS seen",
                    [date]
                ).rows[0]
                #expect(try row.decode("seen", as: String.self) == expected, "sent \(date.timeIntervalSince1970)")
                let back = try row.decode("v", as: Date.self)
                let expectedMicros = try #require(
                    try await connection.query(
                        "SELECT (extract(epoch FROM $1::timestamp AT TIME ZONE 'UTC') * 1000000)::bigint AS us", [expected]
                    ).rows.first
                ).decode("us", as: Int64.self)
                #expect(microseconds(back) == expectedMicros, "\(expected) read back as \(back.timeIntervalSince1970)")
            }
            // Dates the server makes parse too, in any session time zone offset it prints.
            let row = try await connection.query(
                "SELECT '2001-02-03 04:05:06.7+00'::timestamptz AS a, 'infinity'::timestamptz AS inf, '-infinity'::timestamptz AS ninf"
            ).rows[0]
            #expect(microseconds(try row.decode("a", as: Date.self)) == 981_173_106_700_000)
            #expect(try row.decode("inf", as: Date.self) == .distantFuture)
            #expect(try row.decode("ninf", as: Date.self) == .distantPast)
        }
    }

    @Test("timestamps the server prints with a non-UTC offset still read as the right instant")
    func offsetTimestamps() async throws {
        try await withConnection { connection, _ in
            try await connection.execute("SET TimeZone = 'Asia/Kolkata'")
            let row = try await connection.query(
                "SELECT '2026-01-01 00:00:00.25+00'::timestamptz AS t, '2026-01-01 00:00:00.25+00'::timestamptz::text AS shown"
            ).rows[0]
            #expect(try row.decode("shown", as: String.self) == "2026-01-01 05:30:00.25+05:30")
            #expect(microseconds(try row.decode("t", as: Date.self)) == 1_767_225_600_250_000)
        }
    }

    @Test("JSON text goes in and out as JSON")
    func jsonRoundTrips() async throws {
        struct Payload: Codable, Equatable {
            let name: String
            let amounts: [Int]
            let note: String?
        }
        try await withConnection { connection, _ in
            let text = #"{"name": "O'Brien \"Q\" \\ ü", "amounts": [1, 2, 3], "note": null}"#
            // json keeps the text as sent.
            #expect(try await roundTrip(JSONText(text), "json", on: connection) == JSONText(text))
            // jsonb normalises it, but the value survives.
            let payload = Payload(name: "O'Brien \"Q\" \\ ü\n", amounts: [1, -2, 3], note: nil)
            let stored = try await roundTrip(try JSONText(encoding: payload), "jsonb", on: connection)
            #expect(try stored.decode(Payload.self) == payload)
            let field = try await connection.query("SELECT $1::jsonb ->> 'name' AS name", [try JSONText(encoding: payload)]).rows[0]
            #expect(try field.decode("name", as: String.self) == payload.name)
            // Not JSON: the server says so.
            let error = await #expect(throws: PostgresError.self) {
                try await connection.query("SELECT $1::jsonb AS v", [JSONText("{not json")])
            }
            #expect(error?.sqlState == "22P02")
        }
    }

    @Test("arrays of integers reach the server element by element")
    func integerArrays() async throws {
        try await withConnection { connection, _ in
            let values: [Int64] = [1, -2, 0, Int64.max, Int64.min]
            let rows = try await connection.query(
                "SELECT u.v, u.i FROM unnest($1::bigint[]) WITH ORDINALITY AS u(v, i) ORDER BY u.i", [values]
            ).rows
            #expect(try rows.map { try $0.decode("v", as: Int64.self) } == values)
            let empty = try await connection.query("SELECT cardinality($1::bigint[]) AS n", [[Int64]()]).rows[0]
            #expect(try empty.decode("n", as: Int.self) == 0)
            let ints = try await connection.query("SELECT array_length($1::integer[], 1) AS n, ($1::integer[])[2] AS second", [[7, 8, 9]])
                .rows[0]
            #expect(try ints.decode("n", as: Int.self) == 3)
            #expect(try ints.decode("second", as: Int.self) == 8)
        }
    }

    @Test("arrays of strings keep quotes, backslashes, commas, braces, empty strings and NULLs")
    func stringArrays() async throws {
        let values: [String?] = [
            "plain", "with \"quotes\"", #"back\slash"#, "a,b", "{braces}", "", nil, "NULL", "  spaced  ",
            "new\nline", "ünï 🎉", #"\"{,}\""#,
        ]
        try await withConnection { connection, _ in
            let rows = try await connection.query(
                "SELECT u.v, u.i FROM unnest($1::text[]) WITH ORDINALITY AS u(v, i) ORDER BY u.i", [values]
            ).rows
            #expect(rows.count == values.count)
            let back = try rows.map { try $0.decodeIfPresent("v", as: String.self) }
            #expect(back == values)
            let nulls = try await connection.query(
                "SELECT array_position($1::text[], NULL) AS p, ($1::text[])[8] IS NULL AS is_null", [values]
            ).rows[0]
            #expect(try nulls.decode("p", as: Int.self) == 7)
            #expect(try nulls.decode("is_null", as: Bool.self) == false, "the string \"NULL\" must not become SQL NULL")
            let plain: [String] = ["x", "", "y,z"]
            let plainRows = try await connection.query("SELECT unnest($1::text[]) AS v", [plain]).rows
            #expect(try plainRows.map { try $0.decode("v", as: String.self) } == plain)
        }
    }

    @Test("nil binds as SQL NULL, and NULL reads back as nil")
    func optionalNil() async throws {
        try await withConnection { connection, _ in
            let noText: String? = nil
            let noNumber: Int? = nil
            let someText: String? = "here"
            let row = try await connection.query(
                "SELECT $1::text IS NULL AS a_null, $2::bigint IS NULL AS b_null, $3::text IS NULL AS c_null, $1::text AS a, $3::text AS c",
                [noText, noNumber, someText]
            ).rows[0]
            #expect(try row.decode("a_null", as: Bool.self))
            #expect(try row.decode("b_null", as: Bool.self))
            #expect(try row.decode("c_null", as: Bool.self) == false)
            #expect(try row.decodeIfPresent("a", as: String.self) == nil)
            #expect(try row.text("a") == nil)
            #expect(try row.decodeIfPresent("c", as: String.self) == "here")
        }
    }

    @Test("a bind that looks like SQL is stored as data")
    func noSplicing() async throws {
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TABLE x (id int); CREATE TABLE notes (body text)")
            let evil = "'; DROP TABLE x; --"
            let evilToo = "1); DROP TABLE x; SELECT ('"
            try await connection.query("INSERT INTO notes (body) VALUES ($1), ($2)", [evil, evilToo])
            let bodies = try await connection.query("SELECT body FROM notes ORDER BY body").rows.map {
                try $0.decode("body", as: String.self)
            }
            #expect(bodies.sorted() == [evil, evilToo].sorted())
            #expect(try await roundTrip(evil, "text", on: connection) == evil)
            let table = try await connection.query("SELECT to_regclass('x') IS NOT NULL AS present").rows[0]
            #expect(try table.decode("present", as: Bool.self), "table x was dropped")
            let matches = try await connection.query("SELECT count(*) AS n FROM notes WHERE body = $1", [evil]).rows[0]
            #expect(try matches.decode("n", as: Int.self) == 1)
        }
    }

    // MARK: - Decoding errors

    @Test("a missing column is named, with the columns the result has")
    func missingColumn() async throws {
        try await withConnection { connection, _ in
            let row = try #require(try await connection.query("SELECT 1 AS alpha, 'x' AS beta").rows.first)
            #expect(row.columns == ["alpha", "beta"])
            let error = #expect(throws: PostgresError.self) { try row.decode("gamma", as: Int.self) }
            #expect(error?.code == .decoding)
            #expect(error?.message.contains("\"gamma\"") == true, "\(String(describing: error))")
            #expect(error?.message.contains("alpha, beta") == true, "\(String(describing: error))")
            #expect(throws: PostgresError.self) { try row.decodeIfPresent("gamma", as: Int.self) }
            #expect(throws: PostgresError.self) { try row.text("gamma") }
        }
    }

    @Test("NULL read as a non-optional names the column")
    func nullIntoNonOptional() async throws {
        try await withConnection { connection, _ in
            let row = try #require(try await connection.query("SELECT NULL::bigint AS missing_amount").rows.first)
            let error = #expect(throws: PostgresError.self) { try row.decode("missing_amount", as: Int.self) }
            #expect(error?.code == .decoding)
            #expect(error?.message.contains("\"missing_amount\"") == true, "\(String(describing: error))")
            #expect(error?.message.contains("NULL") == true, "\(String(describing: error))")
            #expect(try row.decodeIfPresent("missing_amount", as: Int.self) == nil)
        }
    }

    @Test("a value of the wrong type names column, expected type and value")
    func wrongType() async throws {
        try await withConnection { connection, _ in
            let row = try #require(
                try await connection.query(
                    "SELECT 'abc'::text AS word, 'maybe'::text AS flag, 3000000000::bigint AS big, 'soon'::text AS at, repeat('x', 100) AS long"
                ).rows.first)
            func check(_ column: String, expected type: String, value: String, _ read: () throws -> Void) {
                let error = #expect(throws: PostgresError.self, "reading \(column)") { try read() }
                #expect(error?.code == .decoding)
                #expect(error?.message.contains("\"\(column)\"") == true, "\(String(describing: error))")
                #expect(error?.message.contains(type) == true, "\(String(describing: error))")
                #expect(error?.message.contains(value) == true, "\(String(describing: error))")
            }
            check("word", expected: "an integer", value: "'abc'") { _ = try row.decode("word", as: Int.self) }
            check("word", expected: "a 64-bit integer", value: "'abc'") { _ = try row.decode("word", as: Int64.self) }
            check("flag", expected: "a boolean", value: "'maybe'") { _ = try row.decode("flag", as: Bool.self) }
            check("big", expected: "a 32-bit integer", value: "'3000000000'") { _ = try row.decode("big", as: Int32.self) }
            check("at", expected: "a timestamp with time zone", value: "'soon'") { _ = try row.decode("at", as: Date.self) }
            check("word", expected: "a number", value: "'abc'") { _ = try row.decodeIfPresent("word", as: Double.self) }
            // Long values are shortened in the message.
            let long = #expect(throws: PostgresError.self) { try row.decode("long", as: Int.self) }
            #expect(long?.message.contains(String(repeating: "x", count: 60) + "…") == true)
            #expect(long?.message.contains(String(repeating: "x", count: 61)) == false)
        }
    }

    // MARK: - Server errors

    @Test("server errors carry their SQLSTATE and a one-line message")
    func serverErrors() async throws {
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL)")
            try await connection.query("INSERT INTO accounts VALUES ($1, $2)", [1, "first"])
            let duplicate = await #expect(throws: PostgresError.self) {
                try await connection.query("INSERT INTO accounts VALUES ($1, $2)", [1, "second"])
            }
            let error = try #require(duplicate)
            #expect(error.code == .server)
            #expect(error.sqlState == "23505")
            #expect(error.isUniqueViolation)
            #expect(!error.isConnectionProblem)
            #expect(error.message.contains("accounts_pkey"), "\(error)")
            #expect(error.message.contains("already exists"), "the DETAIL line is kept: \(error)")
            #expect(connectionTestIsOneLine(error.description), "\(error.description.debugDescription)")
            #expect(error.description.hasSuffix("(SQLSTATE 23505)"))

            let notNull = await #expect(throws: PostgresError.self) {
                try await connection.query("INSERT INTO accounts VALUES ($1, $2)", [2, String?.none])
            }
            #expect(notNull?.sqlState == "23502")
            #expect(notNull?.isUniqueViolation == false)

            let syntax = await #expect(throws: PostgresError.self) { try await connection.execute("SELEKT 1") }
            #expect(syntax?.sqlState == "42601")
            #expect(connectionTestIsOneLine(syntax?.description))

            let multiLine = await #expect(throws: PostgresError.self) {
                try await connection.execute(
                    "DO $$ BEGIN RAISE EXCEPTION 'first line' USING DETAIL = E'second\\nthird', HINT = 'a hint'; END $$")
            }
            #expect(multiLine?.sqlState == "P0001")
            #expect(multiLine?.message.contains("first line") == true)
            #expect(multiLine?.message.contains("a hint") == true)
            #expect(connectionTestIsOneLine(multiLine?.description), "\(String(describing: multiLine?.description.debugDescription))")

            // The connection is still usable and not left in a transaction.
            #expect(connection.isReusable)
            let count = try await connection.query("SELECT count(*) AS n FROM accounts").rows[0]
            #expect(try count.decode("n", as: Int.self) == 1)
        }
    }

    // MARK: - Transactions

    @Test("transaction commits when the body returns")
    func transactionCommits() async throws {
        try await withConnection { connection, database in
            try await connection.execute("CREATE TABLE ledger (amount int)")
            let value = try await connection.transaction { connection in
                try await connection.query("INSERT INTO ledger VALUES ($1), ($2)", [10, 20])
                return "done"
            }
            #expect(value == "done")
            #expect(connection.isReusable)
            // Visible from another connection: committed, not merely inside a session.
            let seen = try await database.pool.query("SELECT coalesce(sum(amount), 0)::int AS total FROM ledger").rows[0]
            #expect(try seen.decode("total", as: Int.self) == 30)
        }
    }

    @Test("transaction rolls back and rethrows when the body throws")
    func transactionRollsBack() async throws {
        try await withConnection { connection, database in
            try await connection.execute("CREATE TABLE ledger (amount int)")
            try await connection.query("INSERT INTO ledger VALUES (1)")
            await #expect(throws: Boom.self) {
                try await connection.transaction { connection in
                    try await connection.query("INSERT INTO ledger VALUES ($1)", [100])
                    try await connection.execute("UPDATE ledger SET amount = amount + 1000")
                    throw Boom()
                }
            }
            #expect(connection.isReusable, "left inside a transaction")
            let mine = try await connection.query("SELECT count(*)::int AS n, sum(amount)::int AS total FROM ledger").rows[0]
            #expect(try mine.decode("n", as: Int.self) == 1)
            #expect(try mine.decode("total", as: Int.self) == 1)

            // A server error inside the body rolls back too; earlier work in it is undone.
            let failure = await #expect(throws: PostgresError.self) {
                try await connection.transaction { connection in
                    try await connection.query("INSERT INTO ledger VALUES (5)")
                    try await connection.query("INSERT INTO nowhere VALUES (1)")
                }
            }
            #expect(failure?.sqlState == "42P01")
            #expect(connection.isReusable)
            let other = try await database.pool.query("SELECT count(*)::int AS n FROM ledger").rows[0]
            #expect(try other.decode("n", as: Int.self) == 1)
        }
    }

    // MARK: - Prepared statements

    @Test("prepared statements run repeatedly with different binds on one connection")
    func preparedStatements() async throws {
        try await withConnection { connection, _ in
            try await connection.execute("CREATE TABLE items (id bigint PRIMARY KEY, label text)")
            let insert = "INSERT INTO items (id, label) VALUES ($1, $2)"
            let select = "SELECT label FROM items WHERE id = $1"
            for id in 1...5 {
                let result = try await connection.query(insert, [Int64(id), "item \(id)"], prepare: true)
                #expect(result.affectedRows == 1)
            }
            for id in [3, 1, 5, 2, 4] {
                let rows = try await connection.query(select, [Int64(id)], prepare: true).rows
                #expect(try rows.map { try $0.decode("label", as: String.self) } == ["item \(id)"])
            }
            #expect(try await connection.query(select, [Int64(99)], prepare: true).rows.isEmpty)
            // An error while executing a prepared statement leaves it usable.
            let duplicate = await #expect(throws: PostgresError.self) {
                try await connection.query(insert, [Int64(1), "again"], prepare: true)
            }
            #expect(duplicate?.isUniqueViolation == true)
            try await connection.query(insert, [Int64(6), "item 6"], prepare: true)
            // Each statement was prepared once, by name, and reused.
            let prepared = try await connection.query(
                "SELECT name, statement FROM pg_prepared_statements ORDER BY name"
            ).rows
            #expect(try prepared.map { try $0.decode("statement", as: String.self) }.sorted() == [insert, select].sorted())
            // A statement that cannot be prepared throws, and does not spoil the next.
            let bad = await #expect(throws: PostgresError.self) {
                try await connection.query("SELECT nonexistent_column FROM items WHERE id = $1", [Int64(1)], prepare: true)
            }
            #expect(bad?.sqlState == "42703")
            let label = try await connection.query("SELECT label FROM items WHERE label = $1", ["item 6"], prepare: true).rows
            #expect(label.count == 1)
            // Prepared and unprepared uses of the same text agree.
            let plain = try await connection.query(select, [Int64(6)]).rows
            #expect(try plain.first?.decode("label", as: String.self) == "item 6")
        }
    }

    // MARK: - Connecting

    @Test(
        "connecting to a bad URL throws connectionFailed with a one-line message",
        arguments: [
            "postgresql://postgres@127.0.0.1:1/postgres", // nothing listens there
            "postgresql://postgres@127.0.0.1:notaport/postgres", // malformed port
            "postgresql://[::1/postgres", // malformed URI
            "postgresql://postgres@127.0.0.1:1/postgres?sslmode=nonsense", // bad option
        ])
    func badURL(url: String) async throws {
        let error = await #expect(throws: PostgresError.self) {
            _ = try await Connection.connect(url: url)
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isConnectionProblem == true)
        #expect(error?.message.hasPrefix("cannot connect to PostgreSQL: ") == true, "\(String(describing: error))")
        #expect(error?.message.count ?? 0 > "cannot connect to PostgreSQL: ".count + 5, "says why")
        #expect(connectionTestIsOneLine(error?.description), "\(String(describing: error?.description.debugDescription))")
    }

    @Test("connecting to a database that does not exist names it")
    func missingDatabase() async throws {
        let admin = try TestDatabase.adminURL()
        let url = TestDatabase.replacingDatabase(in: admin, with: "no_such_database_here")
        let error = await #expect(throws: PostgresError.self) { _ = try await Connection.connect(url: url) }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("no_such_database_here") == true, "\(String(describing: error))")
        #expect(connectionTestIsOneLine(error?.description))
    }

    @Test("a closed connection refuses queries with connectionLost")
    func closedConnection() async throws {
        try await withConnectionTestDatabase { database in
            let connection = try await Connection.connect(url: database.url)
            #expect(connection.backendPID > 0)
            connection.close()
            #expect(connection.isBroken)
            #expect(!connection.isReusable)
            let error = await #expect(throws: PostgresError.self) { try await connection.query("SELECT 1") }
            #expect(error?.code == .connectionLost)
            #expect(error?.isConnectionProblem == true)
        }
    }

    @Test("sessions run in UTC with ISO dates")
    func sessionSettings() async throws {
        try await withConnection { connection, _ in
            let row = try await connection.query(
                "SELECT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds, current_setting('application_name') AS app"
            ).rows[0]
            #expect(try row.decode("tz", as: String.self) == "UTC")
            #expect(try row.decode("ds", as: String.self).hasPrefix("ISO"))
            #expect(try row.decode("app", as: String.self) == "ledgersync")
        }
    }

    // MARK: - ConnectionPool

    @Test("more borrowers than connections all finish, never with more than the maximum open")
    func poolLimitsConnections() async throws {
        try await withConnectionTestDatabase { database in
            let maximum = 3
            let application = "pooltest_\(UInt32.random(in: 0...UInt32.max))"
            let pool = ConnectionPool(url: database.url, maxConnections: maximum, applicationName: application)
            let occupancy = PoolOccupancy()
            let gate = PoolTestGate()
            let seen = PoolCounts()
            do {
                let pids = try await withTimeout(.seconds(60), "20 borrowers of a pool of 3") {
                    try await withThrowingTaskGroup(of: Int32.self) { group in
                        for _ in 0..<20 {
                            group.addTask {
                                try await pool.withConnection { connection in
                                    // The first `maximum` borrowers hold on until all are in at once.
                                    if occupancy.enter() >= maximum { gate.open() }
                                    await gate.wait()
                                    let row = try await connection.query(
                                        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
                                        [application]
                                    ).rows[0]
                                    seen.append((try? row.decode("n", as: Int.self)) ?? -1)
                                    occupancy.leave()
                                    return connection.backendPID
                                }
                            }
                        }
                        var pids: [Int32] = []
                        for try await pid in group { pids.append(pid) }
                        return pids
                    }
                }
                #expect(pids.count == 20)
                #expect(gate.isOpen, "never had \(maximum) borrowers at once")
                #expect(occupancy.peak == maximum)
                #expect(Set(pids).count <= maximum)
                let counts = seen.values
                #expect(counts.count == 20)
                #expect(counts.allSatisfy { (1...maximum).contains($0) }, "server-side connection counts: \(counts)")
                await pool.close()
            } catch {
                await pool.close()
                throw error
            }
        }
    }

    @Test("a pool heals after its connections are terminated server-side")
    func poolHealsAfterTermination() async throws {
        try await withConnectionTestDatabase { database in
            let application = "healtest_\(UInt32.random(in: 0...UInt32.max))"
            let pool = ConnectionPool(url: database.url, maxConnections: 2, applicationName: application)
            let admin = try await Connection.connect(url: database.url, applicationName: "healtest_admin")
            do {
                // Open both connections: two borrowers inside at once.
                let gate = PoolTestGate()
                let occupancy = PoolOccupancy()
                let before = try await withTimeout(.seconds(30), "two borrowers") {
                    try await withThrowingTaskGroup(of: Int32.self) { group in
                        for _ in 0..<2 {
                            group.addTask {
                                try await pool.withConnection { connection in
                                    if occupancy.enter() >= 2 { gate.open() }
                                    await gate.wait()
                                    try await connection.query("SELECT 1")
                                    return connection.backendPID
                                }
                            }
                        }
                        return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
                    }
                }
                #expect(before.count == 2)

                let killed = try await admin.query(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000))::int AS n FROM pg_stat_activity WHERE application_name = $1",
                    [application]
                ).rows[0]
                #expect(try killed.decode("n", as: Int.self) == 2)

                var failures: [PostgresError] = []
                var answer: Int?
                for _ in 0..<6 {
                    do {
                        answer = try await pool.query("SELECT 41 + 1 AS answer").rows[0].decode("answer", as: Int.self)
                        break
                    } catch let error as PostgresError {
                        failures.append(error)
                    }
                }
                #expect(answer == 42, "the pool never healed: \(failures)")
                #expect(failures.count <= 2, "more failures than dead connections: \(failures)")
                for failure in failures {
                    #expect(failure.isConnectionProblem, "\(failure)")
                    #expect(connectionTestIsOneLine(failure.description))
                }
                // Everything works from now on, on new backends.
                for _ in 0..<4 {
                    let pid = try await pool.withConnection { connection in
                        try await connection.query("SELECT 1")
                        return connection.backendPID
                    }
                    #expect(!before.contains(pid))
                }
                admin.close()
                await pool.close()
            } catch {
                admin.close()
                await pool.close()
                throw error
            }
        }
    }

    @Test("a connection left inside a transaction is not lent again", arguments: [true, false])
    func poolDropsConnectionInTransaction(bodyThrows: Bool) async throws {
        try await withConnectionTestDatabase { database in
            let pool = ConnectionPool(url: database.url, maxConnections: 1)
            do {
                try await pool.query("CREATE TABLE marks (id int)")
                let first = try await pool.withConnection { $0.backendPID }
                var abandoned: Int32 = 0
                do {
                    try await pool.withConnection { connection in
                        abandoned = connection.backendPID
                        try await connection.execute("BEGIN")
                        try await connection.query("INSERT INTO marks VALUES (1)")
                        if bodyThrows { throw Boom() }
                    }
                    #expect(!bodyThrows)
                } catch is Boom {
                    #expect(bodyThrows)
                }
                #expect(abandoned == first, "a healthy idle connection is reused")
                let row = try await pool.withConnection { connection in
                    #expect(connection.isReusable)
                    #expect(connection.backendPID != abandoned, "the connection left in a transaction was lent again")
                    // The server agrees: SAVEPOINT only works inside a transaction block.
                    let outside = await #expect(throws: PostgresError.self, "the next borrower runs inside the old transaction") {
                        try await connection.execute("SAVEPOINT probe")
                    }
                    #expect(outside?.sqlState == "25P01")
                    return try await connection.query("SELECT count(*)::int AS marks FROM marks").rows[0]
                }
                #expect(try row.decode("marks", as: Int.self) == 0, "the abandoned transaction was committed")
                // The abandoned backend goes away rather than idling in its transaction.
                let gone = try await eventually(timeout: .seconds(20)) {
                    let row = try await pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1", [abandoned]).rows[0]
                    return try row.decode("n", as: Int.self) == 0
                }
                #expect(gone, "backend \(abandoned) still open")
                await pool.close()
            } catch {
                await pool.close()
                throw error
            }
        }
    }

    @Test("a closed pool refuses borrowers")
    func closedPool() async throws {
        try await withConnectionTestDatabase { database in
            let pool = ConnectionPool(url: database.url, maxConnections: 2)
            try await pool.query("SELECT 1")
            await pool.close()
            let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
            #expect(error?.code == .usage)
        }
    }

    @Test("a pool that cannot connect throws connectionFailed and frees the slot")
    func poolCannotConnect() async throws {
        let pool = ConnectionPool(url: "postgresql://postgres@127.0.0.1:1/postgres", maxConnections: 1)
        // With one slot, a leaked reservation would make the second call wait forever.
        try await withTimeout(.seconds(30), "two failed borrows") {
            for _ in 0..<2 {
                let error = await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
                #expect(error?.code == .connectionFailed)
            }
        }
        await pool.close()
    }
}
