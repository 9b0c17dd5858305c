import Foundation
import Testing

@testable import Sync

/// The one ISO 8601 reader the providers' change readers and `--since` share.
@Suite(.timeLimit(.minutes(1)))
struct ProviderTimeTests {
    /// 2019-11-14T07:35:00Z, NetSuite's example in "Using Datetime Fields".
    static let example = Date(timeIntervalSince1970: 1_573_716_900)

    @Test(arguments: [
        "2019-11-14T07:35:00Z", // NetSuite
        "2019-11-14T07:35:00z",
        "2019-11-13T23:35:00-0800", // Zoho Books: offset without its colon
        "2019-11-13T23:35:00-08:00",
        "2019-11-14T13:05:00+05:30",
        "2019-11-14T13:05:00+0530",
        "2019-11-14T07:35:00.000Z",
    ])
    func readsEveryWrittenForm(_ text: String) {
        #expect(ProviderTime.parse(text) == Self.example, "\(text)")
    }

    @Test func keepsTheFraction() throws {
        let date = try #require(ProviderTime.parse("2019-11-14T07:35:00.25Z"))
        #expect(date.timeIntervalSince(Self.example) == 0.25)
    }

    @Test(arguments: [
        "", "2019-11-14", "2019-11-14T07:35:00", "2019-11-14 07:35:00Z", "2019-02-29T00:00:00Z", "2019-04-31T00:00:00Z",
        "2019-13-01T00:00:00Z", "2019-11-14T24:00:00Z", "2019-11-14T07:60:00Z", "2019-11-14T07:35:00.Z",
        "2019-11-14T07:35:00+08", "2019-11-14T07:35:00+24:00", "2019-11-14T07:35:00Zjunk", "2019-11-14T07:35:00 Z",
    ])
    func refusesWhatIsNotATime(_ text: String) {
        #expect(ProviderTime.parse(text) == nil, "\(text)")
    }

    @Test func leapDayOfALeapYear() {
        #expect(ProviderTime.parse("2024-02-29T00:00:00Z") != nil)
    }

    @Test func aBareDateIsItsMidnightUTC() {
        #expect(ProviderTime.parseDateOrTime("2019-11-14") == Date(timeIntervalSince1970: 1_573_689_600))
        #expect(ProviderTime.parseDateOrTime(" 2019-11-14T07:35:00Z ") == Self.example)
        #expect(ProviderTime.parseDateOrTime("2019-11-31") == nil)
        #expect(ProviderTime.parseDateOrTime("yesterday") == nil)
    }

    @Test func writesWholeSecondsInUTC() {
        let date = Self.example.addingTimeInterval(0.9)
        #expect(ProviderTime.format(date) == "2019-11-14T07:35:00Z")
        #expect(ProviderTime.format(date, suffix: .plusZero) == "2019-11-14T07:35:00+0000")
        #expect(ProviderTime.parse(ProviderTime.format(Self.example, suffix: .plusZero)) == Self.example)
    }
}
