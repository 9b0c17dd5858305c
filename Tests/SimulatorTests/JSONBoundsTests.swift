import ExactJSON
import Testing

/// The JSON reader's own limits and the args bounds every face applies (docs/security.md).
@Suite(.timeLimit(.minutes(2))) struct JSONBoundsTests {
    @Test(
        "a number is measured by its value as PostgreSQL keeps it, not by how it is written",
        arguments: [
            // (literal, refused because of)
            ("123456789012345678901234567890", nil), // 30 digits before the point
            ("1234567890123456789012345678901", "before"), // 31
            ("0000000000000000000000000000000001", nil), // leading zeros do not count
            ("1e29", nil), ("1e30", "before"), ("1e400", "before"), ("1e131000", "before"), ("9.99e29", nil),
            ("-0.123456789012345678901234567890", nil), // 30 after the point
            ("0.1234567890123456789012345678901", "after"),
            ("1.500000000000000000000000000000", nil), // trailing zeros count: 30
            ("1.5000000000000000000000000000000", "after"), // 31
            ("1e-30", nil), ("1e-31", "after"), ("0e-16000", "after"), ("100e-2", nil), ("2.5e1", nil),
            ("1e99999999999999999999", "before"), // an exponent that does not fit Int
            ("0e99999999999999999999", nil), // zero is zero
            ("-0", nil), ("0.0", nil),
        ] as [(String, String?)])
    func numbers(literal: String, refused: String?) {
        let violation = ArgsBounds.check(.object([("n", .number(literal))]), root: "args")
        if let refused {
            #expect(
                violation?.path == "args.n" && violation?.message.contains("digits \(refused) the decimal point") == true,
                "\(literal): \(String(describing: violation))")
        } else {
            #expect(violation == nil, "\(literal): \(String(describing: violation))")
        }
    }

    @Test("depth, strings, member names, size and U+0000 name the first value at fault")
    func paths() {
        func check(_ value: ExactJSON) -> String? { ArgsBounds.check(value, root: "jobs[2].args").map(\.description) }
        func nested(_ levels: Int) -> ExactJSON { (0..<levels).reduce(ExactJSON.array([])) { inner, _ in .array([inner]) } }
        // The args object is level 1: 31 arrays inside it are 32 levels, 32 are 33.
        #expect(check(.object([("d", nested(30))])) == nil)
        #expect(
            check(.object([("d", nested(31))])) == "jobs[2].args.d" + String(repeating: "[0]", count: 31)
                + ": is nested deeper than 32 levels")
        #expect(check(.object([("s", .string(String(repeating: "é", count: 65_536)))])) == nil)
        #expect(
            check(.object([("s", .string(String(repeating: "é", count: 65_537)))])) == "jobs[2].args.s: string longer than 65536 characters"
        )
        #expect(
            check(.object([("a b", .array([.null, .string("x\u{0}")]))]))
                == #"jobs[2].args["a b"][1]: string holds U+0000, which PostgreSQL cannot store"#)
        let longKey = String(repeating: "k", count: 65_537)
        #expect(
            check(.object([(longKey, .null)])) == #"jobs[2].args[""# + String(repeating: "k", count: 40)
                + #"…"]: member name longer than 65536 characters"#)
        let lines = ExactJSON.array((0..<300).map { _ in .string(String(repeating: "x", count: 998)) })
        #expect(check(.object([("lines", lines)])) == "jobs[2].args: is larger than 262144 bytes")
    }

    @Test(
        "the reader refuses past its limits with the offset and path, before building the value",
        arguments: [
            (#"{"a": [1, {"n": 1234567}]}"#, "number longer than 5 characters", 16, ".a[1].n"),
            (#"{"a": "abcdefghi"}"#, "string longer than 8 bytes", 6, ".a"),
            (#"{"a": [[[1]]]}"#, "nesting deeper than 3 levels", 8, ".a[0][0]"),
        ])
    func readerLimits(text: String, message: String, offset: Int, path: String) {
        let limits = ExactJSON.Limits(maxDepth: 3, maxNumberLength: 5, maxStringBytes: 8)
        #expect {
            try ExactJSON.parse(Array(text.utf8), limits: limits)
        } throws: { error in
            guard let error = error as? ExactJSON.ParseError else { return false }
            return error.isLimit && error.message == message && error.offset == offset && error.path == path
        }
        // The same text within the default limits reads.
        #expect((try? ExactJSON.parse(text)) != nil)
    }

    @Test("a grammar error is not a limit, and still says where")
    func grammarErrors() {
        #expect {
            try ExactJSON.parse(#"{"a": [1, 2,]}"#)
        } throws: { error in
            guard let error = error as? ExactJSON.ParseError else { return false }
            return !error.isLimit && error.path == ".a[2]"
        }
    }
}
