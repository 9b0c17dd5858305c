import ExactJSON
import Simulators
import Sync
import Testing

@Suite("NetSuiteSimulator exact JSON and decimals", .timeLimit(.minutes(3)))
struct NetSuiteSimulatorExactValueTests {
    @Test("numbers keep their literal text and objects their member order")
    func literalsAndOrder() throws {
        let text = #"{"b": 1.50, "a": [0.1, -0, 1e-7, 12345678901234567890.123], "c": {"n": null, "t": true, "f": false}}"#
        let json = try ExactJSON.parse(text)
        #expect(json["b"] == .number("1.50"))
        #expect(json["a"]?.arrayValue?.compactMap(\.numberText) == ["0.1", "-0", "1e-7", "12345678901234567890.123"])
        #expect(json.objectMembers.map(\.key) == ["b", "a", "c"])
        #expect(json.description == #"{"b":1.50,"a":[0.1,-0,1e-7,12345678901234567890.123],"c":{"n":null,"t":true,"f":false}}"#)
        #expect(try ExactJSON.parse(json.description) == json)
    }

    @Test("strings: escapes and surrogate pairs in, control characters escaped out")
    func strings() throws {
        let json = try ExactJSON.parse(#"["a\"b\\c\/d\n\u00e9\ud83d\ude00", "é😀"]"#)
        #expect(json.arrayValue?[0] == .string("a\"b\\c/d\né😀"))
        #expect(json.arrayValue?[1] == .string("é😀"))
        #expect(ExactJSON.string("tab\there\u{1}").description == #""tab\there\u0001""#)
    }

    @Test(
        "not JSON",
        arguments: [
            "", "{", "[1,]", #"{"a": 1,}"#, #"{"a" 1}"#, "01", "1.", "-", "+1", ".5", "1e", "tru", "nul",
            #""\x""#, #""\ud800""#, "\"a\u{1}\"", "[1] [2]", #"{"a": 1, "a": 2}"#,
            String(repeating: "[", count: 65) + String(repeating: "]", count: 65),
        ])
    func invalid(_ text: String) {
        #expect(throws: ExactJSON.ParseError.self) { try ExactJSON.parse(text) }
    }

    @Test("decimals add exactly and print with the largest scale of their terms")
    func decimals() throws {
        func d(_ literal: String) throws -> ExactDecimal { try #require(ExactDecimal(literal: literal)) }
        #expect(try (d("0.1") + d("0.2")).description == "0.3")
        #expect(try (d("31.50") + d("-5.00") + d("6.30")).description == "32.80")
        #expect(try (d("1.234") + d("1")).description == "2.234")
        #expect(try (d("0.05") - d("0.10")).description == "-0.05")
        #expect(try d("-0.005").description == "-0.005")
        #expect(try d("1234").description == "1234")
        #expect(try d("1.50") == d("1.5"))
        #expect(try d("2") > d("1.999"))
        #expect(try d("999999999999999.999") > d("0"))
        for bad in ["1.2345", "1e2", "1.", ".5", "", "-", "abc", "1234567890123456"] {
            #expect(ExactDecimal(literal: bad) == nil, "\(bad)")
        }
    }
}
