import JobQueue
import Sync
import Testing

@Suite("SyncErrorTests", .timeLimit(.minutes(2)))
struct SyncErrorTests {
    struct MappingCase: Sendable, CustomTestStringConvertible {
        let error: SyncError
        let action: JobError.Action
        let errorClass: String
        var testDescription: String { "\(error.errorClass.rawValue) retryAfter=\(String(describing: error.retryAfter))" }
    }

    static let mappings: [MappingCase] = [
        MappingCase(error: SyncError(.transient, "boom"), action: .retry, errorClass: "transient"),
        MappingCase(error: SyncError(.transient, "boom", retryAfter: .seconds(9)), action: .retry, errorClass: "transient"),
        MappingCase(error: SyncError(.rateLimited, "slow down"), action: .snooze(.seconds(5)), errorClass: "rate_limited"),
        MappingCase(
            error: SyncError(.rateLimited, "slow down", retryAfter: .seconds(42)), action: .snooze(.seconds(42)), errorClass: "rate_limited"
        ),
        MappingCase(
            error: SyncError(.rateLimited, "slow down", retryAfter: .zero), action: .snooze(.seconds(1)), errorClass: "rate_limited"),
        MappingCase(
            error: SyncError(.rateLimited, "slow down", retryAfter: .seconds(86_400)), action: .snooze(.seconds(600)),
            errorClass: "rate_limited"),
        MappingCase(
            error: SyncError(.rateLimited, "slow down", retryAfter: .seconds(-3)), action: .snooze(.seconds(1)), errorClass: "rate_limited"),
        MappingCase(error: SyncError(.dependency, "customer not synced"), action: .snooze(.seconds(30)), errorClass: "dependency"),
        MappingCase(
            error: SyncError(.dependency, "customer not synced", retryAfter: .seconds(1)), action: .snooze(.seconds(30)),
            errorClass: "dependency"),
        MappingCase(error: SyncError(.permanent, "bad data"), action: .fail, errorClass: "permanent"),
    ]

    @Test("class maps to job action", arguments: mappings)
    func mapping(_ c: MappingCase) {
        let job = c.error.jobError
        #expect(job.action == c.action)
        #expect(job.errorClass == c.errorClass)
        #expect(job.message == c.error.message)
    }

    @Test(
        "error class raw values",
        arguments: [
            (SyncError.ErrorClass.transient, "transient"),
            (.rateLimited, "rate_limited"),
            (.dependency, "dependency"),
            (.permanent, "permanent"),
        ])
    func rawValues(_ errorClass: SyncError.ErrorClass, _ raw: String) {
        #expect(errorClass.rawValue == raw)
        #expect(SyncError.ErrorClass(rawValue: raw) == errorClass)
    }

    @Test func providerCodeBecomesJobCode() {
        let error = SyncError(.permanent, "Invalid Field Value", providerCode: "INVALID_FLD_VALUE")
        #expect(error.jobError.code == "INVALID_FLD_VALUE")
        #expect(SyncError(.transient, "x").jobError.code == nil)
        #expect(error.description == "permanent [INVALID_FLD_VALUE]: Invalid Field Value")
        #expect(SyncError(.dependency, "y").description == "dependency: y")
    }

    @Test func messageIsOneLine() {
        let error = SyncError(.permanent, "first line\nsecond line\r\nthird")
        #expect(error.message == "first line second line third")
        #expect(!error.jobError.message.contains("\n"))
    }
}
